"""The convolutional VAE: its scales, shapes and refused image sizes, the decoder output bias set
from the data mean by ``init_from_data`` (MLP and conv, Bernoulli and Gaussian), and a short
training run on bars that improves its ELBO and importance-weighted likelihood."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from helpers import bars, conv_config, seeded

from ncpvae import VAE, TensorData, TrainConfig, log_likelihoods, train_vae
from ncpvae.errors import ConfigError
from ncpvae.models.architectures import conv_scales


def test_conv_scales() -> None:
    assert [conv_scales(s) for s in (28, 32, 64, 30, 16, 8, 7, 9, 6)] == [2, 3, 4, 1, 2, 1, 0, 0, 0]


@pytest.mark.parametrize("shape", [[1, 28, 28], [3, 32, 32], [3, 64, 64], [3, 30, 30]])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_conv_vae_shapes(shape: list[int], likelihood: str) -> None:
    model = VAE(conv_config(shape, likelihood=likelihood)).eval()
    x = torch.rand(2, *shape)
    with torch.no_grad():
        q = model.posterior(x)
        assert q.batch_shape == (2,) and q.event_shape == (3,)
        z = q.sample()
        p = model.likelihood(z)
        assert p.batch_shape == (2,) and tuple(p.event_shape) == tuple(shape)
        assert tuple(p.mean.shape) == (2, *shape)
        assert model.likelihood(torch.randn(5, 3)).log_prob(torch.rand(5, *shape)).shape == (5,)
        out = model(x)
    assert out.loss.shape == () and torch.isfinite(out.loss)


@pytest.mark.parametrize(
    "shape, message",
    [
        ([2, 5, 7], "needs square images"),
        ([28, 28], "needs square images"),
        ([1, 7, 7], "even image side above 7, got 7"),
        ([3, 9, 9], "even image side above 7, got 9"),
        ([1, 6, 6], "even image side above 7, got 6"),
    ],
)
def test_conv_refuses_shapes_it_cannot_take(shape: list[int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        VAE(conv_config(shape))


def _zero_last_decoder_weights(model: VAE) -> None:
    """Zero the weights (not the bias) of the decoder's last layer: its output is then the bias,
    whatever z is."""
    layers = [
        m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear | torch.nn.Conv2d)
    ]
    with torch.no_grad():
        layers[-1].weight.zero_()


def _mean_image_data(shape: tuple[int, ...], constant_over_space: bool) -> TensorData:
    """Binarized pixels whose mean has exact 0 and 1 pixels (clipped by init_from_data). With
    ``constant_over_space`` every pixel of a channel has the same mean (8 images, each pixel a
    random permutation of the channel's 8 values), as a per-channel bias can represent."""
    generator = seeded(1)
    n = 8
    if constant_over_space:
        values = torch.randint(0, 256, (n, shape[0], 1, 1), generator=generator)
        keys = torch.rand(n, *shape, generator=generator)
        pixels = values.expand(n, *shape).gather(0, keys.argsort(0))
    else:
        pixels = torch.randint(0, 256, (n, *shape), generator=generator)
        pixels[:, :, 0, :] = 0  # mean 0: probability clipped to 1e-4
        pixels[:, :, 1, :] = 255  # mean 1: clipped to 1 - 1e-4
    return TensorData.images(pixels.to(torch.uint8), binarize=True)


@pytest.mark.parametrize(
    "architecture, shape, constant_over_space",
    [("mlp", (1, 16, 16), False), ("conv", (3, 32, 32), True), ("conv", (1, 16, 16), True)],
)
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_init_from_data_predicts_the_data_mean(
    architecture: str, shape: tuple[int, ...], constant_over_space: bool, likelihood: str
) -> None:
    data = _mean_image_data(shape, constant_over_space)
    expected = (data.values.double().mean(0) / 255).float()  # pixel probabilities
    assert (expected[:, 0] == 0).all() or constant_over_space
    cfg = conv_config(list(shape), likelihood=likelihood, hidden_dim=16, depth=1)
    model = VAE(dataclasses.replace(cfg, architecture=architecture))
    model.init_from_data(data)
    _zero_last_decoder_weights(model)
    p = model.eval().likelihood(torch.randn(3, 3))
    assert p.mean.shape == (3, *shape)
    if likelihood == "bernoulli":
        clipped = expected.clamp(1e-4, 1 - 1e-4).expand(3, *shape)
        torch.testing.assert_close(p.mean, clipped, rtol=1e-5, atol=1e-6)
    else:
        torch.testing.assert_close(p.mean, expected.expand(3, *shape), rtol=0, atol=1e-6)
        torch.testing.assert_close(p.stddev, torch.ones(3, *shape))


def test_conv_init_from_data_predicts_the_per_pixel_mean() -> None:
    data = _mean_image_data((1, 16, 16), constant_over_space=False)
    expected = (data.values.double().mean(0) / 255).float().clamp(1e-4, 1 - 1e-4)
    model = VAE(conv_config([1, 16, 16]))
    model.init_from_data(data)
    _zero_last_decoder_weights(model)
    mean = model.eval().likelihood(torch.randn(3, 3)).mean
    torch.testing.assert_close(mean, expected.expand(3, 1, 16, 16), rtol=1e-5, atol=1e-6)


def test_conv_vae_learns_bars() -> None:
    generator = seeded(0)
    train, test = TensorData.images(bars(2000, generator)), TensorData.images(bars(200, generator))
    model = VAE(conv_config([1, 16, 16], channels=8, latent_dim=16))

    def scores() -> tuple[float, float]:
        with torch.no_grad():
            elbo = float(model(test.batch(slice(None))).terms["elbo"])
        ll = log_likelihoods(
            model, test, {"p": model.base_prior()}, num_samples=8, generator=seeded(1)
        )
        return elbo, float(ll["p"].mean())

    model.init_from_data(
        train
    )  # baseline: every pixel's mean is ~1/4, even a per-channel bias fits
    model.eval()
    elbo_before, ll_before = scores()
    train_vae(
        model,
        train,
        TrainConfig(steps=300, batch_size=64, lr=5e-3),
        kl_warmup_fraction=0.2,
        progress=False,
        generator=seeded(0),
    )
    elbo_after, ll_after = scores()
    # Every pixel is on with p = 1/4: the mean-pixel model costs 256 H(1/4) = 144 nats; the
    # data's entropy is 16 H(1/4) + log 2 = 9.7 nats. Measured (seed 0): ELBO -147 -> -46,
    # log-likelihood -147 -> -42 (200 test images, sd ~ 20 nats); seeds 1-3 reach -28 to -37.
    assert elbo_before < -130
    assert elbo_after > elbo_before + 50
    assert ll_after > ll_before + 50
    assert ll_after > elbo_after - 2  # the importance-weighted bound is at least as tight
