"""Data sets: built-in synthetic ones and readers for files the user names.

:func:`load_data` maps a :class:`~ncpvae.config.DataConfig` to (train, test) tensors through the
``DATASETS`` registry; add a reader by adding an entry.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from ncpvae.data.toy import GRID_25, gaussians25, gaussians25_log_prob
from ncpvae.errors import DataError

if TYPE_CHECKING:
    from ncpvae.config import DataConfig

__all__ = ["gaussians25", "gaussians25_log_prob", "GRID_25", "load_data", "DATASETS", "check_data"]


def check_data(data: Tensor, what: str) -> Tensor:
    """Refuse empty, non-2-D or non-finite data with a message that says which."""
    if data.ndim != 2:
        raise DataError(f"{what} must have shape (N, D), got {tuple(data.shape)}")
    if data.shape[0] == 0:
        raise DataError(f"{what} is empty")
    if not torch.isfinite(data).all():
        bad = int((~torch.isfinite(data)).any(1).sum())
        raise DataError(f"{what} has {bad} row(s) with NaN or infinite values; clean them first")
    return data


def _gaussians25(cfg: DataConfig) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(cfg.seed)
    return gaussians25(cfg.num_train, generator), gaussians25(cfg.num_test, generator)


def _tensor_file(cfg: DataConfig) -> tuple[Tensor, Tensor]:
    path = Path(cfg.path)
    if not path.is_file():
        raise DataError(f"data file {cfg.path!r} not found; set --data.path to a .npy or .pt file")
    if path.suffix not in (".npy", ".pt"):
        raise DataError(f"data file {cfg.path!r}: expected a .npy or .pt file")
    try:
        if path.suffix == ".npy":
            array = torch.from_numpy(np.load(path, allow_pickle=False))
        else:
            array = torch.load(path, map_location="cpu", weights_only=True)
    except (ValueError, TypeError, OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise DataError(f"data file {cfg.path!r} could not be read ({err})") from None
    if not isinstance(array, Tensor):
        raise DataError(f"data file {cfg.path!r} must hold one tensor of shape (N, D)")
    if array.is_complex() or array.dtype == torch.bool:
        raise DataError(f"data file {cfg.path!r} must hold real numbers, not {array.dtype}")
    data = check_data(array.float(), f"data file {cfg.path!r}")
    if not 0 < cfg.num_test < data.shape[0]:
        raise DataError(
            f"data.num_test={cfg.num_test} must be between 1 and the {data.shape[0]} rows of "
            f"{cfg.path!r} minus one"
        )
    return data[: -cfg.num_test], data[-cfg.num_test :]


DATASETS: dict[str, Callable[[DataConfig], tuple[Tensor, Tensor]]] = {
    "gaussians25": _gaussians25,
    "file": _tensor_file,
}


def load_data(cfg: DataConfig) -> tuple[Tensor, Tensor]:
    """(train, test) for a data config."""
    if cfg.name not in DATASETS:
        raise DataError(f"unknown data set {cfg.name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[cfg.name](cfg)
