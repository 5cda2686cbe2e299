"""Fixtures shared by tests/unit and tests/integration; helpers are in ``tests/helpers.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from helpers import MNIST_DIR_TEST, MNIST_DIR_TRAIN, MNIST_DIR_VALIDATION, digits, write_mnist

import ncpvae.data.mnist as mnist

# The tests' models are tiny: one thread is about as fast as two on a quiet machine, and many
# times faster on a busy one (two threads on two shared cores wait on each other).
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")  # for the tests that start a process


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def mnist_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """MNIST IDX files of 21 training (16 in the train split) and 12 test blob images."""
    monkeypatch.setattr(mnist, "NUM_VALIDATION", MNIST_DIR_VALIDATION)
    train, test = digits(MNIST_DIR_TRAIN, 0), digits(MNIST_DIR_TEST, 1)
    return write_mnist(tmp_path / "mnist", train, test)


@pytest.fixture
def blob_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """MNIST IDX files of 690 training and 100 test images of bright squares at random places
    (the train split keeps the first 590, the validation split the last 100)."""
    monkeypatch.setattr(mnist, "NUM_VALIDATION", 100)
    return write_mnist(tmp_path / "mnist", digits(690, 0), digits(100, 1))
