"""Image grids: the PNG's size, mode, tiles, white padding and empty slots, and the default
square layout with values clamped to [0, 1]."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import seeded
from PIL import Image

from ncpvae.evaluation.plotting import image_grid


@pytest.mark.parametrize("channels", [1, 3], ids=["grey", "rgb"])
def test_image_grid_size_and_pixels(tmp_path: Path, channels: int) -> None:
    n, h, w, pad, columns = 5, 4, 6, 2, 3
    levels = torch.randint(0, 256, (n, channels, h, w), generator=seeded(4))
    images = levels.float() / 255
    path = tmp_path / "grid.png"
    image_grid(images, path, columns=columns, padding=pad)
    with Image.open(path) as png:
        assert png.mode == ("L" if channels == 1 else "RGB")
        rows = math.ceil(n / columns)
        assert png.size == (columns * (w + pad) + pad, rows * (h + pad) + pad)  # (width, height)
        pixels = np.asarray(png)
    if channels == 1:
        pixels = pixels[..., None]
    for i in range(n):
        top, left = pad + (i // columns) * (h + pad), pad + (i % columns) * (w + pad)
        tile = pixels[top : top + h, left : left + w]
        np.testing.assert_array_equal(tile, levels[i].permute(1, 2, 0).numpy())
    assert (pixels[:pad] == 255).all() and (pixels[:, :pad] == 255).all()  # padding is white
    assert (pixels[pad + h + pad :, pad + 2 * (w + pad) :] == 255).all()  # the empty sixth slot
    # default: the smallest square grid, values clamped to [0, 1]
    stretched = images * 3 - 1  # values in [-1, 2]
    image_grid(stretched, tmp_path / "square.png")
    with Image.open(tmp_path / "square.png") as png:
        assert png.size == (3 * (w + pad) + pad, 2 * (h + pad) + pad)
        first = np.asarray(png)[pad : pad + h, pad : pad + w].reshape(h, w, -1)
    expected = (stretched[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0)
    np.testing.assert_array_equal(first, expected.numpy())
    assert {0, 255} <= set(np.unique(first).tolist())  # some values were clamped at each end
