"""A base fitted to the aggregate posterior (docs/method.md section 2.6): the maximum-likelihood
Gaussian mixture, the prior's density and samplers on g, its save and load, and on a
non-Gaussian q far from N(0, I) a ratio closer to the truth than one classifier's on N(0, I)
(saving, loading and sampling: tests/unit/test_telescoping.py)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

import ncpvae
from ncpvae.distributions import fit_gaussian_mixture
from ncpvae.errors import ConfigError
from ncpvae.nets import ResidualMLPClassifier
from ncpvae.prior import ClassifierConfig, FittedBase, NCPPrior, build_prior
from ncpvae.training import TrainConfig, train_prior


def test_one_component_is_the_sample_mean_and_covariance():
    torch.manual_seed(0)
    x = torch.randn(500, 3) @ torch.tensor([[1.0, 0.0, 0.0], [0.5, 2.0, 0.0], [0.0, -1.0, 0.3]])
    logits, means, scale_tril = fit_gaussian_mixture(x + 4.0, 1)
    covariance = torch.cov((x + 4.0).T, correction=0) + 1e-6 * torch.eye(3)
    torch.testing.assert_close(logits, torch.zeros(1))
    torch.testing.assert_close(means[0], (x + 4.0).mean(0))
    torch.testing.assert_close(scale_tril[0] @ scale_tril[0].T, covariance)


def test_a_mixture_finds_two_separated_clusters_and_their_weights():
    torch.manual_seed(0)
    x = torch.cat([torch.randn(300, 2) * 0.1 + 5.0, torch.randn(100, 2) * 0.1 - 5.0])
    logits, means, _ = fit_gaussian_mixture(x, 2)
    order = means[:, 0].argsort()
    torch.testing.assert_close(logits.exp()[order], torch.tensor([0.25, 0.75]))
    torch.testing.assert_close(
        means[order], torch.tensor([[-5.0, -5.0], [5.0, 5.0]]), atol=0.05, rtol=0
    )


def test_an_unfitted_base_refuses_to_act_and_bad_latents_are_refused():
    base = FittedBase(2)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        base.distribution()
    with pytest.raises(ValueError, match="needs latents"):
        base.fit(torch.randn(10, 3))
    with pytest.raises(ValueError, match="not all finite"):
        base.fit(torch.full((10, 2), math.nan))


def _two_moons(n: int, generator: torch.Generator) -> torch.Tensor:
    """q: an equal mixture of N(+-m, 0.3^2 I) in 6 dimensions, m = (2, 2, 0, ...): far from
    N(0, I), and not a Gaussian, so a fitted Gaussian leaves a ratio to learn."""
    signs = torch.randint(0, 2, (n, 1), generator=generator) * 2.0 - 1.0
    mean = torch.tensor([2.0, 2.0, 0.0, 0.0, 0.0, 0.0])
    return signs * mean + 0.3 * torch.randn(n, 6, generator=generator)


def _q() -> MixtureSameFamily:
    mean = torch.tensor([2.0, 2.0, 0.0, 0.0, 0.0, 0.0])
    components = Independent(Normal(torch.stack([mean, -mean]), 0.3), 1)
    return MixtureSameFamily(Categorical(torch.ones(2)), components)


def _fit(base, steps: int, latents: torch.Tensor) -> NCPPrior:
    torch.manual_seed(0)
    prior = NCPPrior(base, ResidualMLPClassifier(6, 64, 2))
    config = TrainConfig(steps=steps, batch_size=256, lr=1e-3, lr_final=1e-7)
    train_prior(prior, latents, config, progress=False, generator=torch.Generator().manual_seed(0))
    return prior.eval()


def test_a_fitted_base_learns_the_true_ratio_better_than_n01_and_the_density_uses_it():
    latents = _two_moons(20_000, torch.Generator().manual_seed(1))
    fresh = _two_moons(20_000, torch.Generator().manual_seed(2))
    q = _q()
    rms = {}
    for name, base in {"standard": ncpvae.standard_normal((6,)), "fitted": FittedBase(6)}.items():
        prior = _fit(base, 200, latents)
        with torch.no_grad():
            error = prior.log_ratio(fresh) - (q.log_prob(fresh) - prior.base.log_prob(fresh))
        rms[name] = float(error.pow(2).mean().sqrt())
        if name == "fitted":
            g = prior.base
            # g is the latents' Gaussian: mean near 0, variance 4.09 along the moons' axes
            torch.testing.assert_close(g.mean, torch.zeros(6), atol=0.05, rtol=0)
            assert g.covariance_matrix[0, 0] == pytest.approx(4.09, rel=0.03)
            # the density is g r / Z: log p_NCP - log g - f is the same constant everywhere
            prior.estimate_log_normalizer(200_000)
            with torch.no_grad():
                gap = (
                    prior.log_prob(fresh[:100])
                    - g.log_prob(fresh[:100])
                    - prior.log_ratio(fresh[:100])
                )
            torch.testing.assert_close(gap, -prior.log_normalizer.expand(100))
            assert abs(float(prior.log_normalizer)) < 0.1
    assert rms["fitted"] < 0.5 * rms["standard"], rms  # measured 0.15 against 1.71


def test_hierarchical_priors_refuse_a_fitted_base():
    from ncpvae.models import HierarchicalVAE, HierarchicalVAEConfig

    model = HierarchicalVAE(
        HierarchicalVAEConfig(data_shape=[1, 8, 8], channels=4, latent_channels=2)
    )
    with pytest.raises(ConfigError, match="fitted_base is for flat priors"):
        build_prior(model, ClassifierConfig(fitted_base=1))
