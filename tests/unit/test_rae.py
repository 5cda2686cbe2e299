"""The RAE: its Gaussian-mixture prior fitted on its codes equals scikit-learn's fit (means,
weights, covariances, density), its posterior has no density, and an NCP prior on top of the
mixture trains and normalises."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import bars, conv_config, seeded

from ncpvae import RAE, NCPPrior, TensorData, TrainConfig, train_prior, train_vae
from ncpvae.nets import ResidualMLPClassifier


def test_rae_mixture_prior_matches_sklearn_and_carries_ncp() -> None:
    from sklearn.mixture import GaussianMixture

    generator = seeded(2)
    data = TensorData.images(bars(300, generator))  # not binarized: its codes are deterministic
    cfg = conv_config(
        [1, 16, 16], kind="rae", likelihood="gaussian_fixed", latent_dim=2, gmm_components=3
    )
    model = RAE(cfg)
    assert model.has_density is False
    train_vae(
        model, data, TrainConfig(steps=30, batch_size=64), progress=False, generator=generator
    )

    codes = model.encoder_outputs(data)
    assert codes.shape == (300, 2)
    gmm = GaussianMixture(3, covariance_type="full", reg_covar=1e-6, random_state=0)
    gmm.fit(codes.double().numpy())
    prior = model.base_prior()
    means = prior.component_distribution.mean.double().numpy()
    weights = prior.mixture_distribution.probs.double().numpy()
    order = [int(np.argmin(np.linalg.norm(gmm.means_ - m, axis=1))) for m in means]
    assert sorted(order) == [0, 1, 2]  # a permutation of sklearn's components
    scale = np.abs(gmm.means_).max()
    np.testing.assert_allclose(means, gmm.means_[order], rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(weights, gmm.weights_[order], rtol=1e-5, atol=1e-7)
    covariances = prior.component_distribution.covariance_matrix.double().numpy()
    np.testing.assert_allclose(covariances, gmm.covariances_[order], rtol=1e-4, atol=1e-9)
    # the prior's density is sklearn's, at codes and at points between them
    points = torch.cat([codes[:20], codes[:20] + 0.3 * codes.std(0) * torch.randn(20, 2)])
    expected = gmm.score_samples(points.double().numpy())
    np.testing.assert_allclose(prior.log_prob(points).double().numpy(), expected, atol=2e-4)

    with pytest.raises(NotImplementedError, match="no density"):
        model.posterior(data.batch(slice(0, 2))).log_prob(torch.zeros(2, 2))

    # NCP on the mixture: log p_NCP = log GMM + f - log Z
    ncp = NCPPrior(model.base_prior(), ResidualMLPClassifier(2, hidden_dim=16, num_blocks=1), model)
    before = [p.detach().clone() for p in ncp.classifier.parameters()]
    train_prior(ncp, data, TrainConfig(steps=10, batch_size=64), progress=False)
    changed = [
        not torch.equal(a, b) for a, b in zip(before, ncp.classifier.parameters(), strict=True)
    ]
    assert all(changed)
    with torch.no_grad():
        unnormalized = ncp.log_prob_unnormalized(points)
        logits = ncp.classifier(points)
    np.testing.assert_allclose(
        unnormalized.double().numpy(), expected + logits.double().numpy(), atol=2e-4
    )
    log_z = ncp.estimate_log_normalizer(4000, generator=seeded(0)).value
    with torch.no_grad():
        torch.testing.assert_close(ncp.log_prob(points), unnormalized - log_z)
