"""Run folders that travel: a prior records its VAE relative to itself, so the pair moved to a
new parent folder, or copied under another name, samples and evaluates as before (the same
samples and figures for the same seed); moved apart, the prior names ``--vae`` in one line and
then loads from it; a prior written before the relative place was recorded finds its VAE beside
it once the pair has moved."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from helpers import error_line, ncpvae
from safetensors.torch import load_file, save_file

import ncpvae as api
from ncpvae.tensor_files import weights_metadata

VAE = "train-vae --out {} --train.steps 30 --data.num_train 400 --data.num_test 50"
PRIOR = (
    "train-prior --vae {} --out {} --train.steps 20 --classifier.hidden_dim 16 "
    "--classifier.num_blocks 1 --log_normalizer_samples 2000"
)
SAMPLE = "sample --prior {} --out {} --num_samples 40 --sir.num_proposals 20 --seed 3"
EVALUATE = (
    "evaluate --prior {} --out {} --num_test 30 --importance_samples 5 "
    "--log_normalizer_samples 1000 --sir_samples 20 --sir.num_proposals 10"
)


def _figures(prior: Path, out: Path, vae: Path | None = None) -> tuple[np.ndarray, float, float]:
    """SIR latents drawn from ``prior`` and its evaluation's two test log-likelihoods."""
    extra = f" --vae {vae}" if vae is not None else ""
    ncpvae(SAMPLE + extra, prior, out / "samples")
    ncpvae(EVALUATE + extra, prior, out / "evaluate")
    report = json.loads((out / "evaluate" / "report.json").read_text())
    latents = np.load(out / "samples" / "latents.npy")
    return latents, report["vae_log_likelihood"], report["ncp_log_likelihood"]


def _same(a: tuple[np.ndarray, float, float], b: tuple[np.ndarray, float, float]) -> None:
    assert np.array_equal(a[0], b[0]) and a[1:] == b[1:]


def test_a_pair_moved_copied_or_renamed_apart_still_samples_and_evaluates(capsys, tmp_path):
    runs = tmp_path / "runs"
    ncpvae(VAE, runs / "vae")
    ncpvae(PRIOR, runs / "vae", runs / "prior")
    assert weights_metadata(runs / "prior" / "prior.safetensors")["vae_folder"] == "../vae"
    where_trained = _figures(runs / "prior", tmp_path / "a")

    moved = tmp_path / "elsewhere" / "runs"  # the pair moved to a new parent folder
    moved.parent.mkdir()
    shutil.move(runs, moved)
    _same(_figures(moved / "prior", tmp_path / "b"), where_trained)

    copy = tmp_path / "colleague"  # copied under another name
    shutil.copytree(moved, copy)
    _same(_figures(copy / "prior", tmp_path / "c"), where_trained)

    apart = tmp_path / "disk2" / "my_vae"  # the VAE renamed and moved apart
    apart.parent.mkdir()
    shutil.move(copy / "vae", apart)
    line = error_line(capsys, SAMPLE, copy / "prior", tmp_path / "d")
    assert "the VAE of the prior in" in line and "pass its train-vae run folder with --vae" in line
    assert not (tmp_path / "d").exists()
    _same(_figures(copy / "prior", tmp_path / "d", vae=apart), where_trained)
    same = api.load_prior(copy / "prior", vae=apart)  # the Python API takes it too
    assert same.trained.all()

    # another VAE passed by --vae is refused by the SHA-256 of its weights
    ncpvae(VAE + " --train.seed 1", tmp_path / "other_vae")
    line = error_line(
        capsys, SAMPLE + " --vae {}", copy / "prior", tmp_path / "e", tmp_path / "other_vae"
    )
    assert "was fitted on other VAE weights" in line


def test_a_prior_without_the_relative_place_finds_its_vae_beside_it(tmp_path):
    runs = tmp_path / "runs"
    ncpvae(VAE, runs / "vae")
    ncpvae(PRIOR, runs / "vae", runs / "prior")
    weights = runs / "prior" / "prior.safetensors"  # as train-prior wrote it before: no place
    tensors, metadata = load_file(weights), weights_metadata(weights)
    save_file(tensors, weights, {"vae_sha256": metadata["vae_sha256"]})
    where_trained = _figures(runs / "prior", tmp_path / "a")
    shutil.move(runs, tmp_path / "moved")
    _same(_figures(tmp_path / "moved" / "prior", tmp_path / "b"), where_trained)
