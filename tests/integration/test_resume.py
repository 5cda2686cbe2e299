"""Checkpoints: a run killed with SIGKILL and resumed ends with the same weights as one never
interrupted (bit for bit: same process layout, one thread); a checkpoint from another config is
refused naming what differs; a crafted pickle never runs; a corrupt checkpoint is one line."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import error_line, ncpvae, run_cli
from safetensors.torch import load_file

from ncpvae.training import load_checkpoint

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
DATA = "--data.num_train 3000 --data.num_test 200 --device cpu --quiet"
RESUME = "train-vae --out {} --train.steps 20 --resume " + DATA
# 400 steps, a checkpoint every 50: the run is killed after step 50 with 350 steps to go (about
# a second of training), long after the 5 ms poll sees the checkpoint
STEPS = 400
# validation passes every 30 steps (both stages), and stage 2 keeps the best classifier: what the
# checkpoint holds of them must resume too
VAE = (
    f"train-vae --out {{}} --train.steps {STEPS} --train.batch_size 128 --checkpoint_every 50 "
    "--data.num_validation 300 --train.validate_every 30 " + DATA
)
PRIOR = (
    f"train-prior --vae {{}} --out {{}} --train.steps {STEPS} --train.batch_size 128 "
    "--classifier.hidden_dim 32 --classifier.num_blocks 1 --log_normalizer_samples 2000 "
    "--checkpoint_every 50 --train.validate_every 30 --device cpu --quiet"
)


def command(template: str, *paths: Path) -> list[str]:
    return [sys.executable, "-m", "ncpvae.cli", *template.format(*paths).split()]


def run(template: str, *paths: Path) -> None:
    """The run in a fresh process (the same process layout as the killed one)."""
    result = run_cli(template.format(*paths).split(), ENV)
    assert result.returncode == 0, result.stderr


def kill_after_first_checkpoint(template: str, out: Path, *paths: Path) -> int:
    """Start the run, SIGKILL it once its first checkpoint is on disk; returns the step the
    checkpoint on disk holds (the run must have been cut short)."""
    process = subprocess.Popen(
        command(template, *paths), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while not (out / "checkpoint.pt").is_file():
        assert process.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    step = load_checkpoint(out / "checkpoint.pt")["step"]
    assert not (out / "config.json").exists() and 0 < step < STEPS
    return step


def same_weights(a: Path, b: Path) -> None:
    first, second = load_file(str(a)), load_file(str(b))
    assert first.keys() == second.keys()
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=0, msg=key)


@pytest.mark.slow  # 43-60 s alone: the default suite keeps under 5 minutes on 2 cores
def test_sigkill_then_resume_matches_the_uninterrupted_run(tmp_path: Path):
    whole, cut = tmp_path / "vae_whole", tmp_path / "vae_cut"
    run(VAE, whole)
    kill_after_first_checkpoint(VAE, cut, cut)
    run(VAE + " --resume", cut)
    same_weights(whole / "model.safetensors", cut / "model.safetensors")

    prior_whole, prior_cut = tmp_path / "prior_whole", tmp_path / "prior_cut"
    run(PRIOR, whole, prior_whole)
    kill_after_first_checkpoint(PRIOR, prior_cut, whole, prior_cut)
    run(PRIOR + " --resume", whole, prior_cut)
    same_weights(prior_whole / "prior.safetensors", prior_cut / "prior.safetensors")
    kept = [json.loads((p / "history.json").read_text()) for p in (prior_whole, prior_cut)]
    assert kept[0]["selected_step"] == kept[1]["selected_step"] is not None
    assert kept[0]["validation"] == kept[1]["validation"]


def unfinished_run(tmp_path: Path) -> Path:
    out = tmp_path / "vae"
    ncpvae(
        "train-vae --out {} --train.steps 20 --checkpoint_every 5 --keep_checkpoint true " + DATA,
        out,
    )
    (out / "config.json").unlink()  # as if the run had been killed after its last checkpoint
    return out


def test_checkpoints_of_another_run_or_without_resume_are_refused(capsys, tmp_path: Path):
    out = unfinished_run(tmp_path)
    line = error_line(capsys, "train-vae --out {} --train.steps 20 " + DATA, out, status=1)
    assert "unfinished run; pass --resume" in line
    line = error_line(
        capsys,
        "train-vae --out {} --train.steps 20 --train.lr 0.01 --resume " + DATA,
        out,
        status=1,
    )
    assert "belongs to another run (train.lr: 0.001 -> 0.01)" in line
    # device and checkpoint interval may change between a run and its resumption
    ncpvae("train-vae --out {} --train.steps 20 --checkpoint_every 7 --resume " + DATA, out)
    # the resumed run finished and wrote its own config (the killed run's said 5)
    assert json.loads((out / "config.json").read_text())["checkpoint_every"] == 7


def test_a_checkpoint_of_the_13_field_data_section_resumes(capsys, tmp_path: Path):
    """A checkpoint written before the data sources had their own sections holds every data
    setting in its identity; at their old defaults they do not make it another run's."""
    out = unfinished_run(tmp_path)
    saved = load_checkpoint(out / "checkpoint.pt")
    saved["identity"]["data"] |= {"path": "", "binarize": False, "image_size": 64, "crop": 0}
    torch.save(saved, out / "checkpoint.pt")
    ncpvae(RESUME, out)
    assert json.loads((out / "config.json").read_text())["data"]["name"] == "gaussians25"
    saved["identity"]["data"]["image_size"] = 32  # a setting gaussians25 never had, changed
    torch.save(saved, out / "checkpoint.pt")
    (out / "config.json").unlink()
    line = error_line(capsys, RESUME, out, status=1)
    assert "data.image_size = 32 is not a setting of data name 'gaussians25'" in line


def test_resume_on_a_finished_run_is_refused_and_on_an_empty_folder_says_it_starts(
    capsys, tmp_path: Path
):
    out = unfinished_run(tmp_path)
    ncpvae(RESUME, out)  # finishes it
    line = error_line(capsys, RESUME, out, status=1)
    assert "holds a finished run, so there is nothing to resume; pass --overwrite" in line
    empty = tmp_path / "empty"
    with pytest.warns(RuntimeWarning, match="holds no checkpoint, so the run starts from step 0"):
        ncpvae(RESUME, empty)
    assert (empty / "config.json").is_file()


class RunsCode:
    """A pickle payload that would create a file when unpickled by a trusting loader."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_does_not_run_its_code(capsys, tmp_path: Path):
    out = unfinished_run(tmp_path)
    marker = tmp_path / "code_ran"
    with (out / "checkpoint.pt").open("wb") as f:  # a torch.save-style file, pickle inside
        torch.save({"step": 3, "state": RunsCode(marker)}, f)
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(RunsCode(probe)))
    assert probe.exists()  # an unrestricted unpickler runs the payload
    line = error_line(capsys, RESUME, out, status=1)
    assert "cannot be loaded safely" in line and "delete it" in line
    assert "could run code" in line and "weights_only" not in line  # torch's unsafe advice
    assert not marker.exists()


def test_a_truncated_checkpoint_is_one_line(capsys, tmp_path: Path):
    out = unfinished_run(tmp_path)
    data = (out / "checkpoint.pt").read_bytes()
    (out / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    line = error_line(capsys, RESUME, out, status=1)
    assert "cannot be loaded safely" in line
