"""``ncpvae demo``: the 25-Gaussians benchmark end to end (docs/method.md section 3): both
stages, evaluation, and a figure of SIR and Langevin samples beside the data."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from ncpvae.cli import evaluate, train_prior, train_vae
from ncpvae.cli.results import DemoResult
from ncpvae.cli.summary import took, wrote
from ncpvae.config import DemoConfig
from ncpvae.data import load_data
from ncpvae.evaluation.plotting import gaussians25_figure
from ncpvae.files import write_json
from ncpvae.models import build_model
from ncpvae.runs import claim_run_dir, fit_model_to_data, load_prior, load_run, resolve_device
from ncpvae.samplers import build_sampler, decode
from ncpvae.training import posterior_latents

__all__ = ["run", "describe", "thread_probe"]


def run(
    cfg: DemoConfig, out: str | Path, progress: bool = True, overwrite: bool = False
) -> DemoResult:
    """Run the demo into ``out``: ``vae/``, ``prior/``, ``evaluate/``, ``report.json`` and
    ``figure.png``."""
    start = time.perf_counter()
    out = claim_run_dir(out, overwrite)
    vae_summary = train_vae.run(cfg.vae, out / "vae", progress, overwrite=overwrite)
    cfg.prior.vae = str(out / "vae")
    prior_summary = train_prior.run(cfg.prior, out / "prior", progress, overwrite=overwrite)
    cfg.evaluate.prior = cfg.sample.prior = str(out / "prior")
    report = evaluate.run(cfg.evaluate, out / "evaluate", progress, overwrite)

    prior = load_prior(out / "prior", resolve_device(cfg.sample.device))
    test = load_data(load_run(out / "vae", expect="vae").data).test
    generator = torch.Generator(prior.model.device).manual_seed(cfg.sample.seed)
    n = cfg.sample.num_samples
    panels = {
        "VAE, N(0, I) prior": "base",
        f"NCP, SIR (M={cfg.sample.sir.num_proposals})": "sir",
        f"NCP, Langevin ({cfg.sample.langevin.num_steps} steps)": "langevin",
    }
    decoded = {}
    for name, sampler_name in panels.items():
        sampler = build_sampler(sampler_name, cfg.sample, progress)
        latents = prior.sample(n, sampler, generator=generator).latents
        decoded[name] = decode(prior.model, latents, generator)[0].cpu()
    latents = posterior_latents(prior.model, test, min(n, len(test)))
    gaussians25_figure(test.values[:n], decoded, prior, latents.cpu(), out / "figure.png")

    result = DemoResult(
        report=report,
        vae_train_seconds=vae_summary.seconds,
        prior_train_seconds=prior_summary.training.seconds,
        vae_steps=cfg.vae.train.steps,
        prior_steps=cfg.prior.train.steps,
        seconds=time.perf_counter() - start,
        threads=torch.get_num_threads(),
    )
    write_json(out / "report.json", result.to_dict())
    return result


def thread_probe(cfg: DemoConfig) -> Callable[[], None] | None:
    """One training step of the demo's VAE (forward and backward at its batch size, on a
    throwaway model; the random streams are left as they were), for ``--threads auto`` to time
    at one thread and at all the cores; None on a GPU, where the CPU threads do not matter."""
    if resolve_device(cfg.vae.device).type != "cpu":
        return None
    with torch.random.fork_rng(devices=[]):
        train = load_data(cfg.vae.data).train
        model = build_model(fit_model_to_data(train, cfg.vae.model))
        batch = train.batch(slice(0, cfg.vae.train.batch_size))

    def step() -> None:
        with torch.random.fork_rng(devices=[]):
            model(batch).loss.backward()
        model.zero_grad(set_to_none=True)

    return step


def describe(result: DemoResult, out: Path) -> str:
    """The lines a person reads at the end: the benchmark's figures, wall time, files."""
    ll, report, threads = result.report.likelihood, result.report, result.threads
    assert ll is not None and report.sir is not None  # the demo's VAE has a density
    return "\n".join(
        [
            f"demo: 25 Gaussians, test log-likelihood VAE {ll.vae_log_likelihood:.3f}, "
            f"NCP {ll.ncp_log_likelihood:.3f} nats (gain {ll.ncp_gain:.2f}; the "
            "paper: -2.753 and -0.954)",
            f"  log Z {report.log_normalizer.value:+.4f}; mean SIR ESS "
            f"{report.sir.smallest_group_ess:.1f} of {report.sir.proposals}; took "
            + took(result.seconds, f"{threads} CPU thread{'s' if threads > 1 else ''}"),
            wrote(out),
        ]
    )
