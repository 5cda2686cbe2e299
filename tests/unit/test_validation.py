"""Stage 2 with held-out data: the split, the validation pass, and the selection of the best
classifier.

The selection test uses a density ratio known in closed form: q = N(0.5, 0.7^2 I) against
p = N(0, I) in 16 dimensions, with only 64 training latents, so that a classifier trained long
enough memorises them. The classifier kept at the best validation loss must give a log-ratio
error on fresh q-samples far below the last step's, and a log Z closer to 0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from ncpvae.data import Gaussians25Config, TensorData, hold_out_validation, load_data
from ncpvae.models import HierarchicalVAE, HierarchicalVAEConfig
from ncpvae.nets import ResidualMLPClassifier
from ncpvae.prior import NCPPrior, build_prior, nce_loss_from_logits
from ncpvae.training import TrainConfig, train_prior
from ncpvae.training.validation import _combine, measure_nce

DIM = 16


def _gaussian(mean: float, std: float) -> Independent:
    return Independent(Normal(torch.full((DIM,), mean), torch.full((DIM,), std)), 1)


P, Q = _gaussian(0.0, 1.0), _gaussian(0.5, 0.7)


def _true_log_ratio(z: Tensor) -> Tensor:
    return Q.log_prob(z) - P.log_prob(z)


def _fit(train: Tensor, validation: Tensor | None, select_best: bool) -> tuple[NCPPrior, object]:
    torch.manual_seed(1)
    prior = NCPPrior(P, ResidualMLPClassifier(DIM, 64, 2))
    config = TrainConfig(steps=1000, batch_size=64, lr=3e-4, lr_final=1e-7, validate_every=25)
    history = train_prior(
        prior,
        train,
        config,
        progress=False,
        validation=validation,
        select_best=select_best,
        generator=torch.Generator().manual_seed(0),
    )
    return prior, history


def test_validation_selection_undoes_overfitting_to_a_known_ratio():
    torch.manual_seed(0)
    train, validation, fresh = Q.sample((64,)), Q.sample((256,)), Q.sample((4000,))
    results = {}
    for select_best in (True, False):
        prior, history = _fit(train, validation, select_best)
        with torch.no_grad():
            error = (prior.log_ratio(fresh) - _true_log_ratio(fresh)).pow(2).mean().sqrt()
        log_z = prior.estimate_log_normalizer(100_000, generator=torch.Generator().manual_seed(3))
        results[select_best] = (float(error), log_z.value, history)
    (best_error, best_log_z, best), (last_error, last_log_z, last) = results[True], results[False]
    # the validation loss rises once the classifier memorises: the kept step is an early one
    assert best.selected_step is not None and best.selected_step < 500
    assert last.selected_step is None
    assert min(best.validation["loss"]) < best.validation["loss"][-1] - 0.5
    assert best_error < 0.5 * last_error
    assert abs(best_log_z) < abs(last_log_z)


def test_validation_passes_leave_the_training_stream_untouched():
    torch.manual_seed(0)
    train, validation = Q.sample((64,)), Q.sample((128,))
    with_validation, history = _fit(train, validation, select_best=False)
    without, _ = _fit(train, None, select_best=False)
    weights = with_validation.classifier.state_dict()
    for name, value in without.classifier.state_dict().items():
        torch.testing.assert_close(weights[name], value, rtol=0, atol=0, msg=name)
    assert history.validation_steps == list(range(24, 1000, 25))


def test_logz_of_batches_combines_to_the_log_mean_over_all():
    logits = torch.randn(100, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    parts = [
        (len(chunk), {"logz0": float(chunk.logsumexp(0) - math.log(len(chunk))), "acc0": i})
        for i, chunk in enumerate(logits.split([10, 30, 60]))
    ]
    combined = _combine(parts)
    assert math.isclose(combined["logz0"], float(logits.logsumexp(0) - math.log(100)), rel_tol=1e-9)
    assert math.isclose(combined["acc0"], (0 * 10 + 1 * 30 + 2 * 60) / 100)


class _ZeroLogits(nn.Module):
    """A classifier that cannot tell anything apart: f = 0 everywhere."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.inner = classifier

    def forward(self, z: Tensor, context: Tensor | None = None, **_: object) -> Tensor:
        return torch.zeros(len(z))


def test_hierarchical_validation_measures_every_group_at_known_values():
    model = HierarchicalVAE(
        HierarchicalVAEConfig(
            data_shape=[1, 12, 12], channels=8, latent_channels=2, groups_per_scale=[1, 2]
        )
    )
    prior = build_prior(model)
    prior.classifiers = nn.ModuleList(_ZeroLogits(c) for c in prior.classifiers)
    prior.trained.fill_(True)
    data = TensorData.images(torch.randint(0, 256, (50, 1, 12, 12), dtype=torch.uint8))
    values = measure_nce(prior, data, range(prior.num_groups), batch_size=16)
    # f = 0: each group's loss is 2 log 2, accuracy 1/2 (fakes right, reals wrong), log Z_k 0
    for k in range(prior.num_groups):
        assert math.isclose(values[f"nce{k}"], 2 * math.log(2), rel_tol=1e-6)
        assert values[f"acc{k}"] == 0.5 and abs(values[f"logz{k}"]) < 1e-6
    assert math.isclose(values["loss"], prior.num_groups * 2 * math.log(2), rel_tol=1e-6)


def test_nce_loss_metrics_of_a_known_logit():
    real, fake = torch.full((4,), 2.0), torch.full((6,), -1.0)
    loss, metrics = nce_loss_from_logits(real, fake, group=3)
    expected = math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))
    assert math.isclose(float(loss), expected, rel_tol=1e-6)
    assert metrics == {"nce3": metrics["nce3"], "acc3": 1.0, "logz3": metrics["logz3"]}
    assert math.isclose(metrics["logz3"], -1.0, rel_tol=1e-6)


def test_validation_split_is_disjoint_complete_and_reproducible():
    data = TensorData(torch.arange(100.0).unsqueeze(1))
    train, validation = hold_out_validation(data, 20, seed=0)
    again = hold_out_validation(data, 20, seed=0)[1]
    other = hold_out_validation(data, 20, seed=1)[1]
    kept, held = set(train.values.flatten().tolist()), set(validation.values.flatten().tolist())
    assert len(held) == 20 and not kept & held and kept | held == set(range(100))
    assert torch.equal(validation.values, again.values)
    assert not torch.equal(validation.values, other.values)
    unsplit, none = hold_out_validation(data, 0, seed=0)
    assert unsplit is data and none is None


def test_load_data_holds_validation_out_of_the_first_num_train():
    cfg = Gaussians25Config(num_train=500, num_test=50, num_validation=100)
    splits = load_data(cfg)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (400, 100, 50)
    whole = load_data(Gaussians25Config(num_train=500, num_test=50)).train.values
    joined = torch.cat([splits.train.values, splits.validation.values])
    assert sorted(joined[:, 0].tolist()) == sorted(whole[:, 0].tolist())
