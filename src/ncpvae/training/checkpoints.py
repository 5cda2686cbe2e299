"""Training checkpoints: everything a run's future depends on (weights, optimiser, schedule,
step, history, the batch stream and the RNGs), saved atomically and read back without running
code (``torch.load(weights_only=True)``), so a resumed run reaches the result of one that was
never interrupted."""

from __future__ import annotations

import dataclasses
import pickle
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from ncpvae.errors import CheckpointError, first_line
from ncpvae.files import atomic_write
from ncpvae.training.history import TrainHistory

__all__ = ["Checkpointing", "with_state", "load_checkpoint", "save_checkpoint", "resume"]


class Stateful(Protocol):
    """Anything whose state a checkpoint holds: modules, optimisers, batch streams."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


def _as_saved(identity: Any) -> Any:
    """A checkpoint's identity as it was saved (:attr:`Checkpointing.saved_identity`'s default)."""
    return identity


@dataclass
class Checkpointing:
    """Where :func:`train` keeps its training state, how often, and whether it resumes.

    Args:
        path: the checkpoint file (``torch.save`` of tensors and plain containers only, read back
            with ``weights_only=True``: loading never runs code).
        every: steps between checkpoints (0: only at the end); one is always written at the end.
        every_seconds: seconds of training between checkpoints as well (0: by steps only), so
            that short and long runs alike lose at most a few minutes to a crash.
        resume: continue from ``path`` if it exists (else start afresh).
        state: what else the run's future depends on, by name: the modules being trained (with
            their buffers) and the batch stream.
        identity: what makes a checkpoint belong to this run (the run config, as plain data); a
            checkpoint whose identity differs is refused, naming what differs.
        saved_identity: reads a checkpoint's identity in the current layout (one written by an
            older version may hold settings since moved or dropped); as it is, by default.
    """

    path: Path
    every: int = 1000
    resume: bool = False
    every_seconds: float = 0.0
    state: Mapping[str, Stateful] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    saved_identity: Callable[[Any], Any] = field(default=_as_saved, repr=False)

    def due(self, done: int, total: int, seconds_since_last: float = 0.0) -> bool:
        """Whether a checkpoint is written after ``done`` of ``total`` steps, the last one
        ``seconds_since_last`` ago."""
        by_steps = self.every > 0 and done % self.every == 0
        by_time = self.every_seconds > 0 and seconds_since_last >= self.every_seconds
        return done == total or by_steps or by_time

    def discard(self) -> None:
        """Remove the checkpoint file: a finished run's, once its files are written (a finished
        run cannot be resumed, so it would only take space)."""
        self.path.unlink(missing_ok=True)


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
        with warnings.catch_warnings():  # torch warns about old formats before it fails
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, corrupt, or holding objects that would run code
        # torch's own text advises loading with weights_only=False, which would run that code
        objects = "weights_only" in str(err) or isinstance(err, pickle.UnpicklingError)
        why = (
            "it holds Python objects besides tensors, which ncpvae does not load: loading them "
            "could run code"
            if objects
            else f"truncated or corrupt: {first_line(err)}"
        )
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be loaded safely ({why}); delete it to start afresh"
        ) from None


def save_checkpoint(
    checkpointing: Checkpointing,
    step: int,
    optimizer: torch.optim.Optimizer,
    schedule: Any,
    history: TrainHistory,
) -> None:
    """Write the checkpoint after ``step`` steps (with the optimiser, schedule, history, RNGs
    and ``checkpointing.state``), atomically."""
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


def resume(
    checkpointing: Checkpointing, optimizer: torch.optim.Optimizer, schedule: Any
) -> tuple[int, TrainHistory]:
    """Restore a checkpoint's state; returns the step to continue from and the history."""
    saved = load_checkpoint(checkpointing.path)
    saved_identity = checkpointing.saved_identity(saved.get("identity"))
    differences = _differences(saved_identity, checkpointing.identity)
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
        raise CheckpointError(
            f"checkpoint {str(checkpointing.path)!r} does not fit this model "
            f"({first_line(err)}); delete it to start afresh"
        ) from None
    return saved["step"], history
