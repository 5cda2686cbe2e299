"""Helpers shared by tests/unit and tests/integration (``pythonpath = ["tests"]`` in pyproject.toml
makes this module importable as ``helpers`` from both): closed-form models, tiny data files in the
real on-disk formats, tiny image models and images, and the CLI runners with their one-line error
check. Fixtures live in ``tests/conftest.py``."""

from __future__ import annotations

import gzip
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

from ncpvae.cli import main
from ncpvae.data.cifar import TEST_FILE, TRAIN_FILES
from ncpvae.distributions import standard_normal
from ncpvae.models import MODELS, VAEConfig
from ncpvae.models.base import LatentVariableModel
from ncpvae.prior import NCPPrior

ROOT = Path(__file__).resolve().parent.parent  # the repository


def seeded(seed: int) -> torch.Generator:
    """A CPU generator in a known state."""
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- closed forms


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


class QuadraticLogRatioZero(torch.nn.Module):
    """f = 0: the NCP prior is the base prior, SIR's ESS is M."""

    def forward(self, z):
        return torch.zeros(len(z))


def far_target() -> tuple[NCPPrior, QuadraticLogRatio]:
    """An NCP prior on N(0, I) in 2-d whose target is N((1.9, -1.5), 0.18^2 I) (see
    :class:`QuadraticLogRatio`): far in the base prior's tail, where SIR with few proposals
    collapses. Returns the prior and its log-ratio (``f.target()``)."""
    f = QuadraticLogRatio(torch.eye(2) * 30.0, torch.tensor([60.0, -45.0]))
    return NCPPrior(standard_normal((2,)), f), f


class Recorder(nn.Module):
    """A classifier that remembers its last input (``seen``) and answers 0."""

    def forward(self, z: Tensor) -> Tensor:
        self.seen = z.detach().clone()
        return z.sum(-1) * 0


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


def gaussian_moments_error(samples: Tensor, target: MultivariateNormal) -> tuple[float, float]:
    """Largest absolute error of the sample mean and of the sample covariance."""
    mean_err = (samples.mean(0) - target.mean).abs().max()
    cov_err = (torch.cov(samples.T) - target.covariance_matrix).abs().max()
    return float(mean_err), float(cov_err)


# ---------------------------------------------------------------- MNIST IDX files


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """The IDX format written by hand: 0, 0, type code, ndim, big-endian uint32 dims, values."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray, type_code: int = 0x08) -> Path:
    """An IDX file, gzipped when ``path`` ends in ``.gz``."""
    raw = idx_bytes(array, type_code)
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def write_mnist(root: Path, train: np.ndarray, test: np.ndarray, gz: bool = True) -> Path:
    """A folder of MNIST's two image files (``train`` and ``test``: uint8 (N, 28, 28))."""
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    write_idx(root / f"train-images-idx3-ubyte{suffix}", train)
    write_idx(root / f"t10k-images-idx3-ubyte{suffix}", test)
    return root


TRAIN_ID, TEST_ID = 1, 2  # the file ids :func:`pattern` mixes into the train and test pixels


def pattern(count: int, file_id: int, rows: int = 28, cols: int = 28) -> np.ndarray:
    """uint8 images whose value differs across image, row and column (a transposed or shifted
    read gets them wrong) and between the train and test files."""
    n, y, x = np.meshgrid(np.arange(count), np.arange(rows), np.arange(cols), indexing="ij")
    return ((n * 37 + y * 7 + x * 3 + file_id * 101) % 256).astype(np.uint8)


# The ``mnist_dir`` fixture's files: 21 training and 12 test images; 5 validation images are
# monkeypatched into ncpvae.data.mnist.NUM_VALIDATION, so the train split is the first 16.
MNIST_DIR_TRAIN, MNIST_DIR_TEST, MNIST_DIR_VALIDATION = 21, 12, 5


def digits(count: int, seed: int, grey: bool = True) -> np.ndarray:
    """Blobs on a black background: a bright square at a random place, grey at its edge."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 28, 28), np.uint8)
    for image, (y, x) in zip(images, rng.integers(4, 16, (count, 2)), strict=True):
        image[y : y + 10, x : x + 10] = 128 if grey else 255
        image[y + 2 : y + 8, x + 2 : x + 8] = 255
    return images


# ---------------------------------------------------------------- image models


def conv_config(shape: list[int], kind: str = "vae", **kwargs) -> VAEConfig:
    """A tiny conv model config of ``kind`` (``MODELS``) for images of ``shape``: 4 channels, a
    3-d latent and a Bernoulli decoder unless ``kwargs`` say otherwise."""
    defaults = {"channels": 4, "latent_dim": 3, "likelihood": "bernoulli"}
    config_class = MODELS[kind][0]
    return config_class(architecture="conv", data_shape=shape, **{**defaults, **kwargs})


def bars(n: int, generator: torch.Generator, side: int = 16) -> torch.Tensor:
    """Binary images (0 or 255) of horizontal or vertical bars, each bar on with p = 1/4."""
    horizontal = torch.rand(n, generator=generator) < 0.5
    on = torch.rand(n, side, generator=generator) < 0.25
    rows = on[:, :, None].expand(n, side, side)
    cols = on[:, None, :].expand(n, side, side)
    return (torch.where(horizontal[:, None, None], rows, cols).to(torch.uint8) * 255)[:, None]


# ---------------------------------------------------------------- CIFAR-10 pickles


def cifar_batch(rows: np.ndarray, label: bytes) -> bytes:
    """One CIFAR-10 batch file (protocol-2 pickle of its dict); ``rows``: uint8 (N, 3072)."""
    content = {
        b"batch_label": label,
        b"labels": [i % 10 for i in range(len(rows))],
        b"data": np.ascontiguousarray(rows),
        b"filenames": [b"image_%d.png" % i for i in range(len(rows))],
    }
    return pickle.dumps(content, protocol=2)


def write_cifar(root: Path, train: list[np.ndarray], test: np.ndarray) -> Path:
    """A ``cifar-10-batches-py`` folder: the five training batches' rows, then the test rows."""
    root.mkdir(parents=True)
    for k, (name, rows) in enumerate(zip(TRAIN_FILES, train, strict=True)):
        (root / name).write_bytes(cifar_batch(rows, b"training batch %d of 5" % (k + 1)))
    (root / TEST_FILE).write_bytes(cifar_batch(test, b"testing batch 1 of 1"))
    return root


# ---------------------------------------------------------------- the CLI


def ncpvae(command: str, *paths: object) -> None:
    """Run ``main`` in-process (monkeypatches hold), with ``--quiet``; ``{}`` placeholders in
    ``command`` take ``paths``. It must succeed."""
    assert main([*command.format(*paths).split(), "--quiet"]) == 0


def one_line(returncode: int | None, stderr: str, status: int | None = None) -> str:
    """The CLI's answer to a mistake: exit status not 0 (``status`` where given), exactly one
    line on stderr, no traceback. Returns that line."""
    assert returncode != 0 and returncode is not None, stderr
    assert status is None or returncode == status, (returncode, stderr)
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def error_line(
    capsys: pytest.CaptureFixture[str], command: str, *paths: object, status: int | None = None
) -> str:
    """Run ``main`` in-process on a mistake (``{}`` placeholders take ``paths``): see
    :func:`one_line`. argparse's own errors exit through SystemExit; they count too."""
    capsys.readouterr()
    try:
        code = main([*command.format(*paths).split(), "--quiet"])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    return one_line(code, capsys.readouterr().err, status)


def run_cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m ncpvae.cli ARGS`` in a fresh process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "ncpvae.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def process_error_line(
    command: str, *paths: object, status: int | None = None, env: dict[str, str] | None = None
) -> str:
    """:func:`error_line` in a fresh process."""
    result = run_cli(command.format(*paths).split(), env)
    return one_line(result.returncode, result.stderr, status)
