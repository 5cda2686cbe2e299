"""Image data and models: the MNIST IDX reader on tiny files in the real format, dynamic
binarization, ``as_data``, the conv VAE's shapes and output bias, a short training run, the RAE's
Gaussian-mixture prior against scikit-learn, NCP on top of it, and image grids."""

from __future__ import annotations

import dataclasses
import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import idx_bytes, seeded, write_idx, write_mnist
from PIL import Image

import ncpvae.data.mnist as mnist
from ncpvae import (
    RAE,
    VAE,
    NCPPrior,
    TensorData,
    TrainConfig,
    VAEConfig,
    log_likelihoods,
    train_prior,
    train_vae,
)
from ncpvae.config import DataConfig
from ncpvae.data import DATASETS, as_data, load_data
from ncpvae.data.mnist import read_idx, read_mnist
from ncpvae.errors import ConfigError, DataError
from ncpvae.evaluation.plotting import image_grid
from ncpvae.models import MODELS
from ncpvae.models.architectures import conv_scales
from ncpvae.nets import ResidualMLPClassifier
from ncpvae.training import Minibatches

# ---------------------------------------------------------------------------------------------
# MNIST IDX files

NUM_VALIDATION = 4  # monkeypatched into ncpvae.data.mnist: keeps the train file tiny
TRAIN_IMAGES, TEST_IMAGES = 10, 3
TRAIN_ID, TEST_ID = 1, 2


def pattern(count: int, file_id: int, rows: int = 28, cols: int = 28) -> np.ndarray:
    """uint8 images whose value differs across image, row and column (a transposed or shifted
    read gets them wrong) and between the train and test files."""
    n, y, x = np.meshgrid(np.arange(count), np.arange(rows), np.arange(cols), indexing="ij")
    return ((n * 37 + y * 7 + x * 3 + file_id * 101) % 256).astype(np.uint8)


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
    cfg = DataConfig(name="mnist", path=str(root), num_train=4, num_test=2, binarize=True)
    train, _, test = load_data(cfg)
    assert (len(train), len(test)) == (4, 2)
    assert train.binarize and test.binarize and train.scale == pytest.approx(1 / 255)
    assert train.shape == test.shape == (1, 28, 28)
    np.testing.assert_array_equal(train.values[:, 0].numpy(), pattern(4, TRAIN_ID))
    np.testing.assert_array_equal(test.values[:, 0].numpy(), pattern(2, TEST_ID))
    # all of the training split, never the validation images
    train = load_data(DataConfig(name="mnist", path=str(root))).train
    assert len(train) == TRAIN_IMAGES - NUM_VALIDATION and not train.binarize


def test_mnist_validation_comes_from_its_own_validation_split(
    tmp_path: Path, small_validation
) -> None:
    root = write_pattern_mnist(tmp_path / "mnist")
    cfg = DataConfig(name="mnist", path=str(root), num_validation=NUM_VALIDATION - 1)
    train, validation, _ = load_data(cfg)
    n_train = TRAIN_IMAGES - NUM_VALIDATION
    # the training split untouched, validation the first images after it in the train file
    np.testing.assert_array_equal(train.values[:, 0].numpy(), pattern(n_train, TRAIN_ID))
    expected = pattern(TRAIN_IMAGES, TRAIN_ID)[n_train : TRAIN_IMAGES - 1]
    np.testing.assert_array_equal(validation.values[:, 0].numpy(), expected)
    with pytest.raises(DataError, match="more than the"):
        load_data(DataConfig(name="mnist", path=str(root), num_validation=NUM_VALIDATION + 1))


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


# ---------------------------------------------------------------------------------------------
# Models


def conv_config(shape: list[int], kind: str = "vae", **kwargs) -> VAEConfig:
    defaults = {"channels": 4, "latent_dim": 3, "likelihood": "bernoulli"}
    config_class = MODELS[kind][0]
    return config_class(architecture="conv", data_shape=shape, **{**defaults, **kwargs})


def test_conv_scales() -> None:
    assert [conv_scales(s) for s in (28, 32, 64, 30, 16, 8, 7, 9, 6)] == [2, 3, 4, 1, 2, 1, 0, 0, 0]


@pytest.mark.parametrize("shape", [[1, 28, 28], [3, 32, 32], [3, 64, 64], [3, 30, 30]])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_conv_vae_shapes(shape: list[int], likelihood: str) -> None:
    model = VAE(conv_config(shape, likelihood=likelihood)).eval()
    x = torch.rand(2, *shape)
    with torch.no_grad():
        q = model.posterior(x)
        assert q.batch_shape == (2,) and q.event_shape == (3,)
        z = q.sample()
        p = model.likelihood(z)
        assert p.batch_shape == (2,) and tuple(p.event_shape) == tuple(shape)
        assert tuple(p.mean.shape) == (2, *shape)
        assert model.likelihood(torch.randn(5, 3)).log_prob(torch.rand(5, *shape)).shape == (5,)
        out = model(x)
    assert out.loss.shape == () and torch.isfinite(out.loss)


@pytest.mark.parametrize(
    "shape, message",
    [
        ([2, 5, 7], "needs square images"),
        ([28, 28], "needs square images"),
        ([1, 7, 7], "even image side above 7, got 7"),
        ([3, 9, 9], "even image side above 7, got 9"),
        ([1, 6, 6], "even image side above 7, got 6"),
    ],
)
def test_conv_refuses_shapes_it_cannot_take(shape: list[int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        VAE(conv_config(shape))


def _zero_last_decoder_weights(model: VAE) -> None:
    """Zero the weights (not the bias) of the decoder's last layer: its output is then the bias,
    whatever z is."""
    layers = [
        m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear | torch.nn.Conv2d)
    ]
    with torch.no_grad():
        layers[-1].weight.zero_()


def _mean_image_data(shape: tuple[int, ...], constant_over_space: bool) -> TensorData:
    """Binarized pixels whose mean has exact 0 and 1 pixels (clipped by init_from_data). With
    ``constant_over_space`` every pixel of a channel has the same mean (8 images, each pixel a
    random permutation of the channel's 8 values), as a per-channel bias can represent."""
    generator = seeded(1)
    n = 8
    if constant_over_space:
        values = torch.randint(0, 256, (n, shape[0], 1, 1), generator=generator)
        keys = torch.rand(n, *shape, generator=generator)
        pixels = values.expand(n, *shape).gather(0, keys.argsort(0))
    else:
        pixels = torch.randint(0, 256, (n, *shape), generator=generator)
        pixels[:, :, 0, :] = 0  # mean 0: probability clipped to 1e-4
        pixels[:, :, 1, :] = 255  # mean 1: clipped to 1 - 1e-4
    return TensorData.images(pixels.to(torch.uint8), binarize=True)


@pytest.mark.parametrize(
    "architecture, shape, constant_over_space",
    [("mlp", (1, 16, 16), False), ("conv", (3, 32, 32), True), ("conv", (1, 16, 16), True)],
)
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_init_from_data_predicts_the_data_mean(
    architecture: str, shape: tuple[int, ...], constant_over_space: bool, likelihood: str
) -> None:
    data = _mean_image_data(shape, constant_over_space)
    expected = (data.values.double().mean(0) / 255).float()  # pixel probabilities
    assert (expected[:, 0] == 0).all() or constant_over_space
    cfg = conv_config(list(shape), likelihood=likelihood, hidden_dim=16, depth=1)
    model = VAE(dataclasses.replace(cfg, architecture=architecture))
    model.init_from_data(data)
    _zero_last_decoder_weights(model)
    p = model.eval().likelihood(torch.randn(3, 3))
    assert p.mean.shape == (3, *shape)
    if likelihood == "bernoulli":
        clipped = expected.clamp(1e-4, 1 - 1e-4).expand(3, *shape)
        torch.testing.assert_close(p.mean, clipped, rtol=1e-5, atol=1e-6)
    else:
        torch.testing.assert_close(p.mean, expected.expand(3, *shape), rtol=0, atol=1e-6)
        torch.testing.assert_close(p.stddev, torch.ones(3, *shape))


def test_conv_init_from_data_predicts_the_per_pixel_mean() -> None:
    data = _mean_image_data((1, 16, 16), constant_over_space=False)
    expected = (data.values.double().mean(0) / 255).float().clamp(1e-4, 1 - 1e-4)
    model = VAE(conv_config([1, 16, 16]))
    model.init_from_data(data)
    _zero_last_decoder_weights(model)
    mean = model.eval().likelihood(torch.randn(3, 3)).mean
    torch.testing.assert_close(mean, expected.expand(3, 1, 16, 16), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Training and likelihood on images


def bars(n: int, generator: torch.Generator, side: int = 16) -> torch.Tensor:
    """Binary images (0 or 255) of horizontal or vertical bars, each bar on with p = 1/4."""
    horizontal = torch.rand(n, generator=generator) < 0.5
    on = torch.rand(n, side, generator=generator) < 0.25
    rows = on[:, :, None].expand(n, side, side)
    cols = on[:, None, :].expand(n, side, side)
    return (torch.where(horizontal[:, None, None], rows, cols).to(torch.uint8) * 255)[:, None]


def test_conv_vae_learns_bars() -> None:
    generator = seeded(0)
    train, test = TensorData.images(bars(2000, generator)), TensorData.images(bars(200, generator))
    model = VAE(conv_config([1, 16, 16], channels=8, latent_dim=16))

    def scores() -> tuple[float, float]:
        with torch.no_grad():
            elbo = float(model(test.batch(slice(None))).terms["elbo"])
        ll = log_likelihoods(
            model, test, {"p": model.base_prior()}, num_samples=8, generator=seeded(1)
        )
        return elbo, float(ll["p"].mean())

    model.init_from_data(
        train
    )  # baseline: every pixel's mean is ~1/4, even a per-channel bias fits
    model.eval()
    elbo_before, ll_before = scores()
    train_vae(
        model,
        train,
        TrainConfig(steps=300, batch_size=64, lr=5e-3),
        kl_warmup_fraction=0.2,
        progress=False,
        generator=seeded(0),
    )
    elbo_after, ll_after = scores()
    # Every pixel is on with p = 1/4: the mean-pixel model costs 256 H(1/4) = 144 nats; the
    # data's entropy is 16 H(1/4) + log 2 = 9.7 nats. Measured (seed 0): ELBO -147 -> -46,
    # log-likelihood -147 -> -42 (200 test images, sd ~ 20 nats); seeds 1-3 reach -28 to -37.
    assert elbo_before < -130
    assert elbo_after > elbo_before + 50
    assert ll_after > ll_before + 50
    assert ll_after > elbo_after - 2  # the importance-weighted bound is at least as tight


def test_log_likelihoods_binarize_the_test_data_once_from_the_generator(monkeypatch) -> None:
    model = VAE(conv_config([1, 16, 16])).eval()
    grey = torch.full((6, 1, 16, 16), 100, dtype=torch.uint8)
    grey[:, :, :, :8] = 200
    data = TensorData.images(grey, binarize=True)
    priors = {"p": model.base_prior()}
    first = log_likelihoods(model, data, priors, num_samples=16, generator=seeded(5))["p"]
    again = log_likelihoods(model, data, priors, num_samples=16, generator=seeded(5))["p"]
    other = log_likelihoods(model, data, priors, num_samples=16, generator=seeded(6))["p"]
    assert first.shape == (6,) and torch.isfinite(first).all()
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    # each example is binarized once, not once per batch of its importance samples: with 8 rows
    # a pass, every example takes two passes and one binary draw
    drawn: list[torch.Tensor] = []
    batch = TensorData.batch

    def recording(self, index, generator=None):
        drawn.append(batch(self, index, generator))
        return drawn[-1]

    monkeypatch.setattr(TensorData, "batch", recording)
    log_likelihoods(model, data, priors, num_samples=16, chunk=8, generator=seeded(5))
    assert len(drawn) == 6 and all(len(x) == 1 for x in drawn)
    assert set(torch.cat(drawn).unique().tolist()) == {0.0, 1.0}


# ---------------------------------------------------------------------------------------------
# RAE with a Gaussian-mixture prior, and NCP on top of it


def test_rae_mixture_prior_matches_sklearn_and_carries_ncp() -> None:
    from sklearn.mixture import GaussianMixture

    generator = seeded(2)
    data = TensorData.images(bars(300, generator))  # not binarized: its codes are deterministic
    cfg = conv_config(
        [1, 16, 16], kind="rae", likelihood="gaussian_fixed", latent_dim=2, gmm_components=3
    )
    model = RAE(cfg)
    assert model.has_density is False
    train_vae(
        model, data, TrainConfig(steps=30, batch_size=64), progress=False, generator=generator
    )

    codes = model.encoder_outputs(data)
    assert codes.shape == (300, 2)
    gmm = GaussianMixture(3, covariance_type="full", reg_covar=1e-6, random_state=0)
    gmm.fit(codes.double().numpy())
    prior = model.base_prior()
    means = prior.component_distribution.mean.double().numpy()
    weights = prior.mixture_distribution.probs.double().numpy()
    order = [int(np.argmin(np.linalg.norm(gmm.means_ - m, axis=1))) for m in means]
    assert sorted(order) == [0, 1, 2]  # a permutation of sklearn's components
    scale = np.abs(gmm.means_).max()
    np.testing.assert_allclose(means, gmm.means_[order], rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(weights, gmm.weights_[order], rtol=1e-5, atol=1e-7)
    covariances = prior.component_distribution.covariance_matrix.double().numpy()
    np.testing.assert_allclose(covariances, gmm.covariances_[order], rtol=1e-4, atol=1e-9)
    # the prior's density is sklearn's, at codes and at points between them
    points = torch.cat([codes[:20], codes[:20] + 0.3 * codes.std(0) * torch.randn(20, 2)])
    expected = gmm.score_samples(points.double().numpy())
    np.testing.assert_allclose(prior.log_prob(points).double().numpy(), expected, atol=2e-4)

    with pytest.raises(NotImplementedError, match="no density"):
        model.posterior(data.batch(slice(0, 2))).log_prob(torch.zeros(2, 2))

    # NCP on the mixture: log p_NCP = log GMM + f - log Z
    ncp = NCPPrior(model.base_prior(), ResidualMLPClassifier(2, hidden_dim=16, num_blocks=1), model)
    before = [p.detach().clone() for p in ncp.classifier.parameters()]
    train_prior(ncp, data, TrainConfig(steps=10, batch_size=64), progress=False)
    changed = [
        not torch.equal(a, b) for a, b in zip(before, ncp.classifier.parameters(), strict=True)
    ]
    assert all(changed)
    with torch.no_grad():
        unnormalized = ncp.log_prob_unnormalized(points)
        logits = ncp.classifier(points)
    np.testing.assert_allclose(
        unnormalized.double().numpy(), expected + logits.double().numpy(), atol=2e-4
    )
    log_z = ncp.estimate_log_normalizer(4000, generator=seeded(0)).value
    with torch.no_grad():
        torch.testing.assert_close(ncp.log_prob(points), unnormalized - log_z)


# ---------------------------------------------------------------------------------------------
# Image grids


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


def test_likelihood_passes_are_capped_by_data_size(monkeypatch) -> None:
    """The rows per decoder pass shrink with the size of an example (a conv decoder's
    activations are many times its output), and the estimate does not depend on the chunking."""
    import ncpvae.evaluation.likelihood as evaluation

    model = VAE(
        VAEConfig(
            architecture="conv",
            data_shape=[1, 16, 16],
            latent_dim=3,
            channels=4,
            likelihood="bernoulli",
        )
    ).eval()
    data = TensorData.images(torch.randint(0, 256, (6, 1, 16, 16), dtype=torch.uint8), True)
    seen: list[int] = []
    original = model.log_likelihood_given

    def spy(z, x):
        seen.append(z.shape[0] * z.shape[1])
        return original(z, x)

    monkeypatch.setattr(model, "log_likelihood_given", spy)

    def estimate(**extra):
        generator = torch.Generator().manual_seed(0)
        priors = {"p": model.base_prior()}
        return evaluation.log_likelihoods(
            model, data, priors, num_samples=8, generator=generator, **extra
        )["p"]

    by_rows = estimate(chunk=8)  # the row cap asked for explicitly
    assert max(seen) == 8
    seen.clear()
    monkeypatch.setattr(evaluation, "MAX_ELEMENTS_PER_PASS", 16 * 16 * 8)  # 8 rows of 16x16
    by_elements = estimate()
    assert max(seen) == 8
    torch.testing.assert_close(by_elements, by_rows)
