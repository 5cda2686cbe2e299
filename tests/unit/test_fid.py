"""FID: the Frechet distance against closed forms and a scipy reference, the scorer with a tiny
feature extractor (batching, cached reference statistics), and the Inception loader's checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import Tensor, nn

from ncpvae.errors import CheckpointError, ConfigError
from ncpvae.evaluation.fid import (
    DEFAULT_INCEPTION_PATH,
    FID,
    INCEPTION_SHA256,
    InceptionFeatures,
    frechet_distance,
    resize_like_tf1,
)


def frechet_gaussians(m1: np.ndarray, s1: np.ndarray, m2: np.ndarray, s2: np.ndarray) -> float:
    """|m1 - m2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) with scipy's matrix square root."""
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def random_covariance(d: int, generator: torch.Generator) -> np.ndarray:
    a = torch.randn(d, d, generator=generator, dtype=torch.float64)
    return (a @ a.T / d + 0.2 * torch.eye(d, dtype=torch.float64)).numpy()


class TinyFeatures(nn.Module):
    """A stand-in for Inception: 4 x 4 average pooling of the first channel (16 features)."""

    num_features = 16

    def forward(self, images: Tensor) -> Tensor:
        return nn.functional.adaptive_avg_pool2d(images[:, :1].float(), 4).flatten(1)


def test_frechet_distance_of_identical_features_is_zero():
    x = torch.randn(500, 6, generator=torch.Generator().manual_seed(0))
    assert abs(frechet_distance(x, x)) < 1e-6


def test_frechet_distance_matches_scipy_on_sample_statistics():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(400, 5, generator=g, dtype=torch.float64)
    b = torch.randn(300, 5, generator=g, dtype=torch.float64) @ torch.diag(
        torch.tensor([0.5, 1.0, 1.5, 2.0, 0.7], dtype=torch.float64)
    ) + torch.linspace(-1, 1, 5, dtype=torch.float64)
    expected = frechet_gaussians(
        a.mean(0).numpy(), np.cov(a.numpy().T), b.mean(0).numpy(), np.cov(b.numpy().T)
    )
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_recovers_known_gaussians():
    # samples of N(m1, S1) and N(m2, S2): the sample FID converges to the closed form
    g = torch.Generator().manual_seed(2)
    d, n = 4, 100_000
    s1, s2 = random_covariance(d, g), random_covariance(d, g)
    m1, m2 = np.zeros(d), np.array([1.0, -0.5, 0.0, 2.0])
    a = torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.from_numpy(
        np.linalg.cholesky(s1).T
    ) + torch.from_numpy(m1)
    b = torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.from_numpy(
        np.linalg.cholesky(s2).T
    ) + torch.from_numpy(m2)
    truth = frechet_gaussians(m1, s1, m2, s2)
    assert truth > 4  # the two are far apart: a wrong formula is not within the tolerance
    assert frechet_distance(a, b) == pytest.approx(truth, abs=0.05)


def images(n: int, brightness: float, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 12, 12, generator=g) * brightness).clamp(0, 1)


def test_fid_scores_batches_like_one_pass_and_separates_distributions():
    real = images(200, 0.5, 0)
    one_pass = FID(TinyFeatures(), batch_size=1000)
    batched = FID(TinyFeatures(), batch_size=7)
    assert one_pass.set_reference(real) == batched.set_reference(real) == 200
    same, other = images(200, 0.5, 1), images(200, 1.0, 2)
    assert batched(same) == pytest.approx(one_pass(same), rel=1e-6)
    assert batched(real) == pytest.approx(0.0, abs=1e-6)
    # each call scores only its own images: the first score does not leak into the second
    assert batched(other) > 20 * batched(same)
    assert batched(same) == pytest.approx(one_pass(same), rel=1e-6)


def test_fid_reference_cache_round_trip_and_corrupt_file(tmp_path: Path):
    cache = tmp_path / "ref.safetensors"
    real, fake = images(100, 0.5, 0), images(100, 0.8, 1)
    first = FID(TinyFeatures())
    first.set_reference(real, cache=cache)
    assert cache.is_file()

    class Unused(TinyFeatures):
        def forward(self, images: Tensor) -> Tensor:
            calls.append(len(images))
            return super().forward(images)

    calls: list[int] = []
    second = FID(Unused())
    assert second.set_reference(real[:3], cache=cache) == 100  # from the cache, not recomputed
    assert second(fake) == pytest.approx(first(fake), rel=1e-9)
    assert sum(calls) == 100  # only the generated images went through the extractor
    cache.write_bytes(cache.read_bytes()[:40])
    with pytest.raises(CheckpointError, match="delete it to recompute"):
        FID(TinyFeatures()).set_reference(real, cache=cache)


def test_inception_loader_refuses_missing_and_foreign_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="scripts/fid_weights.sh"):
        InceptionFeatures(tmp_path / "absent.pt")
    # a TorchScript file is code: one that is not the known network is never loaded
    foreign = tmp_path / "other.pt"
    torch.jit.save(torch.jit.script(TinyFeatures()), str(foreign))
    with pytest.raises(CheckpointError, match="sha256 differs"):
        InceptionFeatures(foreign)


def test_resize_reads_input_positions_like_tensorflow_1():
    # TF1 bilinear without half-pixel centres: output i reads input i * in / out, clamped
    x = torch.tensor([[[[0.0, 10.0], [20.0, 30.0]]]])
    expected = torch.tensor(
        [[0.0, 5.0, 10.0, 10.0], [10.0, 15.0, 20.0, 20.0], [20.0, 25.0, 30.0, 30.0]]
        + [[20.0, 25.0, 30.0, 30.0]]
    )
    torch.testing.assert_close(resize_like_tf1(x, 4)[0, 0], expected)
    # downsampling 6 -> 4 reads positions 0, 1.5, 3, 4.5 of a ramp
    ramp = torch.arange(6.0).expand(1, 1, 6, 6)
    torch.testing.assert_close(
        resize_like_tf1(ramp, 4)[0, 0, 0], torch.tensor([0.0, 1.5, 3.0, 4.5])
    )


INCEPTION = Path(DEFAULT_INCEPTION_PATH).expanduser()


@pytest.mark.skipif(
    not INCEPTION.is_file(), reason="TF-FID Inception weights absent: bash scripts/fid_weights.sh"
)
def test_inception_features_of_grey_and_rgb_images():
    assert hashlib.sha256(INCEPTION.read_bytes()).hexdigest() == INCEPTION_SHA256
    net = InceptionFeatures(INCEPTION)
    grey = images(3, 1.0, 0)
    with torch.no_grad():
        from_grey = net(grey)
        from_rgb = net(grey.expand(-1, 3, -1, -1))
    assert from_grey.shape == (3, 2048)
    torch.testing.assert_close(from_grey, from_rgb)  # grey is repeated to RGB
    assert (from_grey >= 0).all()  # pool3 features follow a ReLU
