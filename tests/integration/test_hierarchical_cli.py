"""The hierarchical VAE through the CLI: train-prior --groups on separate runs, merge-priors,
evaluate and sample with per-group ESS and log Z, and the one-line refusals."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from helpers import error_line

from ncpvae.cli import main
from ncpvae.runs import load_prior


def _cli(*args) -> int:
    return main([*map(str, args), "--quiet"])


def _train_tiny_hvae(out, mnist_dir, steps: int) -> None:
    """A three-group hierarchical VAE (one 2x2 group, two 4x4) on the tiny MNIST files."""
    flags = (
        "--data.name mnist --data.binarize true --model.likelihood bernoulli --model.kind hvae "
        "--model.channels 8 --model.latent_channels 2 --model.groups_per_scale 1,2 "
        f"--train.steps {steps} --train.batch_size 4"
    )
    assert _cli("train-vae", "--data.path", mnist_dir, *flags.split(), "--out", out) == 0


def _prior_flags(vae, steps: int, log_normalizer_samples: int) -> list:
    """train-prior on ``vae`` with a tiny classifier (add --out and any --groups)."""
    flags = (
        f"--train.steps {steps} --train.batch_size 4 --classifier.hidden_dim 8 "
        f"--log_normalizer_samples {log_normalizer_samples}"
    )
    return ["train-prior", "--vae", vae, *flags.split()]


def test_cli_trains_groups_on_separate_runs_and_merges_them(tmp_path, mnist_dir, capsys):
    """train-vae (hvae) -> train-prior --groups on two "workers" -> merge-priors -> evaluate and
    sample report per-group ESS and log Z; the merge equals training all groups in one run."""
    vae, whole, merged = tmp_path / "vae", tmp_path / "whole", tmp_path / "merged"
    _train_tiny_hvae(vae, mnist_dir, steps=3)
    prior = _prior_flags(vae, steps=3, log_normalizer_samples=512)
    assert _cli(*prior, "--out", whole) == 0
    parts = [tmp_path / "part0", tmp_path / "part1"]
    assert _cli(*prior, "--groups", "0,2", "--out", parts[0]) == 0
    assert _cli(*prior, "--groups", "1", "--out", parts[1]) == 0
    assert _cli("merge-priors", "--priors", f"{parts[0]},{parts[1]}", "--out", merged) == 0
    device = torch.device("cpu")
    whole_prior, merged_prior = (load_prior(p, device) for p in (whole, merged))
    for name, value in whole_prior.state_dict().items():
        if not name.startswith("log_normalizer"):  # the merge leaves log Z to estimate
            torch.testing.assert_close(merged_prior.state_dict()[name], value, msg=name)

    capsys.readouterr()
    assert (
        _cli(
            "evaluate",
            "--prior",
            merged,
            "--out",
            tmp_path / "eval",
            "--importance_samples",
            4,
            "--group_normalizer_samples",
            8,
            "--group_normalizer_contexts",
            4,
            "--log_normalizer_samples",
            64,
            "--sir.num_proposals",
            16,
            "--sir_samples",
            8,
        )
        == 0
    )
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert len(report["sir_ess_groups"]) == 3 and report["group_normalizer_samples"] == 8
    assert [g["group"] for g in report["log_normalizer_groups"]] == [0, 1, 2]
    assert all(1 <= e <= 16 for e in report["sir_ess_groups"])
    assert (
        len(report["mmd2_posterior_base_groups"]) == len(report["mmd2_posterior_ncp_groups"]) == 3
    )
    assert "| group 2 |" in (tmp_path / "eval" / "report.md").read_text()
    assert math.isfinite(report["ncp_log_likelihood"]) and math.isfinite(report["ncp_gain"])

    assert (
        _cli(
            "sample",
            "--prior",
            merged,
            "--sampler",
            "langevin",
            "--langevin.num_steps",
            3,
            "--num_samples",
            4,
            "--out",
            tmp_path / "samples",
        )
        == 0
    )
    samples = np.load(tmp_path / "samples" / "samples.npy")
    assert samples.shape == (4, 1, 28, 28) and set(np.unique(samples)) <= {0.0, 1.0}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--groups", "5"], "groups [5] do not exist: this prior has groups 0..2"),
    ],
)
def test_cli_refuses_groups_that_do_not_exist(tmp_path, mnist_dir, capsys, args, message):
    vae = tmp_path / "vae"
    _train_tiny_hvae(vae, mnist_dir, steps=1)
    command = "train-prior --vae {} --train.steps 1 " + " ".join(args) + " --out {}"
    assert message in error_line(capsys, command, vae, tmp_path / "p", status=1)
    # two runs of the same group cannot be merged
    for name in ("a", "b"):
        prior = _prior_flags(vae, steps=1, log_normalizer_samples=64)
        assert _cli(*prior, "--groups", "0", "--out", tmp_path / name) == 0
    capsys.readouterr()
    assert (
        _cli(
            "merge-priors",
            "--priors",
            f"{tmp_path / 'a'},{tmp_path / 'b'}",
            "--out",
            tmp_path / "m",
        )
        == 1
    )
    err = capsys.readouterr().err.strip()
    assert "group 0 was trained by both prior 0 and prior 1" in err
    assert not (tmp_path / "m" / "prior.safetensors").exists()
    assert _cli("merge-priors", "--priors", f"{tmp_path / 'a'}", "--out", tmp_path / "a") == 1
    assert "is one of the priors to merge" in capsys.readouterr().err
    # a part used on its own: sampled, with a warning naming what to do
    with pytest.warns(RuntimeWarning, match=r"trains only groups \[0\] of 3.*merge-priors"):
        assert (
            _cli(
                "sample",
                "--prior",
                tmp_path / "a",
                "--num_samples",
                2,
                "--sir.num_proposals",
                4,
                "--out",
                tmp_path / "s",
            )
            == 0
        )
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["trained_groups"] == [0] and len(summary["sir_ess_groups"]) == 3
