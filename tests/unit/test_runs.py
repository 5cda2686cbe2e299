"""Run folders: a fitted prior, flat or hierarchical, saved with save_prior and loaded back with
load_prior (the call the CLI uses) gives the same samples and densities for the same generator;
the wrong kind of folder is refused in one line."""

from __future__ import annotations

import pytest
import torch
from helpers import seeded

import ncpvae
from ncpvae.errors import CheckpointError, ConfigError
from ncpvae.models import HierarchicalVAEConfig, VAEConfig


def _fitted(config, data, tmp_path, latent_noise=0.0):
    torch.manual_seed(0)
    model = ncpvae.build_model(config)
    ncpvae.train_vae(model, data, ncpvae.TrainConfig(steps=20, batch_size=32), progress=False)
    classifier = ncpvae.ClassifierConfig(hidden_dim=8, num_blocks=1, latent_noise=latent_noise)
    prior = ncpvae.build_prior(model, classifier)
    ncpvae.train_prior(prior, data, ncpvae.TrainConfig(steps=20, batch_size=32), progress=False)
    x = data[:8] if isinstance(data, torch.Tensor) else data.batch(slice(0, 8))
    prior.estimate_log_normalizer(4000, contexts=x, generator=seeded(0))
    ncpvae.save_vae(model, tmp_path / "vae")
    ncpvae.save_prior(prior, tmp_path / "prior", vae=tmp_path / "vae")
    return prior, ncpvae.load_prior(tmp_path / "prior")


def _same_behaviour(prior, loaded):
    assert loaded.trained_groups == prior.trained_groups
    assert float(loaded.log_normalizer) == float(prior.log_normalizer)
    for sampler in (ncpvae.SIRSampler(num_proposals=16), ncpvae.BasePriorSampler()):
        a = prior.sample(12, sampler, generator=seeded(3))
        b = loaded.sample(12, sampler, generator=seeded(3))
        torch.testing.assert_close(a.latents, b.latents, rtol=0, atol=0)
    other = prior.sample(12, ncpvae.SIRSampler(num_proposals=16), generator=seeded(4)).latents
    assert not torch.equal(other, b.latents)  # another generator: other samples
    z = prior.sample(6, ncpvae.BasePriorSampler(), generator=seeded(5)).latents
    with torch.no_grad():
        torch.testing.assert_close(loaded.log_ratio(z), prior.log_ratio(z), rtol=0, atol=0)
        assert prior.log_ratio(z).abs().sum() > 0  # the classifiers are not trivial


def test_flat_prior_round_trips_through_its_run_folder(tmp_path):
    data = torch.randn(256, 2) * torch.tensor([2.0, 0.5])
    config = VAEConfig(data_shape=[2], latent_dim=2, hidden_dim=16)
    prior, loaded = _fitted(config, data, tmp_path, latent_noise=0.25)
    assert isinstance(loaded.model, ncpvae.VAE) and loaded.num_groups == 1
    assert prior.latent_noise == loaded.latent_noise == 0.25  # stage 2's settings come back too
    loaded.latent_noise = 0.5  # no longer the config it was built from: saving it is refused
    with pytest.raises(ConfigError, match="latent_noise 0.5 is not its config's 0.25"):
        ncpvae.save_prior(loaded, tmp_path / "changed", vae=tmp_path / "vae")
    _same_behaviour(prior, loaded)


def test_hierarchical_prior_round_trips_through_its_run_folder(tmp_path):
    images = ncpvae.TensorData.images(torch.randint(0, 256, (64, 1, 8, 8), dtype=torch.uint8))
    config = HierarchicalVAEConfig(
        data_shape=[1, 8, 8], channels=8, latent_channels=2, groups_per_scale=[2], cells_per_group=0
    )
    prior, loaded = _fitted(config, images, tmp_path)
    assert loaded.num_groups == 2 and loaded.trained_groups == [0, 1]
    _same_behaviour(prior, loaded)


def test_a_folder_of_the_wrong_kind_is_refused_in_one_line(tmp_path):
    data = torch.randn(64, 2)
    _fitted(VAEConfig(data_shape=[2], latent_dim=2, hidden_dim=8), data, tmp_path)
    with pytest.raises(CheckpointError, match="is a train-vae run; this needs a train-prior"):
        ncpvae.load_prior(tmp_path / "vae")
    with pytest.raises(CheckpointError, match="is a train-prior run; this needs a train-vae"):
        ncpvae.load_vae(tmp_path / "prior")
    with pytest.raises(CheckpointError, match="is not a train-prior run folder"):
        ncpvae.load_prior(tmp_path / "nothing")
