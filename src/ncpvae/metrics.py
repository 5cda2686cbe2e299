"""Small numerical helpers shared by the samplers and the evaluation."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["effective_sample_size", "log_mean_exp"]


def effective_sample_size(log_weights: Tensor, dim: int = -1) -> Tensor:
    """ESS = (sum w)^2 / sum w^2, computed in log space: exp(2 lse(log w) - lse(2 log w))."""
    return torch.exp(2 * torch.logsumexp(log_weights, dim) - torch.logsumexp(2 * log_weights, dim))


def log_mean_exp(x: Tensor, dim: int = 0) -> Tensor:
    """log (1/n) sum exp(x) along ``dim``, stably."""
    return torch.logsumexp(x, dim) - math.log(x.shape[dim])
