"""CIFAR-10 from the standard ``cifar-10-python.tar.gz`` archive or its ``cifar-10-batches-py``
folder, read without trusting its pickles.

The folder holds ``data_batch_1`` ... ``data_batch_5`` (the 50,000 training images) and
``test_batch`` (10,000 test images). Each file is a Python 2 ``cPickle`` of a dict whose
``b"data"`` entry is a uint8 array of shape (n, 3072): per image, 1024 red, then 1024 green, then
1024 blue values of a 32x32 image in row-major order.

A pickle can run arbitrary code when loaded, so :func:`safe_unpickle` loads it with an unpickler
that builds nothing but plain containers and numeric numpy arrays.
"""

from __future__ import annotations

import codecs
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from torch import Tensor

from ncpvae.errors import DataError

__all__ = ["read_cifar10", "safe_unpickle", "TRAIN_FILES", "TEST_FILE"]

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"

_HINT = "point --data.path at cifar-10-python.tar.gz or its cifar-10-batches-py folder"


def _one_line(err: BaseException) -> str:
    """``err`` as ``Type: message`` on a single line."""
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


# The function numpy's own pickles name as ``numpy.core.multiarray._reconstruct`` (numpy 1) or
# ``numpy._core.multiarray._reconstruct`` (numpy 2); taken from a live array so that neither
# (deprecated or missing) module path has to be imported here.
_reconstruct = np.empty(0).__reduce__()[0]


def _latin1_encode(text: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as Python 3 pickles use it for ``bytes`` under protocol <= 2."""
    if codecs.lookup(encoding).name != "iso8859-1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return codecs.encode(text, "latin-1", errors)


def _plain_dtype(*args: Any) -> np.dtype:
    """``numpy.dtype`` limited to dtypes without Python objects inside."""
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError("numpy object arrays are not allowed")
    return dtype


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _plain_dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """An unpickler whose only importable names are the few that rebuild a numpy array."""

    def __init__(self, file: IO[bytes], source: str) -> None:
        super().__init__(file, encoding="bytes")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"{self._source} refuses to load: the pickle asks for {module}.{name}, which is "
                "not part of a plain numpy array; only load files from a trusted source"
            ) from None


def safe_unpickle(
    file: IO[bytes], source: str | None = None, remedy: str = "re-extract it"
) -> object:
    """Load one pickle from the binary ``file``, allowing only dicts, lists, strings, numbers
    and numeric numpy arrays; errors name it ``source`` (default: the file's name) and, for a
    corrupt file, end with ``remedy``.

    The only globals the pickle may name are ``numpy.core.multiarray._reconstruct`` and
    ``numpy._core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype`` (refusing object
    dtypes) and ``_codecs.encode`` (latin-1 only, how Python 3 writes ``bytes`` at protocol 2).
    Python 2 strings come back as ``bytes`` (``encoding="bytes"``). Anything else, and any
    truncated or corrupt stream, raises :class:`~ncpvae.errors.DataError`.
    """
    source = source or f"pickle {str(getattr(file, 'name', '<stream>'))!r}"
    try:
        return _ArrayOnlyUnpickler(file, source).load()
    except DataError:
        raise
    except RecursionError:
        raise DataError(f"{source} is nested too deeply; the file is corrupt") from None
    except Exception as err:  # a corrupt pickle can fail in many ways; report them all as one
        raise DataError(
            f"{source} could not be read ({_one_line(err)}); the file is truncated or "
            f"corrupt, {remedy}"
        ) from None


def _open_member(root: Path, archive: tarfile.TarFile | None, name: str) -> IO[bytes]:
    """The batch file ``name``: from the folder ``root``, or from the archive (whatever folder
    inside it holds the file), read without extracting anything to disk."""
    if archive is None:
        path = root / name
        if not path.is_file():
            raise DataError(f"CIFAR-10 directory {str(root)!r} has no {name}; {_HINT}")
        try:
            return path.open("rb")
        except OSError as err:
            raise DataError(
                f"CIFAR-10 file {str(path)!r} could not be opened ({_one_line(err)}); "
                "check its permissions"
            ) from None
    try:
        members = [m for m in archive.getmembers() if m.isfile() and Path(m.name).name == name]
        file = archive.extractfile(members[0]) if members else None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise DataError(
            f"CIFAR-10 archive {str(root)!r} is truncated or corrupt ({_one_line(err)}); "
            "download it again"
        ) from None
    if file is None:
        raise DataError(f"CIFAR-10 archive {str(root)!r} has no {name}; {_HINT}")
    return file


def _read_batch(file: IO[bytes], where: str, remedy: str) -> np.ndarray:
    """The (n, 3072) uint8 image rows of one CIFAR-10 batch file, checked; errors name it
    ``where`` and, for a corrupt file, end with ``remedy``."""
    with file:
        batch = safe_unpickle(file, where, remedy)
    if not isinstance(batch, dict):
        raise DataError(f"{where} holds a {type(batch).__name__}, not a dict; {_HINT}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise DataError(f"{where} has no 'data' and 'labels' entries; {_HINT}")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        kind = data.dtype if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{where}: 'data' must be a uint8 array, got {kind}; re-extract the file")
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(
            f"{where}: 'data' must have shape (n, 3072), got {data.shape}; re-extract the file"
        )
    if not hasattr(labels, "__len__") or len(labels) != data.shape[0]:
        raise DataError(f"{where}: 'labels' does not match the {data.shape[0]} images")
    return data


def _to_images(rows: list[np.ndarray]) -> Tensor:
    # concatenate copies, so the tensor owns writable memory even for a single batch
    return torch.from_numpy(np.concatenate(rows).reshape(-1, 3, 32, 32))


def read_cifar10(path: str | Path) -> tuple[Tensor, Tensor]:
    """(train, test) CIFAR-10 images from a ``cifar-10-batches-py`` folder or straight from the
    ``cifar-10-python.tar.gz`` archive (not extracted).

    Returns uint8 tensors of shape (50000, 3, 32, 32) and (10000, 3, 32, 32) for the real data
    (channels red, green, blue); train is ``data_batch_1`` ... ``data_batch_5`` in that order.
    Labels are not returned. Files are loaded with :func:`safe_unpickle`. A missing folder,
    archive or file, or a corrupt one, raises :class:`~ncpvae.errors.DataError`.
    """
    root = Path(path)
    if not root.exists():
        raise DataError(f"CIFAR-10 path {str(root)!r} does not exist; {_HINT}")
    if root.is_dir():
        return _read_all(root, None)
    try:
        archive = tarfile.open(root)  # noqa: SIM115 (closed by the with below)
    except (tarfile.TarError, OSError) as err:
        raise DataError(
            f"CIFAR-10 path {str(root)!r} is neither a folder nor a readable tar archive "
            f"({_one_line(err)}); {_HINT}"
        ) from None
    with archive:
        return _read_all(root, archive)


def _read_all(root: Path, archive: tarfile.TarFile | None) -> tuple[Tensor, Tensor]:
    def batch(name: str) -> np.ndarray:
        where = f"CIFAR-10 file {name!r} in {'archive ' if archive else ''}{str(root)!r}"
        remedy = "download cifar-10-python.tar.gz again" if archive else "re-extract it"
        return _read_batch(_open_member(root, archive, name), where, remedy)

    train = _to_images([batch(name) for name in TRAIN_FILES])
    test = _to_images([batch(TEST_FILE)])
    return train, test
