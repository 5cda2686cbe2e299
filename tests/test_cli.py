"""The CLI end to end on tiny settings, and its answers to bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ncpvae.cli import main

TINY_VAE = [
    "--train.steps",
    "300",
    "--model.hidden_dim",
    "32",
    "--data.num_train",
    "2000",
    "--data.num_test",
    "200",
]
TINY_PRIOR = [
    "--train.steps",
    "200",
    "--classifier.hidden_dim",
    "32",
    "--log_normalizer_samples",
    "20000",
]
TINY_DEMO = [
    "--vae.train.steps",
    "300",
    "--vae.model.hidden_dim",
    "32",
    "--vae.data.num_train",
    "2000",
    "--vae.data.num_test",
    "100",
    "--prior.train.steps",
    "200",
    "--prior.classifier.hidden_dim",
    "32",
    "--prior.log_normalizer_samples",
    "20000",
    "--evaluate.importance_samples",
    "50",
    "--evaluate.log_normalizer_samples",
    "20000",
    "--evaluate.sir_samples",
    "100",
    "--sample.num_samples",
    "300",
    "--sample.langevin_steps",
    "10",
    "--quiet",
]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The installed console script, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "ncpvae.cli", *args], capture_output=True, text=True, timeout=600
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_demo_writes_report_and_figure(tmp_path: Path):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), *TINY_DEMO]) == 0
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
    assert 1 <= report["sir_ess"] <= report["sir_proposals"]
    assert (out / "figure.png").stat().st_size > 10_000
    # the run folders it leaves are usable by the other verbs
    assert (
        main(
            [
                "sample",
                "--prior",
                str(out / "prior"),
                "--out",
                str(tmp_path / "s"),
                "--sampler",
                "langevin",
                "--num_samples",
                "50",
                "--langevin_steps",
                "5",
                "--quiet",
            ]
        )
        == 0
    )
    assert np.load(tmp_path / "s" / "samples.npy").shape == (50, 2)


def test_verbs_chain_and_configs_round_trip(tmp_path: Path):
    vae, prior = tmp_path / "vae", tmp_path / "prior"
    assert main(["train-vae", "--out", str(vae), "--quiet", *TINY_VAE]) == 0
    saved = json.loads((vae / "config.json").read_text())
    assert saved["train"]["steps"] == 300 and saved["model"]["hidden_dim"] == 32
    # the saved config drives a new run; a flag overrides it
    assert (
        main(["train-prior", "--vae", str(vae), "--out", str(prior), "--quiet", *TINY_PRIOR]) == 0
    )
    cfg = tmp_path / "prior.json"
    cfg.write_text((prior / "config.json").read_text())
    assert (
        main(
            [
                "train-prior",
                "--config",
                str(cfg),
                "--train.steps",
                "100",
                "--out",
                str(tmp_path / "prior2"),
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "prior2" / "config.json").read_text())["train"]["steps"] == 100
    assert (
        main(
            [
                "sample",
                "--prior",
                str(prior),
                "--out",
                str(tmp_path / "s"),
                "--num_samples",
                "64",
                "--sir_proposals",
                "20",
                "--seed",
                "3",
                "--quiet",
            ]
        )
        == 0
    )
    first = np.load(tmp_path / "s" / "samples.npy")
    assert (
        main(
            [
                "sample",
                "--prior",
                str(prior),
                "--out",
                str(tmp_path / "s"),
                "--num_samples",
                "64",
                "--sir_proposals",
                "20",
                "--seed",
                "3",
                "--quiet",
            ]
        )
        == 0
    )
    np.testing.assert_array_equal(first, np.load(tmp_path / "s" / "samples.npy"))
    assert (
        main(
            [
                "evaluate",
                "--prior",
                str(prior),
                "--out",
                str(tmp_path / "e"),
                "--importance_samples",
                "20",
                "--log_normalizer_samples",
                "10000",
                "--sir_samples",
                "50",
                "--quiet",
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert report["num_test"] == 200 and np.isfinite(report["ncp_log_likelihood"])


def test_unknown_option_is_one_line():
    line = one_line_error(run_cli("train-vae", "--train.stepz", "5"))
    assert "unrecognized arguments: --train.stepz" in line


def test_bad_flag_value_is_one_line(tmp_path: Path):
    line = one_line_error(run_cli("train-vae", "--train.steps", "many", "--out", str(tmp_path)))
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
def test_missing_or_malformed_config_is_one_line(tmp_path: Path, content, message):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    line = one_line_error(run_cli("train-vae", "--config", str(path), "--out", str(tmp_path)))
    assert message in line


def test_non_finite_loss_stops_with_a_message(tmp_path: Path):
    data = np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32) * 1e30
    np.save(tmp_path / "huge.npy", data)
    line = one_line_error(
        run_cli(
            "train-vae",
            "--data.name",
            "file",
            "--data.path",
            str(tmp_path / "huge.npy"),
            "--data.num_test",
            "50",
            "--train.steps",
            "5",
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        )
    )
    assert "loss became" in line and "learning rate" in line


def test_missing_or_corrupt_run_folder_is_one_line(tmp_path: Path):
    line = one_line_error(
        run_cli("sample", "--prior", str(tmp_path / "nope"), "--out", str(tmp_path / "s"))
    )
    assert "not a train-prior run folder" in line
    vae = tmp_path / "vae"
    assert main(["train-vae", "--out", str(vae), "--quiet", *TINY_VAE]) == 0
    weights = vae / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    line = one_line_error(run_cli("train-prior", "--vae", str(vae), "--out", str(tmp_path / "p")))
    assert "corrupt or truncated" in line


def test_data_with_nan_is_refused(tmp_path: Path):
    data = np.zeros((100, 2), dtype=np.float32)
    data[7, 1] = np.nan
    np.save(tmp_path / "nan.npy", data)
    line = one_line_error(
        run_cli(
            "train-vae",
            "--data.name",
            "file",
            "--data.path",
            str(tmp_path / "nan.npy"),
            "--data.num_test",
            "10",
            "--out",
            str(tmp_path / "run"),
        )
    )
    assert "NaN" in line


@pytest.mark.parametrize(
    "args, message",
    [
        (["sample", "--temperature", "0"], "temperature must be positive"),
        (["sample", "--num_samples", "0"], "num_samples must be at least 1"),
        (["train-vae", "--train.batch_size", "0"], "train.batch_size must be at least 1"),
        (["train-vae", "--model.likelihood", "poisson"], "unknown model.likelihood 'poisson'"),
        (["train-vae", "--model.likelihood", "bernoulli"], "needs binary (0/1) data"),
        (["evaluate", "--importance_samples", "0"], "importance_samples must be at least 1"),
        (["demo", "--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_invalid_values_are_one_line(tmp_path: Path, args, message):
    line = one_line_error(run_cli(*args, "--out", str(tmp_path / "run")))
    assert message in line
