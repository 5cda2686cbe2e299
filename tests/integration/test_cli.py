"""The CLI end to end on tiny settings, and its answers to bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import error_line, ncpvae, process_error_line

from ncpvae.runs import load_prior

TINY_VAE = "--train.steps 300 --model.hidden_dim 32 --data.num_train 2000 --data.num_test 200"
TINY_PRIOR = "--train.steps 200 --classifier.hidden_dim 32 --log_normalizer_samples 20000"
TINY_DEMO = (
    "--vae.train.steps 300 --vae.model.hidden_dim 32 --vae.data.num_train 2000 "
    "--vae.data.num_test 100 --prior.train.steps 200 --prior.classifier.hidden_dim 32 "
    "--prior.log_normalizer_samples 20000 --evaluate.importance_samples 50 "
    "--evaluate.log_normalizer_samples 20000 --evaluate.sir_samples 100 "
    "--sample.num_samples 300 --sample.langevin.num_steps 10"
)


def test_demo_writes_report_and_figure(tmp_path: Path):
    out = tmp_path / "demo"
    ncpvae(f"demo --out {{}} {TINY_DEMO}", out)
    report = json.loads((out / "report.json").read_text())
    for key in (
        "vae_log_likelihood",
        "ncp_log_likelihood",
        "log_normalizer",
        "log_normalizer_stderr",
        "sir_ess",
        "seconds",
    ):
        assert np.isfinite(report[key]), key
    # the mean SIR ESS, recomputed from the saved prior's log-ratio on base-prior proposals:
    # (sum w)^2 / sum w^2 per set of M proposals (a wrong ESS, e.g. M or 1, is far from it)
    prior = load_prior(out / "prior", torch.device("cpu"))
    m = report["sir_proposals"]
    with torch.no_grad():
        z = prior.model.base_prior().sample((20, m))
        log_w = prior.log_ratio(z.flatten(0, 1)).reshape(20, m)
    ess = torch.exp(2 * log_w.logsumexp(1) - (2 * log_w).logsumexp(1)).mean()
    assert report["sir_ess"] == pytest.approx(float(ess), rel=0.02)
    assert report["ncp_gain"] == pytest.approx(
        report["ncp_log_likelihood"] - report["vae_log_likelihood"], abs=1e-4
    )
    assert (out / "figure.png").stat().st_size > 10_000
    # the run folders it leaves are usable by the other verbs
    ncpvae(
        "sample --prior {} --out {} --sampler langevin --num_samples 50 --langevin.num_steps 5",
        out / "prior",
        tmp_path / "s",
    )
    assert np.load(tmp_path / "s" / "samples.npy").shape == (50, 2)


def test_verbs_chain_and_configs_round_trip(capsys, tmp_path: Path):
    vae, prior = tmp_path / "vae", tmp_path / "prior"
    ncpvae(f"train-vae --out {{}} {TINY_VAE}", vae)
    saved = json.loads((vae / "config.json").read_text())
    assert saved["train"]["steps"] == 300 and saved["model"]["hidden_dim"] == 32
    ncpvae(f"train-prior --vae {{}} --out {{}} {TINY_PRIOR}", vae, prior)
    # a saved config drives a new run, and a flag overrides it
    cfg = tmp_path / "prior.json"
    cfg.write_text((prior / "config.json").read_text())
    ncpvae("train-prior --config {} --train.steps 100 --out {}", cfg, tmp_path / "prior2")
    assert json.loads((tmp_path / "prior2" / "config.json").read_text())["train"]["steps"] == 100
    # the same seed gives the same samples
    sample = "sample --prior {} --out {} --num_samples 64 --sir.num_proposals 20 --seed 3"
    ncpvae(sample, prior, tmp_path / "s1")
    ncpvae(sample, prior, tmp_path / "s2")
    first = np.load(tmp_path / "s1" / "samples.npy")
    np.testing.assert_array_equal(first, np.load(tmp_path / "s2" / "samples.npy"))
    ncpvae(
        "evaluate --prior {} --out {} --importance_samples 20 --log_normalizer_samples 10000 "
        "--sir_samples 50",
        prior,
        tmp_path / "e",
    )
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert report["num_test"] == 200 and np.isfinite(report["ncp_log_likelihood"])
    assert report["mmd_samples"] == 50 and np.isfinite(report["mmd2_posterior_ncp"])
    assert np.isfinite(report["mmd2_posterior_train"])  # the floor: training latents
    line = error_line(
        capsys, "evaluate --prior {} --out {} --fid_samples 10", prior, tmp_path / "fid"
    )
    assert "FID needs grey or RGB images" in line and "--fid_samples 0" in line
    ncpvae(
        "sample --prior {} --out {} --sampler hmc --num_samples 30 --hmc.num_steps 5 "
        "--hmc.num_warmup 5 --hmc.num_leapfrog 3",
        prior,
        tmp_path / "h",
    )
    summary = json.loads((tmp_path / "h" / "summary.json").read_text())
    assert 0 <= summary["acceptance_rate"] <= 1


def test_unknown_option_is_one_line():
    """In a fresh process, as a user runs it (argparse's own error, exit status 2)."""
    line = process_error_line("train-vae --train.stepz 5", status=2)
    assert "unrecognized arguments: --train.stepz" in line and "ncpvae train-vae --help" in line


def test_bad_flag_value_is_one_line(tmp_path: Path):
    """In a fresh process, as a user runs it (a value argparse took that the config refuses)."""
    line = process_error_line("train-vae --train.steps many --out {}", tmp_path, status=2)
    assert "--train.steps expects int" in line


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not found"),
        ("{not json", "not valid JSON"),
        ('{"train": {"stepz": 3}}', "unknown config key 'train.stepz'"),
        ('{"train": {"steps": "3"}}', "'train.steps' must be int"),
    ],
)
def test_missing_or_malformed_config_is_one_line(capsys, tmp_path: Path, content, message):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    assert message in error_line(capsys, "train-vae --config {} --out {}", path, tmp_path / "run")


@pytest.mark.parametrize(
    "scale, message",
    [(1e30, "loss became nan at step 0"), (math.nan, "example(s) with NaN or infinite values")],
)
def test_non_finite_loss_or_data_stops_with_a_message(capsys, tmp_path: Path, scale, message):
    data = np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32) * scale
    np.save(tmp_path / "data.npy", data)
    line = error_line(
        capsys,
        "train-vae --data.name file --data.path {} --data.num_test 50 --train.steps 5 --out {} "
        "--quiet",
        tmp_path / "data.npy",
        tmp_path / "run",
    )
    assert message in line
    assert not (tmp_path / "run" / "model.safetensors").exists()


@pytest.mark.parametrize(
    "data, flags, message",
    [
        (None, "", "data file 'DATA' not found; set --data.path"),
        (b"not an array at all", "", "data file 'DATA' could not be read"),
        (np.zeros((0, 2), np.float32), "--data.num_test 1", "data file 'DATA' is empty"),
        (
            np.zeros(300, np.float32),
            "",
            "data must have shape (N, ...) with N examples, got (300,)",
        ),
        (
            np.zeros((300, 3, 8, 8), np.uint8),
            "--model.architecture conv --model.data_shape 1,8,8",
            "examples of shape [3, 8, 8] but model.data_shape is [1, 8, 8]; set --model.data_shape",
        ),
    ],
    ids=["missing", "not-an-array", "empty", "no-example-axis", "wrong-channels"],
)
def test_bad_data_files_are_one_line(capsys, tmp_path: Path, data, flags, message):
    path = tmp_path / "data.npy"
    if isinstance(data, bytes):
        path.write_bytes(data)
    elif data is not None:
        np.save(path, data)
    line = error_line(
        capsys,
        f"train-vae --data.name file --data.path {{}} --data.num_test 50 {flags} --out {{}}",
        path,
        tmp_path / "run",
    )
    assert message.replace("DATA", str(path)) in line
    assert not (tmp_path / "run" / "config.json").exists()


def test_unwritable_output_folder_is_one_line(capsys, tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should go")
    line = error_line(capsys, "train-vae --train.steps 1 --out {}", blocker / "run")
    assert "cannot write to output folder" in line and "choose another --out" in line


def test_missing_or_corrupt_run_folder_is_one_line(capsys, tmp_path: Path):
    line = error_line(capsys, "sample --prior {} --out {}", tmp_path / "nope", tmp_path / "s")
    assert "not a train-prior run folder" in line
    vae = tmp_path / "vae"
    ncpvae(f"train-vae --out {{}} {TINY_VAE}", vae)
    weights = vae / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    line = error_line(capsys, "train-prior --vae {} --out {}", vae, tmp_path / "p")
    assert "corrupt or truncated" in line


@pytest.mark.parametrize(
    "command, message",
    [
        ("sample --temperature 0", "temperature must be above 0, got 0"),
        ("sample --num_samples 0", "num_samples must be at least 1"),
        ("train-vae --train.batch_size 0", "train.batch_size must be at least 1"),
        ("train-vae --model.likelihood poisson", "unknown model.likelihood 'poisson'"),
        ("train-vae --model.likelihood bernoulli", "needs binary data"),
        ("evaluate --importance_samples 0", "importance_samples must be at least 1"),
        ("demo --device tpu", "unknown device 'tpu'"),
    ],
)
def test_invalid_values_are_one_line(capsys, tmp_path: Path, command, message):
    assert message in error_line(capsys, command + " --out {}", tmp_path / "run")
