"""Images from a folder tree or a .tar archive, centre-cropped and resized to a square.

This is the usual CelebA-64 preprocessing: on the aligned 178x218 images a centre crop of 148
then a resize to 64; on the half-size 89x109 copies a centre crop of 74 then a resize to 64.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ncpvae.errors import DataError
from ncpvae.progress import progress_bar

__all__ = ["read_image_folder", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

_Opener = Callable[[], IO[bytes]]


def _one_line(err: BaseException) -> str:
    """``err`` as ``Type: message`` on a single line."""
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


def _is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def _folder_images(root: Path) -> list[tuple[str, _Opener]]:
    """(name relative to ``root``, opener) for each image file under ``root``, sorted by name."""
    found = [
        (file.relative_to(root).as_posix(), file)
        for file in root.rglob("*")
        if _is_image_name(file.name) and file.is_file()
    ]
    found.sort(key=lambda item: item[0])
    return [(name, (lambda file=file: file.open("rb"))) for name, file in found]


def _tar_images(archive: tarfile.TarFile) -> list[tuple[str, _Opener]]:
    """(member name, opener) for each regular image member of ``archive``, sorted by name."""
    members = [m for m in archive.getmembers() if m.isfile() and _is_image_name(m.name)]
    members.sort(key=lambda m: m.name)

    def opener(member: tarfile.TarInfo) -> _Opener:
        def open_member() -> IO[bytes]:
            handle = archive.extractfile(member)
            if handle is None:  # pragma: no cover - isfile() members always have data
                raise OSError("member has no data")
            with handle:
                return io.BytesIO(handle.read())

        return open_member

    return [(m.name, opener(m)) for m in members]


def _square(image: Image.Image, crop: int, image_size: int, name: str) -> np.ndarray:
    """Centre crop ``image`` to ``crop`` (0: its largest square), resize, as (H, W, 3) uint8."""
    width, height = image.size
    side = crop if crop > 0 else min(width, height)
    if side > width or side > height:
        raise DataError(
            f"image {name!r} is {width}x{height}, smaller than the {crop}x{crop} centre crop; "
            "lower the crop size or use larger images"
        )
    left, top = (width - side) / 2, (height - side) / 2
    box = (left, top, left + side, top + side)
    resized = image.resize((image_size, image_size), Image.Resampling.BICUBIC, box=box)
    return np.asarray(resized, dtype=np.uint8)


def _decode(opener: _Opener, name: str, crop: int, image_size: int) -> np.ndarray:
    try:
        with opener() as file, Image.open(file) as image:
            rgb = image.convert("RGB")
    except Exception as err:  # Pillow reports corrupt files with many exception types
        raise DataError(
            f"image {name!r} could not be read ({_one_line(err)}); remove or replace the file"
        ) from None
    return _square(rgb, crop, image_size, name)


def _open_tar(root: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(root)
    except (tarfile.TarError, OSError, EOFError) as err:
        # tarfile.ReadError lists every compression it tried; the summary says enough
        detail = "" if isinstance(err, tarfile.ReadError) else f" ({_one_line(err)})"
        raise DataError(
            f"image path {str(root)!r} is neither a folder nor a readable .tar archive{detail}; "
            "point it at a folder of .jpg/.png images or a .tar of them"
        ) from None


def _read_all(
    where: str,
    images: list[tuple[str, _Opener]],
    image_size: int,
    crop: int,
    limit: int,
    progress: bool,
) -> Tensor:
    if not images:
        raise DataError(
            f"{where} holds no .jpg, .jpeg or .png images; point it at a folder or .tar of them"
        )
    if limit > 0:
        images = images[:limit]
    out = np.empty((len(images), image_size, image_size, 3), dtype=np.uint8)
    for i, (name, opener) in enumerate(
        progress_bar(images, "decoding images", progress, unit="img")
    ):
        try:
            out[i] = _decode(opener, name, crop, image_size)
        except DataError as err:
            raise DataError(f"{where}: {err}") from None
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def read_image_folder(
    path: str | Path,
    image_size: int = 64,
    crop: int = 0,
    limit: int = 0,
    *,
    progress: bool = False,
) -> Tensor:
    """Images under ``path`` as a uint8 tensor of shape (N, 3, image_size, image_size).

    ``path`` is a folder, searched recursively, or a .tar archive (read in memory, never
    extracted; non-regular members are skipped). Files ending in .jpg, .jpeg or .png (any case)
    are taken in sorted order of their path relative to ``path`` (the member name in an
    archive); ``limit`` > 0 reads only the first ``limit`` of them.

    Each image is converted to RGB, centre-cropped to ``crop`` x ``crop`` (``crop`` = 0: the
    largest centred square) and resized to ``image_size`` with Pillow's bicubic filter
    (``Image.Resampling.BICUBIC``, antialiased when shrinking). The crop box is exactly
    centred: when the image and crop sizes differ by an odd number of pixels its edges fall on
    half pixels and the resize samples it there, instead of shifting it by half a pixel.
    ``progress`` shows a tqdm progress bar.

    Raises :class:`~ncpvae.errors.DataError` for a missing path, no images found, an
    unreadable image or archive, or an image smaller than ``crop``.
    """
    if (
        isinstance(image_size, bool)
        or not isinstance(image_size, (int, np.integer))
        or image_size < 1
    ):
        raise DataError(f"image_size must be a positive integer, got {image_size!r}")
    for label, value in (("crop", crop), ("limit", limit)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise DataError(f"{label} must be a non-negative integer (0: off), got {value!r}")
    root = Path(path)
    if not root.exists():
        raise DataError(
            f"image path {str(root)!r} does not exist; point it at a folder of images or a .tar"
        )
    if root.is_dir():
        return _read_all(
            f"folder {str(root)!r}", _folder_images(root), image_size, crop, limit, progress
        )
    with _open_tar(root) as archive:
        try:
            images = _tar_images(archive)
        except (tarfile.TarError, OSError, EOFError) as err:
            raise DataError(
                f"archive {str(root)!r} is truncated or corrupt ({_one_line(err)}); "
                "re-create or re-download it"
            ) from None
        return _read_all(f"archive {str(root)!r}", images, image_size, crop, limit, progress)
