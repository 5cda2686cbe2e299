"""The discretized mixture of logistics (Salimans et al., 2017, "PixelCNN++"; also NVAE) for
8-bit data in [0, 1]: the distribution and the likelihood that builds it from decoder outputs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Distribution, constraints

from ncpvae.errors import ConfigError
from ncpvae.likelihoods.base import OutputLikelihood, _check_params

__all__ = ["DiscretizedLogisticMixture", "DiscretizedLogisticMixtureLikelihood"]

_NUM_LEVELS = 256
"""Grid size of the discretized likelihood: x in {0, 1/255, ..., 1}."""
_HALF_BIN = 1.0 / (_NUM_LEVELS - 1)
"""Half the bin width on the rescaled axis y = 2x - 1 (bins have width 2/255)."""
_MIN_LOG_SCALE = -7.0
"""Lower bound on a logistic log-scale (PixelCNN++/NVAE convention)."""
_MAX_LOG_SCALE = 30.0
"""Upper bound on a logistic log-scale, far beyond any useful value; keeps exp(log s) finite."""
_FALLBACK_BELOW = 1e-6
"""Below this value of 2h/s a bin's mass is taken as density at its centre times its width."""


def _log1mexp(d: Tensor) -> Tensor:
    """log(1 - exp(-d)) for d > 0, accurate for small and large d (Maechler, 2012)."""
    return torch.where(d < math.log(2.0), torch.log(-torch.expm1(-d)), torch.log1p(-torch.exp(-d)))


class DiscretizedLogisticMixture(Distribution):
    """A mixture of K discretized logistics per data element, on the grid {0, 1/255, ..., 1}.

    ``logits``, ``means`` and ``log_scales`` have shape (N, K, *data_shape); the batch shape is
    (N,) and the event shape ``data_shape``. Means and scales live on the rescaled axis
    y = 2x - 1 in [-1, 1]; log-scales are clamped to [-7, 30]. With h = 1/255, a = (y + h - mu) / s
    and b = (y - h - mu) / s, one component gives

    * x = 0 (lowest bin, all mass below):  log sigma(a) = -softplus(-a);
    * x = 1 (highest bin, all mass above): log(1 - sigma(b)) = -softplus(b);
    * otherwise log(sigma(a) - sigma(b)) = log sigma(a) + log sigma(-b) + log(1 - exp(-(a - b))),
      an exact identity whose terms are all finite, so bins far in the tails keep finite log
      probabilities and gradients. When a - b = 2h/s < 1e-6 (a huge scale) the bin mass is taken
      as the density at the bin centre times the bin width 2h instead.

    The mixture is log P(x) = logsumexp_k [log softmax(logits)_k + log P_k(x)], summed over the
    data elements. Each element (each colour channel) is modelled independently: a simplification
    of PixelCNN++ and NVAE, which couple the RGB channels of a pixel autoregressively.

    ``log_prob`` rounds x to the nearest grid level, so any x in [0, 1] is accepted. ``sample``
    picks a component by the Gumbel-max trick, draws y = mu + s log(u / (1 - u)) by inverse CDF,
    clamps y to [-1, 1] and rounds to the grid. ``mean`` is the mean of the continuous mixture,
    sum_k pi_k mu_k, mapped back by x = (y + 1) / 2 and clamped to [0, 1]: it differs slightly
    from the mean of the discretized, clamped distribution when much mass lies outside [-1, 1].
    """

    arg_constraints = {
        "logits": constraints.real,
        "means": constraints.real,
        "log_scales": constraints.real,
    }
    support = constraints.interval(0.0, 1.0)
    has_rsample = False

    def __init__(
        self,
        logits: Tensor,
        means: Tensor,
        log_scales: Tensor,
        validate_args: bool | None = None,
    ) -> None:
        if logits.dim() < 2 or not (logits.shape == means.shape == log_scales.shape):
            raise ValueError(
                "logits, means and log_scales must share one shape (N, K, *data_shape), got "
                f"{tuple(logits.shape)}, {tuple(means.shape)}, {tuple(log_scales.shape)}"
            )
        self.logits = logits
        self.means = means
        self.log_scales = log_scales.clamp(_MIN_LOG_SCALE, _MAX_LOG_SCALE)
        super().__init__(logits.shape[:1], logits.shape[2:], validate_args=validate_args)

    @property
    def num_mixtures(self) -> int:
        """K, the number of mixture components."""
        return self.logits.shape[1]

    @property
    def _component_dim(self) -> int:
        return -(len(self.event_shape) + 1)

    def log_prob(self, value: Tensor) -> Tensor:
        """log P(x) for x of shape (*sample_shape, N, *data_shape); returns (*sample_shape, N)."""
        if self._validate_args:
            self._validate_sample(value)
        kdim = self._component_dim
        level = torch.round(value * (_NUM_LEVELS - 1)).clamp(0, _NUM_LEVELS - 1)
        y = (2.0 * level - (_NUM_LEVELS - 1)) / (_NUM_LEVELS - 1)
        y, level = y.unsqueeze(kdim), level.unsqueeze(kdim)

        inv_scale = torch.exp(-self.log_scales)
        centred = y - self.means
        upper = inv_scale * (centred + _HALF_BIN)  # a
        lower = inv_scale * (centred - _HALF_BIN)  # b
        width = 2.0 * _HALF_BIN * inv_scale  # a - b, computed without cancellation

        log_cdf_upper = -F.softplus(-upper)
        log_sf_lower = -F.softplus(lower)
        exact = log_cdf_upper + log_sf_lower + _log1mexp(width.clamp_min(_FALLBACK_BELOW))
        mid = inv_scale * centred
        log_density = -F.softplus(-mid) - F.softplus(mid) - self.log_scales
        fallback = log_density + math.log(2.0 * _HALF_BIN)
        interior = torch.where(width < _FALLBACK_BELOW, fallback, exact)

        log_bin = torch.where(
            level <= 0,
            log_cdf_upper,
            torch.where(level >= _NUM_LEVELS - 1, log_sf_lower, interior),
        )
        log_weights = torch.log_softmax(self.logits, dim=1)
        per_element = torch.logsumexp(log_weights + log_bin, dim=kdim)
        return per_element.flatten(per_element.dim() - len(self.event_shape)).sum(-1)

    @torch.no_grad()
    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """Grid values in [0, 1] of shape (*sample_shape, N, *data_shape)."""
        shape = torch.Size(sample_shape) + self.logits.shape
        kdim = self._component_dim
        finfo = torch.finfo(self.logits.dtype)
        uniform = torch.rand(shape, dtype=self.logits.dtype, device=self.logits.device)
        gumbel = -torch.log(-torch.log(uniform.clamp(finfo.tiny, 1.0 - finfo.eps)))
        choice = torch.argmax(self.logits + gumbel, dim=kdim, keepdim=True)
        mean = torch.gather(self.means.expand(shape), kdim, choice).squeeze(kdim)
        log_scale = torch.gather(self.log_scales.expand(shape), kdim, choice).squeeze(kdim)

        u = torch.rand_like(mean).clamp(finfo.eps, 1.0 - finfo.eps)
        y = (mean + log_scale.exp() * (torch.log(u) - torch.log1p(-u))).clamp(-1.0, 1.0)
        level = torch.round((y + 1.0) / 2.0 * (_NUM_LEVELS - 1))
        return level / (_NUM_LEVELS - 1)

    @property
    def mean(self) -> Tensor:
        """((sum_k pi_k mu_k) + 1) / 2 clamped to [0, 1], shape (N, *data_shape)."""
        y = (torch.softmax(self.logits, dim=1) * self.means).sum(1)
        return ((y + 1.0) / 2.0).clamp(0.0, 1.0)


@dataclass(frozen=True)
class DiscretizedLogisticMixtureLikelihood(OutputLikelihood):
    """Discretized mixture of ``num_mixtures`` logistics per data element (8-bit data in [0, 1]).

    ``params`` of shape (N, 3K, *data_shape) hold, along dimension 1, the K mixture logits, then
    the K means (on y = 2x - 1), then the K raw log-scales; ``params_per_dim`` is set to 3K.
    See :class:`DiscretizedLogisticMixture` for the formula.
    """

    params_per_dim: int = field(init=False)
    num_mixtures: int = 10

    def __post_init__(self) -> None:
        if isinstance(self.num_mixtures, bool) or not isinstance(self.num_mixtures, int):
            raise ConfigError(f"num_mixtures must be an integer, got {self.num_mixtures!r}")
        if self.num_mixtures < 1:
            raise ConfigError(f"num_mixtures must be at least 1, got {self.num_mixtures}")
        object.__setattr__(self, "params_per_dim", 3 * self.num_mixtures)

    def __call__(self, params: Tensor) -> DiscretizedLogisticMixture:
        _check_params(params, self.params_per_dim, type(self).__name__)
        logits, means, log_scales = params.split(self.num_mixtures, dim=1)
        return DiscretizedLogisticMixture(logits, means, log_scales)
