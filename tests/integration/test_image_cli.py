"""The CLI end to end on tiny MNIST IDX files (a conv VAE with a Bernoulli decoder on dynamically
binarized digits), and its one-line answers to image-data mistakes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import MNIST_DIR_TRAIN, digits, error_line, ncpvae, process_error_line, write_idx
from PIL import Image

MNIST_VAE = (
    "train-vae --data.name mnist --data.path {} --out {} --model.architecture conv "
    "--model.channels 4 --model.latent_dim 4 --train.batch_size 8"
)


def test_mnist_conv_vae_end_to_end(tmp_path: Path, mnist_dir: Path) -> None:
    vae, prior = tmp_path / "vae", tmp_path / "prior"
    ncpvae(
        MNIST_VAE + " --data.binarize true --model.likelihood bernoulli --train.steps 20",
        mnist_dir,
        vae,
    )
    saved = json.loads((vae / "config.json").read_text())
    assert saved["model"]["data_shape"] == [1, 28, 28]  # filled in from the data
    assert saved["data"]["binarize"] is True and saved["model"]["likelihood"] == "bernoulli"
    history = json.loads((vae / "history.json").read_text())
    assert history["steps"][-1] == 19 and math.isfinite(history["elbo"])
    assert history["elbo"] <= 0  # a log-probability of binary data

    ncpvae(
        "train-prior --vae {} --out {} --train.steps 20 --train.batch_size 8 "
        "--classifier.hidden_dim 16 --classifier.num_blocks 1 --log_normalizer_samples 2000",
        vae,
        prior,
    )
    assert math.isfinite(json.loads((prior / "history.json").read_text())["log_normalizer"])

    samples = tmp_path / "samples"
    ncpvae("sample --prior {} --out {} --num_samples 12 --sir.num_proposals 20", prior, samples)
    x = np.load(samples / "samples.npy")
    assert x.shape == (12, 1, 28, 28)
    assert set(np.unique(x).tolist()) <= {0.0, 1.0}  # Bernoulli draws
    assert np.load(samples / "latents.npy").shape == (12, 4)
    with Image.open(samples / "samples.png") as png:
        # 12 images of 28 x 28 with 2 pixels of padding: 4 columns by 3 rows
        assert png.mode == "L" and png.size == (4 * 30 + 2, 3 * 30 + 2)
    summary = json.loads((samples / "summary.json").read_text())
    assert 1 <= summary["sir_ess_mean"] <= 20

    evaluation = tmp_path / "evaluate"
    ncpvae(
        "evaluate --prior {} --out {} --num_test 10 --importance_samples 5 "
        "--log_normalizer_samples 2000 --sir_samples 20 --sir.num_proposals 20",
        prior,
        evaluation,
    )
    report = json.loads((evaluation / "report.json").read_text())
    assert report["num_test"] == 10 and report["importance_samples"] == 5
    for name in ("vae", "ncp"):
        ll = report[f"{name}_log_likelihood"]
        assert math.isfinite(ll) and ll < 0
        assert report[f"{name}_bits_per_dim"] == pytest.approx(-ll / (784 * math.log(2)))
    assert report["ncp_gain"] == pytest.approx(
        report["ncp_log_likelihood"] - report["vae_log_likelihood"], abs=1e-4
    )
    assert "bits/dim" in (evaluation / "report.md").read_text()


class TinyFeatures(torch.nn.Module):
    """In place of the Inception network: 7 x 7 average pooling (49 features)."""

    num_features = 49
    images_seen = 0

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        TinyFeatures.images_seen += len(images)
        return torch.nn.functional.adaptive_avg_pool2d(images[:, :1], 7).flatten(1)


def test_evaluate_reports_fid_per_sampler_and_temperature(
    tmp_path: Path, mnist_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ncpvae.evaluation.sample_quality.InceptionFeatures", TinyFeatures)
    TinyFeatures.images_seen = 0
    vae, prior = tmp_path / "vae", tmp_path / "prior"
    ncpvae(MNIST_VAE + " --train.steps 5", mnist_dir, vae)
    ncpvae(
        "train-prior --vae {} --out {} --train.steps 5 --train.batch_size 8 "
        "--classifier.hidden_dim 8 --classifier.num_blocks 1 --log_normalizer_samples 500",
        vae,
        prior,
    )
    evaluate = (
        "evaluate --prior {} --out {} --num_test 10 --importance_samples 2 "
        "--log_normalizer_samples 500 --sir_samples 10 --sir.num_proposals 5 --fid_samples 12 "
        "--samplers base,sir,hmc --temperatures 1,0.7 --hmc.num_steps 2 --hmc.num_warmup 2 "
        "--hmc.num_leapfrog 2 --fid_cache {}"
    )
    ncpvae(evaluate, prior, tmp_path / "e1", tmp_path / "cache")
    assert TinyFeatures.images_seen == 12 + 6 * 12  # the reference, then 6 sets of samples
    report = json.loads((tmp_path / "e1" / "report.json").read_text())
    assert report["fid_reference_samples"] == 12
    rows = {(r["sampler"], r["temperature"]): r for r in report["sample_quality"]}
    assert set(rows) == {(s, t) for s in ("base", "sir", "hmc") for t in (1.0, 0.7)}
    for row in rows.values():
        assert row["fid_samples"] == 12 and math.isfinite(row["fid"]) and row["fid"] > 0
        assert (tmp_path / "e1" / f"samples_{row['sampler']}_t{row['temperature']:g}.png").is_file()
    assert 0 <= rows["hmc", 1.0]["acceptance_rate"] <= 1
    assert 1 <= rows["sir", 1.0]["sir_ess_mean"] <= 5
    assert rows["base", 0.7]["fid"] != rows["base", 1.0]["fid"]
    markdown = (tmp_path / "e1" / "report.md").read_text()
    assert "FID against 12 train images" in markdown and "| hmc | 0.7 |" in markdown
    assert (tmp_path / "e1" / "report.png").is_file()
    assert {"log_normalizer", "likelihood", "fid", "total"} <= set(report["seconds"])
    # a second evaluation reads the cached reference statistics and scores the same samples alike
    assert len(list((tmp_path / "cache").iterdir())) == 1
    ncpvae(evaluate, prior, tmp_path / "e2", tmp_path / "cache")
    assert TinyFeatures.images_seen == 12 + 2 * 6 * 12  # no second reference pass
    again = json.loads((tmp_path / "e2" / "report.json").read_text())["sample_quality"]
    assert [r["fid"] for r in again] == pytest.approx([r["fid"] for r in report["sample_quality"]])


def test_fid_needs_images_and_known_samplers(capsys, tmp_path: Path, mnist_dir: Path) -> None:
    ncpvae(MNIST_VAE + " --train.steps 2", mnist_dir, tmp_path / "vae")
    ncpvae(
        "train-prior --vae {} --out {} --train.steps 2 --train.batch_size 8 "
        "--classifier.hidden_dim 8 --classifier.num_blocks 1 --log_normalizer_samples 100",
        tmp_path / "vae",
        tmp_path / "prior",
    )
    evaluate = "evaluate --prior {} --out {} --num_test 4 --fid_samples 10 "
    line = error_line(
        capsys, evaluate + "--samplers sir,gibbs", tmp_path / "prior", tmp_path / "e", status=1
    )
    assert "unknown sampler(s) ['gibbs']" in line
    line = error_line(
        capsys,
        evaluate + "--fid_weights {}",
        tmp_path / "prior",
        tmp_path / "e",
        tmp_path / "no",
        status=1,
    )
    assert "bash scripts/fid_weights.sh" in line
    assert not (tmp_path / "e").exists()  # refused before any work


def test_bernoulli_on_binary_mnist_needs_no_binarize(tmp_path: Path, mnist_dir: Path) -> None:
    write_idx(mnist_dir / "train-images-idx3-ubyte.gz", digits(MNIST_DIR_TRAIN, 0, grey=False))
    ncpvae(MNIST_VAE + " --model.likelihood bernoulli --train.steps 2", mnist_dir, tmp_path / "v")
    assert (tmp_path / "v" / "model.safetensors").is_file()


def test_bernoulli_on_grey_mnist_is_one_line(capsys, tmp_path: Path, mnist_dir: Path) -> None:
    line = error_line(
        capsys, MNIST_VAE + " --model.likelihood bernoulli", mnist_dir, tmp_path / "run", status=1
    )
    assert line == (
        "ncpvae: error: model.likelihood bernoulli needs binary data: set --data.binarize true "
        "(dynamic binarization) or choose another likelihood"
    )
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_wrong_data_shape_is_one_line(capsys, tmp_path: Path, mnist_dir: Path) -> None:
    line = error_line(
        capsys, MNIST_VAE + " --model.data_shape 1,28,27", mnist_dir, tmp_path / "run", status=1
    )
    assert line == (
        "ncpvae: error: the data have examples of shape [1, 28, 28] but model.data_shape is "
        "[1, 28, 27]; set --model.data_shape 1,28,28 (or leave it empty)"
    )


def test_missing_mnist_file_is_one_line(capsys, tmp_path: Path, mnist_dir: Path) -> None:
    (mnist_dir / "t10k-images-idx3-ubyte.gz").unlink()
    line = error_line(capsys, MNIST_VAE, mnist_dir, tmp_path / "run", status=1)
    assert "has no t10k-images-idx3-ubyte[.gz]; point --data.path" in line


def test_mnist_without_path_is_one_line(tmp_path: Path) -> None:
    """In a fresh process, as a user runs it: one line on stderr, no traceback."""
    line = process_error_line("train-vae --data.name mnist --out {}", tmp_path / "run", status=1)
    assert line == "ncpvae: error: data set 'mnist' is read from files: set --data.path"
