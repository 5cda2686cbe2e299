"""Samplers reproduce the moments of a reweighted prior with a closed form."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from helpers import QuadraticLogRatio, gaussian_moments_error, seeded

from ncpvae import (
    BasePriorSampler,
    HMCSampler,
    LangevinSampler,
    NCPPrior,
    SIRSampler,
    standard_normal,
)
from ncpvae.errors import SamplingError
from ncpvae.metrics import effective_sample_size, mmd2
from ncpvae.samplers import energy_and_grad


@pytest.fixture
def quadratic_prior() -> tuple[NCPPrior, QuadraticLogRatio]:
    # target: precision I + A, mean (I + A)^-1 b: clearly not the base N(0, I)
    f = QuadraticLogRatio(torch.tensor([[1.0, 0.6], [0.6, 2.0]]), torch.tensor([1.5, -1.0]))
    return NCPPrior(standard_normal((2,)), f), f


def test_sir_reproduces_target_moments(quadratic_prior):
    prior, f = quadratic_prior
    out = prior.sample(20_000, SIRSampler(num_proposals=500), generator=seeded(1))
    mean_err, cov_err = gaussian_moments_error(out.latents, f.target())
    assert mean_err < 0.02 and cov_err < 0.02, (mean_err, cov_err)
    # the base prior alone is far from it: the test can fail
    base = prior.sample(20_000, BasePriorSampler()).latents
    assert gaussian_moments_error(base, f.target())[0] > 0.3
    # ESS of each draw: ESS / M -> 1 / E_p[r^2], and E_p[r^2] = Z(2f) / Z(f)^2 in closed form
    # (the log-ratio 2f is the quadratic with 2A, 2b, 2c)
    assert out.ess.shape == (20_000, 1)
    double = QuadraticLogRatio(2 * f.a, 2 * f.b, 2 * f.c)
    e_r2 = math.exp(double.log_normalizer() - 2 * f.log_normalizer())
    assert float(out.ess.mean()) / 500 == pytest.approx(1 / e_r2, rel=0.03)
    assert out.ess.max() <= 500  # guard beside the closed form: M bounds each draw's ESS


def test_sir_with_temperature_targets_tempered_base(quadratic_prior):
    prior, f = quadratic_prior
    t = 0.7
    out = prior.sample(20_000, SIRSampler(num_proposals=500), temperature=t, generator=seeded(2))
    # p_t(z) exp f(z): precision I/t^2 + A, mean (I/t^2 + A)^-1 b
    precision = torch.eye(2) / t**2 + f.a
    cov = torch.linalg.inv(precision)
    target = torch.distributions.MultivariateNormal(cov @ f.b, covariance_matrix=cov)
    mean_err, cov_err = gaussian_moments_error(out.latents, target)
    assert mean_err < 0.02 and cov_err < 0.02, (mean_err, cov_err)


def test_langevin_reproduces_target_moments(quadratic_prior):
    prior, f = quadratic_prior
    sampler = LangevinSampler(num_steps=400, step_size=0.02)
    out = prior.sample(20_000, sampler, generator=seeded(3))
    mean_err, cov_err = gaussian_moments_error(out.latents, f.target())
    # unadjusted Langevin is biased by O(step size): the tolerance allows for it
    assert mean_err < 0.03 and cov_err < 0.03, (mean_err, cov_err)


def test_samplers_are_reproducible_with_a_generator(quadratic_prior):
    prior, _ = quadratic_prior
    for sampler in (
        BasePriorSampler(),
        SIRSampler(num_proposals=50),
        LangevinSampler(num_steps=5, step_size=0.01),
    ):
        a = prior.sample(100, sampler, generator=seeded(7)).latents
        b = prior.sample(100, sampler, generator=seeded(7)).latents
        c = prior.sample(100, sampler, generator=seeded(8)).latents
        assert torch.equal(a, b) and not torch.equal(a, c)


def test_sampler_batches_cover_the_request(quadratic_prior):
    prior, _ = quadratic_prior
    sampler = SIRSampler(num_proposals=100, proposal_budget=1000)  # 10 draws per batch
    out = prior.sample(25, sampler)
    assert out.latents.shape == (25, 2) and out.ess.shape == (25, 1)


def test_sir_warns_when_ess_collapses():
    # a target far in the tail of the base prior: almost every proposal has ~0 weight
    f = QuadraticLogRatio(torch.eye(2) * 400.0, torch.tensor([2000.0, 0.0]))
    prior = NCPPrior(standard_normal((2,)), f)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prior.sample(10, SIRSampler(num_proposals=500))
    (message,) = [str(w.message) for w in caught if "sample size collapsed" in str(w.message)]
    # it says what to type: the flag and the argument that raise M, and the sampler that redraws
    assert "--sir.num_proposals" in message and "num_proposals=" in message
    assert "--sampler auto" in message and "AutoSampler" in message


def test_effective_sample_size_closed_form():
    w = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0], [3.0, 1.0, 2.0, 0.5]])
    expected = w.sum(1) ** 2 / (w**2).sum(1)
    torch.testing.assert_close(effective_sample_size(w.log()), expected)
    assert effective_sample_size(w.log())[:2].tolist() == pytest.approx([4.0, 1.0])


def test_hmc_reproduces_target_moments_with_acceptance_in_band(quadratic_prior):
    prior, f = quadratic_prior
    sampler = HMCSampler(num_steps=60, num_warmup=60, num_leapfrog=5, target_acceptance=0.8)
    out = prior.sample(10_000, sampler, generator=seeded(4))
    mean_err, cov_err = gaussian_moments_error(out.latents, f.target())
    # Metropolis-corrected: no step-size bias, only Monte-Carlo error
    assert mean_err < 0.03 and cov_err < 0.03, (mean_err, cov_err)
    assert 0.7 < out.acceptance_rate < 0.9, out.acceptance_rate


def test_hmc_rejects_moves_when_the_step_is_too_large(quadratic_prior):
    prior, _ = quadratic_prior
    sampler = HMCSampler(num_steps=5, num_warmup=0, num_leapfrog=5, step_size=3.0)
    assert prior.sample(2_000, sampler).acceptance_rate < 0.2


def test_mmd_is_near_zero_for_one_distribution_and_positive_for_two():
    g = seeded(5)
    a, b = torch.randn(800, 2, generator=g), torch.randn(800, 2, generator=g)
    shifted = torch.randn(800, 2, generator=g) + torch.tensor([1.0, 0.0])
    same, different = float(mmd2(a, b)), float(mmd2(a, shifted))
    assert abs(same) < 0.005 and different > 0.05, (same, different)
    # bandwidth given explicitly: the closed form for two point masses
    x, y = torch.zeros(2, 1), torch.ones(2, 1)
    expected = 1 + 1 - 2 * torch.exp(torch.tensor(-0.5))
    torch.testing.assert_close(mmd2(x, y, bandwidth=1.0), expected)


def test_diverging_langevin_warns_or_stops_and_hmc_rejects_non_finite_proposals(quadratic_prior):
    prior, _ = quadratic_prior
    with pytest.warns(RuntimeWarning, match="Langevin dynamics diverged"):  # far, finite
        prior.sample(50, LangevinSampler(num_steps=50, step_size=2.5), generator=seeded(0))
    with pytest.raises(SamplingError, match="diverged to NaN or infinite values"):
        prior.sample(50, LangevinSampler(num_steps=50, step_size=50.0), generator=seeded(0))
    z = torch.tensor([[0.0, 0.0], [math.nan, 1.0]])
    energy, grad = energy_and_grad(prior, z, 1.0)
    assert torch.isfinite(energy[0]) and energy[1] == math.inf and torch.all(grad[1] == 0)
