"""The importance-weighted likelihood on images: binarized test data drawn once per example from
the generator, and the rows of a decoder pass capped by the size of an example, the estimate
independent of the chunking."""

from __future__ import annotations

import torch
from helpers import conv_config, seeded

from ncpvae import VAE, TensorData, VAEConfig, log_likelihoods


def test_log_likelihoods_binarize_the_test_data_once_from_the_generator(monkeypatch) -> None:
    model = VAE(conv_config([1, 16, 16])).eval()
    grey = torch.full((6, 1, 16, 16), 100, dtype=torch.uint8)
    grey[:, :, :, :8] = 200
    data = TensorData.images(grey, binarize=True)
    priors = {"p": model.base_prior()}
    first = log_likelihoods(model, data, priors, num_samples=16, generator=seeded(5))["p"]
    again = log_likelihoods(model, data, priors, num_samples=16, generator=seeded(5))["p"]
    other = log_likelihoods(model, data, priors, num_samples=16, generator=seeded(6))["p"]
    assert first.shape == (6,) and torch.isfinite(first).all()
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    # each example is binarized once, not once per batch of its importance samples: with 8 rows
    # a pass, every example takes two passes and one binary draw
    drawn: list[torch.Tensor] = []
    batch = TensorData.batch

    def recording(self, index, generator=None):
        drawn.append(batch(self, index, generator))
        return drawn[-1]

    monkeypatch.setattr(TensorData, "batch", recording)
    log_likelihoods(model, data, priors, num_samples=16, chunk=8, generator=seeded(5))
    assert len(drawn) == 6 and all(len(x) == 1 for x in drawn)
    assert set(torch.cat(drawn).unique().tolist()) == {0.0, 1.0}


def test_likelihood_passes_are_capped_by_data_size(monkeypatch) -> None:
    """The rows per decoder pass shrink with the size of an example (a conv decoder's
    activations are many times its output), and the estimate does not depend on the chunking."""
    import ncpvae.evaluation.likelihood as evaluation

    model = VAE(
        VAEConfig(
            architecture="conv",
            data_shape=[1, 16, 16],
            latent_dim=3,
            channels=4,
            likelihood="bernoulli",
        )
    ).eval()
    data = TensorData.images(torch.randint(0, 256, (6, 1, 16, 16), dtype=torch.uint8), True)
    seen: list[int] = []
    original = model.log_likelihood_given

    def spy(z, x):
        seen.append(z.shape[0] * z.shape[1])
        return original(z, x)

    monkeypatch.setattr(model, "log_likelihood_given", spy)

    def estimate(**extra):
        generator = torch.Generator().manual_seed(0)
        priors = {"p": model.base_prior()}
        return evaluation.log_likelihoods(
            model, data, priors, num_samples=8, generator=generator, **extra
        )["p"]

    by_rows = estimate(chunk=8)  # the row cap asked for explicitly
    assert max(seen) == 8
    seen.clear()
    monkeypatch.setattr(evaluation, "MAX_ELEMENTS_PER_PASS", 16 * 16 * 8)  # 8 rows of 16x16
    by_elements = estimate()
    assert max(seen) == 8
    torch.testing.assert_close(by_elements, by_rows)
