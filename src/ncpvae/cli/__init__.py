"""Command-line interface: ``ncpvae {demo,train-vae,train-prior,merge-priors,sample,evaluate,
merge-evaluations}``, one small module per verb on top of the library (:mod:`ncpvae.runs`,
:mod:`ncpvae.training`, :mod:`ncpvae.evaluation`)."""

from ncpvae.cli.main import build_parser, main

__all__ = ["main", "build_parser"]
