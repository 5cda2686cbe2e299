"""Validation during training: a model's metrics on held-out data, measured the same way at
every pass, and the weights of the step with the best validation loss.

A density-ratio classifier that separates its training latents perfectly has overfitted: its
ratio is sharp where it should be calibrated, and log Z drifts from 0 (docs/method.md section
2.1). Stage 2 therefore measures its NCE loss on the latents of held-out images and keeps the
classifier with the lowest one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ncpvae.data.arrays import TensorData
from ncpvae.prior import Prior

__all__ = ["BestWeights", "measure", "measure_nce"]

Metrics = Callable[[Tensor], tuple[Tensor, dict[str, float]]]


def _combine(parts: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """Batch metrics (rows, values) as one value per name: the row-weighted mean, except for
    ``logz<k>`` (the log of a mean of exp f), which is combined as log(sum_b n_b e^v_b / N)."""
    total = sum(rows for rows, _ in parts)
    combined: dict[str, float] = {}
    for name in parts[0][1]:
        values = torch.tensor([v[name] for _, v in parts], dtype=torch.float64)
        rows = torch.tensor([float(n) for n, _ in parts], dtype=torch.float64)
        if name.startswith("logz"):
            combined[name] = float(torch.logsumexp(values + rows.log(), 0) - math.log(total))
        else:
            combined[name] = float((values * rows).sum() / total)
    return combined


@torch.no_grad()
def measure(
    module: nn.Module,
    metrics: Metrics,
    data: TensorData,
    batch_size: int,
    seed: int = 0,
) -> dict[str, float]:
    """``metrics(batch)`` -> (loss, values) over all of ``data`` in order, in batches of
    ``batch_size``, with ``module`` in eval mode, combined over batches (``loss`` and the
    values). Its random draws (posterior and prior noise, binarization) come from ``seed``
    every time, so two passes differ only by the weights; the caller's random streams (on the
    CPU and on ``module``'s device) are left as they were."""
    was_training = module.training
    device = next(itertools.chain(module.parameters(), module.buffers())).device
    devices = [device.index or 0] if device.type == "cuda" else []
    parts: list[tuple[int, dict[str, float]]] = []
    module.eval()
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            binarization = torch.Generator().manual_seed(seed)
            for start in range(0, len(data), batch_size):
                batch = data.batch(slice(start, start + batch_size), binarization)
                loss, values = metrics(batch)
                parts.append((len(batch), {"loss": float(loss), **values}))
    finally:
        module.train(was_training)
    return _combine(parts)


def measure_nce(
    prior: Prior,
    data: TensorData,
    groups: Sequence[int],
    batch_size: int,
    seed: int = 0,
    *,
    encoded: bool = False,
) -> dict[str, float]:
    """:func:`measure` of the prior's NCE loss summed over ``groups`` on ``data`` (the model's
    encoder outputs of them if ``encoded``), with each group's ``nce<k>``, ``acc<k>`` and
    one-pass ``logz<k>``."""
    return measure(
        prior,
        lambda batch: prior.nce_loss(batch, groups, encoded=encoded),
        data,
        batch_size,
        seed,
    )


class BestWeights:
    """The weights of ``module`` at the step with the lowest validation loss so far. Its state
    is part of a training checkpoint, so a resumed run keeps what an uninterrupted one would."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.step = -1
        self.loss = math.inf
        self.weights: dict[str, Tensor] = {}

    def offer(self, step: int, loss: float) -> None:
        """Keep the module's weights after ``step`` if ``loss`` is the lowest so far."""
        if loss < self.loss:
            self.step, self.loss = step, loss
            self.weights = {k: v.detach().clone() for k, v in self.module.state_dict().items()}

    def restore(self) -> int | None:
        """Load the kept weights into the module; returns their step (None if none kept)."""
        if self.step < 0:
            return None
        self.module.load_state_dict(self.weights)
        return self.step

    def state_dict(self) -> dict[str, Any]:
        """The kept step, loss and weights."""
        return {"step": self.step, "loss": self.loss, "weights": self.weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`."""
        self.step, self.loss, self.weights = state["step"], state["loss"], state["weights"]
