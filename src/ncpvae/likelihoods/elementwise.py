"""Likelihoods that factorise over data elements with one or two parameters each: Normal with a
learned or a fixed scale, and Bernoulli."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Bernoulli, Distribution, Independent, Normal

from ncpvae.errors import ConfigError
from ncpvae.likelihoods.base import OutputLikelihood, _check_params, soft_clamp

__all__ = ["GaussianLikelihood", "FixedScaleGaussianLikelihood", "BernoulliLikelihood"]


def _first_param_bias(params_per_dim: int, first: Tensor) -> Tensor:
    bias = torch.zeros(params_per_dim, *first.shape, dtype=first.dtype, device=first.device)
    bias[0] = first
    return bias


@dataclass(frozen=True)
class GaussianLikelihood(OutputLikelihood):
    """Normal with learned scale: x ~ N(m, s^2) independently per data element.

    ``params[:, 0]`` is m; ``params[:, 1]`` is a raw log-scale r, and
    s = exp(soft_clamp(r, b)) = exp(b tanh(r / b)) with b = ``max_abs_log_scale``, so
    log p(x) = sum_i [-(x_i - m_i)^2 / (2 s_i^2) - log s_i - log(2 pi) / 2].
    """

    params_per_dim: int = field(default=2, init=False)
    max_abs_log_scale: float = 7.0

    def __post_init__(self) -> None:
        if not self.max_abs_log_scale > 0:
            raise ConfigError(f"max_abs_log_scale must be positive, got {self.max_abs_log_scale}")

    def __call__(self, params: Tensor) -> Distribution:
        _check_params(params, self.params_per_dim, type(self).__name__)
        scale = soft_clamp(params[:, 1], self.max_abs_log_scale).exp()
        return Independent(Normal(params[:, 0], scale, validate_args=False), params.dim() - 2)

    def initial_bias(self, data_mean: Tensor) -> Tensor:
        """Mean ``data_mean``, scale 1."""
        return _first_param_bias(self.params_per_dim, data_mean)


@dataclass(frozen=True)
class FixedScaleGaussianLikelihood(OutputLikelihood):
    """Normal with fixed scale: x ~ N(m, ``scale``^2) independently per data element.

    ``params[:, 0]`` is m; log p(x) = sum_i [-(x_i - m_i)^2 / (2 s^2) - log s - log(2 pi) / 2]
    with the constant s = ``scale`` (RAE-style decoder; the NCP-VAE paper's RGB option).
    """

    params_per_dim: int = field(default=1, init=False)
    scale: float = 0.1

    def __post_init__(self) -> None:
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ConfigError(f"output scale must be positive and finite, got {self.scale}")

    def __call__(self, params: Tensor) -> Distribution:
        _check_params(params, self.params_per_dim, type(self).__name__)
        return Independent(Normal(params[:, 0], self.scale, validate_args=False), params.dim() - 2)

    def initial_bias(self, data_mean: Tensor) -> Tensor:
        """Mean ``data_mean``."""
        return _first_param_bias(self.params_per_dim, data_mean)


@dataclass(frozen=True)
class BernoulliLikelihood(OutputLikelihood):
    """Independent Bernoulli elements with logits l = ``params[:, 0]``.

    log p(x) = sum_i [x_i log sigma(l_i) + (1 - x_i) log(1 - sigma(l_i))], for binary x.
    """

    params_per_dim: int = field(default=1, init=False)

    def __call__(self, params: Tensor) -> Distribution:
        _check_params(params, self.params_per_dim, type(self).__name__)
        # no argument validation: it would re-check every pixel is 0 or 1 on each call (the
        # likelihood loop's hot path); the pipeline checks the data once
        return Independent(Bernoulli(logits=params[:, 0], validate_args=False), params.dim() - 2)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """sum_i [x_i l_i - softplus(l_i)] for logits (K, N, 1, *data_shape) and x (N,
        *data_shape): the data enter through one batched dot product, never copied K times."""
        k, n = params.shape[:2]
        logits = params[:, :, 0].reshape(k, n, -1)
        return torch.einsum("knd,nd->kn", logits, x.reshape(n, -1)) - F.softplus(logits).sum(-1)

    def initial_bias(self, data_mean: Tensor) -> Tensor:
        """Logits logit(``data_mean``), clipped to probabilities in [1e-4, 1 - 1e-4] (Lawson et
        al.'s output bias)."""
        p = data_mean.clamp(1e-4, 1 - 1e-4)
        return _first_param_bias(self.params_per_dim, torch.log(p) - torch.log1p(-p))
