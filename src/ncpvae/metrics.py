"""Small numerical helpers shared by the samplers and the evaluation."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["LogWeightSums", "effective_sample_size", "log_mean_exp", "median_distance", "mmd2"]


def effective_sample_size(log_weights: Tensor, dim: int = -1) -> Tensor:
    """ESS = (sum w)^2 / sum w^2, computed in log space: exp(2 lse(log w) - lse(2 log w))."""
    sums = LogWeightSums(dim)
    sums.add(log_weights)
    return sums.ess()


class LogWeightSums:
    """Running log sum w and log sum w^2 over chunks of log-weights, along ``dim``: what SIR, the
    log Z estimates and their standard errors need from importance weights w = exp f, in one
    place. ``lse`` and ``lse_sq`` are None until the first :meth:`add`."""

    def __init__(self, dim: int = -1) -> None:
        self.dim = dim
        self.lse: Tensor | None = None
        self.lse_sq: Tensor | None = None
        self.count = 0

    def add(self, log_weights: Tensor) -> None:
        """Add a chunk of log-weights (summed along ``dim``)."""
        a = torch.logsumexp(log_weights, self.dim)
        b = torch.logsumexp(2 * log_weights, self.dim)
        self.lse = a if self.lse is None else torch.logaddexp(self.lse, a)
        self.lse_sq = b if self.lse_sq is None else torch.logaddexp(self.lse_sq, b)
        self.count += log_weights.shape[self.dim]

    def ess(self) -> Tensor:
        """(sum w)^2 / sum w^2 of the weights added so far; at most their count (Cauchy-Schwarz),
        which rounding could otherwise exceed when the weights are equal."""
        return torch.exp(2 * self.lse - self.lse_sq).clamp(max=self.count)


def log_mean_exp(x: Tensor, dim: int = 0) -> Tensor:
    """log (1/n) sum exp(x) along ``dim``, stably."""
    return torch.logsumexp(x, dim) - math.log(x.shape[dim])


def median_distance(x: Tensor) -> float:
    """The median pairwise Euclidean distance between the rows of ``x`` (the median heuristic)."""
    x = x.flatten(1)
    return _median_off_diagonal(torch.cdist(x, x).pow(2)) ** 0.5


def _median_off_diagonal(square: Tensor) -> float:
    mask = ~torch.eye(len(square), dtype=torch.bool, device=square.device)
    return float(square[mask].median())


def mmd2(x: Tensor, y: Tensor, bandwidth: float | None = None) -> Tensor:
    """Unbiased MMD^2 between samples ``x`` (n, d) and ``y`` (m, d) with the RBF kernel
    k(a, b) = exp(-|a - b|^2 / (2 h^2)); h defaults to the median heuristic (the median pairwise
    distance of the pooled samples). Near 0 when both come from one distribution (it can be
    slightly negative); the prior hole, measured, between q(z) and p(z) samples."""
    x, y = x.flatten(1), y.flatten(1)
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError("mmd2 needs at least two samples on each side")
    pooled = torch.cat([x, y])
    sq = torch.cdist(pooled, pooled).pow(2)
    if bandwidth is None:
        bandwidth = _median_off_diagonal(sq) ** 0.5
    k = torch.exp(-sq / (2 * bandwidth**2))
    k_xx, k_yy, k_xy = k[:n, :n], k[n:, n:], k[:n, n:]
    term_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    term_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return term_xx + term_yy - 2 * k_xy.mean()
