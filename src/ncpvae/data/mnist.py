"""MNIST from its original IDX files (gzipped or not), split 50k/10k/10k as in Lawson et al.

IDX layout: a big-endian header (two zero bytes, a type code, the number of dimensions, then one
uint32 per dimension) followed by the values; MNIST images are uint8 (N, 28, 28).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ncpvae.errors import DataError

__all__ = ["read_idx", "read_mnist", "MNIST_FILES"]

MNIST_FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
NUM_VALIDATION = 10_000
_UINT8 = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """A uint8 IDX file (``.gz`` or raw) as a numpy array of the shape its header gives."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise DataError(f"cannot read IDX file {str(path)!r} ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{str(path)!r} is not an IDX file (bad magic number)")
    if raw[2] != _UINT8:
        raise DataError(f"{str(path)!r}: only uint8 IDX files are supported (type {raw[2]:#x})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{str(path)!r} is truncated (incomplete header)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(
            f"{str(path)!r} has {len(raw)} bytes but its header {shape} needs {expected}: the file "
            "is truncated or corrupt; download it again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(directory: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    raise DataError(
        f"MNIST directory {str(directory)!r} has no {stem}[.gz]; point --data.path at the folder "
        "holding the four IDX files"
    )


def read_mnist(directory: str | Path) -> dict[str, Tensor]:
    """MNIST images as uint8 tensors (N, 1, 28, 28): ``train`` (the first 50,000 training
    images), ``validation`` (the last 10,000) and ``test`` (the 10,000 test images)."""
    directory = Path(directory)
    if directory.is_file():
        raise DataError(
            f"MNIST --data.path {str(directory)!r} is a file; point it at the folder holding "
            "the four IDX files (extract an archive first)"
        )
    if not directory.is_dir():
        raise DataError(
            f"MNIST directory {str(directory)!r} not found; set --data.path to the folder with "
            "train-images-idx3-ubyte.gz and t10k-images-idx3-ubyte.gz"
        )
    images = {}
    for split, stem in MNIST_FILES.items():
        array = read_idx(_find(directory, stem))
        if array.ndim != 3 or array.shape[1:] != (28, 28):
            raise DataError(f"MNIST {split} images must be (N, 28, 28), got {array.shape}")
        images[split] = torch.from_numpy(array.copy()).unsqueeze(1)
    train = images["train"]
    if train.shape[0] <= NUM_VALIDATION:
        raise DataError(f"MNIST train file has only {train.shape[0]} images; expected 60,000")
    return {
        "train": train[:-NUM_VALIDATION],
        "validation": train[-NUM_VALIDATION:],
        "test": images["test"],
    }
