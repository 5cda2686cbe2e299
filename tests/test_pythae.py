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


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_wrapped_densities_match_pythae_loss(loss: str):
    # -log p(x|z) is pythae's reconstruction loss (plus the Gaussian's constant for mse), and
    # q(z|x) has pythae's encoder mean and variance
    vae, x = tiny_vae(loss), images(5)
    model = PythaeModel(vae)
    with torch.no_grad():
        q = model.posterior(x)
        out = vae.encoder(x)
        torch.testing.assert_close(q.mean, out.embedding)
        torch.testing.assert_close(q.variance, out.log_covariance.exp())
        z = q.mean
        recon = vae.decoder(z)["reconstruction"]
        nll = -model.likelihood(z).log_prob(x)
        if loss == "bce":
            expected = torch.nn.functional.binary_cross_entropy(recon, x, reduction="none")
            expected = expected.flatten(1).sum(1)
        else:
            expected = 0.5 * (recon - x).pow(2).flatten(1).sum(1) + 32 * math.log(2 * math.pi)
        torch.testing.assert_close(nll, expected, rtol=1e-4, atol=1e-3)


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
