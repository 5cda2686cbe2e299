"""Stage 2 encodes fixed data once (ncpvae.training.encodings): the same classifiers and the same
validation figures as encoding every batch, up to float rounding; never for data binarized
afresh, which change every epoch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ncpvae.data import TensorData
from ncpvae.models import VAE, HierarchicalVAE, HierarchicalVAEConfig, VAEConfig
from ncpvae.models.base import LatentVariableModel
from ncpvae.prior import build_prior
from ncpvae.training import TrainConfig, encode_once, train_prior
from ncpvae.training.encodings import encoding_bytes


def _images(n: int, seed: int, binarize: bool = False) -> TensorData:
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (n, 1, 12, 12), generator=generator, dtype=torch.uint8)
    return TensorData.images(pixels, binarize=binarize)


def _flat() -> LatentVariableModel:
    torch.manual_seed(0)
    return VAE(
        VAEConfig(architecture="conv", data_shape=[1, 12, 12], channels=4, latent_dim=3)
    ).eval()


def _hierarchical() -> LatentVariableModel:
    torch.manual_seed(0)
    config = HierarchicalVAEConfig(
        data_shape=[1, 12, 12], channels=8, latent_channels=2, groups_per_scale=[1, 2]
    )
    return HierarchicalVAE(config).eval()


def _fit(model: LatentVariableModel, reuse: bool, train: TensorData, validation: TensorData):
    torch.manual_seed(1)
    prior = build_prior(model)
    config = TrainConfig(steps=12, batch_size=16, lr=3e-3, validate_every=5)
    history = train_prior(
        prior,
        train,
        config,
        progress=False,
        generator=torch.Generator().manual_seed(2),
        validation=validation,
        reuse_encodings=reuse,
    )
    return prior, history


@pytest.mark.parametrize("make_model", [_flat, _hierarchical], ids=["flat", "hierarchical"])
def test_encoding_once_trains_the_classifiers_that_encoding_every_batch_does(make_model):
    train, validation = _images(40, 0), _images(24, 1)
    cached, cached_history = _fit(make_model(), True, train, validation)
    fresh, fresh_history = _fit(make_model(), False, train, validation)
    assert cached_history.reused_encodings and not fresh_history.reused_encodings
    for a, b in zip(
        cached.classifiers.state_dict().values(),
        fresh.classifiers.state_dict().values(),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    for name, values in fresh_history.validation.items():
        torch.testing.assert_close(
            torch.tensor(cached_history.validation[name]),
            torch.tensor(values),
            rtol=1e-4,
            atol=1e-5,
        )
    assert cached_history.curves["loss"] == pytest.approx(fresh_history.curves["loss"], rel=1e-4)
    # and a wrong cache would show: the classifiers differ from ones fitted on other data
    other, _ = _fit(make_model(), True, _images(40, 5), validation)
    assert not torch.allclose(
        torch.cat([p.flatten() for p in other.classifiers.parameters()]),
        torch.cat([p.flatten() for p in cached.classifiers.parameters()]),
        atol=1e-3,
    )


@pytest.mark.parametrize("make_model", [_flat, _hierarchical], ids=["flat", "hierarchical"])
def test_encoder_outputs_give_the_posterior_of_the_data(make_model):
    model, data = make_model(), _images(10, 3)
    outputs = encode_once(model, data, batch_size=4)
    assert outputs is not None and len(outputs) == 10
    assert encoding_bytes(model, data) == outputs.values.numel() * 4
    x = data.batch(slice(0, 10))
    torch.manual_seed(7)
    direct = model.posterior(x).sample()
    torch.manual_seed(7)
    reused = model.posterior_from(outputs.values).sample()
    torch.testing.assert_close(reused, direct, rtol=1e-5, atol=1e-5)


def test_nothing_is_reused_for_fresh_binarizations_other_posteriors_or_too_little_memory():
    model = _flat()
    assert encode_once(model, _images(10, 0, binarize=True)) is None
    assert encode_once(model, _images(10, 0), max_bytes=10 * 6 * 4 - 1) is None
    assert encode_once(model, _images(10, 0), max_bytes=10 * 6 * 4) is not None

    class Identity(LatentVariableModel):  # its encoder output would be the data themselves
        latent_shape = (2,)

        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(2, 4)

        def posterior(self, x):
            raise NotImplementedError

        def likelihood(self, z):
            raise NotImplementedError

    assert encode_once(Identity(), TensorData(torch.zeros(5, 2))) is None

    class Narrower(VAE):  # changes q(z|x) without the encoder output it would pair with
        def posterior(self, x):
            return torch.distributions.Independent(
                torch.distributions.Normal(self.encoder(x)[:, :3], 0.01), 1
            )

    narrower = Narrower(
        VAEConfig(architecture="conv", data_shape=[1, 12, 12], channels=4, latent_dim=3)
    )
    assert encode_once(narrower, _images(10, 0)) is None
    assert encode_once(model, TensorData(torch.zeros(0, 1, 12, 12))) is None
