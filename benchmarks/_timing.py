"""Timing for the benchmarks: the best wall time of repeated calls, and the float32 matrix-product
rate that the floors of the evaluation costs are counted at."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def best_seconds(work: Callable[[], object], repeats: int = 3) -> float:
    """The best wall time of ``repeats`` calls of ``work`` after one untimed call (with a GPU
    synchronised, so that queued kernels count)."""
    work()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_flops_per_second(device: torch.device, size: int = 2048, repeats: int = 5) -> float:
    """The best rate of ``size`` x ``size`` float32 matrix products on ``device``."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    return 2 * size**3 / best_seconds(lambda: torch.mm(a, b), repeats)
