"""One optimisation loop for both stages (the VAE's ELBO and the prior's NCE loss).

The loop knows nothing about VAEs or priors: it calls ``objective(step)``, which draws its own
batch and returns ``(loss, metrics)``. Adam with cosine annealing of the learning rate from
``lr`` to ``lr_final`` (the paper's classifier schedule: 1e-3 to 1e-7). With a
:class:`Checkpointing`, the loop saves everything a run's future depends on (weights, optimiser,
schedule, step, history, the batch stream and the RNGs) every few steps, atomically, and can
resume from it to reach the same result as a run that was never interrupted.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ncpvae import distributed
from ncpvae.data.arrays import DataLike, as_data
from ncpvae.distributions import noise_shard
from ncpvae.errors import CheckpointError, ConfigError, NonFiniteLossError, require

__all__ = [
    "TrainConfig",
    "TrainHistory",
    "Checkpointing",
    "with_state",
    "train",
    "minibatches",
    "Minibatches",
]

Objective = Callable[[int], tuple[Tensor, dict[str, float]]]
MAX_SKIPPED_IN_A_ROW = 100  # with skip_nonfinite, a run this long of bad steps still stops


@dataclass
class TrainConfig:
    """Optimiser settings shared by both stages. ``seed`` seeds the CLI's runs (the API leaves the
    global RNG to the caller)."""

    steps: int = 20_000
    batch_size: int = 256
    lr: float = 1e-3
    lr_final: float = 0.0
    grad_clip: float = 0.0  # 0 disables clipping
    skip_nonfinite: bool = False  # skip steps whose loss is NaN or infinite instead of stopping
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
    skipped_steps: int = 0  # steps skipped for a non-finite loss (TrainConfig.skip_nonfinite)


class Stateful(Protocol):
    """Anything whose state a checkpoint holds: modules, optimisers, batch streams."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


@dataclass
class Checkpointing:
    """Where :func:`train` keeps its training state, how often, and whether it resumes.

    Args:
        path: the checkpoint file (``torch.save`` of tensors and plain containers only, read back
            with ``weights_only=True``: loading never runs code).
        every: steps between checkpoints (0: only at the end); one is always written at the end.
        resume: continue from ``path`` if it exists (else start afresh).
        state: what else the run's future depends on, by name: the modules being trained (with
            their buffers) and the batch stream.
        identity: what makes a checkpoint belong to this run (the run config, as plain data); a
            checkpoint whose identity differs is refused, naming what differs.
    """

    path: Path
    every: int = 1000
    resume: bool = False
    state: Mapping[str, Stateful] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)

    def due(self, done: int, total: int) -> bool:
        """Whether a checkpoint is written after ``done`` of ``total`` steps."""
        return done == total or (self.every > 0 and done % self.every == 0)


def with_state(checkpointing: Checkpointing | None, **state: Stateful) -> Checkpointing | None:
    """``checkpointing`` that also saves and restores ``state`` (modules, batch streams)."""
    if checkpointing is None:
        return None
    return dataclasses.replace(checkpointing, state={**checkpointing.state, **state})


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():  # this rank's GPU (every rank's is in the same state)
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _differences(saved: Any, current: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts, as ``key: saved -> current``."""
    if isinstance(saved, dict) and isinstance(current, dict):
        keys = sorted(set(saved) | set(current))
        return [
            d for k in keys for d in _differences(saved.get(k), current.get(k), f"{prefix}{k}.")
        ]
    return [] if saved == current else [f"{prefix[:-1]}: {saved!r} -> {current!r}"]


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A training checkpoint, read without running code; a clear error if it is unreadable."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, corrupt, or holding objects that would run code
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be loaded safely ({first[:200]}); delete it to "
            "start afresh"
        ) from None


def _save_checkpoint(
    checkpointing: Checkpointing,
    step: int,
    optimizer: torch.optim.Optimizer,
    schedule: Any,
    history: TrainHistory,
) -> None:
    from ncpvae.checkpoint import atomic_write

    payload = {
        "step": step,
        "identity": checkpointing.identity,
        "state": {name: obj.state_dict() for name, obj in checkpointing.state.items()},
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "history": dataclasses.asdict(history),
        "rng": _rng_state(),
    }
    atomic_write(checkpointing.path, lambda p: torch.save(payload, p))


def _resume(
    checkpointing: Checkpointing, optimizer: torch.optim.Optimizer, schedule: Any
) -> tuple[int, TrainHistory]:
    """Restore a checkpoint's state; returns the step to continue from and the history."""
    saved = load_checkpoint(checkpointing.path)
    differences = _differences(saved.get("identity"), checkpointing.identity)
    if differences:
        raise CheckpointError(
            f"checkpoint {str(checkpointing.path)!r} belongs to another run ("
            + "; ".join(differences[:5])
            + "); resume with the same config or choose another --out"
        )
    try:
        for name, obj in checkpointing.state.items():
            obj.load_state_dict(saved["state"][name])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        _set_rng_state(saved["rng"])
        history = TrainHistory(**saved["history"])
    except (KeyError, RuntimeError, ValueError, TypeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CheckpointError(
            f"checkpoint {str(checkpointing.path)!r} does not fit this model ({first[:200]}); "
            "delete it to start afresh"
        ) from None
    return saved["step"], history


class _Step(nn.Module):
    """The objective as a module over the trained parameters, for DistributedDataParallel: the
    forward runs the objective, and DDP all-reduces these parameters' gradients."""

    def __init__(self, params: list[nn.Parameter], objective: Objective) -> None:
        super().__init__()
        self.params = nn.ParameterList(params)
        self.objective = objective

    def forward(self, step: int) -> tuple[Tensor, dict[str, float]]:
        return self.objective(step)


def _engine(objective: Objective, params: list[nn.Parameter]) -> Objective:
    """``objective`` itself in one process; under ``torchrun``, a DistributedDataParallel step
    whose backward averages the gradients over the ranks."""
    if distributed.world_size() == 1:
        return objective
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(_Step(params, objective), broadcast_buffers=False)


def train(
    objective: Objective,
    parameters: Iterable[nn.Parameter],
    config: TrainConfig,
    *,
    description: str = "train",
    progress: bool = True,
    log_every: int = 100,
    checkpointing: Checkpointing | None = None,
) -> TrainHistory:
    """Minimise ``objective`` for ``config.steps`` steps of Adam with a cosine learning rate,
    saving and resuming through ``checkpointing`` if given. Under ``torchrun`` the gradients are
    averaged over the ranks by DistributedDataParallel (the objective draws this rank's shard of
    the global batch), the logged loss and metrics are averaged too, and rank 0 alone writes
    checkpoints and shows progress.

    Raises :class:`NonFiniteLossError` (and leaves the parameters as they were after the last good
    step; a checkpoint on disk is never one with a non-finite loss) if the loss becomes NaN or
    infinite.
    """
    params = [p for p in parameters if p.requires_grad]
    if not params:
        raise ValueError(f"{description}: no trainable parameters (all have requires_grad=False)")
    optimizer = torch.optim.Adam(params, lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(config.steps, 1), eta_min=config.lr_final
    )
    history, first = TrainHistory(), 0
    if checkpointing is not None and checkpointing.resume and checkpointing.path.is_file():
        first, history = _resume(checkpointing, optimizer, schedule)
    if distributed.all_mean({"first": float(first)})["first"] != first:
        raise CheckpointError(
            f"the processes would resume from different steps (this one from {first}); give "
            "every machine the same --out on a shared file system"
        )
    elapsed = history.seconds
    start = time.perf_counter()
    running = math.nan
    engine = _engine(objective, params)
    rank, world = distributed.rank(), distributed.world_size()
    main = distributed.is_main()
    bar = tqdm(
        range(first, config.steps),
        desc=description,
        disable=not (progress and main),
        mininterval=1.0,
        initial=first,
        total=config.steps,
    )
    skipped_in_a_row = 0
    for step in bar:
        with noise_shard(rank, world):
            loss, metrics = engine(step)
        if not distributed.all_true(bool(torch.isfinite(loss))):
            if not config.skip_nonfinite or skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW:
                run_of = f" ({skipped_in_a_row} steps in a row)" if skipped_in_a_row else ""
                raise NonFiniteLossError(
                    f"{description}: loss became {float(loss.detach())} at step {step}{run_of}; "
                    "lower the learning rate (--train.lr), enable gradient clipping "
                    "(--train.grad_clip) or skip such steps (--train.skip_nonfinite true)"
                )
            skipped_in_a_row += 1
            history.skipped_steps += 1
            with warnings.catch_warnings():  # torch warns when no update came first
                warnings.simplefilter("ignore", UserWarning)
                schedule.step()  # the schedule follows the step count, updates or not
        else:
            skipped_in_a_row = 0
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            schedule.step()
            value = float(loss.detach())
            running = value if math.isnan(running) else 0.98 * running + 0.02 * value
        if skipped_in_a_row == 0 and (step % log_every == 0 or step == config.steps - 1):
            reduced = distributed.all_mean({"loss": value, **metrics})
            history.steps.append(step)
            history.losses.append(reduced.pop("loss"))
            history.metrics = reduced
            bar.set_postfix(loss=f"{running:.4f}", **{k: f"{v:.3f}" for k, v in metrics.items()})
        done = step + 1
        if main and checkpointing is not None and checkpointing.due(done, config.steps):
            history.seconds = elapsed + time.perf_counter() - start
            _save_checkpoint(checkpointing, done, optimizer, schedule, history)
    history.seconds = elapsed + time.perf_counter() - start
    return history


class Minibatches:
    """Endless random minibatches of ``data`` (a tensor, array, Dataset or
    :class:`~ncpvae.data.TensorData`) as float model input, reshuffled every epoch from
    ``generator``. Dynamically binarized data are binarized afresh in every batch, from
    ``generator``. Its state (generator, epoch order, position) can be saved and restored, so a
    resumed run sees the batches an uninterrupted one would have seen.

    ``batch_size`` is the global batch. Under ``torchrun`` (or with an explicit ``shard`` =
    (rank, world size)) every rank draws the same global batch and keeps its ``batch_size /
    world size`` rows: the ranks together see exactly what one process would."""

    def __init__(
        self,
        data: DataLike,
        batch_size: int,
        generator: torch.Generator | None = None,
        shard: tuple[int, int] | None = None,
    ) -> None:
        self.data = as_data(data)
        if len(self.data) == 0:
            raise ValueError("cannot draw minibatches from an empty data set")
        self.rank, self.world = shard or (distributed.rank(), distributed.world_size())
        if batch_size % self.world:
            raise ConfigError(
                f"the batch size {batch_size} does not split evenly over {self.world} processes; "
                "choose a multiple of the process count (--train.batch_size)"
            )
        self.batch_size = batch_size
        if generator is None:  # a stream of its own, seeded from the global RNG
            generator = torch.Generator().manual_seed(int(torch.randint(2**62, ())))
        self.generator = generator
        self.order: Tensor | None = None
        self.position = 0

    def __iter__(self) -> Minibatches:
        return self

    def __next__(self) -> Tensor:
        n = len(self.data)
        last_start = n - self.batch_size if n >= self.batch_size else 0
        if self.order is None or self.position > last_start:
            self.order = torch.randperm(n, generator=self.generator, device=self.generator.device)
            self.position = 0
        index = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        batch = self.data.batch(index.to(self.data.values.device), self.generator)
        if self.world == 1:
            return batch
        rows = len(batch) // self.world
        return batch[self.rank * rows : (self.rank + 1) * rows]

    def state_dict(self) -> dict[str, Any]:
        """Where the stream is: its generator's state, the epoch's order and the position."""
        return {
            "generator": self.generator.get_state(),
            "order": self.order,
            "position": self.position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`: the next batch is the one that would have come."""
        self.generator.set_state(state["generator"])
        self.order, self.position = state["order"], state["position"]


def minibatches(
    data: DataLike, batch_size: int, generator: torch.Generator | None = None
) -> Minibatches:
    """Endless random minibatches of ``data``: a :class:`Minibatches` stream."""
    return Minibatches(data, batch_size, generator)
