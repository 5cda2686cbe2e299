"""Base priors and output likelihoods.

Everything here is a plain ``torch.distributions.Distribution`` so that a user's own prior works
wherever ours does. Two helpers add what ``torch.distributions`` lacks:

* :func:`tempered` scales the standard deviation of a prior by a temperature ``t``
  (NVAE convention, DESIGN.md section 2.3). It is a ``functools.singledispatch`` function, so a
  user can register their own distribution type.
* :func:`sample` draws from any distribution with an optional ``torch.Generator``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import (
    Bernoulli,
    Distribution,
    Independent,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
)

__all__ = [
    "standard_normal",
    "tempered",
    "sample",
    "generator_on",
    "OutputLikelihood",
    "GaussianLikelihood",
    "BernoulliLikelihood",
    "LIKELIHOODS",
]


def standard_normal(
    shape: tuple[int, ...],
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Distribution:
    """N(0, I) over a latent of the given event ``shape``; ``log_prob`` sums over the event."""
    loc = torch.zeros(shape, device=device, dtype=dtype)
    return Independent(Normal(loc, torch.ones_like(loc)), len(shape))


@functools.singledispatch
def tempered(dist: Distribution, temperature: float) -> Distribution:
    """Return ``dist`` with every standard deviation multiplied by ``temperature``.

    Supported: Normal, MultivariateNormal, Independent and MixtureSameFamily of those. Register
    other types with ``@tempered.register``.
    """
    if temperature == 1.0:
        return dist
    raise TypeError(
        f"temperature {temperature} is not supported for a {type(dist).__name__} base prior; "
        "use temperature=1 or register it with @ncpvae.distributions.tempered.register"
    )


@tempered.register
def _(dist: Normal, temperature: float) -> Distribution:
    return dist if temperature == 1.0 else Normal(dist.loc, dist.scale * temperature)


@tempered.register
def _(dist: MultivariateNormal, temperature: float) -> Distribution:
    if temperature == 1.0:
        return dist
    return MultivariateNormal(dist.loc, scale_tril=dist.scale_tril * temperature)


@tempered.register
def _(dist: Independent, temperature: float) -> Distribution:
    if temperature == 1.0:
        return dist
    return Independent(tempered(dist.base_dist, temperature), dist.reinterpreted_batch_ndims)


@tempered.register
def _(dist: MixtureSameFamily, temperature: float) -> Distribution:
    if temperature == 1.0:
        return dist
    return MixtureSameFamily(
        dist.mixture_distribution, tempered(dist.component_distribution, temperature)
    )


def sample(
    dist: Distribution, sample_shape: tuple[int, ...], generator: torch.Generator | None = None
) -> Tensor:
    """``dist.sample(sample_shape)``, reproducible from ``generator`` when one is given.

    ``torch.distributions`` takes no generator, so the global RNG is forked and seeded from the
    generator: the same generator state gives the same samples, and the caller's global RNG state
    is left untouched.
    """
    if generator is None:
        return dist.sample(sample_shape)
    seed = int(torch.randint(0, 2**62, (), generator=generator, device=generator.device))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return dist.sample(sample_shape)


def generator_on(device: torch.device, generator: torch.Generator | None) -> torch.Generator | None:
    """``generator`` if it lives on ``device``'s type, else a generator there seeded from it (so
    a CPU generator still gives reproducible draws on a GPU)."""
    if generator is None or generator.device.type == device.type:
        return generator
    seed = int(torch.randint(0, 2**62, (), generator=generator, device=generator.device))
    return torch.Generator(device).manual_seed(seed)


# --------------------------------------------------------------------------------------------
# Output likelihoods p(x | z): map decoder outputs to a distribution over one data point.
# --------------------------------------------------------------------------------------------


def soft_clamp(x: Tensor, bound: float) -> Tensor:
    """Smoothly limit ``x`` to (-bound, bound): bound * tanh(x / bound)."""
    return bound * torch.tanh(x / bound)


@dataclass(frozen=True)
class OutputLikelihood:
    """Turns decoder outputs of shape (..., params_per_dim * D) into a distribution over x.

    Subclasses set ``params_per_dim`` and implement :meth:`__call__`; ``log_prob`` of the result
    sums over the data dimensions.
    """

    params_per_dim: int = 1

    def __call__(self, params: Tensor) -> Distribution:
        raise NotImplementedError


@dataclass(frozen=True)
class GaussianLikelihood(OutputLikelihood):
    """Heteroscedastic Normal: the decoder predicts a mean and a log-scale per dimension.

    The log-scale is soft-clamped to (-``max_abs_log_scale``, ``max_abs_log_scale``) for stability.
    """

    params_per_dim: int = 2
    max_abs_log_scale: float = 7.0

    def __call__(self, params: Tensor) -> Distribution:
        mean, raw_log_scale = params.chunk(2, dim=-1)
        scale = soft_clamp(raw_log_scale, self.max_abs_log_scale).exp()
        return Independent(Normal(mean, scale), 1)


@dataclass(frozen=True)
class BernoulliLikelihood(OutputLikelihood):
    """Independent Bernoulli pixels: the decoder predicts one logit per dimension."""

    params_per_dim: int = 1

    def __call__(self, params: Tensor) -> Distribution:
        return Independent(Bernoulli(logits=params), 1)


LIKELIHOODS: dict[str, type[OutputLikelihood]] = {
    "gaussian": GaussianLikelihood,
    "bernoulli": BernoulliLikelihood,
}
