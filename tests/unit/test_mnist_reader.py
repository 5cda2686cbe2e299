"""The MNIST IDX reader on tiny files in the real format: the train, validation and test splits
and their pixels (gzipped and raw), IDX files of any shape, ``load_data``'s heads of the splits,
and the one-line refusals of truncated, corrupt, misshapen and missing files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TEST_ID, TRAIN_ID, idx_bytes, pattern, write_idx, write_mnist

import ncpvae.data.mnist as mnist
from ncpvae.config import MNISTConfig
from ncpvae.data import DATASETS, load_data
from ncpvae.data.mnist import read_idx, read_mnist
from ncpvae.errors import DataError

NUM_VALIDATION = 4  # monkeypatched into ncpvae.data.mnist: keeps the train file tiny
TRAIN_IMAGES, TEST_IMAGES = 10, 3


def write_pattern_mnist(root: Path, gz: bool = True, train: int = TRAIN_IMAGES) -> Path:
    return write_mnist(root, pattern(train, TRAIN_ID), pattern(TEST_IMAGES, TEST_ID), gz=gz)


@pytest.fixture
def small_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist, "NUM_VALIDATION", NUM_VALIDATION)


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_read_mnist_splits_and_pixels(tmp_path: Path, small_validation, gz: bool) -> None:
    splits = read_mnist(write_pattern_mnist(tmp_path / "mnist", gz=gz))
    assert set(splits) == {"train", "validation", "test"}
    train_file = pattern(TRAIN_IMAGES, TRAIN_ID)
    n_train = TRAIN_IMAGES - NUM_VALIDATION
    assert splits["train"].shape == (n_train, 1, 28, 28)
    assert splits["validation"].shape == (NUM_VALIDATION, 1, 28, 28)
    assert splits["test"].shape == (TEST_IMAGES, 1, 28, 28)
    assert all(s.dtype == torch.uint8 for s in splits.values())
    # train is the first part of the train file, validation its last NUM_VALIDATION images
    np.testing.assert_array_equal(splits["train"][:, 0].numpy(), train_file[:n_train])
    np.testing.assert_array_equal(splits["validation"][:, 0].numpy(), train_file[n_train:])
    np.testing.assert_array_equal(splits["test"][:, 0].numpy(), pattern(TEST_IMAGES, TEST_ID))
    # spot checks of the layout (row-major, rows first): image n, row y, column x
    assert int(splits["train"][0, 0, 0, 1]) == (101 + 3) % 256
    assert int(splits["train"][0, 0, 1, 0]) == (101 + 7) % 256
    assert int(splits["validation"][1, 0, 2, 5]) == ((n_train + 1) * 37 + 14 + 15 + 101) % 256
    assert int(splits["test"][2, 0, 27, 27]) == (2 * 37 + 27 * 10 + 202) % 256


def test_read_idx_any_shape(tmp_path: Path) -> None:
    values = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a.idx", "a.idx.gz"):
        array = read_idx(write_idx(tmp_path / name, values))
        assert array.dtype == np.uint8
        np.testing.assert_array_equal(array, values)


def test_load_data_mnist_keeps_train_split_and_heads(tmp_path: Path, small_validation) -> None:
    root = write_pattern_mnist(tmp_path / "mnist")
    assert "mnist" in DATASETS
    cfg = MNISTConfig(path=str(root), num_train=4, num_test=2, binarize=True)
    train, _, test = load_data(cfg)
    assert (len(train), len(test)) == (4, 2)
    assert train.binarize and test.binarize and train.scale == pytest.approx(1 / 255)
    assert train.shape == test.shape == (1, 28, 28)
    np.testing.assert_array_equal(train.values[:, 0].numpy(), pattern(4, TRAIN_ID))
    np.testing.assert_array_equal(test.values[:, 0].numpy(), pattern(2, TEST_ID))
    # all of the training split, never the validation images
    train = load_data(MNISTConfig(path=str(root))).train
    assert len(train) == TRAIN_IMAGES - NUM_VALIDATION and not train.binarize


def test_mnist_validation_comes_from_its_own_validation_split(
    tmp_path: Path, small_validation
) -> None:
    root = write_pattern_mnist(tmp_path / "mnist")
    cfg = MNISTConfig(path=str(root), num_validation=NUM_VALIDATION - 1)
    train, validation, _ = load_data(cfg)
    n_train = TRAIN_IMAGES - NUM_VALIDATION
    # the training split untouched, validation the first images after it in the train file
    np.testing.assert_array_equal(train.values[:, 0].numpy(), pattern(n_train, TRAIN_ID))
    expected = pattern(TRAIN_IMAGES, TRAIN_ID)[n_train : TRAIN_IMAGES - 1]
    np.testing.assert_array_equal(validation.values[:, 0].numpy(), expected)
    with pytest.raises(DataError, match="more than the"):
        load_data(MNISTConfig(path=str(root), num_validation=NUM_VALIDATION + 1))


def _replace_train(root: Path, raw: bytes) -> None:
    (root / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw))


@pytest.mark.parametrize(
    "make_raw, message",
    [
        (
            lambda raw: raw[:-5],
            r"has 7851 bytes but its header \(10, 28, 28\) needs 7856: the file is truncated or "
            "corrupt; download it again",
        ),
        (lambda raw: raw[:10], r"truncated \(incomplete header\)"),
        (lambda raw: b"\x1f\x8b" + raw[2:], r"is not an IDX file \(bad magic number\)"),
        (
            lambda raw: raw[:2] + b"\x0d" + raw[3:],
            r"only uint8 IDX files are supported \(type 0xd\)",
        ),
        (
            lambda raw: idx_bytes(pattern(TRAIN_IMAGES, TRAIN_ID, cols=27)),
            r"MNIST train images must be \(N, 28, 28\), got \(10, 28, 27\)",
        ),
        (
            lambda raw: idx_bytes(np.zeros(784 * TRAIN_IMAGES, np.uint8)),
            r"must be \(N, 28, 28\), got \(7840,\)",
        ),
        (
            lambda raw: idx_bytes(pattern(NUM_VALIDATION, TRAIN_ID)),
            "has only 4 images; expected 60,000",
        ),
    ],
    ids=["truncated", "header", "magic", "type", "columns", "flat", "too-few"],
)
def test_read_mnist_bad_train_file(tmp_path: Path, small_validation, make_raw, message) -> None:
    root = write_pattern_mnist(tmp_path / "mnist")
    _replace_train(root, make_raw(idx_bytes(pattern(TRAIN_IMAGES, TRAIN_ID))))
    with pytest.raises(DataError, match=message) as err:
        read_mnist(root)
    assert "\n" not in str(err.value)


def test_read_mnist_truncated_raw_file_names_sizes(tmp_path: Path, small_validation) -> None:
    root = write_pattern_mnist(tmp_path / "mnist", gz=False)
    path = root / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    needed = 16 + TEST_IMAGES * 784
    with pytest.raises(DataError, match=rf"has {needed - 1} bytes but its header \(3, 28, 28\)"):
        read_mnist(root)


def test_read_mnist_truncated_gzip(tmp_path: Path, small_validation) -> None:
    root = write_pattern_mnist(tmp_path / "mnist")
    path = root / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match="cannot read IDX file .*t10k-images-idx3-ubyte.gz"):
        read_mnist(root)


def test_read_mnist_corrupt_gzip_stream(tmp_path: Path, small_validation) -> None:
    root = write_pattern_mnist(tmp_path / "mnist")
    path = root / "t10k-images-idx3-ubyte.gz"
    corrupt = bytearray(path.read_bytes())
    corrupt[12] ^= 0xFF  # inside the deflate stream, just after the 10-byte gzip header
    path.write_bytes(bytes(corrupt))
    with pytest.raises(DataError, match="cannot read IDX file"):
        read_mnist(root)


def test_read_mnist_missing_directory_or_file(tmp_path: Path, small_validation) -> None:
    with pytest.raises(DataError, match="MNIST directory .*nope' not found; set --data.path"):
        read_mnist(tmp_path / "nope")
    root = write_pattern_mnist(tmp_path / "mnist")
    (root / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"has no t10k-images-idx3-ubyte\[\.gz\]; point"):
        read_mnist(root)
