"""The density chasm in closed form: q = N(mu, s^2 I) against the base prior N(0, I) in 16
dimensions, KL(q || p) about 30 nats, so a classifier tells them apart almost always and its
ratio is poor (Rhodes et al., NeurIPS 2020). Each variant fits its ratio by stage 2 with the
same step budget on fresh q-samples (no VAE: the latents are the data), and is measured on
fresh q-samples:

* RMS of the log-ratio error, log r_hat(z) - log r(z), with r = q / base;
* log Z, estimated from q-samples as log E_q[r_hat / r] (= log E_base[r_hat]; draws of the base
  barely reach q here), near 0 for a ratio that integrates correctly.

Variants: the paper's single classifier, telescoping NCP with several waymark counts
(``--waymarks``), and a fitted base (``ClassifierConfig.fitted_base``: a full-covariance
Gaussian fitted to the q-samples by stage 2, alone and with telescoping, whose waymarks mix
around the base's mean).

    python benchmarks/density_chasm.py [--steps 3000] [--seeds 0 1] [--only VARIANT ...]
        [--out FILE]
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from _results import write_results
from torch.distributions import Distribution, Independent, Normal

from ncpvae import ClassifierConfig, TrainConfig, train_prior
from ncpvae.nets import ResidualMLPClassifier
from ncpvae.prior import FittedBase, NCPPrior

DIM, SCALE, SHIFT = 16, 0.3, 1.5
TRAIN, FRESH = 50_000, 100_000


def target() -> Independent:
    """q = N(SHIFT 1, SCALE^2 I)."""
    return Independent(Normal(torch.full((DIM,), SHIFT), torch.full((DIM,), SCALE)), 1)


def standard() -> Independent:
    return Independent(Normal(torch.zeros(DIM), torch.ones(DIM)), 1)


def fit(latents: torch.Tensor, cfg: ClassifierConfig, steps: int, seed: int):
    torch.manual_seed(seed)
    net = ResidualMLPClassifier(
        DIM,
        cfg.hidden_dim,
        cfg.num_blocks,
        outputs=cfg.waymarks + 1,
        batch_norm=cfg.batch_norm,
        squeeze_excitation=cfg.squeeze_excitation,
    )
    base = FittedBase(DIM, cfg.fitted_base) if cfg.fitted_base else standard()
    prior = NCPPrior(base, net, waymarks=cfg.waymark_weights())
    train_config = TrainConfig(steps=steps, batch_size=512, lr=1e-3, lr_final=1e-7)
    start = time.perf_counter()
    train_prior(
        prior, latents, train_config, progress=False, generator=torch.Generator().manual_seed(seed)
    )
    return prior.eval(), time.perf_counter() - start


@torch.no_grad()
def measure(prior: NCPPrior, q: Distribution, fresh: torch.Tensor) -> dict[str, float]:
    error = prior.log_ratio(fresh) - (q.log_prob(fresh) - prior.base.log_prob(fresh))
    log_z = float(torch.logsumexp(error, 0) - math.log(len(error)))
    weights = (error - error.max()).exp()
    return {
        "rms": float(error.pow(2).mean().sqrt()),
        "log_z": log_z,
        "log_z_stderr": float(weights.std() / (weights.mean() * math.sqrt(len(error)))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--waymarks", type=int, nargs="+", default=[3, 7])
    parser.add_argument("--only", nargs="+", help="run only the variants of these names")
    parser.add_argument("--out", default="benchmarks/results/density_chasm.json")
    args = parser.parse_args()
    q, p = target(), standard()
    kl = float(torch.distributions.kl_divergence(q, p))
    print(f"KL(q || p) = {kl:.2f} nats in {DIM} dimensions; {args.steps} steps each")
    classifier = dict(hidden_dim=128, num_blocks=2)
    variants = [("single", 0, 0)]
    variants += [(f"telescoping, {w} waymarks", 0, w) for w in args.waymarks]
    variants += [("fitted base", 1, 0)]
    variants += [(f"fitted base, {w} waymarks", 1, w) for w in args.waymarks[:1]]
    variants = [v for v in variants if not args.only or v[0] in args.only]
    rows = []
    for name, fitted_base, waymarks in variants:
        for seed in args.seeds:
            g = torch.Generator().manual_seed(1000 + seed)
            latents = q.mean + q.stddev * torch.randn(TRAIN, DIM, generator=g)
            fresh = q.mean + q.stddev * torch.randn(FRESH, DIM, generator=g)
            cfg = ClassifierConfig(**classifier, waymarks=waymarks, fitted_base=fitted_base)
            prior, seconds = fit(latents, cfg, args.steps, seed)
            row = {
                "variant": name,
                "seed": seed,
                "seconds": round(seconds, 1),
                **measure(prior, q, fresh),
            }
            rows.append(row)
            print(
                f"{name:28s} seed {seed}: RMS {row['rms']:.3f}, log Z {row['log_z']:+.3f} "
                f"+- {row['log_z_stderr']:.3f}, {seconds:.0f} s",
                flush=True,
            )
    write_results(args.out, torch.device("cpu"), kl=kl, dim=DIM, steps=args.steps, rows=rows)


if __name__ == "__main__":
    main()
