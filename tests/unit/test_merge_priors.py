"""Merging priors: a flat prior has one latent group, so it has none to merge (the merge of
hierarchical priors: tests/unit/test_hierarchical.py)."""

from __future__ import annotations

import pytest
from helpers import far_target

import ncpvae


def test_a_flat_prior_has_no_groups_to_merge():
    prior, _ = far_target()
    with pytest.raises(ValueError, match="flat prior has one latent group"):
        ncpvae.merge_priors([prior, prior])
