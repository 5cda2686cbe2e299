"""How much does estimating every Z_k(z_<k) from M draws bias a hierarchical NCP likelihood?

log Z_hat from M draws is biased low (Jensen), so the NCP log-likelihood is biased high by about
sum_k Var(w_k) / (2 M E[w_k]^2). This runs the NCP likelihood of the first ``--num-test`` test
images for each M in ``--draws``, from the same importance-sample seed, next to the base prior's
(the paired gain is what changes with M), and prints the report's analytic estimate of the bias
for each M.

    python benchmarks/normalizer_bias.py --prior runs/mnist_hvae/prior [--num-test 50] \
        [--importance-samples 1000] [--draws 50,400] [--out benchmarks/results/normalizer_bias.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch

from ncpvae.data import load_data
from ncpvae.evaluation import log_likelihoods
from ncpvae.runs import load_prior, resolve_device, vae_run_of

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", required=True, help="a train-prior run of a hierarchical VAE")
    parser.add_argument("--num-test", type=int, default=50)
    parser.add_argument("--importance-samples", type=int, default=1000)
    parser.add_argument("--draws", default="50,400", help="values of M, comma-separated")
    parser.add_argument("--contexts", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/normalizer_bias.json"))
    args = parser.parse_args()
    device = resolve_device(args.device)
    prior = load_prior(args.prior, device)
    model = prior.model
    vae_cfg = vae_run_of(args.prior)
    test = load_data(vae_cfg.data).test
    test = test.head(args.num_test)

    x = test.batch(slice(0, args.contexts), torch.Generator().manual_seed(0)).to(device)
    generator = torch.Generator(device).manual_seed(0)
    estimate = prior.estimate_log_normalizer(10_000 * len(x), contexts=x, generator=generator)
    relative_variance = sum(g.relative_variance for g in estimate.groups)
    rows = []
    for m in [int(v) for v in args.draws.split(",")]:
        prior.normalizer_samples = m
        start = time.perf_counter()
        lls = log_likelihoods(
            model,
            test,
            {"vae": model.base_prior(), "ncp": prior},
            num_samples=args.importance_samples,
            generator=torch.Generator().manual_seed(3),
            progress=True,
        )
        gain = lls["ncp"] - lls["vae"]
        rows.append(
            {
                "draws": m,
                "vae_nll": -float(lls["vae"].mean()),
                "ncp_nll": -float(lls["ncp"].mean()),
                "gain": float(gain.mean()),
                "gain_stderr": float(gain.std() / math.sqrt(len(gain))),
                "bias_estimate": relative_variance / (2 * m),
                "seconds": time.perf_counter() - start,
            }
        )
    print(f"{'M':>6} {'VAE NLL':>9} {'NCP NLL':>9} {'gain':>14} {'bias est.':>10} {'seconds':>8}")
    for r in rows:
        print(
            f"{r['draws']:>6} {r['vae_nll']:>9.3f} {r['ncp_nll']:>9.3f} "
            f"{r['gain']:>7.3f} +- {r['gain_stderr']:.3f} {r['bias_estimate']:>10.4f} "
            f"{r['seconds']:>8.0f}"
        )
    result = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, {device}",
        "prior": args.prior,
        "num_test": len(test),
        "importance_samples": args.importance_samples,
        "relative_variance_per_group": [g.relative_variance for g in estimate.groups],
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
