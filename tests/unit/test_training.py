"""The training loop's answer to non-finite losses: it stops at the first one keeping the last
good checkpoint, or (``skip_nonfinite``) skips such steps, up to 100 in a row."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ncpvae.errors import NonFiniteLossError
from ncpvae.training import Checkpointing, TrainConfig, load_checkpoint, train


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


def test_a_redirected_log_gets_the_progress_bar_once_a_minute_not_at_every_logged_step(
    monkeypatch, capsys
):
    """stderr that is not a terminal (a file or pipe) keeps a refresh a minute: logging the loss
    every few steps must not redraw the bar each time (a 0 % bar, 32 times in 45 s, was seen)."""
    weight = torch.nn.Parameter(torch.zeros(3))
    objective = lambda step: ((weight - 1).square().sum(), {"w": float(weight[0])})  # noqa: E731
    train(objective, [weight], TrainConfig(steps=200), progress=True, log_every=5)
    err = capsys.readouterr().err  # pytest's capture is not a terminal
    frames = [frame for frame in err.replace("\r", "\n").splitlines() if "train" in frame]
    # the first frame, the last, and the closing one; a redraw at each of the 40 logged steps
    # would add 40
    assert 1 <= len(frames) <= 4, frames
