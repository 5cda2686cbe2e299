"""The automatic sampler: it redraws by HMC the samples whose SIR draw collapsed, matching the
target's moments where SIR misses them, and keeps SIR's draws where SIR is healthy."""

from __future__ import annotations

import warnings

import torch
from helpers import QuadraticLogRatioZero, far_target, gaussian_moments_error

import ncpvae


def test_the_automatic_sampler_replaces_collapsed_sir_draws_by_hmc():
    prior, f = far_target()  # N(1.9, -1.5) with std 0.18: SIR with 50 proposals collapses
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sir = prior.sample(400, ncpvae.SIRSampler(num_proposals=50), generator=_g(0))
    auto = ncpvae.AutoSampler(
        ncpvae.SIRConfig(num_proposals=50), ncpvae.HMCConfig(num_steps=50, num_warmup=100)
    )
    out = prior.sample(400, auto, generator=_g(0))
    assert float(sir.ess.mean()) < 5  # the case auto is for
    sir_error = gaussian_moments_error(sir.latents, f.target())[0]
    auto_error = gaussian_moments_error(out.latents, f.target())[0]
    assert auto_error < 0.05 < 0.2 < sir_error
    assert out.hmc.shape == (400,) and bool(out.hmc.all())  # every draw collapsed: all by HMC
    # where SIR is healthy it keeps SIR's draw
    easy = ncpvae.NCPPrior(ncpvae.standard_normal((2,)), QuadraticLogRatioZero())
    kept = easy.sample(50, auto, generator=_g(1))
    assert not bool(kept.hmc.any()) and kept.acceptance_rate is None


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_the_automatic_sampler_raises_no_sir_warning_and_redraws_below_sirs_threshold():
    prior, _ = far_target()  # SIR collapses here: a plain SIRSampler would warn
    sir, hmc = ncpvae.SIRConfig(num_proposals=50), ncpvae.HMCConfig(num_steps=5, num_warmup=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the collapse warning would fail here
        out = prior.sample(20, ncpvae.AutoSampler(sir, hmc, progress=True), generator=_g(2))
    assert bool(out.hmc.all()) and float(out.ess.max()) < 10  # all below sir.min_ess: all HMC
    # with the threshold below every draw's ESS, SIR keeps them all
    lenient = ncpvae.SIRConfig(num_proposals=50, min_ess=float(out.ess.min()) / 2)
    kept = prior.sample(20, ncpvae.AutoSampler(lenient, hmc), generator=_g(2))
    assert not bool(kept.hmc.any()) and kept.acceptance_rate is None
