"""Collect the density-chasm variants of one VAE (scripts/chasm_variants.sh, then ``ncpvae
evaluate --out OUT/eval_<variant>``) into one JSON file and print a row per variant: the
classifier's fit on validation data, log Z by the prior's own estimate and by the defensive
mixture, the held-out latents' mean log-density, and where evaluated the test NLL (with its
paired difference to the single classifier's) and FID. ``eval_<variant>`` is read as
"evaluation" and ``eval_<variant>_full`` (an evaluation on the row's full FID protocol) as
"evaluation_full", and ``eval_<variant>_base_full`` (the base sampler alone, on that
protocol) as "evaluation_base_full"; the paired NLL difference is taken within each.

    python scripts/chasm_results.py OUT RESULT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

VARIANTS = ("single", "fitted", "gmm", "waymarks", "both")
HISTORY_KEYS = ("seconds", "selected_step", "classifier_fit", "base", "warnings")
HISTORY_KEYS += ("log_normalizer", "log_normalizer_stderr", "log_normalizer_samples")
EVALUATIONS = {
    "evaluation": "eval_{}",
    "evaluation_full": "eval_{}_full",
    "evaluation_base_full": "eval_{}_base_full",  # the fitted base alone: --samplers base
}


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def collect(out: Path) -> dict[str, dict]:
    """Each variant's figures, from its prior's history, its log Z file and its evaluation."""
    found = {}
    for variant in VARIANTS:
        history = _read(out / f"prior_{variant}" / "history.json")
        if history is None:
            continue
        entry = {"stage2": {k: history[k] for k in HISTORY_KEYS if k in history}}
        log_z = _read(out / f"log_z_{variant}.json")
        if log_z is not None:
            held_out = log_z["temperature"]
            mixture = next(r for r in log_z["rows"] if r["proposal"] == "mixture")
            # log Z by the mixture at the first seed, as log_z_convergence.py --no-scan has it
            held_out["validation_log_density"] = (
                held_out["validation_mean_log_base"]
                + held_out["validation_mean_f"]
                - mixture["log_z"]
            )
            entry["log_z"] = log_z
        for key, folder in EVALUATIONS.items():
            report = _read(out / folder.format(variant) / "report.json")
            if report is not None:
                entry[key] = report
            difference = paired_difference(out, folder, variant)
            if difference is not None:
                entry[f"paired_difference{key.removeprefix('evaluation')}"] = difference
        found[variant] = entry
    return found


def paired_difference(out: Path, folder: str, variant: str) -> dict[str, float] | None:
    """The variant's test NLL minus the single classifier's, example by example (the same
    examples and importance samples; evaluation folders ``folder.format(variant)``), with its
    standard error and both log Z errors."""
    files = [out / folder.format(v) / "log_likelihoods.json" for v in ("single", variant)]
    reports = [out / folder.format(v) / "report.json" for v in ("single", variant)]
    if variant == "single" or not all(f.is_file() for f in files + reports):
        return None
    single, other = (json.loads(f.read_text())["ncp"] for f in files)
    diffs = [b - a for a, b in zip(single, other, strict=True)]
    n = len(diffs)
    mean = sum(diffs) / n
    per_example = (sum((d - mean) ** 2 for d in diffs) / (n - 1) / n) ** 0.5
    log_z = [json.loads(r.read_text())["log_normalizer_stderr"] for r in reports]
    stderr = (per_example**2 + log_z[0] ** 2 + log_z[1] ** 2) ** 0.5
    return {"nll_minus_single": -mean, "stderr": stderr, "examples": n}


def describe(variant: str, entry: dict) -> str:
    """One line of figures for people."""
    stage2 = entry["stage2"]
    validation = stage2.get("classifier_fit", {}).get("validation", {})
    parts = [
        f"{variant:8s}",
        f"kept {stage2.get('selected_step')}",
        f"val NCE {validation.get('loss', float('nan')):.4f} acc {validation.get('acc0', 0):.3f}",
        f"{stage2['seconds']:.0f} s",
    ]
    if "log_z" in entry:
        for row in entry["log_z"]["rows"]:
            parts.append(f"log Z {row['proposal']} {row['log_z']:+.3f} +- {row['stderr']:.3f}")
        held_out = entry["log_z"]["temperature"]
        parts.append(
            f"held-out {held_out['validation_log_density']:.2f} "
            f"(VAE prior {held_out['validation_mean_log_vae_prior']:.2f})"
        )
    for key in EVALUATIONS:
        report = entry.get(key)
        if report is not None:
            parts += _evaluation_parts(
                key, report, entry.get(key.replace("evaluation", "paired_difference"))
            )
    return " | ".join(parts)


def _evaluation_parts(key: str, report: dict, difference: dict | None) -> list[str]:
    parts = [key]
    if "ncp_log_likelihood" in report:
        parts.append(
            f"NLL VAE {-report['vae_log_likelihood']:.3f} NCP "
            f"{-report['ncp_log_likelihood']:.3f} gain {report['ncp_gain']:.3f} +- "
            f"{report['ncp_gain_stderr']:.3f}"
        )
    parts.append(f"log Z {report['log_normalizer']:+.3f} +- {report['log_normalizer_stderr']:.3f}")
    parts.append(f"SIR ESS {report.get('sir_ess', float('nan')):.1f}")
    for row in report.get("sample_quality", []):
        parts.append(f"FID {row['sampler']} seed {row['sampling_seed']} {row['fid']:.2f}")
    if difference is not None:
        parts.append(
            f"NLL minus single {difference['nll_minus_single']:+.3f} +- {difference['stderr']:.3f}"
        )
    return parts


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    out, result = Path(sys.argv[1]), Path(sys.argv[2])
    found = collect(out)
    for variant, entry in found.items():
        print(describe(variant, entry))
    result.write_text(json.dumps(found, indent=1) + "\n")
    print(f"wrote {result}")


if __name__ == "__main__":
    main()
