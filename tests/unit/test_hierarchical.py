"""Hierarchical NCP on a synthetic hierarchy with known conditionals, and the NVAE-style model.

The toy hierarchy has two scalar groups (as 1x1 maps), data x = (x1, x2) ~ N(0, diag(V1, V2)):

    q(z1 | x)     = N(x1, S1^2)            p(z1)      = N(0, 1)
    q(z2 | x, z1) = N(A z1 + x2, S2^2)     p(z2 | z1) = N(B z1, 1)      context c2 = z1
    p(x | z)      = N(W z, SIGMA^2 I)

so the aggregate conditionals are q(z1) = N(0, V1 + S1^2) and q(z2 | z1) = N(A z1, V2 + S2^2):
the optimal classifiers, the NCP prior (= the aggregate posterior) and log p_NCP(x) are known.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import Independent, MultivariateNormal, Normal

from ncpvae.data import TensorData
from ncpvae.evaluation import log_likelihoods, prior_hole
from ncpvae.evaluation.likelihood import CPU_ACTIVATION_ELEMENTS, plan
from ncpvae.models import HierarchicalVAE, HierarchicalVAEConfig
from ncpvae.models.hierarchy import GroupStep, HierarchicalLatentModel
from ncpvae.models.nvae import NearestUpsample2x, UpsampledConv
from ncpvae.nets import ResidualConvClassifier
from ncpvae.prior import HierarchicalNCPPrior, hierarchical, merge_priors
from ncpvae.samplers import BasePriorSampler, HMCSampler, LangevinSampler, SIRSampler
from ncpvae.training import TrainConfig, train_prior

V1, S1, V2, S2, A, B = 0.05, 0.2**0.5, 0.06, 0.3**0.5, 1.0, 0.5
Q1_VAR, Q2_VAR = V1 + S1**2, V2 + S2**2  # 0.25 and 0.36
W = torch.tensor([[1.0, 0.5], [-0.3, 1.0]])
SIGMA = 0.5


def _scalar_map(v: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, 1, 1, 1)


class LinearGaussianHierarchy(HierarchicalLatentModel):
    group_shapes = [(1, 1, 1), (1, 1, 1)]
    context_shapes = [(1, 1, 1), (1, 1, 1)]

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # gives the model a device

    def encode(self, x):
        return [_scalar_map(x[:, 0]), _scalar_map(x[:, 1])]

    def walk(self, choose, num, features=None, temperature=1.0, decode=True):
        zeros = torch.zeros(num, 1, 1, 1)
        post = Normal(features[0], S1) if features is not None else None
        z1 = choose(GroupStep(0, zeros, Normal(zeros, temperature + zeros), post))
        post = Normal(A * z1 + features[1], S2) if features is not None else None
        z2 = choose(GroupStep(1, z1, Normal(B * z1, temperature + zeros), post))
        if not decode:
            return None
        z = torch.cat([z1.flatten(1), z2.flatten(1)], dim=1)
        return Independent(Normal(z @ W.T, SIGMA), 1)


def true_log_ratio(k: int, z: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """log q(z_k | z_<k) - log p(z_k | z_<k) of the toy, for z_k with any leading shape."""
    if k == 0:
        return Normal(0.0, math.sqrt(Q1_VAR)).log_prob(z) - Normal(0.0, 1.0).log_prob(z)
    return Normal(A * context, math.sqrt(Q2_VAR)).log_prob(z) - Normal(B * context, 1.0).log_prob(z)


class ExactRatio(nn.Module):
    """The optimal classifier of group k, plus an arbitrary function of the context (which the
    per-sample normalizer Z_k(z_<k) must remove)."""

    def __init__(self, k: int, context_offset: bool = False) -> None:
        super().__init__()
        self.k, self.context_offset = k, context_offset

    def context_features(self, context):
        return context

    def forward(self, z, context=None, *, features=None):
        c = context if features is None else features
        f = true_log_ratio(self.k, z, c)
        if self.context_offset:
            f = f + 0.5 * c.pow(2) + 0.3
        return f.flatten(-3).sum(-1)


def exact_prior(model, context_offset=False, normalizer_samples=100) -> HierarchicalNCPPrior:
    prior = HierarchicalNCPPrior(
        model, [ExactRatio(k, context_offset) for k in range(2)], normalizer_samples
    )
    prior.trained.fill_(True)
    return prior


def toy_data(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g) * torch.tensor([math.sqrt(V1), math.sqrt(V2)])


def aggregate_covariance() -> torch.Tensor:
    return torch.tensor([[Q1_VAR, A * Q1_VAR], [A * Q1_VAR, A**2 * Q1_VAR + Q2_VAR]])


def base_covariance() -> torch.Tensor:
    return torch.tensor([[1.0, B], [B, B**2 + 1.0]])


def _conv_classifiers() -> list[nn.Module]:
    return [ResidualConvClassifier(1, 1, hidden_dim=32, num_blocks=1) for _ in range(2)]


def _fit(groups, seed=0, steps=1500) -> HierarchicalNCPPrior:
    torch.manual_seed(seed)
    model = LinearGaussianHierarchy()
    prior = HierarchicalNCPPrior(model, _conv_classifiers())
    train_prior(
        prior,
        TensorData(toy_data(20_000, 1)),
        TrainConfig(steps=steps, batch_size=512, lr=1e-3, lr_final=1e-6),
        groups=groups,
        progress=False,
        generator=torch.Generator().manual_seed(2),
    )
    return prior


@pytest.mark.slow  # 55-80 s alone: the default suite keeps under 5 minutes on 2 cores
def test_per_group_classifiers_recover_the_known_conditional_log_ratios():
    prior = _fit(None)
    torch.manual_seed(5)
    # evaluation points from the aggregate posterior and from the base prior, half each
    cov = (aggregate_covariance() + base_covariance()) / 2
    z = MultivariateNormal(torch.zeros(2), cov).sample((4000,))
    z1, z2 = _scalar_map(z[:, 0]), _scalar_map(z[:, 1])
    with torch.no_grad():
        for k, (zk, ck) in enumerate([(z1, torch.zeros_like(z1)), (z2, z1)]):
            learned = prior.group_log_ratio(GroupStep(k, ck, None), zk)
            truth = true_log_ratio(k, zk, ck).flatten()
            inside = truth > -4  # where either density has mass; the far tails are unconstrained
            rmse = (learned - truth)[inside].pow(2).mean().sqrt()
            assert rmse < 0.15, f"group {k}: RMSE {rmse:.3f} nats from the true log-ratio"


def test_group_subsets_trained_apart_merge_into_the_jointly_trained_prior():
    joint = _fit(None, steps=60)
    first, second = _fit([0], steps=60), _fit([1], steps=60)
    assert first.trained_groups == [0] and second.trained_groups == [1]
    merged = merge_priors([first, second])
    for name, value in joint.state_dict().items():
        torch.testing.assert_close(merged.state_dict()[name], value, equal_nan=True, msg=name)
    with pytest.raises(ValueError, match="group 0 was trained by both"):
        merge_priors([_fit([0], steps=1), _fit([0], steps=1)])
    with pytest.raises(ValueError, match="no prior trained groups \\[1\\]"):
        merge_priors([_fit([0], steps=1)])
    telescoping = _fit([1], steps=1)
    telescoping.waymarks = (0.5,)  # as HierarchicalNCPPrior(waymarks=[0.5]) sets it
    with pytest.raises(ValueError, match="prior 1 was trained with other classifier settings"):
        merge_priors([_fit([0], steps=1), telescoping])


def _moments(z: torch.Tensor) -> torch.Tensor:
    return z.T @ z / len(z)


@pytest.mark.parametrize("elements", [1 << 24, 1 << 12], ids=["one-chunk", "many-chunks"])
def test_hierarchical_sir_reproduces_the_aggregate_posterior_and_its_ess(elements, monkeypatch):
    monkeypatch.setattr(hierarchical, "CPU_PROPOSAL_ELEMENTS", elements)
    prior = exact_prior(LinearGaussianHierarchy(), context_offset=True)
    m = 1000
    out = SIRSampler(num_proposals=m).sample(
        prior, 4000, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(_moments(out.latents), aggregate_covariance(), atol=0.03, rtol=0)
    assert out.ess.shape == (4000, 2)
    # the prior's log-ratio of latents is the sum of the groups' (the offset included)
    z1, z2 = _scalar_map(out.latents[:, 0]), _scalar_map(out.latents[:, 1])
    expected = sum(
        prior.classifiers[k](zk, ck) for k, (zk, ck) in enumerate([(z1, 0 * z1), (z2, z1)])
    )
    torch.testing.assert_close(prior.log_ratio(out.latents), expected)
    # ESS / M -> 1 / E_p[r^2]; E_p[r_k^2] = int q^2 / p = 1 / (v sqrt(2 / v - 1)) for q = N(m, v),
    # p = N(m', 1) with the means equal (group 1) or not (group 2: a shift (A - B) z1)
    e_r2_first = 1 / (Q1_VAR * math.sqrt(2 / Q1_VAR - 1))
    assert float(out.ess[:, 0].mean()) / m == pytest.approx(1 / e_r2_first, rel=0.05)


def test_prior_hole_per_group_is_closed_by_the_exact_ncp_prior():
    # both groups of the toy have a hole (q's group-1 variance < 1; group 2's mean shifts with
    # z1): MMD^2 to base-prior samples is clearly positive in each, to NCP samples it is noise
    model = LinearGaussianHierarchy()
    prior = exact_prior(model, context_offset=True)
    g = torch.Generator().manual_seed(0)
    posterior = model.posterior(toy_data(1500, 0)).sample()
    samples = {
        "base": BasePriorSampler().sample(prior, 1500, generator=g).latents,
        "ncp": SIRSampler(num_proposals=1000).sample(prior, 1500, generator=g).latents,
    }
    hole = prior_hole(prior, posterior, samples)
    assert all(m > 0.01 for m in hole["mmd2_posterior_base_groups"])
    assert all(abs(m) < 0.004 for m in hole["mmd2_posterior_ncp_groups"])
    assert hole["mmd2_posterior_base"] > 10 * abs(hole["mmd2_posterior_ncp"])


@pytest.mark.parametrize(
    "sampler",
    [LangevinSampler(num_steps=1500, step_size=0.01), HMCSampler(num_steps=150, num_warmup=100)],
    ids=["langevin", "hmc"],
)
def test_noise_space_dynamics_reproduce_the_aggregate_posterior(sampler):
    prior = exact_prior(LinearGaussianHierarchy())
    out = sampler.sample(prior, 3000, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(_moments(out.latents), aggregate_covariance(), atol=0.04, rtol=0)
    if out.acceptance_rate is not None:
        assert 0.6 < out.acceptance_rate < 0.95


def _gaussian_log_marginal(x: torch.Tensor, latent_cov: torch.Tensor) -> torch.Tensor:
    cov = W @ latent_cov @ W.T + SIGMA**2 * torch.eye(2)
    return MultivariateNormal(torch.zeros(2), cov).log_prob(x)


@pytest.mark.parametrize("elements", [1 << 24, 1 << 16], ids=["one-chunk", "many-chunks"])
def test_hierarchical_likelihood_matches_the_closed_form_with_per_sample_normalizers(
    elements, monkeypatch
):
    # the Z_k draws come in chunks of at most ``elements`` latent elements (a CPU's cache): the
    # chunking changes the order of the draws, not the estimate (2^16: each Z_2 from 15 chunks
    # of 32 draws and one of 20; 2^12, one draw a chunk, took 110 s on a 2-core EPYC)
    monkeypatch.setattr(hierarchical, "CPU_PROPOSAL_ELEMENTS", elements)
    model = LinearGaussianHierarchy()
    # the classifiers carry an arbitrary offset g(z1): only a per-sample Z_2(z1) removes it
    prior = exact_prior(model, context_offset=True, normalizer_samples=500)
    x = toy_data(100, 7)
    lls = log_likelihoods(
        model,
        x,
        {"vae": model.base_prior(), "ncp": prior},
        num_samples=2000,
        generator=torch.Generator().manual_seed(3),
    )
    for name, latent_cov in (("vae", base_covariance()), ("ncp", aggregate_covariance())):
        error = lls[name] - _gaussian_log_marginal(x, latent_cov)
        # importance sampling with 2000 samples: a few hundredths per example, no bias beyond
        # 0.01 on average (dropping the per-sample Z_2(z1) would shift "ncp" by 0.3 + E[z1^2]/2)
        assert abs(float(error.mean())) < 0.01, name
        assert float(error.abs().max()) < 0.2, name


# ---------------------------------------------------------------------------- the NVAE model


def _tiny_nvae(**overrides) -> HierarchicalVAE:
    cfg = dict(
        data_shape=[1, 12, 12],
        channels=16,
        latent_channels=2,
        groups_per_scale=[1, 2],
        likelihood="bernoulli",
    )
    cfg.update(overrides)
    return HierarchicalVAE(HierarchicalVAEConfig(**cfg))


def test_nearest_upsampling_is_torchs_in_values_and_gradients():
    x = torch.randn(3, 5, 4, 6, requires_grad=True)
    ours = NearestUpsample2x()(x)
    theirs = nn.Upsample(scale_factor=2, mode="nearest")(x)
    assert ours.shape == (3, 5, 8, 12) and torch.equal(ours, theirs)
    weights = torch.randn_like(ours)
    (grad_ours,) = torch.autograd.grad((ours * weights).sum(), x)
    (grad_theirs,) = torch.autograd.grad((theirs * weights).sum(), x)
    torch.testing.assert_close(grad_ours, grad_theirs)


@pytest.mark.parametrize("shape", [(1, 1), (4, 6), (5, 3)])
def test_upsampled_convolution_is_the_convolution_of_the_upsampled_maps(shape):
    torch.manual_seed(0)
    layer = UpsampledConv(3, 4).double()
    x = torch.randn(2, 3, *shape, dtype=torch.double, requires_grad=True)
    ours = layer(x)
    theirs = layer[1](NearestUpsample2x()(x))  # the module it replaces: upsample, then conv
    assert ours.shape == (2, 4, 2 * shape[0], 2 * shape[1])
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
    weights = torch.randn_like(ours)
    inputs = [x, layer[1].weight, layer[1].bias]
    for g_ours, g_theirs in zip(
        torch.autograd.grad((ours * weights).sum(), inputs),
        torch.autograd.grad((theirs * weights).sum(), inputs),
        strict=True,
    ):
        torch.testing.assert_close(g_ours, g_theirs, rtol=0, atol=1e-12)
    # the state dict of nn.Sequential(NearestUpsample2x(), conv): older checkpoints load
    assert set(layer.state_dict()) == set(nn.Sequential(nn.Identity(), layer[1]).state_dict())


def test_likelihood_passes_on_a_cpu_are_sized_by_the_largest_feature_map():
    model = _tiny_nvae(data_shape=[1, 28, 28], channels=64, groups_per_scale=[2, 2]).eval()
    largest = 0

    def record(module, inputs, output):
        nonlocal largest
        for t in (*inputs, output):
            if isinstance(t, torch.Tensor) and t.dim() == 4:
                largest = max(largest, t[0].numel())

    for module in model.modules():
        module.register_forward_hook(record)
    with torch.no_grad():
        x = torch.bernoulli(torch.full((2, 1, 28, 28), 0.3))
        model.log_likelihood_given(model.posterior(x).sample((2,)), x)
    assert largest == model.row_activation_elements == 32 * 32 * 32  # 32 maps at 32x32
    batching = plan(model, (1, 28, 28), num_samples=1000)
    assert batching.samples_per_chunk * largest <= CPU_ACTIVATION_ELEMENTS
    assert batching.examples_per_chunk == 1


def test_nvae_groups_scales_and_padding():
    model = _tiny_nvae()
    assert model.padded_side == 16  # 12 padded to a multiple of 4 * 2^(2 - 1)
    assert model.group_shapes == [(2, 2, 2), (2, 4, 4), (2, 4, 4)]
    assert model.context_shapes == [(16, 2, 2), (16, 4, 4), (16, 4, 4)]
    assert model.latent_shape == (8 + 32 + 32,)
    model.eval()
    x = torch.bernoulli(torch.full((3, 1, 12, 12), 0.3))
    z = model.posterior(x).sample()
    assert z.shape == (3, 72)
    assert model.likelihood(z).log_prob(x).shape == (3,)  # output cropped back to 12x12


def test_nvae_analytic_kl_matches_the_monte_carlo_kl_of_its_own_densities():
    torch.manual_seed(0)
    model = _tiny_nvae().eval()
    x = torch.bernoulli(torch.full((2, 1, 12, 12), 0.3))
    with torch.no_grad():
        # the analytic KL of a group depends on the sampled z_<k: average it over many samples
        kl = model(x.repeat(2000, 1, 1, 1)).terms["kl"]
        q = model.posterior(x)
        z = q.sample((4000,))
        mc = (q.log_prob(z) - model.base_prior().log_prob(z)).mean()
    assert float(mc) == pytest.approx(float(kl), rel=0.03, abs=0.05)


def test_nvae_temperature_scales_every_prior_group():
    torch.manual_seed(0)
    model = _tiny_nvae().eval()
    scales = {}
    for t in (1.0, 0.5):
        latents: list[torch.Tensor] = []
        scales[t] = latents
        model.walk(
            lambda s, into=latents: into.append(s.prior.scale) or s.prior.loc,
            4,
            temperature=t,
            decode=False,
        )
        scales[t] = torch.cat([v.flatten() for v in latents])
    torch.testing.assert_close(scales[0.5], 0.5 * scales[1.0])


def test_nvae_spectral_penalty_is_the_largest_singular_value_sum():
    model = _tiny_nvae(spectral_regularization=0.1)
    with torch.no_grad():
        for _ in range(60):  # power iteration converges
            penalty = model.spectral()
        exact = sum(
            torch.linalg.matrix_norm(m.weight.flatten(1), ord=2)
            for m in model.modules()
            if isinstance(m, nn.Conv2d)
        )
    assert float(penalty) == pytest.approx(float(exact), rel=1e-3)
