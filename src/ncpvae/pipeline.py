"""The CLI verbs as functions: each takes a run config and an output folder, writes its files
there and returns a summary. Every file is written atomically once the work is done, the weights
before ``config.json``, so an interrupted run never leaves a folder whose config and weights
disagree, nor a half-written file in place of a finished one.

    train-vae   -> config.json, model.safetensors, history.json
    train-prior -> config.json, prior.safetensors (classifier(s) + log Z), history.json
    merge-priors -> config.json, prior.safetensors, history.json (the parts' summaries)
    sample      -> config.json, samples.npy (data space), latents.npy, summary.json[, samples.png]
    evaluate    -> config.json, report.json, report.md, report.png[, samples_<sampler>_t<T>.png]
    demo        -> vae/, prior/, evaluate/, report.json, figure.png
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from ncpvae import distributed
from ncpvae.checkpoint import load_weights, make_run_dir, save_array, save_weights, write_json
from ncpvae.config import (
    ClassifierConfig,
    DemoConfig,
    EvaluateConfig,
    MergeConfig,
    PriorRunConfig,
    SampleConfig,
    VAERunConfig,
    load_config,
    save_config,
    to_dict,
)
from ncpvae.data import TensorData, load_data
from ncpvae.distributions import sample
from ncpvae.errors import CheckpointError, ConfigError, DataError, SamplingError
from ncpvae.evaluation import bits_per_dim, log_likelihoods, prior_hole
from ncpvae.fid import FID, InceptionFeatures, reference_cache_name
from ncpvae.hierarchical_prior import HierarchicalNCPPrior, merge_priors
from ncpvae.likelihoods import DISCRETE
from ncpvae.models import MODELS, HierarchicalLatentModel, LatentVariableModel, ModelConfig
from ncpvae.nets import ResidualConvClassifier, ResidualMLPClassifier
from ncpvae.prior import NCPPrior
from ncpvae.report import write_report
from ncpvae.samplers import BasePriorSampler, HMCSampler, LangevinSampler, Sampler, SIRSampler
from ncpvae.stages import freeze, posterior_latents, train_prior, train_vae
from ncpvae.training import Checkpointing, TrainHistory

__all__ = [
    "resolve_device",
    "build_prior",
    "load_vae_run",
    "load_prior_run",
    "run_train_vae",
    "run_train_prior",
    "run_merge_priors",
    "run_sample",
    "run_evaluate",
    "set_fid_reference",
    "run_demo",
    "SAMPLERS",
]

SAMPLERS: dict[str, Any] = {
    "base": lambda cfg: BasePriorSampler(),
    "sir": lambda cfg: SIRSampler(num_proposals=cfg.sir_proposals),
    "langevin": lambda cfg: LangevinSampler(cfg.langevin_steps, cfg.langevin_step_size),
    "hmc": lambda cfg: HMCSampler(
        cfg.hmc_steps,
        cfg.hmc_warmup,
        cfg.hmc_leapfrog_steps,
        target_acceptance=cfg.hmc_target_acceptance,
    ),
}


Prior = NCPPrior | HierarchicalNCPPrior

MMD_SAMPLES = 2_000  # per side: the kernel matrix is (2n)^2
GRID_IMAGES = 100  # images in a sample grid (10 x 10)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when present, else cpu; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for but no GPU is visible; use --device auto")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"no {device}: {torch.cuda.device_count()} GPU(s) are visible")
    return device


def build_prior(model: LatentVariableModel, cfg: ClassifierConfig) -> Prior:
    """An NCP prior on ``model``'s base prior with fresh classifiers: a residual MLP for a flat
    model, one convolutional residual classifier f_k(z_k, c_k) per group for a hierarchical one."""
    options = dict(batch_norm=cfg.batch_norm, squeeze_excitation=cfg.squeeze_excitation)
    if isinstance(model, HierarchicalLatentModel):
        classifiers = [
            ResidualConvClassifier(z[0], c[0], cfg.hidden_dim, cfg.num_blocks, **options)
            for z, c in zip(model.group_shapes, model.context_shapes, strict=True)
        ]
        return HierarchicalNCPPrior(model, classifiers).to(model.device)
    classifier = ResidualMLPClassifier(
        math.prod(model.latent_shape), cfg.hidden_dim, cfg.num_blocks, **options
    ).to(model.device)
    return NCPPrior(model.prior(), classifier)


def build_model(cfg: ModelConfig) -> LatentVariableModel:
    """The model of ``cfg.kind`` (``data_shape`` must be set)."""
    return MODELS[cfg.kind][1](cfg)


def _fit_model_to_data(data: TensorData, cfg: ModelConfig) -> ModelConfig:
    """``cfg`` with ``data_shape`` taken from the data if empty; refuses data that do not fit."""
    shape = list(data.shape)
    if not cfg.data_shape:
        cfg = dataclasses.replace(cfg, data_shape=shape)
    if cfg.data_shape != shape:
        raise DataError(
            f"the data have examples of shape {shape} but model.data_shape is {cfg.data_shape}; "
            f"set --model.data_shape {','.join(map(str, shape))} (or leave it empty)"
        )
    if cfg.likelihood == "bernoulli" and not data.binarize:
        values = data.batch(slice(0, 10_000))
        if not ((values == 0) | (values == 1)).all():
            raise DataError(
                "model.likelihood bernoulli needs binary data: set --data.binarize true "
                "(dynamic binarization) or choose another likelihood"
            )
    return cfg


# ------------------------------------------------------------------------------ stage 1


CHECKPOINT = "checkpoint.pt"


def checkpointing_for(cfg: VAERunConfig | PriorRunConfig, out: Path, resume: bool) -> Checkpointing:
    """The checkpoint of a training run in ``out``: refuses to start over an unfinished run's
    checkpoint (one without the ``config.json`` a finished run writes last) unless resuming.
    A checkpoint belongs to the run config, less the settings that may change on resumption."""
    path = out / CHECKPOINT
    if path.is_file() and not (out / "config.json").is_file() and not resume:
        raise CheckpointError(
            f"{str(out)!r} holds the checkpoint of an unfinished run; pass --resume to continue "
            "that run, or choose another --out"
        )
    if not resume and distributed.is_main():
        # a new run over a finished one: drop its marker and checkpoint first, so that a crash
        # leaves an unfinished folder, never new weights beside the old config
        for stale in ("config.json", CHECKPOINT):
            (out / stale).unlink(missing_ok=True)
    identity = to_dict(cfg)
    # what may change between a run and its resumption: where it runs, how often it saves,
    # whether NaN steps are skipped, and stage 2's log Z sample count (used after training)
    for key in ("device", "checkpoint_every", "log_normalizer_samples"):
        identity.pop(key, None)
    identity["train"].pop("skip_nonfinite", None)
    if identity.get("data", {}).get("path"):
        identity["data"]["path"] = str(Path(identity["data"]["path"]).resolve())
    return Checkpointing(path, cfg.checkpoint_every, resume, identity=identity)


def _training_summary(history: TrainHistory) -> dict[str, Any]:
    """What a training stage reports: wall time, skipped steps, process count, final metrics."""
    return {
        "seconds": history.seconds,
        "skipped_steps": history.skipped_steps,
        "processes": distributed.world_size(),
        **history.metrics,
    }


def run_train_vae(
    cfg: VAERunConfig, out: str | Path, progress: bool = True, resume: bool = False
) -> dict[str, Any]:
    """``ncpvae train-vae``: stage 1 on the configured data; returns the final ELBO parts. Saves
    ``checkpoint.pt`` every ``cfg.checkpoint_every`` steps; ``resume`` continues from it."""
    device = distributed.setup(resolve_device(cfg.device))
    train_data, _ = load_data(cfg.data)
    cfg = dataclasses.replace(cfg, model=_fit_model_to_data(train_data, cfg.model))
    out = make_run_dir(out)
    checkpointing = checkpointing_for(cfg, out, resume)
    torch.manual_seed(cfg.train.seed)
    model = distributed.sync_batch_norm(build_model(cfg.model).to(device))
    generator = torch.Generator().manual_seed(cfg.train.seed)
    history = train_vae(
        model,
        train_data,
        cfg.train,
        kl_warmup_fraction=cfg.kl_warmup_fraction,
        progress=progress,
        generator=generator,
        checkpointing=checkpointing,
    )
    summary = _training_summary(history)
    if distributed.is_main():
        save_weights(model, out / "model.safetensors")
        save_config(cfg, out / "config.json")
        history_file = {**summary, "steps": history.steps, "loss": history.losses}
        write_json(out / "history.json", history_file)
    return summary


def load_vae_run(
    path: str | Path, device: torch.device
) -> tuple[LatentVariableModel, VAERunConfig]:
    """The frozen VAE of a ``train-vae`` run folder."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise CheckpointError(
            f"{str(path)!r} is not a train-vae run folder (no config.json); run ncpvae train-vae"
        )
    cfg = load_config(VAERunConfig, path / "config.json")
    model = build_model(cfg.model)
    load_weights(model, path / "model.safetensors")
    return freeze(model.to(device)), cfg


# ------------------------------------------------------------------------------ stage 2


def run_train_prior(
    cfg: PriorRunConfig, out: str | Path, progress: bool = True, resume: bool = False
) -> dict[str, Any]:
    """``ncpvae train-prior``: stage 2 on the frozen VAE of ``cfg.vae``, then log Z. Saves
    ``checkpoint.pt`` every ``cfg.checkpoint_every`` steps; ``resume`` continues from it."""
    device = distributed.setup(resolve_device(cfg.device))
    model, vae_cfg = load_vae_run(cfg.vae, device)
    torch.manual_seed(cfg.train.seed)
    prior = build_prior(model, cfg.classifier)
    if isinstance(prior, HierarchicalNCPPrior):
        try:
            prior.check_groups(cfg.groups)
        except ValueError as err:
            raise ConfigError(str(err)) from None
    elif cfg.groups:
        raise ConfigError("groups selects latent groups of a hierarchical VAE; this one has one")
    train_data, _ = load_data(vae_cfg.data)
    out = make_run_dir(out)
    # record the VAE folder as an absolute path, so the prior folder works from any directory
    cfg = dataclasses.replace(cfg, vae=str(Path(cfg.vae).resolve()))
    checkpointing = checkpointing_for(cfg, out, resume)
    prior = distributed.sync_batch_norm(prior)
    generator = torch.Generator().manual_seed(cfg.train.seed)
    history = train_prior(
        prior,
        model,
        train_data,
        cfg.train,
        groups=cfg.groups,
        progress=progress,
        generator=generator,
        checkpointing=checkpointing,
    )
    summary = _training_summary(history)
    if not distributed.is_main():  # log Z and the files: rank 0's work
        return summary
    summary.update(
        _log_normalizer_summary(
            prior, train_data, cfg.log_normalizer_samples, cfg.train.seed, progress=progress
        )
    )
    save_weights(prior, out / "prior.safetensors")
    save_config(cfg, out / "config.json")
    write_json(out / "history.json", {**summary, "steps": history.steps, "loss": history.losses})
    return summary


def _log_normalizer_summary(
    prior: Prior,
    data: TensorData,
    num_samples: int,
    seed: int,
    contexts: int = 256,
    progress: bool = False,
) -> dict[str, Any]:
    """Estimate log Z: one number for a flat prior (stored in it), and for a hierarchical one the
    mean of log Z_k(z_<k) over posterior contexts of ``contexts`` examples, per trained group."""
    device = next(prior.buffers()).device
    generator = torch.Generator(device).manual_seed(seed)
    if isinstance(prior, HierarchicalNCPPrior):
        x = data.batch(slice(0, contexts), torch.Generator().manual_seed(seed)).to(device)
        estimates = prior.estimate_log_normalizers(x, max(1, num_samples // len(x)), generator)
        return {
            "log_normalizer_groups": [
                {"group": k, **dataclasses.asdict(e)}
                for k, e in enumerate(estimates)
                if k in prior.trained_groups
            ]
        }
    estimate = prior.estimate_log_normalizer(num_samples, generator=generator, progress=progress)
    return {
        "log_normalizer": estimate.value,
        "log_normalizer_stderr": estimate.stderr,
        "log_normalizer_samples": estimate.num_samples,
    }


def load_prior_run(
    path: str | Path, device: torch.device
) -> tuple[NCPPrior, LatentVariableModel, PriorRunConfig, VAERunConfig]:
    """The NCP prior of a ``train-prior`` run folder and the frozen VAE it was fitted on."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise CheckpointError(
            f"{str(path)!r} is not a train-prior run folder (no config.json); run ncpvae "
            "train-prior"
        )
    cfg = load_config(PriorRunConfig, path / "config.json")
    model, vae_cfg = load_vae_run(cfg.vae, device)
    prior = build_prior(model, cfg.classifier)
    load_weights(prior, path / "prior.safetensors", device)
    prior.eval().requires_grad_(False)
    return prior, model, cfg, vae_cfg


def run_merge_priors(cfg: MergeConfig, out: str | Path, progress: bool = True) -> dict[str, Any]:
    """``ncpvae merge-priors``: one prior from train-prior runs of the same hierarchical VAE and
    classifier config that trained disjoint groups (one run per worker)."""
    if not cfg.priors:
        raise ConfigError("name the train-prior run folders to merge: --priors runs/a,runs/b")
    device = resolve_device(cfg.device)
    parts = [load_prior_run(path, device) for path in cfg.priors]
    first = parts[0][2]
    for path, (prior, _, part_cfg, _) in zip(cfg.priors, parts, strict=True):
        if not isinstance(prior, HierarchicalNCPPrior):
            raise ConfigError(f"{path!r} is the prior of a flat VAE: there are no groups to merge")
        if part_cfg.vae != first.vae or part_cfg.classifier != first.classifier:
            raise ConfigError(
                f"{path!r} was trained on another VAE or classifier config than "
                f"{cfg.priors[0]!r}; merge only runs of one VAE with one classifier config"
            )
    if any(Path(out).resolve() == Path(path).resolve() for path in cfg.priors):
        raise ConfigError(f"--out {str(out)!r} is one of the priors to merge; choose a new folder")
    try:
        merged = merge_priors([part[0] for part in parts])
    except ValueError as err:
        raise ConfigError(str(err)) from None
    out = make_run_dir(out)
    save_weights(merged, out / "prior.safetensors")
    save_config(dataclasses.replace(first, groups=[]), out / "config.json")
    histories = [_read_json(Path(path) / "history.json") for path in cfg.priors]
    summary = {
        "merged": list(cfg.priors),
        "groups": [part[2].groups for part in parts],
        "seconds": [h.get("seconds") for h in histories],
    }
    write_json(out / "history.json", {**summary, "parts": histories})
    return summary


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


# ------------------------------------------------------------------------------ sampling


def with_progress(sampler: Sampler, progress: bool) -> Sampler:
    """``sampler`` with its progress bars switched on or off."""
    sampler.progress = progress
    return sampler


def _sampler(cfg: SampleConfig) -> Sampler:
    if cfg.sampler not in SAMPLERS:
        raise ConfigError(f"unknown sampler {cfg.sampler!r}; choose one of {sorted(SAMPLERS)}")
    return SAMPLERS[cfg.sampler](cfg)


def decode(
    model: LatentVariableModel,
    z: torch.Tensor,
    generator: torch.Generator,
    batch_size: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x ~ p(x | z), the mean of p(x | z)) for each latent row, decoded in batches; refuses
    non-finite latents (a diverged sampler)."""
    if not torch.isfinite(z).all():
        raise SamplingError(
            "the sampler produced NaN or infinite latents (it diverged); lower the step size "
            "(--langevin_step_size) or use --sampler sir"
        )
    draws, means = [], []
    with torch.no_grad():
        for start in range(0, z.shape[0], batch_size):
            likelihood = model.likelihood(z[start : start + batch_size])
            draws.append(sample(likelihood, (), generator))
            means.append(likelihood.mean)
    return torch.cat(draws), torch.cat(means)


def _untrained_groups(prior: Prior, path: str) -> dict[str, Any]:
    """For a hierarchical prior, its trained groups; warns if some are not (a part of a
    group-parallel run that was not merged: those groups keep their base conditional)."""
    if not isinstance(prior, HierarchicalNCPPrior):
        return {}
    trained = prior.trained_groups
    if len(trained) < prior.num_groups:
        warnings.warn(
            f"the prior {path!r} trains only groups {trained} of {prior.num_groups}; the others "
            "keep their base conditional (r_k = 1). Merge the parts first: ncpvae merge-priors",
            RuntimeWarning,
            stacklevel=2,
        )
    return {"trained_groups": trained}


def _ess_summary(ess: torch.Tensor) -> dict[str, Any]:
    """The mean SIR ESS, and per group for a hierarchical prior (ESS of shape (N, K))."""
    if ess.dim() == 2:
        per_group = ess.mean(0)
        return {"sir_ess_mean": float(per_group.min()), "sir_ess_groups": per_group.tolist()}
    return {"sir_ess_mean": float(ess.mean())}


def run_sample(cfg: SampleConfig, out: str | Path, progress: bool = True) -> dict[str, Any]:
    """``ncpvae sample``: latents from the chosen sampler, decoded to data space."""
    device = resolve_device(cfg.device)
    sampler = with_progress(_sampler(cfg), progress)
    prior, model, _, _ = load_prior_run(cfg.prior, device)
    groups = _untrained_groups(prior, cfg.prior)
    out = make_run_dir(out)
    generator = torch.Generator(device).manual_seed(cfg.seed)
    start = time.perf_counter()
    result = prior.sample(
        cfg.num_samples, sampler, temperature=cfg.temperature, generator=generator
    )
    x, x_mean = decode(model, result.samples, generator)
    seconds = time.perf_counter() - start
    save_array(out / "latents.npy", result.samples)
    save_array(out / "samples.npy", x)
    save_config(cfg, out / "config.json")
    summary: dict[str, Any] = {
        "sampler": cfg.sampler,
        "num_samples": cfg.num_samples,
        "temperature": cfg.temperature,
        "seconds": seconds,
        **groups,
    }
    if result.ess is not None:
        summary.update(_ess_summary(result.ess))
        summary["sir_proposals"] = cfg.sir_proposals
    if result.acceptance_rate is not None:
        summary["acceptance_rate"] = result.acceptance_rate
    if x.ndim == 4 and x.shape[1] in (1, 3):  # grey or RGB images: a grid of the decoder means
        from ncpvae.plotting import image_grid

        image_grid(x_mean[:GRID_IMAGES].cpu(), out / "samples.png")
    elif x.shape[1] == 2:
        from ncpvae.plotting import scatter

        scatter(x.cpu(), out / "samples.png", f"{cfg.sampler} samples (t={cfg.temperature})")
    write_json(out / "summary.json", summary)
    return summary


# ------------------------------------------------------------------------------ evaluation


def _stderr_of_mean(values: torch.Tensor) -> float:
    return float(values.std() / math.sqrt(len(values))) if len(values) > 1 else 0.0


def _likelihood_report(
    model: LatentVariableModel,
    prior: Prior,
    test: TensorData,
    cfg: EvaluateConfig,
    likelihood: str,
    progress: bool,
) -> dict[str, Any]:
    """Test log-likelihood under both priors from one set of importance samples (and bits per
    dimension when ``likelihood`` gives probabilities of discrete pixels)."""
    start = time.perf_counter()
    lls = log_likelihoods(
        model,
        test,
        {"vae": model.prior(), "ncp": prior},
        num_samples=cfg.importance_samples,
        generator=torch.Generator().manual_seed(cfg.seed + 3),
        progress=progress,
    )
    # a flat prior's single log Z shifts every example alike: its error adds to that of the
    # mean; a hierarchical prior's per-sample Z_k estimates are inside the per-example values
    log_z_stderr = float(prior.log_normalizer_stderr) if isinstance(prior, NCPPrior) else 0.0
    report: dict[str, Any] = {
        "vae_log_likelihood": float(lls["vae"].mean()),
        "vae_log_likelihood_stderr": _stderr_of_mean(lls["vae"]),
        "ncp_log_likelihood": float(lls["ncp"].mean()),
        # log Z shifts every example alike: its error adds to that of the mean
        "ncp_log_likelihood_stderr": math.hypot(_stderr_of_mean(lls["ncp"]), log_z_stderr),
        # paired: the same importance samples for both priors
        "ncp_gain": float((lls["ncp"] - lls["vae"]).mean()),
        "ncp_gain_stderr": math.hypot(_stderr_of_mean(lls["ncp"] - lls["vae"]), log_z_stderr),
    }
    if isinstance(prior, HierarchicalNCPPrior):
        report["group_normalizer_samples"] = prior.normalizer_samples
    if likelihood in DISCRETE:  # probabilities of discrete pixels: also bits per dimension
        dims = math.prod(test.shape)
        for name in ("vae", "ncp"):
            report[f"{name}_bits_per_dim"] = bits_per_dim(report[f"{name}_log_likelihood"], dims)
    report["importance_samples"] = cfg.importance_samples
    report["likelihood_seconds"] = time.perf_counter() - start
    return report


def _prior_hole(
    model: LatentVariableModel,
    prior: Prior,
    test: TensorData,
    ncp_samples: torch.Tensor,
    generator: torch.Generator,
) -> dict[str, Any]:
    """MMD^2 between aggregate-posterior latents (of test examples) and samples of the base and
    the NCP prior: the prior hole, measured, and how much of it NCP closed; per latent group for
    a hierarchical model (each group's marginal)."""
    n = min(len(ncp_samples), len(test), MMD_SAMPLES)
    if n < 2:
        return {"mmd_samples": n, "mmd2_posterior_base": None, "mmd2_posterior_ncp": None}
    samples = {
        "base": BasePriorSampler().sample(prior, n, generator=generator).samples,
        "ncp": ncp_samples[:n],
    }
    posterior = posterior_latents(model, test, n)()
    return {"mmd_samples": n, **prior_hole(model, posterior, samples)}


def set_fid_reference(fid: FID, train: TensorData, num: int, cache_dir: str = "") -> dict[str, Any]:
    """Give ``fid`` the reference statistics of the first ``num`` training images (pixel
    intensities, never binarized), from the cache in ``cache_dir`` when it has them."""
    images = dataclasses.replace(train, binarize=False)
    n = min(num, len(images))
    cache = None
    if cache_dir:
        cache = Path(cache_dir) / reference_cache_name(images.values[:n], fid.extractor_id)
    fid.set_reference(images.batch, num=n, cache=cache)
    return {"fid_reference": "train", "fid_reference_samples": fid.num_reference}


def _sample_quality(
    model: LatentVariableModel,
    prior: Prior,
    fid: FID,
    cfg: EvaluateConfig,
    out: Path,
    progress: bool,
) -> list[dict[str, Any]]:
    """For each sampler at each temperature: ``cfg.fid_samples`` images (decoder means), their
    FID against the reference, seconds per sample, ESS or acceptance rate, and a sample grid."""
    from ncpvae.plotting import image_grid

    rows = []
    for temperature in cfg.temperatures:
        for name in cfg.samplers:
            generator = torch.Generator(model.device).manual_seed(cfg.seed + 5)
            start = time.perf_counter()
            result = prior.sample(
                cfg.fid_samples,
                with_progress(SAMPLERS[name](cfg), progress),
                temperature=temperature,
                generator=generator,
            )
            _, images = decode(model, result.samples, generator)
            seconds = time.perf_counter() - start
            row: dict[str, Any] = {
                "sampler": name,
                "temperature": temperature,
                "fid": fid(images),
                "fid_samples": len(images),
                "seconds_per_sample": seconds / len(images),
            }
            if result.ess is not None:
                row.update(_ess_summary(result.ess), sir_proposals=cfg.sir_proposals)
            if result.acceptance_rate is not None:
                row["acceptance_rate"] = result.acceptance_rate
            image_grid(images[:GRID_IMAGES].cpu(), out / f"samples_{name}_t{temperature:g}.png")
            rows.append(row)
    return rows


def _check_fid_request(
    cfg: EvaluateConfig, test: TensorData, device: torch.device, progress: bool
) -> FID | None:
    """The FID scorer if FID was asked for, refusing non-image data and unknown samplers before
    any long work starts."""
    unknown = sorted(set(cfg.samplers) - set(SAMPLERS))
    if unknown:
        raise ConfigError(f"unknown sampler(s) {unknown}; choose from {sorted(SAMPLERS)}")
    if cfg.fid_samples == 0:
        return None
    if len(test.shape) != 3 or test.shape[0] not in (1, 3):
        raise ConfigError(
            f"FID needs grey or RGB images, and these data have shape {test.shape}; "
            "set --fid_samples 0"
        )
    return FID(InceptionFeatures(cfg.fid_weights), device, cfg.fid_batch_size, progress)


def run_evaluate(cfg: EvaluateConfig, out: str | Path, progress: bool = True) -> dict[str, Any]:
    """``ncpvae evaluate``: one report, ``report.json`` (machines), ``report.md`` (people) and
    ``report.png`` (plots), with the test log-likelihood (nats, importance-weighted; bits per
    dimension for pixels) under the base and the NCP prior, log Z with its standard error, the
    SIR ESS and the MMD^2 of aggregate-posterior latents to each prior's samples (per group for a
    hierarchical VAE), FID per sampler and temperature when asked for, and wall times."""
    device = resolve_device(cfg.device)
    prior, model, _, vae_cfg = load_prior_run(cfg.prior, device)
    groups = _untrained_groups(prior, cfg.prior)
    train, test = load_data(vae_cfg.data)
    test = test.head(cfg.num_test)
    fid = _check_fid_request(cfg, test, device, progress)
    out = make_run_dir(out)
    torch.manual_seed(cfg.seed)
    start = time.perf_counter()
    seconds: dict[str, float] = {}
    if isinstance(prior, HierarchicalNCPPrior):
        prior.normalizer_samples = cfg.group_normalizer_samples
    log_z = _log_normalizer_summary(
        prior,
        test,
        cfg.log_normalizer_samples,
        cfg.seed + 1,
        contexts=cfg.group_normalizer_contexts,
        progress=progress,
    )
    seconds["log_normalizer"] = time.perf_counter() - start
    report: dict[str, Any] = {"prior": str(cfg.prior), "num_test": len(test), **groups}
    if model.has_density:
        report.update(
            _likelihood_report(model, prior, test, cfg, vae_cfg.model.likelihood, progress)
        )
        seconds["likelihood"] = report.pop("likelihood_seconds")
    if "log_normalizer_groups" in log_z and "ncp_log_likelihood" in report:
        # Jensen: each per-sample log Z_k from M draws is low by about Var(w)/(2 M E[w]^2), so
        # the NCP log-likelihood is high by about the sum over groups
        m = cfg.group_normalizer_samples
        bias = sum(g["relative_variance"] for g in log_z["log_normalizer_groups"]) / (2 * m)
        report["ncp_normalizer_bias_estimate"] = bias
    tick = time.perf_counter()
    generator = torch.Generator(device).manual_seed(cfg.seed + 2)
    sir_sampler = with_progress(SIRSampler(cfg.sir_proposals), progress)
    sir = prior.sample(cfg.sir_samples, sir_sampler, generator=generator)
    ess = _ess_summary(sir.ess)
    report.update(
        {
            **log_z,
            "sir_ess": ess.pop("sir_ess_mean"),
            **ess,
            "sir_proposals": cfg.sir_proposals,
            "sir_samples": cfg.sir_samples,
            **_prior_hole(model, prior, test, sir.samples, generator),
        }
    )
    seconds["sir_and_mmd"] = time.perf_counter() - tick
    if fid is not None:
        tick = time.perf_counter()
        report.update(set_fid_reference(fid, train, cfg.fid_samples, cfg.fid_cache))
        report["sample_quality"] = _sample_quality(model, prior, fid, cfg, out, progress)
        seconds["fid"] = time.perf_counter() - tick
    seconds["total"] = time.perf_counter() - start
    report["seconds"] = seconds
    save_config(cfg, out / "config.json")
    write_report(report, out)
    return report


# ------------------------------------------------------------------------------ demo


def run_demo(cfg: DemoConfig, out: str | Path, progress: bool = True) -> dict[str, Any]:
    """25 Gaussians end to end: both stages, SIR and Langevin samples, evaluation, figure."""
    from ncpvae.plotting import gaussians25_figure

    start = time.perf_counter()
    out = make_run_dir(out)
    vae_summary = run_train_vae(cfg.vae, out / "vae", progress)
    cfg.prior.vae = str(out / "vae")
    prior_summary = run_train_prior(cfg.prior, out / "prior", progress)
    cfg.evaluate.prior = cfg.sample.prior = str(out / "prior")
    report = run_evaluate(cfg.evaluate, out / "evaluate", progress)

    device = resolve_device(cfg.sample.device)
    prior, model, _, vae_cfg = load_prior_run(out / "prior", device)
    _, test = load_data(vae_cfg.data)
    generator = torch.Generator(device).manual_seed(cfg.sample.seed)
    n = cfg.sample.num_samples
    samples = {
        "VAE, N(0, I) prior": BasePriorSampler(),
        f"NCP, SIR (M={cfg.sample.sir_proposals})": SIRSampler(cfg.sample.sir_proposals),
        f"NCP, Langevin ({cfg.sample.langevin_steps} steps)": LangevinSampler(
            cfg.sample.langevin_steps, cfg.sample.langevin_step_size
        ),
    }
    decoded = {
        name: decode(
            model,
            prior.sample(n, with_progress(s, progress), generator=generator).samples,
            generator,
        )[0].cpu()
        for name, s in samples.items()
    }
    latents = posterior_latents(model, test, min(n, len(test)), generator=None)()
    gaussians25_figure(test.values[:n], decoded, prior, latents.cpu(), out / "figure.png")

    report.update(
        vae_train_seconds=vae_summary["seconds"],
        prior_train_seconds=prior_summary["seconds"],
        vae_steps=cfg.vae.train.steps,
        prior_steps=cfg.prior.train.steps,
        seconds=time.perf_counter() - start,
    )
    write_json(out / "report.json", report)
    return report
