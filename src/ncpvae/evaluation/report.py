"""The evaluation report as files: ``report.json`` for machines, ``report.md`` for people and
``report.png`` for the eye (the prior hole per group, the SIR ESS per group, FID per sampler)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ncpvae.checkpoint import atomic_write, write_json

__all__ = ["write_report", "markdown_report"]


def _pm(report: dict[str, Any], key: str, digits: int = 3) -> str:
    value = report[key]
    stderr = report.get(f"{key}_stderr")
    return f"{value:.{digits}f}" + (f" ± {stderr:.{digits}f}" if stderr is not None else "")


def _likelihood_lines(report: dict[str, Any]) -> list[str]:
    if "vae_log_likelihood" not in report:
        return []
    bpd = "vae_bits_per_dim" in report
    lines = [
        f"## Test log-likelihood ({report['num_test']} examples, "
        f"{report['importance_samples']} importance samples)",
        "",
        "| prior | log p(x) (nats) |" + (" bits/dim |" if bpd else ""),
        "|---|---|" + ("---|" if bpd else ""),
    ]
    for name, label in (("vae", "VAE (base prior)"), ("ncp", "NCP")):
        row = f"| {label} | {_pm(report, f'{name}_log_likelihood')} |"
        lines.append(row + (f" {report[f'{name}_bits_per_dim']:.4f} |" if bpd else ""))
    lines += ["", f"NCP gain (paired): {_pm(report, 'ncp_gain')} nats."]
    if "group_normalizer_samples" in report:
        lines.append(
            f"Estimated upward bias of the NCP value from the per-sample Z_k "
            f"({report['group_normalizer_samples']} draws each): "
            f"{report['ncp_normalizer_bias_estimate']:.4f} nats."
        )
    elif "ncp_normalizer_bias_estimate" in report:
        lines.append(
            "Estimated upward bias of the NCP value from the log Z estimate: "
            f"{report['ncp_normalizer_bias_estimate']:.2g} nats."
        )
    return lines + [""]


def _normalizer_lines(report: dict[str, Any]) -> list[str]:
    groups = report.get("log_normalizer_groups", [])
    per_group = len(groups) > 1 or any(g["num_contexts"] > 1 for g in groups)
    if "log_normalizer" in report and not per_group:
        return [
            "## log Z",
            "",
            f"log Z = {_pm(report, 'log_normalizer', 4)} "
            f"({report['log_normalizer_samples']} base-prior samples).",
            "",
        ]
    if not groups:
        return []
    lines = ["## log Z_k per group (mean over test contexts)", ""]
    lines += [
        "| group | log Z_k | stderr | spread | contexts | draws each |",
        "|---|---|---|---|---|---|",
    ]
    for g in report["log_normalizer_groups"]:
        lines.append(
            f"| {g['group']} | {g['mean']:.4f} | {g['stderr']:.4f} | {g['spread']:.4f} | "
            f"{g['num_contexts']} | {g['num_samples']} |"
        )
    return lines + [""]


def _prior_hole_lines(report: dict[str, Any]) -> list[str]:
    if report.get("mmd2_posterior_base") is None:
        return []
    lines = [
        f"## The prior hole: MMD² to aggregate-posterior latents ({report['mmd_samples']} "
        "samples a side)",
        "",
        "| latents | base prior | NCP prior (SIR) |",
        "|---|---|---|",
        f"| all | {report['mmd2_posterior_base']:.5f} | {report['mmd2_posterior_ncp']:.5f} |",
    ]
    for k, (base, ncp) in enumerate(
        zip(
            report.get("mmd2_posterior_base_groups", []),
            report.get("mmd2_posterior_ncp_groups", []),
            strict=True,
        )
    ):
        lines.append(f"| group {k} | {base:.5f} | {ncp:.5f} |")
    scales = report.get("mmd_bandwidth_scales", [])
    for scale, base, ncp in zip(
        scales,
        report.get("mmd2_posterior_base_scales", []),
        report.get("mmd2_posterior_ncp_scales", []),
        strict=False,
    ):
        lines.append(f"| all, bandwidth {scale:g} x median | {base:.5f} | {ncp:.5f} |")
    return lines + [""]


def _ess_lines(report: dict[str, Any]) -> list[str]:
    if "sir_ess" not in report:
        return []
    of = f"of M = {report['sir_proposals']}, over {report['sir_samples']} samples"
    lines = ["## SIR", "", f"Mean ESS {report['sir_ess']:.1f} ({of})."]
    if "sir_ess_groups" in report:
        per_group = ", ".join(f"{e:.1f}" for e in report["sir_ess_groups"])
        lines[-1] = f"Mean ESS per group: {per_group} ({of})."
    return lines + [""]


def _classifier_lines(report: dict[str, Any]) -> list[str]:
    fit = report.get("classifier_fit")
    if not fit:
        return []
    train, val = fit["train"], fit["validation"]
    groups = sorted(int(k[3:]) for k in train if k.startswith("acc"))
    lines = [
        "## Classifiers on training and validation data",
        "",
        "| group | NCE loss (train / validation) | accuracy (train / validation) | "
        "one-pass log Z_k (train / validation) |",
        "|---|---|---|---|",
    ]
    for k in groups:
        cells = [f"{train[f'{m}{k}']:.4f} / {val[f'{m}{k}']:.4f}" for m in ("nce", "acc", "logz")]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return lines + [""]


def _fid_lines(report: dict[str, Any]) -> list[str]:
    rows = report.get("sample_quality")
    if not rows:
        return []
    lines = [
        f"## Sample quality: FID against {report['fid_reference_samples']} "
        f"{report['fid_reference']} images",
        "",
        "| sampler | t | seed | FID | samples | ms / sample | ESS or acceptance |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        extra = ""
        if "sir_ess_mean" in r:
            extra = f"ESS {r['sir_ess_mean']:.1f} / {r['sir_proposals']}"
        elif "acceptance_rate" in r:
            extra = f"acceptance {r['acceptance_rate']:.2f}"
        lines.append(
            f"| {r['sampler']} | {r['temperature']:g} | {r.get('sampling_seed', '')} | "
            f"{r['fid']:.2f} | {r['fid_samples']} | "
            f"{1e3 * r['seconds_per_sample']:.3f} | {extra} |"
        )
    return lines + [""]


def markdown_report(report: dict[str, Any]) -> str:
    """The report as Markdown: one section per measurement, numbers with their sample counts."""
    lines = [f"# ncpvae evaluation of `{report['prior']}`", ""]
    if "trained_groups" in report:
        lines += [f"Trained groups: {report['trained_groups']}.", ""]
    sections = (
        _likelihood_lines,
        _normalizer_lines,
        _classifier_lines,
        _prior_hole_lines,
        _ess_lines,
        _fid_lines,
    )
    for section in sections:
        lines += section(report)
    seconds = report.get("seconds", {})
    if seconds:
        lines += ["## Wall time (s)", "", "| part | seconds |", "|---|---|"]
        lines += [f"| {name} | {value:.1f} |" for name, value in seconds.items()]
    return "\n".join(lines) + "\n"


def _plot(report: dict[str, Any], path: Path) -> bool:
    """The figures the report has, one panel each (none on a likelihood shard > 0, which only
    computes the likelihood): the prior hole, the SIR ESS per group, FID per sampler. Returns
    whether it drew any."""
    base = report.get("mmd2_posterior_base_groups") or [report.get("mmd2_posterior_base")]
    ncp = report.get("mmd2_posterior_ncp_groups") or [report.get("mmd2_posterior_ncp")]
    ess = report.get("sir_ess_groups") or [report.get("sir_ess")]
    rows = report.get("sample_quality", [])
    present = {"hole": base[0] is not None, "ess": ess[0] is not None, "fid": bool(rows)}
    panels = [name for name, shown in present.items() if shown]
    if not panels:
        return False
    from ncpvae.evaluation.plotting import plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    ax = dict(zip(panels, axes[0], strict=True))
    if "hole" in ax:
        ticks = range(len(base))
        ax["hole"].bar([k - 0.2 for k in ticks], base, width=0.4, label="base prior")
        ax["hole"].bar([k + 0.2 for k in ticks], ncp, width=0.4, label="NCP (SIR)")
        ax["hole"].set(xticks=list(ticks), xlabel="latent group", ylabel="MMD² to q(z)")
        ax["hole"].set_title("prior hole")
        ax["hole"].legend()
    if "ess" in ax:
        ax["ess"].bar(range(len(ess)), ess)
        ax["ess"].axhline(report["sir_proposals"], color="grey", lw=0.8, ls="--")
        ax["ess"].set(xticks=list(range(len(ess))), xlabel="latent group", ylabel="mean ESS")
        ax["ess"].set_title(f"SIR ESS (M = {report['sir_proposals']})")
    if "fid" in ax:
        for sampler in dict.fromkeys(r["sampler"] for r in rows):
            mine = [r for r in rows if r["sampler"] == sampler]
            ax["fid"].plot([r["temperature"] for r in mine], [r["fid"] for r in mine], "o-")
            ax["fid"].lines[-1].set_label(sampler)
        ax["fid"].set(xlabel="temperature", ylabel="FID")
        ax["fid"].set_title(f"FID ({rows[0]['fid_samples']} samples)")
        ax["fid"].legend()
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)
    return True


def write_report(report: dict[str, Any], out: Path) -> None:
    """``report.json``, ``report.md`` and, where it has figures to draw, ``report.png`` in the
    folder ``out`` (an older ``report.png`` there, from the run it overwrites, is removed)."""
    write_json(out / "report.json", report)
    text = markdown_report(report)
    atomic_write(out / "report.md", lambda p: p.write_text(text))
    if not _plot(report, out / "report.png"):
        (out / "report.png").unlink(missing_ok=True)
