"""A flat model is a hierarchy of one group: its walk takes one step, the importance-weighted
likelihood's one loop gives it the exact log-weights of a linear-Gaussian VAE, and torchrun's
noise sharding reaches its ELBO through the walk."""

from __future__ import annotations

import torch
from helpers import LinearGaussianVAE, seeded
from torch.distributions import Independent, Normal

from ncpvae import log_likelihood
from ncpvae.models.base import GroupStep, RepeatedRows
from ncpvae.training import sharding


def _model(inflation: float = 1.0) -> LinearGaussianVAE:
    w = torch.tensor([[1.0, 0.5], [-0.3, 0.8], [0.2, -1.1]])
    return LinearGaussianVAE(w, torch.tensor([0.5, -1.0, 0.2]), 0.4, posterior_inflation=inflation)


def test_a_flat_walk_is_one_step_with_the_posterior_and_the_base_prior():
    model = _model()
    x = torch.randn(5, 3)
    steps: list[GroupStep] = []

    def choose(step: GroupStep) -> torch.Tensor:
        steps.append(step)
        return step.posterior.mean

    likelihood = model.walk(choose, len(x), model.encode(x))
    assert [(s.index, s.context) for s in steps] == [(0, None)]
    torch.testing.assert_close(steps[0].posterior.mean, model.posterior(x).mean)
    assert steps[0].prior.event_shape == (2,)
    expected = model.likelihood(model.posterior(x).mean).log_prob(x)
    torch.testing.assert_close(likelihood.log_prob(x), expected)


def test_the_one_group_likelihood_is_exact_with_the_exact_posterior():
    """With q(z|x) the exact posterior every importance weight log p(x|z) + log p(z) - log q(z|x)
    is log p(x) itself: two samples give it to float rounding, where an inflated posterior's do
    not (the test can fail)."""
    exact_q, inflated_q = _model(), _model(inflation=1.5)
    with torch.no_grad():
        x = exact_q.marginal().sample((50,))
    exact = exact_q.marginal().log_prob(x)
    estimate = log_likelihood(exact_q, x, num_samples=2, chunk=3, generator=seeded(0))
    torch.testing.assert_close(estimate, exact, rtol=0, atol=1e-4)
    rough = log_likelihood(inflated_q, x, num_samples=2, chunk=3, generator=seeded(0))
    assert (rough - exact).abs().max() > 0.05


def test_repeated_rows_draw_the_sample_dimension_and_score_each_row_by_its_own():
    rows = Independent(Normal(torch.randn(4, 3), torch.rand(4, 3) + 0.5), 1)
    repeated = RepeatedRows(rows, 5)
    assert repeated.batch_shape == (20,) and repeated.event_shape == (3,)
    torch.manual_seed(0)
    expected = rows.sample((5,))
    torch.manual_seed(0)
    z = repeated.sample()
    assert torch.equal(z, expected.flatten(0, 1))
    assert torch.equal(repeated.log_prob(z), rows.log_prob(expected).flatten())


def test_the_elbo_of_a_flat_model_draws_its_rank_s_rows_under_sharding(monkeypatch):
    """Two ranks' ELBO noise, joined, is one process's for the global batch: the walk, which
    sharding wraps, is where a flat model's ELBO draws it."""
    model = _model(inflation=1.5)
    x = torch.randn(6, 3)
    seen: list[torch.Tensor] = []
    likelihood = model.likelihood
    monkeypatch.setattr(model, "likelihood", lambda z: seen.append(z) or likelihood(z))
    torch.manual_seed(3)
    model(x)
    whole = seen.pop()
    monkeypatch.setattr(sharding.distributed, "world_size", lambda: 2)
    for rank in range(2):
        monkeypatch.setattr(sharding.distributed, "rank", lambda rank=rank: rank)
        torch.manual_seed(3)
        with sharding.sharded_model(model):
            model(x[3 * rank : 3 * (rank + 1)])
    assert torch.equal(torch.cat(seen), whole)
    torch.manual_seed(3)
    model(x[3:])  # unsharded, rank 1 would draw rank 0's noise
    assert not torch.equal(seen[-1], whole[3:])
