"""Output likelihoods against independent float64 references (numpy / scipy), plus the
normalisation, sampling and tail behaviour of the discretized logistic mixture."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ncpvae.errors import ConfigError
from ncpvae.likelihoods import (
    LIKELIHOODS,
    BernoulliLikelihood,
    DiscretizedLogisticMixture,
    DiscretizedLogisticMixtureLikelihood,
    FixedScaleGaussianLikelihood,
    GaussianLikelihood,
    build_likelihood,
    soft_clamp,
)

try:  # scipy arrives with scikit-learn; numpy gives the same values where it is missing
    from scipy.stats import logistic as _scipy_logistic
except ImportError:  # pragma: no cover - depends on the environment
    _scipy_logistic = None

GRID = np.arange(256) / 255.0
DATA_SHAPES = [(2,), (3, 4, 4)]


def logistic_cdf(t: np.ndarray) -> np.ndarray:
    if _scipy_logistic is not None:
        return _scipy_logistic.cdf(t)
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-t))


def logistic_sf(t: np.ndarray) -> np.ndarray:
    if _scipy_logistic is not None:
        return _scipy_logistic.sf(t)
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(t))


def reference_dlm_log_prob(
    logits: np.ndarray, means: np.ndarray, log_scales: np.ndarray, level: int
) -> float:
    """log P(x = level / 255) for one element with K components, in float64 probability space.

    Right of a component's mean the bin mass is taken from the survival function, left of it from
    the CDF, so neither tail loses precision to cancellation.
    """
    weights = np.exp(logits - logits.max())
    weights /= weights.sum()
    y = 2.0 * level / 255.0 - 1.0
    scales = np.exp(np.maximum(log_scales, -7.0))
    upper = (y + 1 / 255 - means) / scales
    lower = (y - 1 / 255 - means) / scales
    if level == 0:
        mass = logistic_cdf(upper)
    elif level == 255:
        mass = logistic_sf(lower)
    else:
        mass = np.where(
            y > means,
            logistic_sf(lower) - logistic_sf(upper),
            logistic_cdf(upper) - logistic_cdf(lower),
        )
    return float(np.log((weights * mass).sum()))


def gaussian_reference(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    z = (x - mean) / scale
    per_element = -0.5 * z**2 - np.log(scale) - 0.5 * math.log(2 * math.pi)
    return per_element.reshape(len(x), -1).sum(1)


def mixture_params(k: int, logits, means, log_scales) -> torch.Tensor:
    """Params of shape (1, 3K, 1) for one data element."""
    values = [*logits, *means, *log_scales]
    assert len(values) == 3 * k
    return torch.tensor(values, dtype=torch.float64).view(1, 3 * k, 1)


# ------------------------------------------------------------------------------------------------
# Gaussians and Bernoulli
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data_shape", DATA_SHAPES)
def test_gaussian_learned_scale_matches_reference(data_shape):
    n = 5
    params = torch.randn(n, 2, *data_shape, dtype=torch.float64)
    params[:, 1] *= 6.0  # raw log-scales well into the soft clamp's non-linear range
    x = torch.randn(n, *data_shape, dtype=torch.float64)
    dist = GaussianLikelihood()(params)

    mean, raw = params[:, 0].numpy(), params[:, 1].numpy()
    scale = np.exp(7.0 * np.tanh(raw / 7.0))
    expected = gaussian_reference(x.numpy(), mean, scale)

    assert dist.batch_shape == (n,) and dist.event_shape == data_shape
    np.testing.assert_allclose(dist.log_prob(x).numpy(), expected, rtol=1e-10)
    torch.testing.assert_close(dist.mean, params[:, 0])
    assert dist.sample().shape == (n, *data_shape)


def test_gaussian_soft_clamp_bound_is_configurable():
    params = torch.tensor([[[0.0], [100.0]], [[0.0], [-100.0]]], dtype=torch.float64)
    dist = GaussianLikelihood(max_abs_log_scale=2.0)(params)
    torch.testing.assert_close(
        dist.base_dist.scale, torch.tensor([[math.e**2], [math.e**-2]]).double()
    )
    torch.testing.assert_close(
        soft_clamp(torch.tensor([0.5, 1e6]), 3.0), 3.0 * torch.tanh(torch.tensor([0.5 / 3, 1e6]))
    )


@pytest.mark.parametrize("data_shape", DATA_SHAPES)
def test_gaussian_fixed_scale_matches_reference(data_shape):
    n = 4
    params = torch.randn(n, 1, *data_shape, dtype=torch.float64)
    x = torch.rand(n, *data_shape, dtype=torch.float64)
    dist = FixedScaleGaussianLikelihood(scale=0.3)(params)

    expected = gaussian_reference(x.numpy(), params[:, 0].numpy(), np.full(x.shape, 0.3))
    assert dist.batch_shape == (n,) and dist.event_shape == data_shape
    np.testing.assert_allclose(dist.log_prob(x).numpy(), expected, rtol=1e-10)
    torch.testing.assert_close(dist.mean, params[:, 0])


@pytest.mark.parametrize("data_shape", DATA_SHAPES)
def test_bernoulli_matches_reference(data_shape):
    n = 4
    params = 3.0 * torch.randn(n, 1, *data_shape, dtype=torch.float64)
    x = torch.randint(0, 2, (n, *data_shape)).double()
    dist = BernoulliLikelihood()(params)

    p = 1.0 / (1.0 + np.exp(-params[:, 0].numpy()))
    xn = x.numpy()
    expected = (xn * np.log(p) + (1 - xn) * np.log(1 - p)).reshape(n, -1).sum(1)
    assert dist.batch_shape == (n,) and dist.event_shape == data_shape
    np.testing.assert_allclose(dist.log_prob(x).numpy(), expected, rtol=1e-10)
    torch.testing.assert_close(dist.mean, torch.from_numpy(p))


def test_params_per_dim_and_shape_check():
    assert GaussianLikelihood(3.0).params_per_dim == 2
    assert GaussianLikelihood(3.0).max_abs_log_scale == 3.0
    assert FixedScaleGaussianLikelihood(0.2).params_per_dim == 1
    assert BernoulliLikelihood().params_per_dim == 1
    assert DiscretizedLogisticMixtureLikelihood().params_per_dim == 30
    assert DiscretizedLogisticMixtureLikelihood(4).params_per_dim == 12
    with pytest.raises(ValueError, match="shape"):
        GaussianLikelihood()(torch.zeros(3, 1, 2))
    with pytest.raises(ValueError, match="shape"):
        DiscretizedLogisticMixtureLikelihood(2)(torch.zeros(3, 9, 2))


# ------------------------------------------------------------------------------------------------
# Discretized logistic mixture
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("log_scale_offset", [-12.0, -5.0, -2.0, 0.0, 4.0, 12.0, 30.0])
def test_mixture_is_normalised_over_the_grid(dtype, log_scale_offset):
    k, sets = 4, 6
    params = torch.randn(sets, 3 * k, 1, 1, 1, dtype=dtype)
    params[:, k : 2 * k] *= 0.8
    params[:, 2 * k :] = params[:, 2 * k :] * 0.5 + log_scale_offset
    dist = DiscretizedLogisticMixtureLikelihood(k)(params)
    grid = torch.arange(256, dtype=dtype).div(255).view(256, 1, 1, 1, 1).expand(256, sets, 1, 1, 1)

    log_probs = dist.log_prob(grid)  # (256, sets): every grid value under every parameter set
    assert log_probs.shape == (256, sets)
    assert torch.isfinite(log_probs).all()
    total = log_probs.double().exp().sum(0)
    torch.testing.assert_close(total, torch.ones(sets, dtype=torch.float64), atol=1e-5, rtol=0)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-9), (torch.float32, 2e-4)])
def test_mixture_matches_scipy_reference(dtype, tol):
    k = 3
    rng = np.random.default_rng(0)
    levels = np.concatenate([[0, 1, 2, 127, 128, 253, 254, 255], rng.integers(0, 256, 24)])
    n = len(levels)
    logits = rng.normal(0, 1.5, (n, k))
    means = rng.uniform(-1.2, 1.2, (n, k))
    log_scales = rng.uniform(-4.0, 0.0, (n, k))
    params = torch.from_numpy(np.concatenate([logits, means, log_scales], 1)).view(n, 3 * k, 1)
    x = torch.from_numpy(levels / 255.0).view(n, 1)

    got = DiscretizedLogisticMixtureLikelihood(k)(params.to(dtype)).log_prob(x.to(dtype))
    expected = [
        reference_dlm_log_prob(logits[i], means[i], log_scales[i], int(levels[i])) for i in range(n)
    ]
    np.testing.assert_allclose(got.double().numpy(), expected, rtol=tol, atol=tol)


def test_mixture_log_prob_sums_over_elements_and_keeps_shapes():
    k, n, data_shape = 2, 3, (3, 4, 4)
    params = torch.randn(n, 3 * k, *data_shape, dtype=torch.float64)
    x = torch.randint(0, 256, (n, *data_shape)).double() / 255
    dist = DiscretizedLogisticMixtureLikelihood(k)(params)

    assert isinstance(dist, DiscretizedLogisticMixture)
    assert dist.batch_shape == (n,) and dist.event_shape == data_shape
    assert dist.mean.shape == (n, *data_shape)
    assert dist.sample().shape == (n, *data_shape)
    assert dist.sample((5,)).shape == (5, n, *data_shape)

    flat_params = params.movedim(1, -1).reshape(-1, 3 * k, 1)
    per_element = DiscretizedLogisticMixtureLikelihood(k)(flat_params.reshape(-1, 3 * k, 1))
    per_element_lp = per_element.log_prob(x.reshape(-1, 1)).view(n, -1).sum(1)
    torch.testing.assert_close(dist.log_prob(x), per_element_lp)


def test_mixture_rounds_x_to_the_nearest_grid_level():
    params = torch.randn(4, 6, 5, dtype=torch.float64)
    dist = DiscretizedLogisticMixtureLikelihood(2)(params)
    x = torch.randint(0, 256, (4, 5)).double() / 255
    jitter = (torch.rand(4, 5, dtype=torch.float64) - 0.5) * 0.98 / 255
    torch.testing.assert_close(dist.log_prob((x + jitter).clamp(0, 1)), dist.log_prob(x))


def test_tiny_scale_component_on_a_grid_value():
    level = 100
    y = 2 * level / 255 - 1
    # K = 3: one dominant component of minimal scale at the grid value, two elsewhere.
    params = mixture_params(3, [30.0, 0.0, 0.0], [y, -0.5, 0.5], [-20.0, -1.0, -1.0])
    dist = DiscretizedLogisticMixtureLikelihood(3)(params)
    # The log-scale is bounded below by -7, so the bin holds 2 sigmoid(e^7 / 255) - 1 of the mass.
    expected = math.log(math.tanh(math.exp(7.0) / 255 / 2))
    value = float(dist.log_prob(torch.tensor([[level / 255]], dtype=torch.float64)))
    assert value == pytest.approx(expected, rel=1e-6)
    assert -0.03 < value < 0

    samples = dist.sample((4000,)).flatten() * 255
    assert (samples - level).abs().max() <= 1 + 1e-6
    assert (samples.round() == level).double().mean() > 0.95

    # At an edge the bin takes all tail mass, so the value is essentially certain.
    edge = mixture_params(1, [0.0], [-1.05], [-7.0])
    edge_dist = DiscretizedLogisticMixtureLikelihood(1)(edge)
    assert float(edge_dist.log_prob(torch.zeros(1, 1, dtype=torch.float64))) > -1e-10
    assert (edge_dist.sample((1000,)) == 0).all()


def test_samples_follow_log_prob_and_mean():
    k, sets = 3, 3
    params = torch.tensor(
        [
            [0.5, -0.2, 0.0, -0.4, 0.1, 0.35, -3.0, -2.7, -3.5],
            [2.0, 0.0, -1.0, 0.3, -0.3, 0.0, -4.0, -2.5, -3.0],
            [0.0, 0.0, 0.0, 0.9, -0.95, 0.0, -1.5, -2.0, -2.0],  # mass at both edges
        ],
        dtype=torch.float64,
    ).view(sets, 3 * k, 1)
    dist = DiscretizedLogisticMixtureLikelihood(k)(params)
    draws = 20000
    samples = dist.sample((draws,))  # (draws, sets, 1)

    assert samples.min() >= 0 and samples.max() <= 1
    torch.testing.assert_close(samples * 255, (samples * 255).round(), atol=1e-9, rtol=0)

    grid = torch.arange(256, dtype=torch.float64).div(255).view(256, 1, 1).expand(256, sets, 1)
    probs = dist.log_prob(grid).exp()  # (256, sets)
    for s in range(sets):
        levels = (samples[:, s, 0] * 255).round().long()
        freq = torch.bincount(levels, minlength=256).double() / draws
        bound = 5 * (probs[:, s] * (1 - probs[:, s]) / draws).sqrt() + 2e-3
        assert ((freq - probs[:, s]).abs() <= bound).all(), s

    # .mean is the continuous mixture mean; for the first two sets nearly all mass is inside
    # [-1, 1], so the discretized sample mean must agree with it within Monte-Carlo error.
    weights = torch.softmax(params[:, :k, 0], 1)
    expected_mean = (((weights * params[:, k : 2 * k, 0]).sum(1) + 1) / 2).view(sets, 1)
    torch.testing.assert_close(dist.mean, expected_mean.clamp(0, 1))
    stderr = samples.std(0) / math.sqrt(draws)
    assert ((samples.mean(0) - dist.mean)[:2].abs() <= 5 * stderr[:2] + 1e-3).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_far_tail_is_finite_with_finite_gradients(dtype):
    scale = math.exp(-7.0)
    cases = [  # (mean, level, expected log-probability)
        (-1.0, 255, -((1.0 - 1 / 255) - (-1.0)) / scale),  # top edge: -softplus(b) ~ -b
        (1.0, 0, -(1.0 - (-1.0 + 1 / 255)) / scale),  # bottom edge: -softplus(-a) ~ a
        # interior, right tail: log sigma(-b) + log(1 - e^-(a - b)) ~ -b + log(1 - e^{-2/255s})
        (
            -1.0,
            254,
            -((253 / 255 - 1 / 255) + 1.0) / scale + math.log1p(-math.exp(-2 / 255 / scale)),
        ),
    ]
    for mean, level, expected in cases:
        params = torch.tensor([0.0, mean, -7.0], dtype=dtype).view(1, 3, 1).requires_grad_()
        value = DiscretizedLogisticMixtureLikelihood(1)(params).log_prob(
            torch.full((1, 1), level / 255, dtype=dtype)
        )
        assert torch.isfinite(value).all()
        assert float(value.detach()) == pytest.approx(expected, rel=1e-5)
        value.sum().backward()
        assert torch.isfinite(params.grad).all()
        assert params.grad[0, 1, 0].abs() > 100  # the mean still gets a useful gradient


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-9), (torch.float32, 2e-5)])
def test_huge_scale_fallback_is_continuous(dtype, tol):
    # Around s = 2h / 1e-6 the interior switches from the exact difference to density x width;
    # both sides, and scales well before the switch, must agree with the flat-density limit
    # log(2h) - log s - log 4 near the mean (a float32 1 - exp(-d) would be off by percents).
    switch = math.log(2 / 255 / 1e-6)
    for log_scale in (switch - 3.0, switch - 0.01, switch + 0.01, switch + 5.0):
        params = mixture_params(1, [0.0], [0.0], [log_scale]).to(dtype)
        value = DiscretizedLogisticMixtureLikelihood(1)(params).log_prob(
            torch.tensor([[0.5 + 0.5 / 255]], dtype=dtype)
        )
        expected = math.log(2 / 255) - log_scale - math.log(4.0)
        assert float(value) == pytest.approx(expected, abs=tol), log_scale


def test_log_scale_is_bounded_below():
    low = DiscretizedLogisticMixtureLikelihood(1)(mixture_params(1, [0.0], [0.1], [-50.0]))
    floor = DiscretizedLogisticMixtureLikelihood(1)(mixture_params(1, [0.0], [0.1], [-7.0]))
    x = torch.tensor([[140 / 255]], dtype=torch.float64)
    torch.testing.assert_close(low.log_prob(x), floor.log_prob(x))


# ------------------------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------------------------


def test_build_likelihood_passes_each_its_option():
    assert set(LIKELIHOODS) == {"gaussian", "gaussian_fixed", "bernoulli", "logistic_mixture"}
    assert build_likelihood("gaussian", output_scale=0.5) == GaussianLikelihood()
    assert build_likelihood("gaussian_fixed", output_scale=0.5) == FixedScaleGaussianLikelihood(0.5)
    assert build_likelihood("bernoulli", num_mixtures=3) == BernoulliLikelihood()
    mixture = build_likelihood("logistic_mixture", num_mixtures=5, output_scale=0.5)
    assert mixture == DiscretizedLogisticMixtureLikelihood(5)
    assert mixture.params_per_dim == 15


def test_unknown_likelihood_names_the_choices():
    with pytest.raises(ConfigError) as info:
        build_likelihood("poisson")
    message = str(info.value)
    assert "'poisson'" in message
    for name in LIKELIHOODS:
        assert name in message


@pytest.mark.parametrize(
    "make",
    [
        lambda: DiscretizedLogisticMixtureLikelihood(0),
        lambda: FixedScaleGaussianLikelihood(0.0),
        lambda: GaussianLikelihood(-1.0),
    ],
)
def test_invalid_options_raise_config_error(make):
    with pytest.raises(ConfigError):
        make()


def test_mixture_mean_is_clamped_to_the_data_range():
    params = torch.tensor([[0.0, 0.0, 1.8, 1.6, -3.0, -3.0], [0.0, 0.0, -1.8, -1.6, -3.0, -3.0]])
    dist = DiscretizedLogisticMixtureLikelihood(2)(params.view(2, 6, 1))
    torch.testing.assert_close(dist.mean, torch.tensor([[1.0], [0.0]]))
