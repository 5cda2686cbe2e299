"""The interface every output likelihood implements (:class:`OutputLikelihood`), and helpers
shared by the implementations."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Distribution

__all__ = ["soft_clamp", "OutputLikelihood"]


def soft_clamp(x: Tensor, bound: float) -> Tensor:
    """Smoothly limit ``x`` to (-bound, bound): ``bound * tanh(x / bound)``."""
    return bound * torch.tanh(x / bound)


def _check_params(params: Tensor, params_per_dim: int, owner: str) -> None:
    if params.dim() < 2 or params.shape[1] != params_per_dim:
        raise ValueError(
            f"{owner} expects decoder outputs of shape (N, {params_per_dim}, *data_shape), "
            f"got {tuple(params.shape)}"
        )


@dataclass(frozen=True)
class OutputLikelihood:
    """Maps decoder outputs to p(x | z).

    Calling an instance on ``params`` of shape (N, params_per_dim, *data_shape) returns a
    distribution with batch shape (N,) and event shape ``data_shape``; its ``log_prob(x)`` for
    x of shape (N, *data_shape) has shape (N,), summed over the data dimensions.
    """

    params_per_dim: int = 1

    def __call__(self, params: Tensor) -> Distribution:
        raise NotImplementedError

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """log p(x | params) for params (K, N, params_per_dim, *data_shape) and x (N,
        *data_shape), broadcast over K: shape (K, N). This default copies x K times; a
        likelihood can override it with a cheaper formula."""
        k, n = params.shape[:2]
        x_rep = x.unsqueeze(0).expand(k, *x.shape).flatten(0, 1)
        return self(params.flatten(0, 1)).log_prob(x_rep).view(k, n)

    def initial_bias(self, data_mean: Tensor) -> Tensor | None:
        """Decoder output bias (params_per_dim, *data_shape) under which an all-zero decoder
        output predicts ``data_mean`` (None: leave the bias at zero)."""
        return None
