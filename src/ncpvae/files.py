"""Files written whole or not at all: a file is written to a temporary name beside its place and
renamed onto it, so an interrupted write never leaves a half-written file in place of a finished
one. JSON read back with a one-line error."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ncpvae.errors import CheckpointError

__all__ = ["atomic_write", "write_json", "read_json"]


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=2) + "\n"))


def read_json(path: Path, missing: str) -> dict[str, Any]:
    """The JSON object in ``path``; a one-line :class:`CheckpointError` if the file is absent
    (``missing`` says what to do), not JSON or not an object."""
    if not path.is_file():
        raise CheckpointError(missing)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{str(path)!r} is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{str(path)!r} does not hold what ncpvae writes there")
    return data
