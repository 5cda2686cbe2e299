"""When a training checkpoint is due: every N steps, every N seconds, and at the end."""

from __future__ import annotations

from ncpvae.training.checkpoints import Checkpointing


def test_checkpoints_are_due_by_steps_by_time_and_at_the_end(tmp_path):
    by_time = Checkpointing(tmp_path / "c.pt", every=0, every_seconds=60)
    assert not by_time.due(5, 100, seconds_since_last=59.0)
    assert by_time.due(5, 100, seconds_since_last=61.0) and by_time.due(100, 100)
    by_steps = Checkpointing(tmp_path / "c.pt", every=10)
    assert by_steps.due(20, 100) and not by_steps.due(21, 100, seconds_since_last=1e9)
