"""Output likelihoods p(x | z): map decoder outputs to a distribution over one data point.

Every likelihood is a frozen dataclass; calling it on decoder outputs ``params`` of shape
(N, params_per_dim, *data_shape) returns a ``torch.distributions.Distribution`` with batch shape
(N,) and event shape ``data_shape``, so ``log_prob(x)`` sums over all data dimensions.

Formulas (per data element, then summed over the element):

* Normal with learned scale:  log N(x; m, s) = -(x - m)^2 / (2 s^2) - log s - log(2 pi) / 2, with
  s = exp(b tanh(raw / b)) (a soft clamp of the predicted log-scale to (-b, b)).
* Normal with fixed scale: the same with a constant s (the RGB option of the NCP-VAE paper).
* Bernoulli:  log p(x) = x log sigma(l) + (1 - x) log(1 - sigma(l)) for logits l.
* Discretized mixture of logistics (Salimans et al., 2017, "PixelCNN++", eq. 2; also NVAE): for
  x on the grid {0, 1/255, ..., 1}, y = 2x - 1 and bin half-width h = 1/255,

      P(x) = sum_k pi_k [F((y + h - mu_k) / s_k) - F((y - h - mu_k) / s_k)],  F = sigmoid,

  with F(-inf) = 0 replacing the lower edge for x = 0 and F(+inf) = 1 the upper edge for x = 1.
"""

from __future__ import annotations

from ncpvae.errors import ConfigError
from ncpvae.likelihoods.base import OutputLikelihood, soft_clamp
from ncpvae.likelihoods.elementwise import (
    BernoulliLikelihood,
    FixedScaleGaussianLikelihood,
    GaussianLikelihood,
)
from ncpvae.likelihoods.logistic import (
    DiscretizedLogisticMixture,
    DiscretizedLogisticMixtureLikelihood,
)

__all__ = [
    "soft_clamp",
    "OutputLikelihood",
    "GaussianLikelihood",
    "FixedScaleGaussianLikelihood",
    "BernoulliLikelihood",
    "DiscretizedLogisticMixture",
    "DiscretizedLogisticMixtureLikelihood",
    "LIKELIHOODS",
    "build_likelihood",
    "DISCRETE",
]


LIKELIHOODS: dict[str, type[OutputLikelihood]] = {
    "gaussian": GaussianLikelihood,
    "gaussian_fixed": FixedScaleGaussianLikelihood,
    "bernoulli": BernoulliLikelihood,
    "logistic_mixture": DiscretizedLogisticMixtureLikelihood,
}
"""Likelihoods by their ``model.likelihood`` config name."""


DISCRETE = frozenset({"bernoulli", "logistic_mixture"})
"""Likelihoods that give probabilities of discrete values (so bits per dimension are meaningful);
the Gaussians are densities."""


def build_likelihood(
    name: str, *, output_scale: float = 0.1, num_mixtures: int = 10
) -> OutputLikelihood:
    """The likelihood called ``name`` in :data:`LIKELIHOODS`, given only the option it uses:
    ``output_scale`` for ``gaussian_fixed``, ``num_mixtures`` for ``logistic_mixture``."""
    if name not in LIKELIHOODS:
        raise ConfigError(f"unknown model.likelihood {name!r}; choose one of {sorted(LIKELIHOODS)}")
    options: dict[str, dict[str, float | int]] = {
        "gaussian_fixed": {"scale": output_scale},
        "logistic_mixture": {"num_mixtures": num_mixtures},
    }
    return LIKELIHOODS[name](**options.get(name, {}))
