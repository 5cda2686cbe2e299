"""Reproduce the MNIST table (README, "Results: MNIST") with the committed configs.

Stage 1 (the VAE on dynamically binarized MNIST), stage 2 (NCP) and the evaluation (test NLL
under both priors from the same importance samples, log Z, SIR's ESS), each from its file in
``configs/``, as ``bash scripts/mnist.sh`` runs them on the command line; then the table's
row as Markdown in ``OUT/table.md``. ``--model mlp`` is the Lawson et al. MLP VAE (whole test
set), ``--model hvae`` the NVAE-style hierarchical VAE (first 1,000 test digits).

    python examples/mnist_table.py --data ../shared/data/mnist               # about 1 hour
    python examples/mnist_table.py --data ../shared/data/mnist --model hvae  # about 2 hours
    python examples/mnist_table.py --data ../shared/data/mnist --quick       # a few minutes
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ncpvae.cli import evaluate, train_prior, train_vae
from ncpvae.config import (
    EvaluateConfig,
    PriorRunConfig,
    VAERunConfig,
    apply_overrides,
    load_config,
)
from ncpvae.evaluation import EvaluationReport

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
MODELS = {  # stage 1, stage 2 and evaluation configs
    "mlp": ("mnist_mlp_vae.json", "mnist_prior.json", "mnist_evaluate.json"),
    "hvae": ("mnist_hvae.json", "hvae_prior.json", "mnist_hvae_evaluate.json"),
}
QUICK = {  # the same pipeline in minutes: short stages, few test digits and samples
    "vae": {"train.steps": 300, "checkpoint_every": 0, "data.num_validation": 100},
    "prior": {"train.steps": 300, "log_normalizer_samples": 100_000, "checkpoint_every": 0},
    "evaluate": {
        "num_test": 100,
        "importance_samples": 100,
        "log_normalizer_samples": 100_000,
        "group_normalizer_samples": 10,
        "group_normalizer_contexts": 8,
        "sir_samples": 200,
        "sir.num_proposals": 500,
    },
}


def configs(
    args: argparse.Namespace, out: Path
) -> tuple[VAERunConfig, PriorRunConfig, EvaluateConfig]:
    """The three committed configs of ``args.model``, pointed at the data and run folders."""
    vae_file, prior_file, evaluate_file = (CONFIGS / name for name in MODELS[args.model])
    quick = QUICK if args.quick else {"vae": {}, "prior": {}, "evaluate": {}}
    vae = apply_overrides(
        load_config(VAERunConfig, vae_file),
        {"data.path": args.data, "device": args.device, **quick["vae"]},
    )
    prior = apply_overrides(
        load_config(PriorRunConfig, prior_file),
        {"vae": str(out / "vae"), "device": args.device, **quick["prior"]},
    )
    evaluate = apply_overrides(
        load_config(EvaluateConfig, evaluate_file),
        {"prior": str(out / "prior"), "device": args.device, **quick["evaluate"]},
    )
    return vae, prior, evaluate


def table(model: str, steps: str, report: EvaluationReport, seconds: str) -> str:
    """The README's MNIST table: a row in nats and one in bits per dimension."""
    r, log_z, sir = report.likelihood, report.log_normalizer, report.sir
    assert r is not None and sir is not None  # the MNIST VAEs have a density; SIR ran
    nll = f"{-r.vae_log_likelihood:.2f} +- {r.vae_log_likelihood_stderr:.2f}"
    ncp = f"**{-r.ncp_log_likelihood:.2f}** +- {r.ncp_log_likelihood_stderr:.2f}"
    if len(log_z.groups) == 1:
        normalizer = f"{log_z.value:.3f} +- {log_z.stderr:.3f}"
    else:  # hierarchical: log Z_k per group, means over test contexts
        normalizer = "per group " + ", ".join(f"{g.mean:+.4f}" for g in log_z.groups)
    return "\n".join(
        [
            f"| model (first {report.num_test} test digits) | steps | VAE, base prior | VAE + NCP "
            f"| gain (paired) | log Z (+- s.e.) | mean SIR ESS (of {sir.proposals}) "
            "| wall time |",
            "|---|---|---|---|---|---|---|---|",
            f"| {model} | {steps} | {nll} | {ncp} "
            f"| {r.ncp_gain:.2f} +- {r.ncp_gain_stderr:.2f} | {normalizer} "
            f"| {sir.smallest_group_ess:.1f} | {seconds} |",
            f"| the same, in bits per dimension | | {r.vae_bits_per_dim:.4f} "
            f"| **{r.ncp_bits_per_dim:.4f}** | | | | |",
        ]
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mnist", help="folder of MNIST IDX files")
    parser.add_argument("--model", choices=sorted(MODELS), default="mlp")
    parser.add_argument("--out", default=None, help="run folder (default: runs/mnist_MODEL)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="short runs, for a first look")
    args = parser.parse_args(argv)
    out = Path(args.out or f"runs/mnist_{args.model}")
    vae_cfg, prior_cfg, evaluate_cfg = configs(args, out)
    progress = not args.quick

    stage1 = train_vae.run(vae_cfg, out / "vae", progress)
    stage2 = train_prior.run(prior_cfg, out / "prior", progress)
    report = evaluate.run(evaluate_cfg, out / "evaluate", progress)

    steps = f"{vae_cfg.train.steps:,} / {prior_cfg.train.steps:,}"
    seconds = (
        f"stage 1 {stage1.seconds:.0f} s, stage 2 {stage2.training.seconds:.0f} s, "
        f"evaluation {report.seconds['total']:.0f} s"
    )
    text = table(args.model, steps, report, seconds)
    if report.likelihood is not None:
        bias = report.likelihood.ncp_normalizer_bias_estimate
        text += f"\n\nestimated Jensen bias of the per-sample Z_k: {bias:.3f} nats"
    (out / "table.md").write_text(text + "\n")
    print(text)
    return {"stage1": stage1, "stage2": stage2, "report": report, "table": text}


if __name__ == "__main__":
    main()
