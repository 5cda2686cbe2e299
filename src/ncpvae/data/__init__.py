"""Data sets: built-in synthetic ones and readers for files the user names.

:func:`load_data` maps a :data:`DataConfig` (the ``data`` section of a run config: one section
class per source, chosen by ``name``) to :class:`DataSplits` of :class:`TensorData` (train,
validation, test) through the ``DATASETS`` registry; add a reader by adding an entry (and its
section to :data:`DataConfig`).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from ncpvae.config.data import (
    CIFAR10Config,
    DataConfig,
    FileDataConfig,
    Gaussians25Config,
    ImageFolderConfig,
    MNISTConfig,
    PathConfig,
)
from ncpvae.data.arrays import DataLike, TensorData, as_data
from ncpvae.data.toy import GRID_25, gaussians25, gaussians25_log_prob, grid
from ncpvae.errors import DataError, first_line

__all__ = [
    "DataConfig",
    "Gaussians25Config",
    "FileDataConfig",
    "MNISTConfig",
    "CIFAR10Config",
    "ImageFolderConfig",
    "gaussians25",
    "gaussians25_log_prob",
    "GRID_25",
    "load_data",
    "DataSplits",
    "hold_out_validation",
    "DATASETS",
    "TensorData",
    "as_data",
    "DataLike",
]

Splits = tuple[TensorData, TensorData]  # (train, test) of a data set without its own validation


class DataSplits(NamedTuple):
    """A data set's splits. ``validation`` is None where ``data.num_validation`` is 0."""

    train: TensorData
    validation: TensorData | None
    test: TensorData


def _gaussians25(cfg: Gaussians25Config) -> Splits:
    generator = torch.Generator().manual_seed(cfg.seed)
    centres = grid(cfg.grid_size, cfg.grid_spacing)
    train = gaussians25(cfg.num_train, generator, cfg.mode_std, centres)
    test = gaussians25(cfg.num_test, generator, cfg.mode_std, centres)
    return TensorData(train), TensorData(test)


def _hold_out_last(data: TensorData, cfg: PathConfig, what: str) -> Splits:
    """(all but the last ``num_test`` examples, the last ``num_test``) of one data set."""
    if not 0 < cfg.num_test < len(data):
        raise DataError(
            f"data.num_test={cfg.num_test} must be between 1 and the {len(data)} {what} of "
            f"{cfg.path!r} minus one"
        )
    head, tail = data.values[: -cfg.num_test], data.values[-cfg.num_test :]
    return replace(data, values=head), replace(data, values=tail)


def _tensor_file(cfg: FileDataConfig) -> Splits:
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
    except pickle.UnpicklingError:  # torch's weights-only loader met a Python object
        raise DataError(
            f"data file {cfg.path!r} holds pickled Python objects, which ncpvae does not load "
            "(loading them could run code); save one tensor with torch.save or numpy.save"
        ) from None
    except (ValueError, TypeError, OSError, RuntimeError, EOFError) as err:
        raise DataError(
            f"data file {cfg.path!r} could not be read as an array ({first_line(err)}); save "
            "one tensor with torch.save or numpy.save"
        ) from None
    if not isinstance(array, torch.Tensor):
        raise DataError(f"data file {cfg.path!r} must hold one tensor of shape (N, ...)")
    data = as_data(array).check(f"data file {cfg.path!r}")
    return _hold_out_last(replace(data, binarize=cfg.binarize), cfg, "examples")


def _mnist(cfg: MNISTConfig) -> DataSplits:
    from ncpvae.data.mnist import read_mnist

    splits = read_mnist(cfg.path)
    return DataSplits(
        *(TensorData.images(splits[name], cfg.binarize) for name in ("train", "validation", "test"))
    )


def _cifar10(cfg: CIFAR10Config) -> Splits:
    from ncpvae.data.cifar import read_cifar10

    train, test = read_cifar10(cfg.path)
    return TensorData.images(train, cfg.binarize), TensorData.images(test, cfg.binarize)


def _folder(cfg: ImageFolderConfig) -> Splits:
    from ncpvae.data.folder import read_image_folder

    images = read_image_folder(cfg.path, cfg.image_size, crop=cfg.crop, progress=True)
    return _hold_out_last(TensorData.images(images, cfg.binarize), cfg, "images")


DATASETS: dict[str, Callable[[Any], Splits | DataSplits]] = {
    "gaussians25": _gaussians25,
    "file": _tensor_file,
    "mnist": _mnist,
    "cifar10": _cifar10,
    "folder": _folder,
}
"""Data source name -> its reader, which takes that source's section (``Gaussians25Config``
for ``gaussians25``, ...)."""


def hold_out_validation(
    train: TensorData, num_validation: int, seed: int
) -> tuple[TensorData, TensorData | None]:
    """(the rest, ``num_validation`` examples chosen at random by ``seed``) of ``train``, both
    in their original order; (train, None) if ``num_validation`` is 0."""
    if num_validation == 0:
        return train, None
    if num_validation >= len(train):
        raise DataError(
            f"data.num_validation={num_validation} must be below the {len(train)} training "
            "examples used (data.num_train)"
        )
    chosen = torch.zeros(len(train), dtype=torch.bool)
    generator = torch.Generator().manual_seed(seed)
    chosen[torch.randperm(len(train), generator=generator)[:num_validation]] = True
    return replace(train, values=train.values[~chosen]), replace(train, values=train.values[chosen])


def load_data(cfg: DataConfig) -> DataSplits:
    """The splits of a data config: the first ``num_train`` training examples and the first
    ``num_test`` test examples; ``num_validation`` validation examples, the first of the data
    set's own validation split where it has one (MNIST), else held out at random (by
    ``split_seed``) from the ``num_train`` training examples."""
    if cfg.name not in DATASETS:
        raise DataError(f"unknown data set {cfg.name!r}; choose one of {sorted(DATASETS)}")
    if isinstance(cfg, PathConfig) and not cfg.path:
        raise DataError(f"data set {cfg.name!r} is read from files: set --data.path")
    splits = DATASETS[cfg.name](cfg)
    if not isinstance(splits, DataSplits):  # (train, test): no validation split of its own
        splits = DataSplits(splits[0], None, splits[1])
    train, own, test = splits
    train = train.head(cfg.num_train).check(f"the {cfg.name} training data")
    test = test.head(cfg.num_test).check(f"the {cfg.name} test data")
    if own is None:
        train, validation = hold_out_validation(train, cfg.num_validation, cfg.split_seed)
    elif cfg.num_validation > len(own):
        raise DataError(
            f"data.num_validation={cfg.num_validation} is more than the {len(own)} examples of "
            f"the {cfg.name} validation split"
        )
    else:
        validation = own.head(cfg.num_validation) if cfg.num_validation else None
    return DataSplits(train, validation, test)
