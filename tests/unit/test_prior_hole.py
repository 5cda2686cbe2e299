"""The prior hole's MMD^2 at finer kernel bandwidths: a hole between tight islands that the
median-heuristic kernel barely sees and the finer ones do."""

from __future__ import annotations

import torch
from helpers import QuadraticLogRatioZero

import ncpvae


def test_finer_mmd_bandwidths_see_a_hole_between_islands():
    """q(z): 25 tight islands; a prior spread over the square between them has a hole the
    median-heuristic kernel (as wide as the cloud) barely sees, and the finer ones do; fresh
    samples of q itself stay near 0 at every scale."""
    from ncpvae.data import gaussians25
    from ncpvae.evaluation import prior_hole

    g = torch.Generator().manual_seed(0)
    q = gaussians25(1000, g) / 2
    spread = torch.randn(1000, 2, generator=g) * 1.4
    hole = prior_hole(
        ncpvae.NCPPrior(ncpvae.standard_normal((2,)), QuadraticLogRatioZero()),
        q,
        {"base": spread, "ncp": gaussians25(1000, g) / 2},
    )
    assert hole["mmd_bandwidth_scales"] == [1.0, 0.25, 0.0625]
    base, ncp = hole["mmd2_posterior_base_scales"], hole["mmd2_posterior_ncp_scales"]
    assert base[0] == hole["mmd2_posterior_base"]  # scale 1 is the median heuristic
    assert base[-1] > 4 * base[0] and base[-1] > 20 * abs(ncp[-1])
