"""torchrun's noise sharding works for any distribution: the ranks' draws, joined, are exactly
the draw of one process for the global batch (from the same RNG state)."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from helpers import Recorder
from torch.distributions import (
    Bernoulli,
    Categorical,
    Independent,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
)

from ncpvae.distributions import standard_normal
from ncpvae.prior import NCPPrior
from ncpvae.training.sharding import sharded

WORLD, ROWS = 3, 4


def _rows(dist_of_rows):
    """(one process's distribution over all rows, each rank's over its rows)."""
    whole = dist_of_rows(slice(0, WORLD * ROWS))
    parts = [dist_of_rows(slice(r * ROWS, (r + 1) * ROWS)) for r in range(WORLD)]
    return whole, parts


LOC, SCALE = torch.randn(WORLD * ROWS, 5), torch.rand(WORLD * ROWS, 5) + 0.1
CASES = {
    "normal": lambda s: Normal(LOC[s], SCALE[s]),
    "independent normal (a VAE posterior)": lambda s: Independent(Normal(LOC[s], SCALE[s]), 1),
    "bernoulli": lambda s: Bernoulli(probs=SCALE[s].clamp(max=1)),
}


@pytest.mark.parametrize("method", ["sample", "rsample"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_ranks_draw_the_rows_of_the_one_process_draw(name, method):
    whole, parts = _rows(CASES[name])
    if method == "rsample" and not whole.has_rsample:
        pytest.skip("no reparameterised draws")
    torch.manual_seed(0)
    expected = getattr(whole, method)()
    drawn = []
    for rank, part in enumerate(parts):
        torch.manual_seed(0)  # every rank holds the same RNG state
        drawn.append(getattr(sharded(part, rank, WORLD), method)())
    torch.testing.assert_close(torch.cat(drawn), expected, rtol=0, atol=0)
    # without sharding every rank would draw the same noise: the test can fail
    torch.manual_seed(0)
    assert not torch.equal(getattr(parts[1], method)(), expected[ROWS : 2 * ROWS])


def test_a_prior_without_rows_shards_its_sample_dimension():
    mixture = MixtureSameFamily(
        Categorical(logits=torch.tensor([0.0, 1.0, -1.0])),
        MultivariateNormal(torch.randn(3, 2), torch.eye(2).expand(3, 2, 2)),
    )
    torch.manual_seed(1)
    expected = mixture.sample((WORLD * ROWS,))
    drawn = []
    for rank in range(WORLD):
        torch.manual_seed(1)
        drawn.append(sharded(mixture, rank, WORLD).sample((ROWS,)))
    torch.testing.assert_close(torch.cat(drawn), expected, rtol=0, atol=0)


def test_a_sharded_copy_keeps_its_type_for_densities_and_kl():
    q = Independent(Normal(LOC, SCALE), 1)
    copy = sharded(q, 1, 2)
    assert type(copy) is type(q)
    z = torch.randn(WORLD * ROWS, 5)
    torch.testing.assert_close(copy.log_prob(z), q.log_prob(z))
    p = Independent(Normal(torch.zeros(5), torch.ones(5)), 1)
    torch.testing.assert_close(
        torch.distributions.kl_divergence(copy, p), torch.distributions.kl_divergence(q, p)
    )


def test_ranks_draw_the_rows_of_one_process_latent_noise():
    """Stage 2's latent noise (and its fake half) under sharding: the ranks' real latents,
    joined, are one process's real latents for the global batch."""
    recorder = Recorder()
    prior = NCPPrior(standard_normal((5,)), recorder, latent_noise=0.5)
    torch.manual_seed(2)
    prior.nce_loss(LOC)
    expected = recorder.seen[: WORLD * ROWS]
    drawn = []
    for rank in range(WORLD):
        torch.manual_seed(2)
        prior.nce_loss(
            LOC[rank * ROWS : (rank + 1) * ROWS], noise=partial(sharded, rank=rank, world=WORLD)
        )
        drawn.append(recorder.seen[:ROWS])
    torch.testing.assert_close(torch.cat(drawn), expected, rtol=0, atol=0)
    assert not torch.equal(expected, LOC)  # the noise was added
