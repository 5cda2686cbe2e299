"""Training curves for TensorBoard: event files in a run folder's ``tensorboard/``, written
when the optional ``tensorboard`` package is installed (``pip install ncpvae[tensorboard]``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

__all__ = ["EventFile", "tensorboard_available"]


def tensorboard_available() -> bool:
    """Whether the ``tensorboard`` package (what torch's event writer needs) is installed."""
    return importlib.util.find_spec("tensorboard") is not None


class EventFile:
    """``on_log`` for :func:`~ncpvae.training.train`: every logged value as a scalar under the
    stage's name (``vae/elbo``, ``prior/acc0``, ``vae/lr``, ...), in ``folder``. Does nothing
    without tensorboard, or when not ``enabled`` (a torchrun rank other than 0). Use as a
    context manager, or call :meth:`close`."""

    def __init__(self, folder: str | Path, stage: str, enabled: bool = True) -> None:
        self.stage, self.writer = stage, None
        if enabled and tensorboard_available():
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(folder))

    def __call__(self, step: int, values: dict[str, float]) -> None:
        """Write one logged step."""
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(f"{self.stage}/{name}", value, step)

    def close(self) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> EventFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
