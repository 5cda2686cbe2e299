"""The NCP prior: NCE recovers a known log-ratio, log Z and its standard error, densities."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import QuadraticLogRatio, Recorder, seeded
from torch.distributions import MultivariateNormal

from ncpvae import NCPPrior, TrainConfig, standard_normal, train_prior
from ncpvae.errors import ConfigError
from ncpvae.models import HierarchicalVAE, HierarchicalVAEConfig
from ncpvae.nets import ResidualMLPClassifier
from ncpvae.prior import ClassifierConfig, build_prior


def test_nce_recovers_known_gaussian_log_ratio():
    """q = N(m, S), p = N(0, I): the fitted logit must match log q/p where the data live, and
    log Z must be near 0 (Z = 1 at the NCE optimum)."""
    q = MultivariateNormal(torch.tensor([1.0, -0.5]), torch.tensor([[0.5, 0.2], [0.2, 0.8]]))
    base = standard_normal((2,))
    prior = NCPPrior(base, ResidualMLPClassifier(2, hidden_dim=64, num_blocks=2))
    history = train_prior(
        prior,
        q.sample((200_000,)),  # latents: a flat prior without a model takes them as data
        TrainConfig(steps=2500, batch_size=512, lr=2e-3, lr_final=1e-5),
        progress=False,
    )
    assert history.seconds > 0

    z = torch.cat([q.sample((5000,)), base.sample((5000,))])
    true = q.log_prob(z) - base.log_prob(z)
    with torch.no_grad():
        error = (prior.log_ratio(z) - true).abs()
    weight = (true.exp() + 1).reciprocal()  # judge where both densities have mass
    print(f"log-ratio abs error: mean {error.mean():.3f}, median {error.median():.3f}")
    assert error.median() < 0.1
    assert (error * weight).sum() / weight.sum() < 0.15

    estimate = prior.estimate_log_normalizer(200_000)
    print(f"log Z = {estimate.value:.4f} +- {estimate.stderr:.4f}")
    assert abs(estimate.value) < 0.05


def test_log_normalizer_matches_closed_form_and_stderr_is_honest():
    f = QuadraticLogRatio(torch.tensor([[0.8, 0.3], [0.3, 1.5]]), torch.tensor([0.7, -1.2]), 0.4)
    prior = NCPPrior(standard_normal((2,)), f)
    truth = f.log_normalizer()
    estimates = [prior.estimate_log_normalizer(20_000, generator=seeded(s)) for s in range(30)]
    values = torch.tensor([e.value for e in estimates])
    mean_stderr = sum(e.stderr for e in estimates) / len(estimates)
    # the reported standard error matches the spread of repeated estimates (within 30 %)
    assert 0.7 < float(values.std()) / mean_stderr < 1.3
    assert abs(float(values.mean()) - truth) < 4 * mean_stderr / math.sqrt(len(values))


def test_log_prob_is_the_normalised_reweighted_density():
    f = QuadraticLogRatio(torch.tensor([[1.0, 0.0], [0.0, 0.5]]), torch.tensor([0.5, 1.0]), -2.0)
    prior = NCPPrior(standard_normal((2,)), f)
    prior.estimate_log_normalizer(1_000_000, generator=seeded(0))
    z = torch.randn(100, 2) * 2
    torch.testing.assert_close(prior.log_prob(z), f.target().log_prob(z), atol=5e-3, rtol=0)


def test_log_prob_needs_an_estimate_first():
    prior = NCPPrior(standard_normal((2,)), QuadraticLogRatio(torch.eye(2), torch.zeros(2)))
    try:
        prior.log_prob(torch.zeros(1, 2))
    except RuntimeError as err:
        assert "estimate_log_normalizer" in str(err)
    else:
        raise AssertionError("log_prob without log Z must raise")


def test_latent_noise_smooths_the_real_latents_by_the_stated_gaussian():
    """With latent_noise s the real half of an NCE batch is z + N(0, s^2 I) (points at 3 here:
    mean 3, std s), the fake half the base prior's draws untouched (mean 0, std 1)."""
    recorder = Recorder()
    prior = NCPPrior(standard_normal((4,)), recorder, latent_noise=0.3)
    torch.manual_seed(0)
    prior.nce_loss(torch.full((50_000, 4), 3.0))
    real, fake = recorder.seen.split(50_000)
    torch.testing.assert_close(real.mean(0), torch.full((4,), 3.0), atol=0.01, rtol=0)
    torch.testing.assert_close(real.std(0), torch.full((4,), 0.3), atol=0.01, rtol=0)
    torch.testing.assert_close(fake.std(0), torch.ones(4), atol=0.02, rtol=0)
    prior = NCPPrior(standard_normal((4,)), recorder)  # the default adds nothing
    prior.nce_loss(torch.full((8, 4), 3.0))
    assert bool((recorder.seen[:8] == 3.0).all())


def test_nce_with_latent_noise_recovers_the_smoothed_ratio():
    """Real latents at two points, +-1 on the first axis, smoothed by s = 0.5: the fitted logit
    matches log q_s/p for the mixture q_s = (N(-e1, s^2 I) + N(e1, s^2 I)) / 2, not the ratio
    of points."""
    s = 0.5
    points = torch.tensor([[1.0, 0.0], [-1.0, 0.0]]).repeat(50_000, 1)
    base = standard_normal((2,))
    torch.manual_seed(0)
    prior = NCPPrior(base, ResidualMLPClassifier(2, hidden_dim=64, num_blocks=2), latent_noise=s)
    train_prior(
        prior,
        points,
        TrainConfig(steps=2000, batch_size=512, lr=2e-3, lr_final=1e-5),
        progress=False,
    )
    components = MultivariateNormal(
        torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), s**2 * torch.eye(2).expand(2, 2, 2)
    )
    z = (points[:2] + s * torch.randn(2500, 2, 2)).flatten(0, 1)
    true = components.log_prob(z.unsqueeze(1)).logsumexp(1) - math.log(2) - base.log_prob(z)
    with torch.no_grad():
        error = (prior.log_ratio(z) - true).abs()
    print(f"log-ratio abs error: median {error.median():.3f}")
    assert error.median() < 0.15


def test_latent_noise_is_refused_on_a_hierarchical_prior():
    model = HierarchicalVAE(
        HierarchicalVAEConfig(
            data_shape=[1, 12, 12], channels=8, latent_channels=2, groups_per_scale=[1, 2]
        )
    )
    with pytest.raises(ConfigError, match="latent_noise is for flat priors"):
        build_prior(model, ClassifierConfig(latent_noise=0.1))
    with pytest.raises(ConfigError, match="latent_noise must be at least 0"):
        ClassifierConfig(latent_noise=-1.0)
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="latent_noise must be >= 0"):
            NCPPrior(standard_normal((2,)), torch.nn.Identity(), latent_noise=bad)
