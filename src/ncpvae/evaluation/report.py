"""The evaluation report as files: ``report.json`` for machines, ``report.md`` for people and
``report.png`` for the eye (the prior hole per group, the SIR ESS per group, FID per sampler)."""

from __future__ import annotations

from pathlib import Path

from ncpvae.evaluation.figures import MMDFigures
from ncpvae.evaluation.results import EvaluationReport
from ncpvae.evaluation.sample_quality import FID_SEED_OFFSET, FID_SEED_STRIDE
from ncpvae.files import atomic_write, write_json

__all__ = ["write_report", "markdown_report"]


def _pm(value: float, stderr: float | None, digits: int = 3) -> str:
    return f"{value:.{digits}f}" + (f" ± {stderr:.{digits}f}" if stderr is not None else "")


def _likelihood_lines(report: EvaluationReport) -> list[str]:
    ll = report.likelihood
    if ll is None:
        return []
    bpd = ll.vae_bits_per_dim is not None
    lines = [
        f"## Test log-likelihood ({report.num_test} examples, "
        f"{ll.importance_samples} importance samples)",
        "",
        "| prior | log p(x) (nats) |" + (" bits/dim |" if bpd else ""),
        "|---|---|" + ("---|" if bpd else ""),
    ]
    rows = (
        (
            "VAE (base prior)",
            ll.vae_log_likelihood,
            ll.vae_log_likelihood_stderr,
            ll.vae_bits_per_dim,
        ),
        ("NCP", ll.ncp_log_likelihood, ll.ncp_log_likelihood_stderr, ll.ncp_bits_per_dim),
    )
    for label, value, stderr, bits in rows:
        row = f"| {label} | {_pm(value, stderr)} |"
        lines.append(row + (f" {bits:.4f} |" if bpd else ""))
    lines += ["", f"NCP gain (paired): {_pm(ll.ncp_gain, ll.ncp_gain_stderr)} nats."]
    if ll.group_normalizer_samples is not None:
        lines.append(
            f"Estimated upward bias of the NCP value from the per-sample Z_k "
            f"({ll.group_normalizer_samples} draws each): "
            f"{ll.ncp_normalizer_bias_estimate:.4f} nats."
        )
    else:
        lines.append(
            "Estimated upward bias of the NCP value from the log Z estimate: "
            f"{ll.ncp_normalizer_bias_estimate:.2g} nats."
        )
    return lines + [""]


def _normalizer_lines(report: EvaluationReport) -> list[str]:
    log_z = report.log_normalizer
    groups = log_z.groups
    if not (len(groups) > 1 or any(g.num_contexts > 1 for g in groups)):
        return [
            "## log Z",
            "",
            f"log Z = {_pm(log_z.value, log_z.stderr, 4)} "
            f"({log_z.num_samples} base-prior samples).",
            "",
        ]
    lines = ["## log Z_k per group (mean over test contexts)", ""]
    lines += [
        "| group | log Z_k | stderr | spread | contexts | draws each |",
        "|---|---|---|---|---|---|",
    ]
    for g in groups:
        lines.append(
            f"| {g.group} | {g.mean:.4f} | {g.stderr:.4f} | {g.spread:.4f} | "
            f"{g.num_contexts} | {g.num_samples} |"
        )
    return lines + [""]


def _prior_hole_lines(report: EvaluationReport) -> list[str]:
    mmd = report.mmd
    if mmd is None or mmd.base is None or mmd.ncp is None:
        return []
    sir = report.sir.samples if report.sir is not None else None
    whence = f" (of the {sir} SIR samples)" if sir is not None else ""
    floor = mmd.train is not None
    lines = [
        f"## The prior hole: MMD² to aggregate-posterior latents ({mmd.samples} samples a side)",
        "",
        f"Each prior's first {mmd.samples} samples{whence} against the latents of as many test "
        "examples (the fewest of the SIR samples, the test examples and 2,000)"
        + (
            "; the floor is the latents of as many training examples, another draw of q(z) "
            "itself: what a prior equal to q(z) would score, so a prior near it has no hole "
            "this sample size can show."
            if floor
            else "."
        ),
        "",
        "| latents | base prior | NCP prior (SIR) |" + (" floor (training latents) |" * floor),
        "|---|---|---|" + "---|" * floor,
    ]
    columns = [
        (mmd.base, mmd.base_groups, mmd.base_scales),
        (mmd.ncp, mmd.ncp_groups, mmd.ncp_scales),
    ]
    if floor:
        columns.append((mmd.train, mmd.train_groups, mmd.train_scales))
    cells = lambda values: " | ".join(f"{v:.5f}" for v in values)  # noqa: E731
    lines.append(f"| all | {cells(c[0] for c in columns)} |")
    for k in range(len(mmd.base_groups or [])):
        lines.append(f"| group {k} | {cells(c[1][k] for c in columns)} |")
    for i, scale in enumerate(mmd.bandwidth_scales[: len(mmd.base_scales)]):
        lines.append(f"| all, bandwidth {scale:g} x median | {cells(c[2][i] for c in columns)} |")
    if mmd.indistinct():
        lines += [
            "",
            f"At the median bandwidth the two priors score within 5 % of each other "
            f"({mmd.base:.5f}, {mmd.ncp:.5f}): that bandwidth sees the latent cloud as a whole "
            "and does not tell them apart here; the finer bandwidths compare smaller regions, "
            "where a hole between the modes of q(z) shows"
            + (f", and the floor ({mmd.train:.5f}) is what no hole scores." if floor else "."),
        ]
    return lines + [""]


def _ess_lines(report: EvaluationReport) -> list[str]:
    sir = report.sir
    if sir is None:
        return []
    of = f"of M = {sir.proposals}, over {sir.samples} samples"
    per_group = ", ".join(f"{e:.1f}" for e in sir.group_ess)
    return ["## SIR", "", f"Mean ESS per group: {per_group} ({of}).", ""]


def _classifier_lines(report: EvaluationReport) -> list[str]:
    fit = report.classifier_fit
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


def _fid_lines(report: EvaluationReport) -> list[str]:
    quality = report.fid
    if quality is None or not quality.rows:
        return []
    lines = [
        f"## Sample quality: FID against {quality.reference_samples} {quality.reference} images",
        "",
        "| sampler | t | seed | FID | samples | ms / sample | ESS or acceptance |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in quality.rows:
        sir, extra = r.diagnostics.sir, ""
        if sir is not None:
            extra = f"ESS {sir.smallest_group_ess:.1f} / {sir.proposals}"
        elif r.diagnostics.acceptance_rate is not None:
            extra = f"acceptance {r.diagnostics.acceptance_rate:.2f}"
        lines.append(
            f"| {r.sampler} | {r.temperature:g} | {r.sampling_seed} | {r.fid:.2f} | "
            f"{r.fid_samples} | {1e3 * r.seconds_per_sample:.3f} | {extra} |"
        )
    return lines + [
        "",
        f"seed: the sampling seed of the row, --seed + {FID_SEED_OFFSET} + {FID_SEED_STRIDE} x "
        "repeat (each of --fid_seeds repeats draws its own stream; --seed itself seeds the "
        "likelihood and SIR's figures).",
        "",
    ]


def markdown_report(report: EvaluationReport) -> str:
    """The report as Markdown: one section per measurement, numbers with their sample counts."""
    of = "" if report.prior is None else f" of `{report.prior}`"
    lines = [f"# ncpvae evaluation{of}", "", f"Trained groups: {report.trained_groups}.", ""]
    if report.base is not None:
        lines += [f"Base prior: {report.base}.", ""]
    if report.warnings:
        lines += ["## Warnings", "", *(f"- {line}" for line in report.warnings), ""]
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
    if report.seconds:
        lines += ["## Wall time (s)", "", "| part | seconds |", "|---|---|"]
        lines += [f"| {name} | {value:.1f} |" for name, value in report.seconds.items()]
    return "\n".join(lines) + "\n"


def _hole_bars(mmd: MMDFigures) -> tuple[list[str], dict[str, list[float]]]:
    """The prior-hole panel: its ticks (the latent groups at the median bandwidth, or a flat
    prior's bandwidths) and each measured set's bars."""
    labels = {"base": "base prior", "ncp": "NCP (SIR)", "train": "floor (training latents)"}
    measured = [name for name in labels if getattr(mmd, name) is not None]
    if mmd.base_groups:
        ticks, part = [str(k) for k in range(len(mmd.base_groups))], "_groups"
    elif mmd.base_scales:
        ticks, part = [f"{s:g}" for s in mmd.bandwidth_scales], "_scales"
    else:  # a report from before the bandwidth scales: the median bandwidth alone
        return ["median"], {labels[name]: [getattr(mmd, name)] for name in measured}
    return ticks, {labels[name]: getattr(mmd, name + part) for name in measured}


def _plot(report: EvaluationReport, path: Path) -> bool:
    """The figures the report has, one panel each (none on a likelihood shard > 0, which only
    computes the likelihood): the prior hole, the SIR ESS per group, FID per sampler. Returns
    whether it drew any."""
    mmd, sir = report.mmd, report.sir
    ticks, bars = _hole_bars(mmd) if mmd is not None and mmd.base is not None else ([], {})
    ess = sir.group_ess if sir else []
    rows = report.fid.rows if report.fid else []
    present = {"hole": bool(bars), "ess": bool(ess), "fid": bool(rows)}
    panels = [name for name, shown in present.items() if shown]
    if not panels:
        return False
    from ncpvae.evaluation.plotting import plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    ax = dict(zip(panels, axes[0], strict=True))
    if "hole" in ax:
        width = 0.8 / len(bars)
        for i, (label, values) in enumerate(bars.items()):
            offset = (i - (len(bars) - 1) / 2) * width
            ax["hole"].bar([k + offset for k in range(len(ticks))], values, width, label=label)
        flat = mmd is not None and not mmd.base_groups
        ax["hole"].set(
            xticks=list(range(len(ticks))),
            xticklabels=ticks,
            xlabel="RBF bandwidth (x the median distance)" if flat else "latent group",
            ylabel="MMD² to q(z)",
        )
        ax["hole"].set_title("prior hole")
        ax["hole"].legend()
    if "ess" in ax and sir is not None:
        ax["ess"].bar(range(len(ess)), ess)
        ax["ess"].axhline(sir.proposals, color="grey", lw=0.8, ls="--")
        ax["ess"].set(xticks=list(range(len(ess))), xlabel="latent group", ylabel="mean ESS")
        ax["ess"].set_title(f"SIR ESS (M = {sir.proposals})")
    if "fid" in ax:
        for sampler in dict.fromkeys(r.sampler for r in rows):
            mine = [r for r in rows if r.sampler == sampler]
            ax["fid"].plot([r.temperature for r in mine], [r.fid for r in mine], "o-")
            ax["fid"].lines[-1].set_label(sampler)
        ax["fid"].set(xlabel="temperature", ylabel="FID")
        ax["fid"].set_title(f"FID ({rows[0].fid_samples} samples)")
        ax["fid"].legend()
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)
    return True


def write_report(report: EvaluationReport, out: Path) -> None:
    """``report.json``, ``report.md`` and, where it has figures to draw, ``report.png`` in the
    folder ``out`` (an older ``report.png`` there, from the run it overwrites, is removed)."""
    write_json(out / "report.json", report.to_dict())
    text = markdown_report(report)
    atomic_write(out / "report.md", lambda p: p.write_text(text))
    if not _plot(report, out / "report.png"):
        (out / "report.png").unlink(missing_ok=True)
