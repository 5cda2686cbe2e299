"""The 25-Gaussians benchmark of the paper (docs/method.md section 3): isotropic Gaussians with
equal weights on a square grid, by default 25 of standard deviation 0.05 centred on
{-4, -2, 0, 2, 4}^2. Mode width, grid size and spacing are settings, to test how robust a
protocol is (``benchmarks/gaussians25_robustness.py``)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["GRID_25", "STD_25", "grid", "gaussians25", "gaussians25_log_prob"]

STD_25 = 0.05


def grid(size: int = 5, spacing: float = 2.0) -> Tensor:
    """The (size^2, 2) mode centres: a square grid of ``size`` points a side, ``spacing``
    apart, centred on 0 (row-major: the first coordinate varies slowest)."""
    axis = [spacing * (i - (size - 1) / 2) for i in range(size)]
    return torch.tensor([(a, b) for a in axis for b in axis])


GRID_25 = grid()


def gaussians25(
    n: int,
    generator: torch.Generator | None = None,
    std: float = STD_25,
    centres: Tensor = GRID_25,
) -> Tensor:
    """``n`` points of the mixture of isotropic Gaussians of standard deviation ``std`` at
    ``centres`` (default: the paper's 25), shape (n, 2)."""
    component = torch.randint(0, len(centres), (n,), generator=generator)
    return centres[component] + std * torch.randn(n, 2, generator=generator)


def gaussians25_log_prob(x: Tensor, std: float = STD_25, centres: Tensor = GRID_25) -> Tensor:
    """Exact log density of the mixture (for the paper's, the best any model can do on average
    is about -0.07 nats)."""
    sq = ((x.unsqueeze(1) - centres.to(x)) ** 2).sum(-1)
    log_comp = -0.5 * sq / std**2 - math.log(2 * math.pi * std**2)
    return torch.logsumexp(log_comp, dim=1) - math.log(len(centres))
