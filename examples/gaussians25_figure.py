"""Reproduce the 25-Gaussians table (README, "Results: 25 Gaussians").

For each seed, the paper's debugging benchmark end to end (docs/method.md section 3), as
``ncpvae demo --config gaussians25_full`` runs it (10,000 steps per stage; ``--config demo``: the
faster defaults of ``ncpvae demo``): stage 1 (the VAE), stage 2 (the NCP classifier), the
evaluation (importance-weighted test log-likelihood under both priors, log Z, SIR's ESS) and
the figure (data, samples of the VAE's prior and of NCP by SIR and Langevin, log r over the
latent space, encoder samples of q(z)). Then the table's rows, as Markdown, in
``OUT/table.md``.

    python examples/gaussians25_figure.py                    # 3 seeds, about 5 minutes each
    python examples/gaussians25_figure.py --seeds 0 --quick  # 1,500 steps per stage, 30 s
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ncpvae.cli import demo
from ncpvae.cli.results import DemoResult
from ncpvae.config import DemoConfig, apply_overrides, load_config

QUICK = {  # small enough for a test, large enough that NCP still closes most of the hole
    "vae.train.steps": 1500,
    "prior.train.steps": 1500,
    "prior.log_normalizer_samples": 100_000,
    "vae.data.num_test": 300,
    "sample.num_samples": 300,
    "sample.sir.num_proposals": 500,
    "sample.langevin.num_steps": 100,
    "evaluate.importance_samples": 100,
    "evaluate.log_normalizer_samples": 100_000,
    "evaluate.sir.num_proposals": 500,
    "evaluate.sir_samples": 200,
}


def seeded(seed: int, quick: bool, config: str = "gaussians25_full") -> DemoConfig:
    """The demo config ``config`` (a file or a ready config; ``demo``: the defaults of ``ncpvae
    demo``) with every seed set to ``seed``."""
    overrides: dict[str, Any] = {
        "vae.train.seed": seed,
        "vae.data.seed": seed,
        "prior.train.seed": seed,
    }
    base = DemoConfig() if config == "demo" else load_config(DemoConfig, config)
    return apply_overrides(base, {**overrides, **(QUICK if quick else {})})


def table_row(seed: int, result: DemoResult) -> str:
    """One row of the README's table from a demo's result (its smallest group's mean SIR ESS is
    the one group's: the demo's prior is flat)."""
    ll, log_z, sir = result.report.likelihood, result.report.log_normalizer, result.report.sir
    assert ll is not None and sir is not None  # the demo's VAE has a density; SIR ran
    return (
        f"| seed {seed} | {ll.vae_log_likelihood:.3f} +- {ll.vae_log_likelihood_stderr:.3f} "
        f"| **{ll.ncp_log_likelihood:.3f}** +- {ll.ncp_log_likelihood_stderr:.3f} "
        f"| {ll.ncp_gain:.2f} | {log_z.value:.3f} +- {log_z.stderr:.3f} "
        f"| {sir.smallest_group_ess:.1f} | {result.seconds:.0f} s |"
    )


def main(argv: list[str] | None = None) -> list[DemoResult]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds, one run each")
    parser.add_argument("--out", default="runs/gaussians25")
    parser.add_argument("--quick", action="store_true", help="short runs, for a first look")
    parser.add_argument(
        "--config", default="gaussians25_full", help="demo config (demo: ncpvae demo's defaults)"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    reports, rows = [], []
    for seed in (int(s) for s in args.seeds.split(",")):
        config = seeded(seed, args.quick, args.config)
        report = demo.run(config, out / f"seed{seed}", progress=not args.quick)
        reports.append(report)
        rows.append(table_row(seed, report))
        print(f"seed {seed}: figure in {out / f'seed{seed}' / 'figure.png'}")
    header = (
        "| run | VAE, N(0, I) prior | VAE + NCP | gain | log Z (+- s.e.) "
        "| mean SIR ESS | wall time |\n|---|---|---|---|---|---|---|"
    )
    table = "\n".join([header, *rows]) + "\n"
    (out / "table.md").write_text(table)
    print(table)
    return reports


if __name__ == "__main__":
    main()
