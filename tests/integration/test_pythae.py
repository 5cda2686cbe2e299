"""The pythae integration: NCP as a post-hoc sampler on a pythae VAE, its likelihood matching
pythae's own densities, and save/load that keeps the fit."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

pythae_models = pytest.importorskip(
    "pythae.models", reason="pythae is not installed (pip install 'ncpvae[pythae]')"
)

from ncpvae.config import ClassifierConfig, HMCConfig, SIRConfig, TrainConfig  # noqa: E402
from ncpvae.errors import ConfigError  # noqa: E402
from ncpvae.integrations.pythae import NCPSampler, NCPSamplerConfig, PythaeModel  # noqa: E402

TINY = NCPSamplerConfig(
    classifier=ClassifierConfig(hidden_dim=16, num_blocks=1),
    train=TrainConfig(steps=30, batch_size=32, lr_final=1e-7),
    sir=SIRConfig(num_proposals=20),
    hmc=HMCConfig(num_steps=5, num_warmup=5, num_leapfrog=3),
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
        # pythae's own loss, one example at a time (it returns batch means)
        expected = torch.stack(
            [
                vae.loss_function(recon[i : i + 1], x[i : i + 1], *[t[i : i + 1]] * 3)[1]
                for i, t in enumerate([z] * len(x))
            ]
        )
        if loss == "mse":
            expected = expected + 32 * math.log(2 * math.pi)  # the Gaussian's constant
        if saturated:
            assert (recon == 1).all()
            torch.testing.assert_close(nll, 100.0 * (x == 0).flatten(1).sum(1))
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
        theirs = torch.tensor([float(vae.get_nll(x[i : i + 1], 1, 1)) for i in range(len(x))])
        q = model.posterior(x)
        ours = (
            model.log_likelihood_given(z[None], x)[0]
            + model.base_prior().log_prob(z)
            - q.log_prob(z)
        )
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-3)  # each example


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


def test_a_fit_is_reproducible_from_its_seed_and_leaves_the_global_stream_alone():
    vae, data = tiny_vae(), images(200)
    draws = []
    for _ in range(2):
        sampler = NCPSampler(vae, TINY)
        torch.manual_seed(123)
        sampler.fit(data)
        after_fit = torch.rand(3)
        torch.manual_seed(123)
        torch.testing.assert_close(after_fit, torch.rand(3), rtol=0, atol=0)
        draws.append(sampler.sample(10, generator=torch.Generator().manual_seed(3)))
        torch.manual_seed(999)  # the next sampler is built from another global state
    torch.testing.assert_close(draws[0], draws[1], rtol=0, atol=0)
    # another seed is another classifier and so other samples
    other = NCPSampler(
        vae, dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, seed=1))
    )
    other.fit(data)
    assert not torch.equal(other.sample(10, generator=torch.Generator().manual_seed(3)), draws[0])


def test_sample_writes_pythae_style_files_and_keeps_the_ess(tmp_path: Path):
    from PIL import Image

    vae = tiny_vae()
    sampler = NCPSampler(vae, TINY)
    with pytest.warns(UserWarning, match="ignores eval_data, training_config"):
        sampler.fit(images(200), eval_data=images(10), training_config=None)
    out = tmp_path / "samples"
    gen = sampler.sample(5, batch_size=2, output_dir=str(out), save_sampler_config=True)
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == [f"{i:08d}.png" for i in range(5)]
    pixels = torch.tensor(np.asarray(Image.open(out / "00000003.png")), dtype=torch.float32)
    torch.testing.assert_close(pixels, (gen[3, 0] * 255).round(), rtol=0, atol=0)
    assert sampler.ess.shape == (5, 1) and ((sampler.ess >= 1) & (sampler.ess <= 20)).all()
    assert NCPSampler.load(vae, out).is_fitted  # save_sampler_config saved the fitted sampler


def test_load_refuses_another_models_sampler_and_foreign_files(tmp_path: Path):
    from ncpvae.errors import CheckpointError

    sampler = NCPSampler(tiny_vae(), TINY)
    sampler.fit(images(100))
    sampler.save(tmp_path / "ncp")
    config = pythae_models.VAEConfig(input_dim=(1, 8, 8), latent_dim=4, reconstruction_loss="bce")
    with pytest.raises(CheckpointError, match="fitted on a model with a 3-D latent; .* 4-D"):
        NCPSampler.load(pythae_models.VAE(config), tmp_path / "ncp")
    (tmp_path / "ncp" / "sampler_config.json").write_text('{"name": "MAFSamplerConfig"}')
    with pytest.raises(CheckpointError, match="is not an NCPSampler's"):
        NCPSampler.load(tiny_vae(), tmp_path / "ncp")


def test_a_sampler_saved_by_ncpvae_0_1_loads_with_the_same_settings(tmp_path: Path):
    """0.1.0 wrote sampler_config.json flat (its classifier, training and SIR fields side by
    side); it loads into the nested sections with the training it was fitted with."""
    vae = tiny_vae()
    sampler = NCPSampler(vae, TINY)
    sampler.fit(images(100))
    sampler.save(tmp_path / "ncp")
    flat = {"name": "NCPSampler", "latent_dim": 3, "hidden_dim": 16, "num_blocks": 1}
    flat |= {"batch_norm": True, "steps": 30, "batch_size": 32, "lr": 1e-3, "seed": 0}
    flat |= {"sir_proposals": 20, "hmc_steps": 5, "hmc_warmup": 5, "hmc_leapfrog_steps": 3}
    flat |= {"langevin_steps": 500, "log_normalizer_samples": 5000}
    (tmp_path / "ncp" / "sampler_config.json").write_text(json.dumps(flat))
    loaded = NCPSampler.load(vae, tmp_path / "ncp")
    assert loaded.sampler_config == TINY
    draws = [s.sample(8, generator=torch.Generator().manual_seed(3)) for s in (sampler, loaded)]
    assert torch.equal(*draws)


def test_the_sampler_chooses_its_ncp_sampler_with_the_settings_of_its_section(tmp_path: Path):
    from ncpvae.samplers import HMCSampler

    sampler = NCPSampler(tiny_vae(), TINY)
    sampler.fit(images(100))
    images_hmc = sampler.sample(6, sampler="hmc", generator=torch.Generator().manual_seed(4))
    latents = sampler.prior.sample(
        6, HMCSampler(TINY.hmc), generator=torch.Generator().manual_seed(4)
    ).latents
    assert torch.equal(images_hmc, sampler.latent_model.decode_mean(latents))
    assert sampler.ess is None  # SIR's diagnostics only where SIR drew
    auto = sampler.sample(6, sampler="auto", generator=torch.Generator().manual_seed(4))
    assert auto.shape == images_hmc.shape


def test_fit_takes_pixels_arrays_and_dynamically_binarized_data():
    from ncpvae.data import TensorData

    vae = tiny_vae()
    pixels = (torch.rand(100, 1, 8, 8, generator=torch.Generator().manual_seed(5)) * 255).to(
        torch.uint8
    )
    fits = []  # the fitted classifier's weights
    intensities = pixels.float() * (1 / 255)
    for data in (pixels, pixels.numpy(), intensities, TensorData.images(pixels, True)):
        sampler = NCPSampler(vae, TINY)
        sampler.fit(data)
        fits.append(torch.cat([p.flatten() for p in sampler.prior.classifier.parameters()]))
    # uint8 pixels are scaled to [0, 1]: the same fit as the intensities, as a tensor or array
    torch.testing.assert_close(fits[0], fits[2], rtol=0, atol=0)
    torch.testing.assert_close(fits[1], fits[2], rtol=0, atol=0)
    assert (fits[3] - fits[2]).abs().max() > 1e-3  # binarized batches are other data
