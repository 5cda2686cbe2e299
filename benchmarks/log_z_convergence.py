"""Does a prior's log Z estimate settle as the number of base-prior samples grows?

log Z_hat = logsumexp f(z_i) - log N is biased low (Jensen) by about (1/ESS - 1/N)/2, and where
the weights exp f are heavy-tailed its delta-method standard error understates the spread: the
estimate then keeps rising with N. This estimates log Z of a train-prior run's prior from
``--samples`` draws (each with ``--repeats`` seeds) and prints value, standard error and ESS
side by side.

    python benchmarks/log_z_convergence.py --prior runs/celeba/conv_vae/prior \
        [--samples 100000,1000000,10000000] [--repeats 2] \
        [--out benchmarks/results/log_z_convergence.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _results import write_results

from ncpvae.data import load_data
from ncpvae.evaluation import estimate_log_normalizer
from ncpvae.runs import load_prior, resolve_device, vae_run_of

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", required=True, help="a train-prior run folder")
    parser.add_argument("--samples", default="100000,1000000,10000000")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/log_z_convergence.json"))
    args = parser.parse_args()
    device = resolve_device(args.device)
    prior = load_prior(args.prior, device)
    vae = vae_run_of(args.prior)
    train = load_data(vae.data).train
    rows = []
    print(f"{'samples':>10} | seed | log Z    | s.e.   | mean ESS over groups | seconds")
    for n in (int(s) for s in args.samples.split(",")):
        for seed in range(args.repeats):
            start = time.perf_counter()
            estimate = estimate_log_normalizer(prior, train, n, seed=100 + seed)
            seconds = time.perf_counter() - start
            groups = estimate.groups
            ess = sum(g.num_samples / (1 + g.relative_variance) for g in groups) / len(groups)
            rows.append(
                {
                    "samples": n,
                    "seed": 100 + seed,
                    "log_z": estimate.value,
                    "stderr": estimate.stderr,
                    "ess": ess,
                    "seconds": seconds,
                }
            )
            print(
                f"{n:>10} | {100 + seed} | {estimate.value:+.4f} | {estimate.stderr:.4f} | "
                f"{ess:20.1f} | {seconds:.1f}",
                flush=True,
            )
    write_results(args.out, device, prior=str(args.prior), rows=rows)


if __name__ == "__main__":
    main()
