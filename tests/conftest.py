"""Shared test helpers: closed-form log-ratios, a linear-Gaussian VAE with exact marginals, and
tiny MNIST IDX files (the ``mnist_dir`` fixture)."""

from __future__ import annotations

import gzip
import math
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

import ncpvae.data.mnist as mnist
from ncpvae.models.base import LatentVariableModel


class QuadraticLogRatio(nn.Module):
    """f(z) = -1/2 z^T A z + b^T z + c. On a N(0, I) base prior, p(z) exp f(z) / Z is the Gaussian
    with precision I + A and mean (I + A)^-1 b, and log Z = c - 1/2 log|I + A| + 1/2 b^T (I+A)^-1 b.
    """

    def __init__(self, a: Tensor, b: Tensor, c: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("a", a)
        self.register_buffer("b", b)
        self.c = c

    def forward(self, z: Tensor) -> Tensor:
        return -0.5 * ((z @ self.a) * z).sum(-1) + z @ self.b + self.c

    def target(self) -> MultivariateNormal:
        precision = torch.eye(len(self.b), dtype=self.a.dtype) + self.a
        cov = torch.linalg.inv(precision)
        return MultivariateNormal(cov @ self.b, covariance_matrix=cov)

    def log_normalizer(self) -> float:
        precision = torch.eye(len(self.b), dtype=self.a.dtype) + self.a
        mean = torch.linalg.solve(precision, self.b)
        return float(self.c - 0.5 * torch.logdet(precision) + 0.5 * self.b @ mean)


class LinearGaussianVAE(LatentVariableModel):
    """z ~ N(0, I), x = W z + bias + sigma * eps. The posterior is the exact one with its
    covariance inflated by ``posterior_inflation`` (so importance weighting has work to do)."""

    def __init__(self, w: Tensor, bias: Tensor, sigma: float, posterior_inflation: float = 1.5):
        super().__init__()
        self.latent_shape = (w.shape[1],)
        self.w = nn.Parameter(w)
        self.bias = nn.Parameter(bias)
        self.sigma = sigma
        self.inflation = posterior_inflation

    def posterior(self, x: Tensor) -> Distribution:
        d = self.w.shape[1]
        precision = torch.eye(d) + self.w.T @ self.w / self.sigma**2
        cov = torch.linalg.inv(precision)
        mean = (x - self.bias) @ self.w @ cov.T / self.sigma**2
        return MultivariateNormal(mean, covariance_matrix=self.inflation * cov)

    def likelihood(self, z: Tensor) -> Distribution:
        return Independent(Normal(z @ self.w.T + self.bias, self.sigma), 1)

    def marginal(self, prior: MultivariateNormal | None = None) -> MultivariateNormal:
        """Exact p(x) for a Gaussian prior on z (default N(0, I))."""
        d = self.w.shape[1]
        mean = prior.mean if prior is not None else torch.zeros(d)
        cov = prior.covariance_matrix if prior is not None else torch.eye(d)
        x_cov = self.w @ cov @ self.w.T + self.sigma**2 * torch.eye(self.w.shape[0])
        return MultivariateNormal(self.w @ mean + self.bias, covariance_matrix=x_cov)


# The tests' models are tiny: one thread is about as fast as two on a quiet machine, and many
# times faster on a busy one (two threads on two shared cores wait on each other).
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")  # for the tests that start a process


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def gaussian_moments_error(samples: Tensor, target: MultivariateNormal) -> tuple[float, float]:
    """Largest absolute error of the sample mean and of the sample covariance."""
    mean_err = (samples.mean(0) - target.mean).abs().max()
    cov_err = (torch.cov(samples.T) - target.covariance_matrix).abs().max()
    return float(mean_err), float(cov_err)


LOG_2PI = math.log(2 * math.pi)


def seeded(seed: int) -> torch.Generator:
    """A CPU generator in a known state."""
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- tiny MNIST IDX files

NUM_VALIDATION = 5  # monkeypatched into ncpvae.data.mnist: keeps the train file tiny
TRAIN_IMAGES, TEST_IMAGES = 21, 12  # train split: the first 16 training images


def write_idx(path: Path, images: np.ndarray) -> None:
    """uint8 IDX, gzipped: 0, 0, 0x08, ndim, big-endian uint32 dims, then the values."""
    header = bytes([0, 0, 0x08, images.ndim]) + struct.pack(f">{images.ndim}I", *images.shape)
    path.write_bytes(gzip.compress(header + images.tobytes()))


def digits(count: int, seed: int, grey: bool = True) -> np.ndarray:
    """Blobs on a black background: a bright square at a random place, grey at its edge."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 28, 28), np.uint8)
    for image, (y, x) in zip(images, rng.integers(4, 16, (count, 2)), strict=True):
        image[y : y + 10, x : x + 10] = 128 if grey else 255
        image[y + 2 : y + 8, x + 2 : x + 8] = 255
    return images


@pytest.fixture
def mnist_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(mnist, "NUM_VALIDATION", NUM_VALIDATION)
    root = tmp_path / "mnist"
    root.mkdir()
    write_idx(root / "train-images-idx3-ubyte.gz", digits(TRAIN_IMAGES, 0))
    write_idx(root / "t10k-images-idx3-ubyte.gz", digits(TEST_IMAGES, 1))
    return root
