"""The warnings that a ratio is not to be trusted (docs/method.md section 2.7): each sign is
raised exactly where it holds, on priors whose log Z is known, and names the remedy the prior
does not use yet; the evaluation report shows them with the base prior."""

from __future__ import annotations

import torch
from torch import Tensor, nn

import ncpvae
from ncpvae.evaluation import EvaluationReport, SIRFigures
from ncpvae.evaluation.report import markdown_report
from ncpvae.evaluation.trust import fit_accuracy, ratio_warnings
from ncpvae.models import RAEConfig
from ncpvae.prior import ClassifierConfig, GroupLogNormalizer, LogNormalizer, NCPPrior, build_prior


class Constant(nn.Module):
    """f(z) = c everywhere, so Z = E_p[exp f] = exp c exactly."""

    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = c

    def forward(self, z: Tensor) -> Tensor:
        return torch.full((len(z),), self.c)


def _constant_prior(c: float) -> NCPPrior:
    prior = NCPPrior(ncpvae.standard_normal((3,)), Constant(c))
    prior.estimate_log_normalizer(1000)
    return prior


def test_log_z_is_flagged_only_far_from_zero_and_the_remedies_are_named():
    far = _constant_prior(-1.3)
    lines = ratio_warnings(far, log_normalizer=far.estimate_log_normalizer(1000))
    assert len(lines) == 1 and "log Z is -1.30" in lines[0]
    assert "--classifier.fitted_base 1" in lines[0] and "--classifier.waymarks 3" in lines[0]
    near = _constant_prior(0.05)
    assert ratio_warnings(near, log_normalizer=near.estimate_log_normalizer(1000)) == []


def test_a_log_z_within_three_standard_errors_is_not_flagged():
    group = GroupLogNormalizer(0, -0.4, 0.0, 0.2, 1.0, 1, 1000)
    prior = _constant_prior(0.0)
    assert ratio_warnings(prior, log_normalizer=LogNormalizer.from_groups([group])) == []
    group = GroupLogNormalizer(0, -0.4, 0.0, 0.1, 1.0, 1, 1000)
    assert len(ratio_warnings(prior, log_normalizer=LogNormalizer.from_groups([group]))) == 1


def test_accuracy_near_one_and_a_collapsed_sir_are_flagged_with_their_remedies():
    prior = _constant_prior(0.0)
    assert ratio_warnings(prior, accuracy={0: 0.97}) == []
    [chasm] = ratio_warnings(prior, accuracy={0: 0.99})
    assert "accuracy 0.990" in chasm and "density chasm" in chasm
    sir = SIRFigures(group_ess=[3.4], proposals=500)
    [collapse] = ratio_warnings(prior, sir=sir, sir_threshold=10.0)
    assert "3.4 of 500" in collapse and "--sampler auto" in collapse
    assert (
        ratio_warnings(prior, sir=SIRFigures(group_ess=[12.0], proposals=500), sir_threshold=10.0)
        == []
    )


def test_a_collapsed_sir_on_a_doubted_ratio_does_not_send_the_user_to_hmc():
    prior = _constant_prior(0.0)
    sir = SIRFigures(group_ess=[3.4], proposals=500)
    [chasm, collapse] = ratio_warnings(prior, accuracy={0: 0.99}, sir=sir, sir_threshold=10.0)
    assert "3.4 of 500" in collapse and "mend the ratio before the sampler" in collapse
    assert "sample with --sampler auto" not in collapse


def test_the_remedies_leave_out_what_the_prior_already_uses():
    model = ncpvae.build_model(ncpvae.VAEConfig(data_shape=[2], latent_dim=3, hidden_dim=8))
    both = build_prior(model, ClassifierConfig(hidden_dim=8, fitted_base=10, waymarks=3))
    [line] = ratio_warnings(both, accuracy={0: 0.995})
    assert "fitted_base" not in line and "--classifier.waymarks 3" not in line
    assert "more stage-2 steps" in line and "trained for longer" not in line
    gaussian = build_prior(model, ClassifierConfig(hidden_dim=8, fitted_base=1, waymarks=3))
    [line] = ratio_warnings(gaussian, accuracy={0: 0.995})
    assert "a mixture base (--classifier.fitted_base 10)" in line
    assert "--classifier.fitted_base 1," not in line and "more stage-2 steps" not in line
    one = build_prior(model, ClassifierConfig(hidden_dim=8, waymarks=3))
    [line] = ratio_warnings(one, accuracy={0: 0.995})
    assert "--classifier.fitted_base 1" in line and "waymarks 3" not in line
    rae = ncpvae.build_model(RAEConfig(data_shape=[2], latent_dim=3, hidden_dim=8))
    [line] = ratio_warnings(build_prior(rae, ClassifierConfig(hidden_dim=8)), accuracy={0: 0.99})
    assert "fitted_base" not in line and "--classifier.waymarks 3" in line  # its GMM is fitted


def test_a_hierarchical_prior_names_its_groups_and_its_own_remedies():
    from ncpvae.models import HierarchicalVAE, HierarchicalVAEConfig

    model = HierarchicalVAE(
        HierarchicalVAEConfig(data_shape=[1, 8, 8], channels=4, latent_channels=2)
    )
    prior = build_prior(model, ClassifierConfig(hidden_dim=8))
    groups = [GroupLogNormalizer(k, m, 0.1, 0.05, 1.0, 16, 100) for k, m in ((0, -0.02), (1, -6.4))]
    [line] = ratio_warnings(prior, log_normalizer=LogNormalizer.from_groups(groups))
    assert line.startswith("log Z of group 1 is -6.40") and "--classifier.waymarks 3" in line
    assert "fitted_base" not in line and "VAE trained for longer" in line


def test_fit_accuracy_prefers_validation_figures():
    fit = {"train": {"acc0": 0.99}, "validation": {"acc0": 0.97, "loss": 0.1}}
    assert fit_accuracy(fit, {"acc0": 1.0}) == {0: 0.97}
    assert fit_accuracy({}, {"acc0": 0.995, "nce0": 0.02}) == {0: 0.995}


def test_the_report_shows_the_base_and_the_warnings():
    report = EvaluationReport(
        num_test=10,
        trained_groups=[0],
        log_normalizer=LogNormalizer(-1.3, 0.01),
        base="a full-covariance Gaussian fitted to the aggregate posterior",
        warnings=["log Z is -1.30 +- 0.01, far from 0"],
    )
    text = markdown_report(report)
    assert "Base prior: a full-covariance Gaussian" in text
    assert "## Warnings\n\n- log Z is -1.30" in text
    again = EvaluationReport.from_dict(report.to_dict())
    assert again.base == report.base and again.warnings == report.warnings
