"""One optimisation loop for both stages (the VAE's ELBO and the prior's NCE loss).

The loop knows nothing about VAEs or priors: it calls ``objective(step)``, which draws its own
batch and returns ``(loss, metrics)``. Adam with cosine annealing of the learning rate from
``lr`` to ``lr_final`` (the paper's classifier schedule: 1e-3 to 1e-7).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ncpvae.data.arrays import DataLike, as_data
from ncpvae.errors import NonFiniteLossError, require

__all__ = ["TrainConfig", "TrainHistory", "train", "minibatches"]

Objective = Callable[[int], tuple[Tensor, dict[str, float]]]


@dataclass
class TrainConfig:
    """Optimiser settings shared by both stages. ``seed`` seeds the CLI's runs (the API leaves the
    global RNG to the caller)."""

    steps: int = 20_000
    batch_size: int = 256
    lr: float = 1e-3
    lr_final: float = 0.0
    grad_clip: float = 0.0  # 0 disables clipping
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.steps >= 1, f"train.steps must be at least 1, got {self.steps}")
        require(self.batch_size >= 1, f"train.batch_size must be at least 1, got {self.batch_size}")
        require(self.lr > 0, f"train.lr must be positive, got {self.lr}")
        require(0 <= self.lr_final <= self.lr, "train.lr_final must be between 0 and train.lr")
        require(self.grad_clip >= 0, "train.grad_clip must be >= 0 (0 disables clipping)")


@dataclass
class TrainHistory:
    """Loss every ``log_every`` steps and the wall time of the run."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def train(
    objective: Objective,
    parameters: Iterable[nn.Parameter],
    config: TrainConfig,
    *,
    description: str = "train",
    progress: bool = True,
    log_every: int = 100,
) -> TrainHistory:
    """Minimise ``objective`` for ``config.steps`` steps of Adam with a cosine learning rate.

    Raises :class:`NonFiniteLossError` (and leaves the parameters as they were after the last good
    step) if the loss becomes NaN or infinite.
    """
    params = [p for p in parameters if p.requires_grad]
    if not params:
        raise ValueError(f"{description}: no trainable parameters (all have requires_grad=False)")
    optimizer = torch.optim.Adam(params, lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(config.steps, 1), eta_min=config.lr_final
    )
    history = TrainHistory()
    start = time.perf_counter()
    running = math.nan
    bar = tqdm(range(config.steps), desc=description, disable=not progress, mininterval=1.0)
    for step in bar:
        loss, metrics = objective(step)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"{description}: loss became {float(loss.detach())} at step {step}; lower the "
                "learning rate (--train.lr) or enable gradient clipping (--train.grad_clip)"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        schedule.step()
        value = float(loss.detach())
        running = value if math.isnan(running) else 0.98 * running + 0.02 * value
        if step % log_every == 0 or step == config.steps - 1:
            history.steps.append(step)
            history.losses.append(value)
            history.metrics = metrics
            bar.set_postfix(loss=f"{running:.4f}", **{k: f"{v:.3f}" for k, v in metrics.items()})
    history.seconds = time.perf_counter() - start
    return history


def minibatches(
    data: DataLike, batch_size: int, generator: torch.Generator | None = None
) -> Iterator[Tensor]:
    """Endless random minibatches of ``data`` (a tensor, array, Dataset or
    :class:`~ncpvae.data.TensorData`) as float model input, reshuffled every epoch. Dynamically
    binarized data are binarized afresh in every batch, from ``generator``."""
    data = as_data(data)
    n = len(data)
    if n == 0:
        raise ValueError("cannot draw minibatches from an empty data set")
    while True:
        order = torch.randperm(
            n, generator=generator, device=generator.device if generator else "cpu"
        )
        for start in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
            index = order[start : start + batch_size].to(data.values.device)
            yield data.batch(index, generator)
