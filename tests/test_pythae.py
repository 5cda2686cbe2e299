"""The pythae integration: NCP as a post-hoc sampler on a pythae VAE, its likelihood matching
pythae's own densities, and save/load that keeps the fit."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

pythae_models = pytest.importorskip(
    "pythae.models", reason="pythae is not installed (pip install 'ncpvae[pythae]')"
)

from ncpvae.errors import ConfigError  # noqa: E402
from ncpvae.integrations.pythae import NCPSampler, NCPSamplerConfig, PythaeModel  # noqa: E402

TINY = NCPSamplerConfig(
    hidden_dim=16,
    num_blocks=1,
    steps=30,
    batch_size=32,
    num_proposals=20,
    log_normalizer_samples=5000,
)


def tiny_vae(loss: str = "bce"):
    torch.manual_seed(0)
    config = pythae_models.VAEConfig(input_dim=(1, 8, 8), latent_dim=3, reconstruction_loss=loss)
    return pythae_models.VAE(config).eval()


def images(n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.bernoulli(torch.rand(n, 1, 8, 8, generator=g) * 0.8, generator=g)


@pytest.mark.parametrize("loss", ["bce", "mse", "saturated bce"])
def test_wrapped_densities_match_pythae_loss(loss: str):
    # -log p(x|z) is pythae's reconstruction loss (plus the Gaussian's constant for mse), and
    # q(z|x) has pythae's encoder mean and variance
    saturated = loss == "saturated bce"
    vae, x = tiny_vae(loss.split()[-1]), images(5)
    if saturated:  # probabilities of exactly 1: pythae charges 100 nats per wrong pixel
        torch.nn.init.constant_(vae.decoder.layers[-1][0].bias, 100.0)
    model = PythaeModel(vae)
    with torch.no_grad():
        q = model.posterior(x)
        out = vae.encoder(x)
        torch.testing.assert_close(q.mean, out.embedding)
        torch.testing.assert_close(q.variance, out.log_covariance.exp())
        z = q.mean
        recon = vae.decoder(z)["reconstruction"]
        nll = -model.likelihood(z).log_prob(x)
        if loss.endswith("bce"):
            expected = torch.nn.functional.binary_cross_entropy(recon, x, reduction="none")
            expected = expected.flatten(1).sum(1)
            if saturated:
                assert (recon == 1).all()
                torch.testing.assert_close(nll, 100.0 * (x == 0).flatten(1).sum(1))
        else:
            expected = 0.5 * (recon - x).pow(2).flatten(1).sum(1) + 32 * math.log(2 * math.pi)
        torch.testing.assert_close(nll, expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("case", ["binary bce", "grey bce", "saturated bce", "mse"])
def test_batched_likelihood_equals_the_distributions_log_prob(case: str):
    # the fast path (x never copied K times; one logarithm per binary pixel) computes exactly
    # what the likelihood distribution gives for every latent and example
    from ncpvae.models.base import LatentVariableModel

    vae = tiny_vae(case.split()[-1])
    if case == "saturated bce":
        torch.nn.init.constant_(vae.decoder.layers[-1][0].bias, 100.0)
    x = images(5) if case != "grey bce" else torch.rand(5, 1, 8, 8)
    model = PythaeModel(vae)
    z = torch.randn(4, 5, 3, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        fast = model.log_likelihood_given(z, x)
        reference = LatentVariableModel.log_likelihood_given(model, z, x)
    assert fast.shape == (4, 5)
    torch.testing.assert_close(fast, reference, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_importance_weights_equal_pythae_get_nll_for_the_same_latents(loss: str):
    # pythae's own estimator, fed our latents one per example (its 2 pi constants in log p(z)
    # and log q(z|x) cancel), gives the mean of our log weights log p(x|z) + log p(z) - log q
    vae, x = tiny_vae(loss), images(6)
    model = PythaeModel(vae)
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(4))
    rows = iter(z.split(1))
    vae._sample_gauss = lambda mu, std: (next(rows), None)
    with torch.no_grad():
        theirs = vae.get_nll(x, n_samples=1, batch_size=1)
        q = model.posterior(x)
        ours = model.log_likelihood_given(z[None], x)[0] + model.prior().log_prob(z) - q.log_prob(z)
    assert float(ours.mean()) == pytest.approx(float(theirs), abs=1e-4)


def test_models_with_another_posterior_prior_or_likelihood_are_refused():
    config = pythae_models.VAMPConfig(input_dim=(1, 8, 8), latent_dim=3)
    with pytest.raises(ConfigError, match="NCP cannot use a pythae VAMP.*supported: VAE"):
        PythaeModel(pythae_models.VAMP(config))


def test_ncp_sampler_fits_samples_and_reloads_with_the_same_samples(tmp_path: Path):
    vae = tiny_vae()
    sampler = NCPSampler(vae, TINY)
    with pytest.raises(RuntimeError, match="fit the sampler"):
        sampler.sample(4)
    sampler.fit(images(200))
    first = sampler.sample(10, batch_size=4, generator=torch.Generator().manual_seed(3))
    assert first.shape == (10, 1, 8, 8) and ((first >= 0) & (first <= 1)).all()
    assert math.isfinite(float(sampler.prior.log_normalizer))
    sampler.save(tmp_path / "ncp")
    again = NCPSampler.load(vae, tmp_path / "ncp")
    second = again.sample(10, batch_size=4, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    # the fitted classifier and log Z came back (a fresh classifier would draw other samples)
    assert float(again.prior.log_normalizer) == float(sampler.prior.log_normalizer)
