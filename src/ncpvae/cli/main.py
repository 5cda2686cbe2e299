"""The ``ncpvae`` command: ``ncpvae {demo,train-vae,train-prior,merge-priors,sample,evaluate,
merge-evaluations}``.

Each verb is driven by a run config (see :mod:`ncpvae.config`): defaults, then ``--config FILE``,
then one flag per config field (``--train.steps 5000``; ``ncpvae VERB --help`` lists them all).
Errors a user can fix are printed as one line, with exit status 1 (2 for a bad command line).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ncpvae._version import __version__
from ncpvae.config import (
    DemoConfig,
    EvaluateConfig,
    MergeConfig,
    MergeEvaluationsConfig,
    PriorRunConfig,
    SampleConfig,
    VAERunConfig,
    apply_overrides,
    default_value,
    field_help,
    leaf_fields,
    load_config,
    named_configs,
    parse_value,
    renamed_key_message,
)
from ncpvae.config.sampling import RENAMED_KEYS
from ncpvae.errors import ConfigError, NCPVAEError, did_you_mean
from ncpvae.threads import set_threads
from ncpvae.training import distributed

__all__ = ["main"]


@dataclass(frozen=True)
class Verb:
    """A CLI verb: its config class, the pipeline function it runs (returning the verb's typed
    result, :mod:`ncpvae.cli.results`), the lines ``describe`` makes of that result, its default
    output folder."""

    config: type
    run: Callable[..., Any]
    describe: Callable[[Any, Path], str]
    out: str
    help: str
    # under --threads auto: builds, from the verb's config, a piece of its work that set_threads
    # times at one thread and at all the cores to keep the faster (None: the free cores)
    thread_probe: Callable[[Any], Callable[[], object] | None] | None = None


def _verbs() -> dict[str, Verb]:
    from ncpvae.cli import (
        demo,
        evaluate,
        merge_evaluations,
        merge_priors,
        sample,
        train_prior,
        train_vae,
    )

    return {
        "demo": Verb(
            DemoConfig,
            demo.run,
            demo.describe,
            "runs/demo",
            "25 Gaussians end to end: both stages, samples, evaluation, figure",
            # its networks are small: one thread was the faster on one CPU, two on another
            # (docs/benchmarks.md, "The demo's wall time")
            thread_probe=demo.thread_probe,
        ),
        "train-vae": Verb(
            VAERunConfig,
            train_vae.run,
            train_vae.describe,
            "runs/vae",
            "stage 1: train a VAE by the ELBO",
        ),
        "train-prior": Verb(
            PriorRunConfig,
            train_prior.run,
            train_prior.describe,
            "runs/prior",
            "stage 2: fit the NCP prior on a frozen VAE",
        ),
        "merge-priors": Verb(
            MergeConfig,
            merge_priors.run,
            merge_priors.describe,
            "runs/prior",
            "join train-prior runs that trained disjoint --groups of one hierarchical VAE",
        ),
        "sample": Verb(
            SampleConfig,
            sample.run,
            sample.describe,
            "runs/samples",
            "draw samples (base prior, SIR, Langevin or HMC) and decode them",
        ),
        "evaluate": Verb(
            EvaluateConfig,
            evaluate.run,
            evaluate.describe,
            "runs/evaluate",
            "log-likelihood under both priors, log Z, SIR ESS, prior hole, FID",
        ),
        "merge-evaluations": Verb(
            MergeEvaluationsConfig,
            merge_evaluations.run,
            merge_evaluations.describe,
            "runs/evaluate",
            "join evaluate runs that computed shards of the test-set likelihood into one report",
        ),
    }


DESCRIPTION = (
    "Noise Contrastive Priors for VAEs: train a VAE (train-vae), fit the NCP prior on it "
    "frozen (train-prior), then sample and evaluate it; demo runs all of it on 25 Gaussians."
)
RESUMABLE = ("train-vae", "train-prior")  # verbs that checkpoint and can resume


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``ncpvae`` parser: one sub-command per verb, one flag per config field."""
    parser = _Parser(
        prog="ncpvae",
        description=DESCRIPTION,
        epilog="ncpvae VERB --help lists a verb's flags; docs/cli.md has examples.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"ncpvae {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    parser.verb_parsers = {}  # type: ignore[attr-defined]
    for name, verb in _verbs().items():
        p = sub.add_parser(name, help=verb.help, description=verb.help, allow_abbrev=False)
        parser.verb_parsers[name] = p  # type: ignore[attr-defined]
        p.add_argument(
            "--config",
            metavar="FILE",
            help="JSON run config, or the name of a ready one (flags override it): "
            + ", ".join(named_configs()),
        )
        p.add_argument("--out", default=verb.out, help=f"output folder (default: {verb.out})")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument(
            "--threads",
            default="auto",
            metavar="N",
            help="CPU threads for torch: a number, or auto (OMP_NUM_THREADS if set, else "
            + (
                "whichever of one thread and all the cores runs a training step faster, timed "
                "at the start on a CPU"
                if verb.thread_probe
                else "the cores not busy with other work"
            )
            + "; default: auto)",
        )
        p.add_argument(
            "--overwrite",
            action="store_true",
            help="replace the finished run in --out (refused without it)",
        )
        if name in RESUMABLE:
            p.add_argument(
                "--resume",
                action="store_true",
                help="continue the unfinished run in --out from its checkpoint.pt",
            )
        leaves = leaf_fields(verb.config)
        defaults = verb.config()
        if "device" not in leaves:
            p.add_argument(
                "--device",
                dest="device",
                default=argparse.SUPPRESS,
                help="auto, cpu, cuda or cuda:N for every stage (default: auto)",
            )
        for key in leaves:
            p.add_argument(
                f"--{key}",
                dest=key,
                default=argparse.SUPPRESS,
                metavar="V",
                help=f"{field_help(verb.config, key)} (default: {default_value(defaults, key)})",
            )
    return parser


def _from_file(err: ConfigError, flags: dict[str, Any], config_path: str | None) -> str:
    """Where the setting an error names came from, when a flag made a config file's setting
    wrong (a new ``--model.kind`` that the file's other model settings do not fit)."""
    key = getattr(err, "key", None)
    if config_path is None or key is None or key in flags:
        return ""
    return f" (set by --config {config_path}: drop it there, or choose settings that fit)"


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"ncpvae: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ncpvae`` console script; returns the exit status."""
    warnings.formatwarning = _one_line_warning
    parser = build_parser()
    namespace, unknown = parser.parse_known_args(argv)
    if unknown:  # reported by the verb's parser, so the hint names `ncpvae VERB --help`
        renamed = [flag[2:] for flag in unknown if flag[2:] in RENAMED_KEYS]
        message = renamed_key_message(renamed[0], flag=True) if renamed else ""
        verb_parser = parser.verb_parsers[namespace.verb]
        flags = [f for action in verb_parser._actions for f in action.option_strings]
        hint = did_you_mean(unknown[0].split("=")[0], flags)
        message = message or f"unrecognized arguments: {' '.join(unknown)}{hint}"
        verb_parser.error(message)
    args = vars(namespace)
    name = args.pop("verb")
    verb = _verbs()[name]
    out, quiet, config_path = args.pop("out"), args.pop("quiet"), args.pop("config")
    threads = args.pop("threads")
    extra = {"resume": args.pop("resume")} if name in RESUMABLE else {}
    extra["overwrite"] = args.pop("overwrite")
    if name not in RESUMABLE and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        print(
            f"ncpvae: error: {name} runs in one process; only train-vae and train-prior "
            "run under torchrun",
            file=sys.stderr,
        )
        return 1
    leaves = leaf_fields(verb.config)
    succeeded = False
    try:
        config = load_config(verb.config, config_path) if config_path else verb.config()
        overrides: dict[str, Any] = {}
        try:  # a flag's value: a bad command line, exit status 2 as for an unknown flag
            if threads != "auto" and not (threads.isdigit() and int(threads) > 0):
                raise ConfigError(f"--threads takes a positive number or auto, got {threads!r}")
            overrides = {
                key: parse_value(text, leaves[key], key)
                for key, text in args.items()
                if key in leaves
            }
            if "device" in args and "device" not in leaves:  # one flag for every stage's device
                overrides.update({k: args["device"] for k in leaves if k.endswith(".device")})
            config = apply_overrides(config, overrides)
        except ConfigError as err:
            print(f"ncpvae: error: {err}{_from_file(err, overrides, config_path)}", file=sys.stderr)
            return 2
        probe = verb.thread_probe
        set_threads(threads, probe=None if probe is None else lambda: probe(config))
        summary = verb.run(config, out, progress=not quiet, **extra)
        succeeded = True
    except NCPVAEError as err:
        print(f"ncpvae: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"ncpvae: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        again = "; continue with the same command and --resume" if name in RESUMABLE else ""
        print(f"ncpvae: interrupted; files already written are complete{again}", file=sys.stderr)
        return 130
    finally:
        main = distributed.is_main()  # before leaving the process group
        distributed.finish(wait=succeeded)
    if main:
        print(verb.describe(summary, Path(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
