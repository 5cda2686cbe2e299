"""Collect the figures of finished ``scripts/image_fid.sh`` runs: a results row per experiment
(FID of the base prior and of NCP by each sampler, mean and spread over sampling seeds, their
relative change beside the paper's, log Z, SIR ESS at M = 500 and 5000, the classifiers' train
and validation loss and accuracy, wall times) as JSON and a Markdown table, and one figure of
sample grids per experiment (base prior, NCP by SIR and by HMC at t = 1; base and SIR at t = 0.7).

python scripts/image_results.py RUNS EXPERIMENT [EXPERIMENT ...] [--json OUT] [--figures DIR]
    (RUNS/EXPERIMENT is the OUT folder of ``bash scripts/image_fid.sh EXPERIMENT DATA OUT``)

The FID rows are those of RUNS/EXPERIMENT/evaluate and of every evaluate_<part> beside it
(``bash scripts/image_samplers.sh EXPERIMENT OUT`` adds HMC and the automatic sampler so); the
other figures are evaluate's.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from ncpvae.evaluation.plotting import panel_figure

# the paper's FID (Aneja et al. 2021, Tables 2 and 3): base prior, NCP
PAPER = {
    "celeba64_conv_vae": (48.12, 41.28),
    "celeba64_rae_gmm": (40.95, 39.00),
    "cifar10_hvae": (51.71, 24.08),
    "celeba64_hvae": (13.48, 5.25),
}


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def fid_rows(folder: Path) -> list[dict[str, Any]]:
    """The FID rows of ``folder``'s evaluation and of its parts (``evaluate_*``), in that order."""
    parts = [folder / "evaluate", *sorted(folder.glob("evaluate_*"))]
    return [row for part in parts for row in read(part / "report.json").get("sample_quality", [])]


def fid_by_sampler(quality: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per sampler at t = 1: the FIDs over seeds, their mean and spread (max - min)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in quality:
        if row["temperature"] == 1.0:
            rows.setdefault(row["sampler"], []).append(row)
    out = {}
    for sampler, runs in rows.items():
        values = [r["fid"] for r in runs]
        out[sampler] = {
            "fid": values,
            "sampling_seeds": [r["sampling_seed"] for r in runs],
            "mean": statistics.fmean(values),
            "spread": max(values) - min(values),
            "samples": runs[0]["fid_samples"],
            "seconds_per_sample": statistics.fmean(r["seconds_per_sample"] for r in runs),
            **(
                {
                    "hmc_fraction": statistics.fmean(r["hmc_samples"] for r in runs)
                    / runs[0]["fid_samples"],
                    "hmc_samples": [r["hmc_samples"] for r in runs],
                }
                if "hmc_samples" in runs[0]
                else {}
            ),
            **(
                {"acceptance_rate": [r["acceptance_rate"] for r in runs]}
                if runs[0].get("acceptance_rate") is not None
                else {}
            ),
        }
    return out


def collect(folder: Path, name: str) -> dict[str, Any]:
    vae, prior = read(folder / "vae/history.json"), read(folder / "prior/history.json")
    report = read(folder / "evaluate/report.json")
    m5000 = read(folder / "samples_sir_m5000/summary.json")
    fid = fid_by_sampler(fid_rows(folder))
    result: dict[str, Any] = {
        "experiment": name,
        "vae_seconds": vae.get("seconds"),
        "prior_seconds": prior.get("seconds"),
        "selected_step": prior.get("selected_step"),
        "classifier_fit": report.get("classifier_fit") or prior.get("classifier_fit"),
        "log_normalizer": report.get("log_normalizer"),
        "log_normalizer_stderr": report.get("log_normalizer_stderr"),
        "log_normalizer_samples": report.get("log_normalizer_samples"),
        "log_normalizer_groups": report.get("log_normalizer_groups"),
        "sir_ess_500": report.get("sir_ess"),
        "sir_ess_groups_500": report.get("sir_ess_groups"),
        "sir_ess_5000": m5000.get("sir_ess_mean"),
        "fid": fid,
        "fid_reference_samples": report.get("fid_reference_samples"),
        "evaluate_seconds": report.get("seconds", {}).get("total"),
    }
    likelihood = ("vae_log_likelihood", "ncp_log_likelihood", "ncp_gain", "ncp_gain_stderr")
    for key in (*likelihood, "vae_bits_per_dim", "ncp_bits_per_dim"):
        if key in report:
            result[key] = report[key]
    if "base" in fid:
        base = fid["base"]["mean"]
        result["relative_change"] = {
            s: (v["mean"] - base) / base for s, v in fid.items() if s != "base"
        }
    if name in PAPER:
        b, n = PAPER[name]
        result["paper"] = {"base": b, "ncp": n, "relative_change": (n - b) / b}
    return result


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| experiment | samples per FID | base FID | NCP FID (SIR) | NCP FID (HMC) "
        "| NCP FID (auto) "
        "| change (best NCP) | paper's change |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fid = r["fid"]
        cell = {s: f"{v['mean']:.2f} +- {v['spread'] / 2:.2f}" for s, v in fid.items()}

        change = r.get("relative_change", {})
        best = min(change.values()) if change else float("nan")
        paper = r.get("paper", {}).get("relative_change", float("nan"))
        samples = fid.get("base", {}).get("samples", "")
        lines.append(
            f"| {r['experiment']} | {samples} | "
            + " | ".join(cell.get(s, "") for s in ("base", "sir", "hmc", "auto"))
            + f" | {100 * best:+.1f} % | {100 * paper:+.1f} % |"
        )
    return "\n".join(lines)


def figure(folder: Path, name: str, out: Path) -> None:
    panels = {
        "base prior, t = 1": folder / "evaluate/samples_base_t1.png",
        "NCP, SIR (M = 500), t = 1": folder / "evaluate/samples_sir_t1.png",
        "NCP, HMC, t = 1": min(  # evaluate's grid, else that of a part (image_samplers.sh)
            folder.glob("evaluate*/samples_hmc_t1.png"),
            default=folder / "evaluate/samples_hmc_t1.png",
        ),
        "base prior, t = 0.7": folder / "samples_base_t0.7/samples.png",
        "NCP, SIR (M = 500), t = 0.7": folder / "samples_sir_t0.7/samples.png",
    }
    panel_figure({t: p for t, p in panels.items() if p.is_file()}, out / f"{name}_samples.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("experiments", nargs="+")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--figures", type=Path)
    args = parser.parse_args()
    rows = [collect(args.runs / name, name) for name in args.experiments]
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    if args.figures:
        for name in args.experiments:
            figure(args.runs / name, name, args.figures)


if __name__ == "__main__":
    main()
