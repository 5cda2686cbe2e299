"""``ncpvae merge-priors``: one prior from train-prior runs of one VAE that trained disjoint
``--groups`` (one run per worker)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from ncpvae.cli.results import MergePriorsResult
from ncpvae.cli.summary import wrote
from ncpvae.config import MergeConfig
from ncpvae.errors import ConfigError
from ncpvae.files import write_json
from ncpvae.prior import merge_priors
from ncpvae.runs import (
    claim_run_dir,
    load_prior,
    load_run,
    resolve_device,
    save_prior,
    vae_folder_of,
)

__all__ = ["run", "describe"]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def run(
    cfg: MergeConfig, out: str | Path, progress: bool = True, overwrite: bool = False
) -> MergePriorsResult:
    """Merge the priors of ``cfg.priors`` into the run folder ``out``."""
    if not cfg.priors:
        raise ConfigError("name the train-prior run folders to merge: --priors runs/a,runs/b")
    device = resolve_device(cfg.device)
    configs = [load_run(path, expect="prior") for path in cfg.priors]
    vaes = [vae_folder_of(path).resolve() for path in cfg.priors]
    first = configs[0]
    for path, part_cfg, vae in zip(cfg.priors, configs, vaes, strict=True):
        if vae != vaes[0] or part_cfg.classifier != first.classifier:
            raise ConfigError(
                f"{path!r} was trained on another VAE or classifier config than "
                f"{cfg.priors[0]!r}; merge only runs of one VAE with one classifier config"
            )
    if any(Path(out).resolve() == Path(path).resolve() for path in cfg.priors):
        raise ConfigError(f"--out {str(out)!r} is one of the priors to merge; choose a new folder")
    try:
        merged = merge_priors([load_prior(path, device) for path in cfg.priors])
    except ValueError as err:
        raise ConfigError(str(err)) from None
    out = claim_run_dir(out, overwrite)
    save_prior(merged, out, vae=vaes[0], config=dataclasses.replace(first, groups=[]))
    histories = [_read_json(Path(path) / "history.json") for path in cfg.priors]
    summary = MergePriorsResult(
        merged=list(cfg.priors),
        groups=[part.groups for part in configs],
        seconds=[h.get("seconds") for h in histories],
    )
    write_json(out / "history.json", {**summary.to_dict(), "parts": histories})
    return summary


def describe(result: MergePriorsResult, out: Path) -> str:
    """The lines a person reads at the end: what was merged, files, what next."""
    return "\n".join(
        [
            f"merge-priors: joined {len(result.merged)} runs (groups {result.groups})",
            wrote(out),
            f"  next: ncpvae evaluate --prior {out} --out REPORT_FOLDER",
        ]
    )
