"""Image data in memory: dynamic binarization (binary, fresh on every pass unless seeded, its mean
the pixel intensities, drawn afresh every epoch) and ``as_data``'s accepted and refused
inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import TRAIN_ID, pattern, seeded

from ncpvae import TensorData
from ncpvae.data import as_data
from ncpvae.errors import DataError
from ncpvae.training import Minibatches

# ---------------------------------------------------------------------------------------------
# Dynamic binarization

ALL_LEVELS = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)  # every pixel value once


def test_binarized_batches_are_binary_and_fresh_unless_seeded() -> None:
    data = TensorData.images(ALL_LEVELS.repeat(4, 1, 1, 1), binarize=True)
    first, second = data.batch(slice(None)), data.batch(slice(None))
    assert first.dtype == torch.float32 and first.shape == (4, 1, 16, 16)
    assert set(first.unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(first, second)  # fresh draws (1020 pixels of 0 < p < 1)
    same = data.batch(slice(None), seeded(7)), data.batch(slice(None), seeded(7))
    assert torch.equal(*same)
    assert not torch.equal(same[0], data.batch(slice(None), seeded(8)))
    # pixel 0 is never on, pixel 255 always
    assert (first[:, 0, 0, 0] == 0).all() and (first[:, 0, 15, 15] == 1).all()
    # without binarize the same data are the pixels / 255
    plain = TensorData.images(ALL_LEVELS).batch(slice(None))
    torch.testing.assert_close(plain.flatten(), torch.arange(256) / 255.0)


def test_binarized_mean_matches_pixel_probability() -> None:
    draws = 4000
    data = TensorData.images(ALL_LEVELS, binarize=True)
    x = data.batch(torch.zeros(draws, dtype=torch.long), seeded(0))  # one image, many draws
    p = torch.arange(256, dtype=torch.float64) / 255
    mean = x.double().mean(0).flatten()
    inner = (p > 0) & (p < 1)
    z = (mean - p)[inner] / torch.sqrt(p * (1 - p) / draws)[inner]
    assert z.abs().max() < 5.5  # 254 pixels: P(max |z| > 5.5) ~ 1e-5
    # the z-scores are standard normal: sum of squares ~ chi^2(254), mean 254, sd 22.5
    assert abs(float(z.pow(2).sum()) - 254) < 5 * math.sqrt(2 * 254)
    assert mean[0] == 0 and mean[-1] == 1


def test_minibatches_binarize_every_epoch_afresh() -> None:
    # four images identified by deterministic pixels (value 0 or 255) in the first row
    pixels = torch.full((4, 1, 8, 8), 128, dtype=torch.uint8)
    pixels[:, 0, 0, :4] = 0
    for i in range(4):
        pixels[i, 0, 0, i] = 255
    batches = Minibatches(TensorData.images(pixels, binarize=True), 4, seeded(3))
    epochs = []
    for _ in range(2):  # batch size = data size: one batch per epoch, all images reshuffled
        batch = next(batches)
        assert set(batch.unique().tolist()) == {0.0, 1.0}
        ids = batch[:, 0, 0, :4].argmax(1)
        assert sorted(ids.tolist()) == [0, 1, 2, 3]
        epochs.append(batch[ids.argsort()])
    # the random part (p = 128/255) of each image is drawn anew in the second epoch
    for i in range(4):
        assert not torch.equal(epochs[0][i, 0, 1:], epochs[1][i, 0, 1:])


# ---------------------------------------------------------------------------------------------
# as_data


class PairDataset(torch.utils.data.Dataset):
    """A map-style Dataset of (uint8 image, label) pairs, as torchvision's MNIST gives."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], i % 10


def test_as_data_inputs() -> None:
    floats = torch.rand(5, 2, 3, dtype=torch.float64)
    data = as_data(floats)
    assert data.values.dtype == torch.float32 and data.scale == 1.0 and not data.binarize
    torch.testing.assert_close(data.batch(slice(None)), floats.float())

    array = np.random.default_rng(0).normal(size=(6, 3))
    torch.testing.assert_close(as_data(array).batch([0, 5]), torch.tensor(array[[0, 5]]).float())

    pixels = torch.tensor([[0, 51, 255], [102, 204, 1]], dtype=torch.uint8)
    expected = pixels.float() / 255
    for source in (pixels, pixels.numpy()):
        data = as_data(source)
        assert data.values.dtype == torch.uint8  # kept as pixels, scaled per batch
        torch.testing.assert_close(data.batch(slice(None)), expected)

    images = pattern(3, TRAIN_ID, rows=4, cols=4)[:, None]  # (3, 1, 4, 4) uint8
    data = as_data(PairDataset(torch.from_numpy(images)))
    assert len(data) == 3 and data.shape == (1, 4, 4)
    torch.testing.assert_close(data.batch(slice(None)), torch.from_numpy(images).float() / 255)

    existing = TensorData.images(torch.from_numpy(images), binarize=True)
    assert as_data(existing) is existing


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.array([[1, "a"], [2, None]], dtype=object), "numpy array of Python objects"),
        (torch.arange(5.0), r"shape \(N, \.\.\.\) with N examples, got \(5,\)"),
        ([[0.0, 1.0], [2.0, 3.0]], "cannot use a list as data"),
        (torch.ones(3, 2, dtype=torch.bool), "must hold real numbers"),
    ],
    ids=["object", "1-D", "list", "bool"],
)
def test_as_data_refuses(bad, message) -> None:
    with pytest.raises(DataError, match=message):
        as_data(bad)
