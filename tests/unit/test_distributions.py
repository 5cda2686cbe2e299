"""Temperature, generator-driven sampling, configs."""

from __future__ import annotations

import pytest
import torch
from helpers import seeded
from torch.distributions import (
    Categorical,
    Independent,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
    StudentT,
)

from ncpvae.config import PriorRunConfig, from_dict, to_dict
from ncpvae.distributions import GaussianMixture, sample, standard_normal, tempered
from ncpvae.errors import ConfigError


@pytest.mark.parametrize(
    "dist",
    [
        standard_normal((3,)),
        MultivariateNormal(torch.zeros(2), torch.tensor([[2.0, 0.5], [0.5, 1.0]])),
        MixtureSameFamily(
            Categorical(torch.ones(1)), Independent(Normal(torch.zeros(1, 2), 1.5), 1)
        ),
    ],
)
def test_temperature_scales_the_standard_deviation(dist):
    t = 0.6
    x = sample(tempered(dist, t), (100_000,), seeded(0))
    base = sample(dist, (100_000,), seeded(1))
    ratio = x.std(0) / base.std(0)
    assert torch.allclose(ratio, torch.full_like(ratio, t), atol=0.02)


def test_temperature_on_unknown_family_is_a_clear_error():
    with pytest.raises(TypeError, match="register"):
        tempered(StudentT(3.0), 0.5)
    assert isinstance(tempered(StudentT(3.0), 1.0), StudentT)


def test_sample_with_generator_is_reproducible_and_leaves_global_rng_alone():
    dist = standard_normal((4,))
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = sample(dist, (5,), seeded(9))
    assert torch.equal(torch.rand(1), expected_next)
    assert torch.equal(a, sample(dist, (5,), seeded(9)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("independent", [False, True])
def test_normal_draws_are_torchs_bit_for_bit(independent, dtype, monkeypatch):
    # sample() draws a CPU Normal as randn * scale + loc: the values of Normal.sample
    loc = torch.randn(5, 1, 3, dtype=dtype)
    scale = torch.rand(4, 3, dtype=dtype) + 0.1  # broadcast against loc: (5, 4, 3)
    dist = Normal(loc, scale)
    dist = Independent(dist, 2) if independent else dist
    torch.manual_seed(3)
    theirs = dist.sample((7, 2))
    seed = int(torch.randint(0, 2**62, (), generator=torch.Generator().manual_seed(0)))
    torch.manual_seed(seed)
    theirs_seeded = dist.sample((7, 2))

    def refuse(*args, **kwargs):
        raise AssertionError("torch's Normal.sample was called")

    monkeypatch.setattr(Normal, "sample", refuse)  # so the draws below are sample()'s own
    torch.manual_seed(3)
    ours = sample(dist, (7, 2))
    assert ours.shape == (7, 2, 5, 4, 3) and ours.dtype == dtype
    assert torch.equal(ours, theirs)
    assert torch.equal(sample(dist, (7, 2), torch.Generator().manual_seed(0)), theirs_seeded)
    assert not torch.equal(sample(dist, (7, 2)), theirs)  # the global RNG moved on


def test_config_round_trip_and_strictness():
    cfg = PriorRunConfig()
    cfg.train.steps = 123
    assert from_dict(PriorRunConfig, to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match="classifier.width"):
        from_dict(PriorRunConfig, {"classifier": {"width": 3}})
    with pytest.raises(ConfigError, match="must be float"):
        from_dict(PriorRunConfig, {"train": {"lr": "fast"}})


def test_gaussian_mixture_samples_have_the_mixtures_mean_and_covariance():
    torch.manual_seed(0)
    k, d = 3, 4
    loc = torch.randn(k, d, dtype=torch.float64) * 3
    a = torch.randn(k, d, d, dtype=torch.float64) * 0.3
    scale_tril = torch.linalg.cholesky(a @ a.transpose(1, 2) + 0.5 * torch.eye(d))
    logits = torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64)
    mixture = GaussianMixture(
        Categorical(logits=logits), MultivariateNormal(loc, scale_tril=scale_tril)
    )
    weights = logits.softmax(0)
    mean = (weights[:, None] * loc).sum(0)
    second = (
        weights[:, None, None]
        * (scale_tril @ scale_tril.transpose(1, 2) + loc[:, :, None] * loc[:, None, :])
    ).sum(0)
    covariance = second - mean[:, None] * mean[None, :]
    x = sample(mixture, (100_000,), torch.Generator().manual_seed(1))
    assert x.shape == (100_000, d)
    torch.testing.assert_close(x.mean(0), mean, atol=0.05, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), covariance, atol=0.15, rtol=0.02)
    # its density is the mixture's, and a temperature keeps the type (and so the sampler)
    reference = MixtureSameFamily(mixture.mixture_distribution, mixture.component_distribution)
    torch.testing.assert_close(mixture.log_prob(x[:50]), reference.log_prob(x[:50]))
    assert isinstance(tempered(mixture, 0.5), GaussianMixture)
    assert sample(mixture, (2, 5), torch.Generator().manual_seed(1)).shape == (2, 5, d)
