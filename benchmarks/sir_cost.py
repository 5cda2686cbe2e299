"""SIR cost against its floor (docs/method.md section 2.3; the evaluation issue's target: <= 1.3x).

The floor is one batched evaluation of the classifier and the base prior's log-density on the
same number of proposals that SIR draws (num_samples * M). SIR adds drawing the proposals, the
softmax, the categorical draw and the gather.

    python benchmarks/sir_cost.py [--device auto] [--out benchmarks/results/sir_cost.json]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch
from _timing import best_seconds

from ncpvae import NCPPrior, SIRSampler, standard_normal
from ncpvae.nets import ResidualMLPClassifier
from ncpvae.runs import resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--num-samples", type=int, default=200)
    parser.add_argument("--out", default="benchmarks/results/sir_cost.json")
    args = parser.parse_args()
    device = resolve_device(args.device)
    rows = []
    for latent_dim, width in ((2, 128), (50, 256)):
        base = standard_normal((latent_dim,), device=device)
        prior = NCPPrior(base, ResidualMLPClassifier(latent_dim, width).to(device))
        for m in (50, 500, 5000):
            n = args.num_samples
            proposals = base.sample((n * m,))

            @torch.no_grad()
            def floor(proposals=proposals, prior=prior, base=base):
                return prior.log_ratio(proposals) + base.log_prob(proposals)

            sampler = SIRSampler(num_proposals=m, min_ess=0.0)
            t_floor = best_seconds(floor)
            t_sir = best_seconds(lambda sampler=sampler, prior=prior, n=n: prior.sample(n, sampler))
            rows.append(
                {
                    "latent_dim": latent_dim,
                    "classifier_width": width,
                    "M": m,
                    "samples": n,
                    "sir_s": t_sir,
                    "floor_s": t_floor,
                    "ratio": t_sir / t_floor,
                    "ms_per_sample": 1e3 * t_sir / n,
                }
            )
    header = ("dim", "width", "M", "SIR s", "floor s", "ratio", "ms/sample")
    print("{:>4} {:>5} {:>5} {:>8} {:>8} {:>6} {:>9}".format(*header))
    for r in rows:
        print(
            f"{r['latent_dim']:>4} {r['classifier_width']:>5} {r['M']:>5} {r['sir_s']:>8.3f} "
            f"{r['floor_s']:>8.3f} {r['ratio']:>6.2f} {r['ms_per_sample']:>9.3f}"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {
        "device": str(device),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
