"""Tensors on disk: weights in safetensors, arrays as ``.npy``, and the run folders they go to
(JSON files are :mod:`ncpvae.files`; training checkpoints, :mod:`ncpvae.training.checkpoints`).

Weights are read with safetensors only, so loading a file never executes code from it. Files are
written to a temporary name and renamed, so an interrupted write never leaves a half-written
file in place of a finished one.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ncpvae.errors import CheckpointError
from ncpvae.files import atomic_write

__all__ = [
    "save_array",
    "save_weights",
    "load_weights",
    "weights_metadata",
    "file_sha256",
    "make_run_dir",
]


def make_run_dir(path: str | Path) -> Path:
    """Create the output folder (and parents); a clear error if it cannot be written."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe"):
            pass
    except OSError as err:
        raise CheckpointError(
            f"cannot write to output folder {str(path)!r} ({err.strerror}); choose another --out"
        ) from None
    return path


def save_array(path: Path, array: Tensor) -> None:
    """Save a tensor as a NumPy ``.npy`` file, atomically."""
    data = array.detach().cpu().numpy()

    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            np.save(f, data)

    atomic_write(path, write)


def save_weights(
    module: nn.Module, path: str | Path, metadata: dict[str, str] | None = None
) -> None:
    """Save ``module.state_dict()`` (parameters and buffers) as safetensors, atomically, with
    ``metadata`` (strings) in its header."""
    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    atomic_write(path, lambda p: save_file(tensors, str(p), metadata=metadata))


def weights_metadata(path: str | Path) -> dict[str, str]:
    """The metadata in the header of a safetensors file ({} if it has none or is unreadable)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError):
        return {}


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes: the identity of a weights file."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_weights(module: nn.Module, path: str | Path, device: torch.device | str = "cpu") -> None:
    """Load safetensors weights into ``module``; a missing, corrupt or mismatched file is a
    :class:`CheckpointError` that names it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {str(path)!r} not found; did that stage finish?")
    try:
        tensors: dict[str, Tensor] = load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(
            f"weights file {str(path)!r} is corrupt or truncated ({err}); re-run the stage that "
            "wrote it"
        ) from None
    try:
        module.load_state_dict(tensors)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if "\n" in str(err) else str(err)
        raise CheckpointError(
            f"weights file {str(path)!r} does not match its config.json ({first}); was it "
            "written by another version of ncpvae? Re-run the stage that wrote it"
        ) from None
