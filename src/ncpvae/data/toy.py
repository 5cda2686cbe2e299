"""The 25-Gaussians benchmark of the paper (docs/method.md section 3): 25 isotropic Gaussians with
standard deviation 0.05 and equal weights, centred on the grid {-4, -2, 0, 2, 4}^2."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["GRID_25", "gaussians25", "gaussians25_log_prob"]

GRID_25 = torch.tensor(
    [(a, b) for a in (-4.0, -2.0, 0.0, 2.0, 4.0) for b in (-4.0, -2.0, 0.0, 2.0, 4.0)]
)
STD_25 = 0.05


def gaussians25(n: int, generator: torch.Generator | None = None) -> Tensor:
    """``n`` points of the mixture, shape (n, 2)."""
    component = torch.randint(0, len(GRID_25), (n,), generator=generator)
    return GRID_25[component] + STD_25 * torch.randn(n, 2, generator=generator)


def gaussians25_log_prob(x: Tensor) -> Tensor:
    """Exact log density of the mixture (the best any model can do on average is about -0.07)."""
    sq = ((x.unsqueeze(1) - GRID_25.to(x)) ** 2).sum(-1)
    log_comp = -0.5 * sq / STD_25**2 - math.log(2 * math.pi * STD_25**2)
    return torch.logsumexp(log_comp, dim=1) - math.log(len(GRID_25))
