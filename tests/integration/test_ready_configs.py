"""Every ready stage-1 config in ``configs/`` runs end to end through the CLI.

The issue asks for configs that ``ncpvae train-vae --config ...`` then ``train-prior``, ``sample``
and ``evaluate`` run. Each ``configs/*.json`` with a ``model`` section is found by a glob (a new
config is tested without touching this file), fed tiny fake data in the real on-disk format of
its ``data.name`` (gzipped MNIST IDX files, a ``cifar-10-batches-py`` folder of protocol-2
pickles, a folder or .tar of 89x109 JPEGs) and run in-process through ``ncpvae.cli.main`` with
only sizes and step counts overridden: never ``kind``, ``architecture``, ``likelihood``,
``activation``, ``data.name``, ``data.binarize``, ``crop`` or ``image_size``, which are what a
config is for (and only the speed overrides the config's model kind has).
"""

from __future__ import annotations

import json
import math
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import ROOT, write_cifar, write_mnist
from PIL import Image

import ncpvae.data.mnist as mnist
from ncpvae.cli import main
from ncpvae.config import EvaluateConfig, PriorRunConfig, VAERunConfig, load_config
from ncpvae.runs import load_vae

CONFIG_DIR = ROOT / "configs"
ALL_CONFIGS = sorted(CONFIG_DIR.glob("*.json"))
STAGE1_CONFIGS = [p for p in ALL_CONFIGS if "model" in json.loads(p.read_text())]

# Overrides for speed only; the test checks it never passes a key a config is for.
SPEED_OVERRIDES = {
    "train.steps": 2,
    "train.batch_size": 4,
    "model.channels": 4,
    "model.hidden_dim": 16,
    "model.latent_dim": 4,
}
FORBIDDEN_OVERRIDES = {
    "model.kind",
    "model.architecture",
    "model.likelihood",
    "model.activation",
    "data.name",
    "data.binarize",
    "data.crop",
    "data.image_size",
}
NUM_SAMPLES = 6
SAMPLE_RUNS = [("base", 1.0), ("sir", 1.0), ("base", 0.7), ("sir", 0.7)]
UNIT_INTERVAL_LIKELIHOODS = {"bernoulli", "logistic_mixture"}  # sample values in [0, 1]


# ---------------------------------------------------------------------------------------------
# fake data in the real formats


@dataclass
class FakeData:
    path: Path
    num_train: int  # --data.num_train (at most the size of the train split)
    num_test: int  # --data.num_test


def blobs(count: int, height: int, width: int, channels: int, seed: int) -> np.ndarray:
    """uint8 (count, height, width, channels): a bright rectangle at a random place on a dark,
    noisy background, a grey rim around it (so the data are not binary)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, (count, height, width, channels), dtype=np.uint8)
    for image in images:
        y, x = rng.integers(0, height // 2), rng.integers(0, width // 2)
        image[y : y + height // 3, x : x + width // 3] = 128
        image[y + 2 : y + height // 3 - 2, x + 2 : x + width // 3 - 2] = rng.integers(
            180, 256, channels, dtype=np.uint8
        )
    return images


MNIST_VALIDATION = 4  # monkeypatched into ncpvae.data.mnist: keeps the train file tiny


def fake_mnist(root: Path, monkeypatch: pytest.MonkeyPatch, index: int) -> FakeData:
    monkeypatch.setattr(mnist, "NUM_VALIDATION", MNIST_VALIDATION)
    write_mnist(root, blobs(12, 28, 28, 1, 0)[..., 0], blobs(6, 28, 28, 1, 1)[..., 0])
    return FakeData(root, num_train=8, num_test=4)  # train split: 12 - 4 validation = 8


def fake_cifar10(root: Path, monkeypatch: pytest.MonkeyPatch, index: int) -> FakeData:
    """A cifar-10-batches-py folder: five training batches of 2 images, a test batch of 5."""

    def rows(count: int, seed: int) -> np.ndarray:
        return blobs(count, 32, 32, 3, seed).transpose(0, 3, 1, 2).reshape(count, 3072)

    write_cifar(root, [rows(2, 10 + k) for k in range(5)], rows(5, 20))
    return FakeData(root, num_train=8, num_test=4)


FOLDER_IMAGES = 16  # the RAE's 10-component mixture is fitted on the train split's codes


def fake_folder(root: Path, monkeypatch: pytest.MonkeyPatch, index: int) -> FakeData:
    """JPEGs of 89x109 (the half-size aligned CelebA) in nested folders; every other folder
    config (index 1, 3, ...) reads them from a .tar of the folder instead."""
    root.mkdir()
    for i, image in enumerate(blobs(FOLDER_IMAGES, 109, 89, 3, 30)):
        sub = root / f"part{i % 2}"
        sub.mkdir(exist_ok=True)
        Image.fromarray(image).save(sub / f"{i:06d}.jpg", quality=90)
    path = root
    if index % 2 == 1:
        path = root.with_suffix(".tar")
        with tarfile.open(path, "w") as archive:
            archive.add(root, arcname="img_align_celeba")
    return FakeData(path, num_train=FOLDER_IMAGES - 4, num_test=4)


FAKE_DATA: dict[str, Callable[[Path, pytest.MonkeyPatch, int], FakeData]] = {
    "mnist": fake_mnist,
    "cifar10": fake_cifar10,
    "folder": fake_folder,
}
# the stage-2 and evaluate configs each stage-1 config is used with (as scripts/mnist.sh does
# for mlp and hvae), by (data.name, model.kind); stage 2 defaults to image_prior.json
PRIOR_CONFIG = {("mnist", "vae"): "mnist_prior.json"}
HIERARCHICAL_PRIOR_CONFIG = "hvae_prior.json"
EVALUATE_CONFIG = {
    ("mnist", "vae"): "mnist_evaluate.json",
    ("mnist", "hvae"): "mnist_hvae_evaluate.json",
}


def paired_prior_config(cfg: VAERunConfig) -> str:
    if cfg.model.kind == "hvae":
        return HIERARCHICAL_PRIOR_CONFIG
    return PRIOR_CONFIG.get((cfg.data.name, cfg.model.kind), "image_prior.json")


def expected_data_shape(cfg: VAERunConfig) -> list[int]:
    if cfg.data.name == "mnist":
        return [1, 28, 28]
    if cfg.data.name == "cifar10":
        return [3, 32, 32]
    return [3, cfg.data.image_size, cfg.data.image_size]


def speed_overrides(cfg: VAERunConfig) -> dict[str, Any]:
    """The :data:`SPEED_OVERRIDES` that the config's model kind has."""
    return {
        key: value
        for key, value in SPEED_OVERRIDES.items()
        if not key.startswith("model.") or hasattr(cfg.model, key.removeprefix("model."))
    }


def ncpvae(*args: Any) -> None:
    """Run the CLI in-process (so the monkeypatch holds); it must succeed."""
    assert main([*map(str, args), "--quiet"]) == 0


def flags(overrides: dict[str, Any]) -> list[str]:
    return [item for key, value in overrides.items() for item in (f"--{key}", str(value))]


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


# the configs scripts/image_experiments.sh pairs with the image configs (too slow to run here)
IMAGE_FID_PRIOR_CONFIGS = ["hvae_image_prior.json"]
IMAGE_FID_EVALUATE_CONFIGS = ["celeba64_evaluate.json", "cifar10_evaluate.json"]


def test_every_paired_prior_and_evaluate_config_is_a_config_of_its_verb() -> None:
    prior_configs = [*PRIOR_CONFIG.values(), HIERARCHICAL_PRIOR_CONFIG, "image_prior.json"]
    for name in [*prior_configs, *IMAGE_FID_PRIOR_CONFIGS]:
        assert load_config(PriorRunConfig, CONFIG_DIR / name).train.steps > 0, name
    for name in IMAGE_FID_EVALUATE_CONFIGS:
        assert load_config(EvaluateConfig, CONFIG_DIR / name).fid_seeds >= 2, name
    for name in EVALUATE_CONFIG.values():
        assert load_config(EvaluateConfig, CONFIG_DIR / name).importance_samples > 0, name


def test_speed_overrides_leave_the_configs_choices_alone() -> None:
    assert not FORBIDDEN_OVERRIDES & set(SPEED_OVERRIDES)
    assert not {"data.num_train", "data.num_test", "data.path"} & FORBIDDEN_OVERRIDES


@pytest.mark.filterwarnings("ignore:SIR effective sample size collapsed")  # M = 8 on purpose
@pytest.mark.parametrize("config", STAGE1_CONFIGS, ids=lambda p: p.stem)
def test_config_runs_end_to_end(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = read_json(config)
    cfg = load_config(VAERunConfig, config)  # the file with defaults filled in
    name = cfg.data.name
    assert name in FAKE_DATA, f"no fake-data writer for data.name {name!r}; add one to FAKE_DATA"
    same_kind = [p for p in STAGE1_CONFIGS if read_json(p)["data"]["name"] == name]
    fake = FAKE_DATA[name](tmp_path / "data", monkeypatch, same_kind.index(config))
    data_shape = expected_data_shape(cfg)

    # ---- stage 1
    vae = tmp_path / "vae"
    overrides = {
        **speed_overrides(cfg),
        "data.path": fake.path,
        "data.num_train": fake.num_train,
        "data.num_test": fake.num_test,
    }
    if cfg.data.num_validation:  # a size: 2 of the fake training images
        overrides["data.num_validation"] = 2
    ncpvae("train-vae", "--config", config, "--out", vae, *flags(overrides))
    saved = read_json(vae / "config.json")
    assert saved["model"]["data_shape"] == data_shape
    for section in ("data", "model", "train"):
        for key, value in raw.get(section, {}).items():
            expected = overrides.get(f"{section}.{key}", value)
            assert saved[section][key] == expected, f"{section}.{key}"
    for key, value in raw.items():
        if not isinstance(value, dict):
            assert saved[key] == value, key
    history = read_json(vae / "history.json")
    assert history["steps"][-1] == 1 and all(math.isfinite(v) for v in history["loss"])

    model = load_vae(vae)
    if cfg.model.kind == "rae":
        # the base prior is the Gaussian mixture fitted on the codes, not the N(0, I) init
        mixture = model.base_prior()
        probs = mixture.mixture_distribution.probs
        assert probs.shape == (cfg.model.gmm_components,)
        assert float(probs.sum()) == pytest.approx(1.0, abs=1e-5)
        means = mixture.component_distribution.mean
        assert means.shape == (cfg.model.gmm_components, SPEED_OVERRIDES["model.latent_dim"])
        assert means.abs().max() > 0
    assert model.has_density == (cfg.model.kind != "rae")
    hierarchical = cfg.model.kind == "hvae"

    # ---- stage 2
    prior = tmp_path / "prior"
    prior_config = CONFIG_DIR / paired_prior_config(cfg)
    ncpvae(
        "train-prior",
        "--config",
        prior_config,
        "--vae",
        vae,
        "--out",
        prior,
        "--train.steps",
        2,
        "--train.batch_size",
        8,
        "--classifier.hidden_dim",
        16,
        "--log_normalizer_samples",
        1000,
    )
    prior_saved = read_json(prior / "config.json")
    raw_prior = read_json(prior_config)
    assert prior_saved["classifier"]["num_blocks"] == raw_prior["classifier"]["num_blocks"]
    assert prior_saved["train"]["lr_final"] == raw_prior["train"]["lr_final"]
    prior_history = read_json(prior / "history.json")
    if hierarchical:  # log Z_k(z_<k) per group, at posterior contexts
        groups = prior_history["log_normalizer_groups"]
        assert [g["group"] for g in groups] == list(range(len(model.group_shapes)))
        assert all(math.isfinite(g["mean"]) for g in groups)
    else:
        assert math.isfinite(prior_history["log_normalizer"])
    if cfg.data.num_validation:  # the classifier of the better of the two validation passes
        assert prior_history["selected_step"] in (0, 1)
        assert prior_history["classifier_fit"]["validation"]["loss"] > 0

    # ---- samples
    channels, height, width = data_shape
    columns = math.ceil(math.sqrt(NUM_SAMPLES))  # ncpvae.plotting.image_grid's layout
    rows = math.ceil(NUM_SAMPLES / columns)
    for sampler, temperature in SAMPLE_RUNS:
        out = tmp_path / f"samples_{sampler}_{temperature}"
        ncpvae(
            "sample",
            "--prior",
            prior,
            "--out",
            out,
            "--sampler",
            sampler,
            "--temperature",
            temperature,
            "--num_samples",
            NUM_SAMPLES,
            "--sir.num_proposals",
            8,
        )
        x = np.load(out / "samples.npy")
        assert x.shape == (NUM_SAMPLES, *data_shape)
        assert np.isfinite(x).all()
        if cfg.data.binarize:
            assert set(np.unique(x).tolist()) <= {0.0, 1.0}
        if cfg.model.likelihood in UNIT_INTERVAL_LIKELIHOODS:
            assert x.min() >= 0 and x.max() <= 1
        assert np.load(out / "latents.npy").shape == (NUM_SAMPLES, model.latent_shape[0])
        with Image.open(out / "samples.png") as png:
            assert png.mode == ("L" if channels == 1 else "RGB")
            assert png.size == (columns * (width + 2) + 2, rows * (height + 2) + 2)
        summary = read_json(out / "summary.json")
        assert summary["sampler"] == sampler and summary["temperature"] == temperature
        if sampler == "sir":
            assert 1 <= summary["sir_ess_mean"] <= 8

    # ---- evaluation
    evaluation = tmp_path / "evaluate"
    evaluate_config = EVALUATE_CONFIG.get((name, cfg.model.kind))
    ncpvae(
        "evaluate",
        *(["--config", CONFIG_DIR / evaluate_config] if evaluate_config else []),
        "--prior",
        prior,
        "--out",
        evaluation,
        "--importance_samples",
        3,
        "--log_normalizer_samples",
        1000,
        "--sir.num_proposals",
        8,
        "--sir_samples",
        6,
    )
    report = read_json(evaluation / "report.json")
    assert report["num_test"] == fake.num_test
    assert math.isfinite(report["sir_ess"]) and 1 <= report["sir_ess"] <= 8
    if hierarchical:  # per-group ESS and log Z
        assert len(report["sir_ess_groups"]) == len(model.group_shapes)
        assert min(report["sir_ess_groups"]) == report["sir_ess"]
        assert len(report["log_normalizer_groups"]) == len(model.group_shapes)
    else:
        assert math.isfinite(report["log_normalizer"])
    assert math.isfinite(report["mmd2_posterior_base"])
    likelihood_keys = {k for k in report if "likelihood" in k or "bits_per_dim" in k}
    if cfg.model.kind == "rae":  # no density: no likelihood under either prior
        assert not likelihood_keys and "ncp_gain" not in report
    else:
        assert report["importance_samples"] == 3
        discrete = cfg.model.likelihood in ("bernoulli", "logistic_mixture")
        for prior_name in ("vae", "ncp"):
            ll = report[f"{prior_name}_log_likelihood"]
            assert math.isfinite(ll)
            if discrete:  # bits per dimension only where p(x|z) gives probabilities
                assert report[f"{prior_name}_bits_per_dim"] == pytest.approx(
                    -ll / (math.prod(data_shape) * math.log(2)), rel=1e-9
                )
            else:
                assert f"{prior_name}_bits_per_dim" not in report
        if cfg.model.likelihood == "bernoulli":
            assert report["vae_log_likelihood"] < 0  # a log-probability of binary data
