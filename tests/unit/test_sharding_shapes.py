"""Noise sharding of a base distribution with a batch shape: the ranks split its sample rows, not
its coordinates (the other distributions: tests/unit/test_sharding.py)."""

from __future__ import annotations

import torch
from torch.distributions import Normal

from ncpvae.training.sharding import sharded


def test_a_batch_shaped_base_is_sharded_by_its_sample_rows():
    """Normal(zeros(D), ones(D)) has batch shape (D,): sample((n,)) must shard the n rows, not
    the D coordinates."""
    base = Normal(torch.zeros(3), torch.ones(3))
    torch.manual_seed(0)
    expected = base.sample((8,))
    parts = []
    for rank in range(2):
        torch.manual_seed(0)
        parts.append(sharded(base, rank, 2).sample((4,)))
    torch.testing.assert_close(torch.cat(parts), expected, rtol=0, atol=0)
