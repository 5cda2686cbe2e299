"""Checkpoints: a run killed with SIGKILL and resumed ends with the same weights as one never
interrupted (bit for bit: same process layout, one thread); a checkpoint from another config is
refused naming what differs; a crafted pickle never runs; a corrupt checkpoint is one line."""

from __future__ import annotations

import math
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ncpvae.errors import NonFiniteLossError
from ncpvae.training import Checkpointing, TrainConfig, load_checkpoint, train

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
DATA = "--data.num_train 3000 --data.num_test 200 --device cpu --quiet"
VAE = "train-vae --out {} --train.steps 1500 --train.batch_size 128 --checkpoint_every 100 " + DATA
PRIOR = (
    "train-prior --vae {} --out {} --train.steps 1500 --train.batch_size 128 "
    "--classifier.hidden_dim 32 --classifier.num_blocks 1 --log_normalizer_samples 2000 "
    "--checkpoint_every 100 --device cpu --quiet"
)


def command(template: str, *paths: Path) -> list[str]:
    return [sys.executable, "-m", "ncpvae.cli", *template.format(*paths).split()]


def run(template: str, *paths: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command(template, *paths), env=ENV, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    return result


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
    assert not (out / "config.json").exists() and 0 < step < 1500
    return step


def same_weights(a: Path, b: Path) -> None:
    first, second = load_file(str(a)), load_file(str(b))
    assert first.keys() == second.keys()
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=0, msg=key)


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


def error_line(template: str, *paths: Path) -> str:
    result = subprocess.run(
        command(template, *paths), env=ENV, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def unfinished_run(tmp_path: Path) -> Path:
    out = tmp_path / "vae"
    run("train-vae --out {} --train.steps 20 --checkpoint_every 5 " + DATA, out)
    (out / "config.json").unlink()  # as if the run had been killed after its last checkpoint
    return out


def test_checkpoints_of_another_run_or_without_resume_are_refused(tmp_path: Path):
    out = unfinished_run(tmp_path)
    line = error_line("train-vae --out {} --train.steps 20 " + DATA, out)
    assert "unfinished run; pass --resume" in line
    line = error_line("train-vae --out {} --train.steps 20 --train.lr 0.01 --resume " + DATA, out)
    assert "belongs to another run (train.lr: 0.001 -> 0.01)" in line
    # device and checkpoint interval may change between a run and its resumption
    run("train-vae --out {} --train.steps 20 --checkpoint_every 7 --resume " + DATA, out)
    assert (out / "config.json").is_file()


class RunsCode:
    """A pickle payload that would create a file when unpickled by a trusting loader."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_does_not_run_its_code(tmp_path: Path):
    out = unfinished_run(tmp_path)
    marker = tmp_path / "code_ran"
    with (out / "checkpoint.pt").open("wb") as f:  # a torch.save-style file, pickle inside
        torch.save({"step": 3, "state": RunsCode(marker)}, f)
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(RunsCode(probe)))
    assert probe.exists()  # an unrestricted unpickler runs the payload
    line = error_line("train-vae --out {} --train.steps 20 --resume " + DATA, out)
    assert "cannot be loaded safely" in line and "delete it" in line
    assert not marker.exists()


def test_a_truncated_checkpoint_is_one_line(tmp_path: Path):
    out = unfinished_run(tmp_path)
    data = (out / "checkpoint.pt").read_bytes()
    (out / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    line = error_line("train-vae --out {} --train.steps 20 --resume " + DATA, out)
    assert "cannot be loaded safely" in line


def test_non_finite_steps_stop_keeping_the_last_checkpoint_or_are_skipped(tmp_path: Path):
    w = torch.nn.Parameter(torch.zeros(()))
    bad_steps = {7, 9}

    def objective(step: int):
        loss = (w - 3) ** 2
        return (loss * math.nan if step in bad_steps else loss), {}

    path = tmp_path / "checkpoint.pt"
    checkpointing = Checkpointing(path, every=5, state={})
    with pytest.raises(NonFiniteLossError, match="at step 7"):
        train(
            objective,
            [w],
            TrainConfig(steps=50, lr=0.1),
            progress=False,
            checkpointing=checkpointing,
        )
    assert load_checkpoint(path)["step"] == 5  # the last good one, not overwritten

    # skipped: the last step (9) is bad, and the end checkpoint is still written
    skip = TrainConfig(steps=10, lr=0.1, skip_nonfinite=True)
    history = train(objective, [w], skip, progress=False, checkpointing=checkpointing)
    assert history.skipped_steps == 2 and load_checkpoint(path)["step"] == 10
    history = train(
        objective, [w], TrainConfig(steps=300, lr=0.1, skip_nonfinite=True), progress=False
    )
    assert history.skipped_steps == 2 and float(w.detach()) == pytest.approx(3.0, abs=1e-3)

    always_bad = lambda step: (w * math.nan, {})  # noqa: E731
    with pytest.raises(NonFiniteLossError, match="100 steps in a row"):
        train(always_bad, [w], TrainConfig(steps=500, skip_nonfinite=True), progress=False)
