"""One evaluation of a fitted prior: test log-likelihood under both priors, log Z, SIR's ESS,
the prior hole as MMD^2 and, for images, FID per sampler and temperature (docs/method.md
section 2.4). :func:`evaluate` returns an :class:`EvaluationReport`; ``ncpvae evaluate`` writes
it as ``report.json``, ``report.md`` and ``report.png``."""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import torch

from ncpvae.config.evaluation import EvaluationSettings
from ncpvae.data import TensorData
from ncpvae.errors import ConfigError
from ncpvae.evaluation.classifier import classifier_fit
from ncpvae.evaluation.fid import FID
from ncpvae.evaluation.figures import MMDFigures, SIRFigures
from ncpvae.evaluation.likelihood import Plan, log_likelihoods, plan
from ncpvae.evaluation.likelihood_report import LikelihoodReport, PerExample
from ncpvae.evaluation.prior_hole import prior_hole
from ncpvae.evaluation.results import EvaluationReport
from ncpvae.evaluation.sample_quality import fid_reference, sample_quality
from ncpvae.evaluation.trust import fit_accuracy, ratio_warnings
from ncpvae.prior import LogNormalizer, Prior
from ncpvae.samplers import BasePriorSampler, build_sampler
from ncpvae.samplers.sir import collapse_threshold
from ncpvae.threads import auto_threads
from ncpvae.training import posterior_latents

__all__ = ["evaluate", "fit_log_normalizer", "check_trained", "likelihood_shard"]

MMD_SAMPLES = 2_000  # per side: the kernel matrix is (2n)^2


def check_trained(prior: Prior, name: str) -> list[int]:
    """The prior's trained groups; warns if some are not (a part of a group-parallel run that
    was not merged: those groups keep their base conditional)."""
    trained = prior.trained_groups
    if len(trained) < prior.num_groups:
        warnings.warn(
            f"the prior {name!r} trains only groups {trained} of {prior.num_groups}; the others "
            "keep their base conditional (r_k = 1). Merge the parts first: ncpvae merge-priors",
            RuntimeWarning,
            stacklevel=2,
        )
    return trained


def fit_log_normalizer(
    prior: Prior,
    data: TensorData,
    num_samples: int,
    seed: int,
    contexts: int = 256,
    progress: bool = False,
) -> LogNormalizer:
    """:meth:`Prior.estimate_log_normalizer <ncpvae.prior.Prior.estimate_log_normalizer>` as a
    run does it, reproducibly: ``num_samples`` draws seeded by ``seed``, at the posterior
    contexts of the first ``contexts`` examples of ``data`` where its Z_k have contexts; the
    estimate is stored in ``prior`` and returned."""
    device = prior.trained.device
    generator = torch.Generator(device).manual_seed(seed)
    x = data.batch(slice(0, contexts), torch.Generator().manual_seed(seed)).to(device)
    return prior.estimate_log_normalizer(
        num_samples, contexts=x, generator=generator, progress=progress
    )


def likelihood_shard(model, test: TensorData, settings: EvaluationSettings) -> tuple[Plan, range]:
    """How the likelihood batches ``test`` (the first ``settings.num_test``), and the examples
    whose likelihood this run computes: all, or its shard of whole batches; a one-line error for
    a shard that does not exist."""
    test = test.head(settings.num_test) if settings.num_test else test
    if settings.num_shards > 1 and not model.has_density:
        raise ConfigError("this model has no likelihood to shard (an RAE): drop --num_shards")
    batching = plan(model, test.shape, settings.importance_samples)
    try:
        return batching, batching.shard(len(test), settings.shard, settings.num_shards)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _per_example(
    prior: Prior,
    test: TensorData,
    settings: EvaluationSettings,
    shard: tuple[Plan, range],
    log_z: LogNormalizer,
    discrete: bool,
    progress: bool,
) -> PerExample:
    """Test log-likelihoods of this run's ``shard`` of ``test`` (see :func:`likelihood_shard`)
    under both priors, from one set of importance samples (bits per dimension where the model
    gives probabilities of discrete pixels)."""
    model = prior.model
    batching, examples = shard
    lls = log_likelihoods(
        model,
        test,
        {"vae": model.base_prior(), "ncp": prior},
        num_samples=settings.importance_samples,
        generator=torch.Generator().manual_seed(settings.seed + 3),
        examples=examples,
        progress=progress,
    )
    return PerExample(
        first=examples.start,
        vae=lls["vae"].tolist(),
        ncp=lls["ncp"].tolist(),
        importance_samples=settings.importance_samples,
        shared_log_normalizer_stderr=prior.shared_log_normalizer_stderr(),
        normalizer_bias_estimate=prior.normalizer_bias(log_z),
        group_normalizer_samples=prior.normalizer_samples if prior.per_sample_normalizers else None,
        discrete_dims=math.prod(test.shape) if discrete else None,
        examples_per_chunk=batching.examples_per_chunk,
    )


def _sir_and_prior_hole(
    prior: Prior,
    train: TensorData,
    test: TensorData,
    settings: EvaluationSettings,
    progress: bool,
) -> tuple[SIRFigures, MMDFigures]:
    """SIR's ESS over ``settings.sir_samples`` draws, and the prior hole as MMD^2 between
    aggregate-posterior latents of ``test`` and draws of the base prior, of SIR and, as the
    floor, of the aggregate posterior on ``train`` (from its own seed, leaving torch's global
    random stream as it was)."""
    model = prior.model
    generator = torch.Generator(model.device).manual_seed(settings.seed + 2)
    sampled = prior.sample(
        settings.sir_samples, build_sampler("sir", settings, progress), generator=generator
    )
    sir = SIRFigures.of(sampled.ess, settings.sir.num_proposals, settings.sir_samples)
    n = min(len(sampled.latents), len(test), MMD_SAMPLES)
    if n < 2:
        return sir, MMDFigures(samples=n)
    base = BasePriorSampler().sample(prior, n, generator=generator).latents
    posterior = posterior_latents(model, test, n)
    with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
        torch.manual_seed(settings.seed + 4)
        floor = posterior_latents(model, train, n)
    sets = {"base": base, "ncp": sampled.latents[:n], "train": floor}
    hole = prior_hole(prior, posterior, sets)
    return sir, MMDFigures.from_dict({"mmd_samples": n, **hole})


@auto_threads()
def evaluate(
    prior: Prior,
    train: TensorData,
    test: TensorData,
    settings: EvaluationSettings,
    *,
    validation: TensorData | None = None,
    fid: FID | None = None,
    grids: Path | None = None,
    discrete: bool = False,
    progress: bool = False,
) -> EvaluationReport:
    """Evaluate ``prior`` (with its VAE, ``prior.model``) on ``test``: everything in
    :class:`EvaluationReport`, each part from its own seed (``settings.seed`` + i). FID, with a
    ``fid`` scorer, against ``train`` images; sample grids into ``grids``. With the sample
    figures (SIR, the prior hole), the classifiers' fit on ``train`` and ``validation`` data
    (``{}`` without them); and the warnings of :func:`~ncpvae.evaluation.trust.ratio_warnings`.
    ``discrete``: the model gives probabilities of discrete pixels, so bits per dimension are
    reported too. Like the CLI, it seeds torch's global generator with ``settings.seed`` and sets
    ``prior.normalizer_samples`` to ``settings.group_normalizer_samples``."""
    model = prior.model
    if model is None:
        raise ConfigError("evaluate needs a prior with its VAE (prior.model): build it on one")
    test = test.head(settings.num_test) if settings.num_test else test
    shard = likelihood_shard(model, test, settings)  # refuses a missing shard before long work
    torch.manual_seed(settings.seed)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    prior.normalizer_samples = settings.group_normalizer_samples
    log_z = fit_log_normalizer(
        prior,
        test,
        settings.log_normalizer_samples,
        settings.seed + 1,
        contexts=settings.group_normalizer_contexts,
        progress=progress,
    )
    seconds["log_normalizer"] = time.perf_counter() - start
    likelihood, per_example = None, None
    if model.has_density:
        tick = time.perf_counter()
        per_example = _per_example(prior, test, settings, shard, log_z, discrete, progress)
        likelihood = LikelihoodReport.of(per_example)
        seconds["likelihood"] = time.perf_counter() - tick
    sir, mmd, quality = None, None, None
    if settings.samples_figures:
        tick = time.perf_counter()
        sir, mmd = _sir_and_prior_hole(prior, train, test, settings, progress)
        seconds["sir_and_mmd"] = time.perf_counter() - tick
        if fid is not None:
            tick = time.perf_counter()
            reference = settings.fid_reference_samples or settings.fid_samples
            fid_reference(fid, train, reference, settings.fid_cache)
            quality = sample_quality(prior, fid, settings, grids, progress)
            seconds["fid"] = time.perf_counter() - tick
    fit = classifier_fit(prior, train, validation, seed=settings.seed) if sir else None
    doubts = ratio_warnings(
        prior,
        log_normalizer=log_z,
        accuracy=fit_accuracy(fit, {}),
        sir=sir,
        sir_threshold=collapse_threshold(settings.sir),
    )
    seconds["total"] = time.perf_counter() - start
    sharded = settings.num_shards > 1 and per_example is not None
    return EvaluationReport(
        num_test=len(test) if per_example is None else len(per_example.vae),
        trained_groups=prior.trained_groups,
        log_normalizer=log_z,
        sir=sir,
        mmd=mmd,
        likelihood=likelihood,
        fid=quality,
        seconds=seconds,
        per_example=per_example,
        shard=(settings.shard, settings.num_shards),
        shard_examples=[per_example.first, per_example.first + len(per_example.vae)]
        if sharded
        else None,
        classifier_fit=fit,
        base=prior.base_description,
        warnings=doubts,
    )
