"""Does a prior's log Z estimate settle as the number of samples grows, and is it right?

log Z_hat = logsumexp f(z_i) - log N over draws of the base prior p is biased low (Jensen) by
about (1/ESS - 1/N)/2, and where the weights exp f are heavy-tailed its delta-method standard
error understates the spread: the estimate then keeps rising with N. This estimates log Z of a
train-prior run's prior from ``--samples`` draws (each with ``--repeats`` seeds) and prints
value, standard error and ESS side by side.

With ``--mixture`` (a flat prior whose VAE has a Gaussian q(z|x)) every row is repeated with
importance sampling from the defensive mixture g = (p + N(m, S) + q) / 3, where q is the
aggregate posterior of the training images (the mixture of their q(z|x), the density the
classifier was trained against) and N(m, S) its moment-matched Gaussian:
Z = E_g[p(z) exp f(z) / g(z)]. g reaches the region where q lives, which draws of p almost never
do, so if p's draws miss mass there the two estimates disagree. It then also fits the
temperature of the ratio on the held-out images' latents, f' = a f: Platt scaling (a, b by the
NCE loss against fresh draws of p) and, for each of ``--temperatures``, log Z(a) and the
validation gain E_q_val[a f] - log Z(a), the mean log-density ratio of the tilted prior
p exp(a f) / Z(a) to p on held-out latents; and the mean log-density of the held-out latents
under the prior (log Z from the mixture) and under the VAE's own prior, which compares priors
with different bases (a fitted base, ``--classifier.fitted_base``; log Z by the mixture at the
largest sample count and the first seed). ``--no-scan`` skips the Platt log Z and the scan,
which draw the mixture again (seed 200). The ratio is the prior's log r, the sum of its
bridges' logits for a telescoping prior.

    python benchmarks/log_z_convergence.py --prior runs/celeba/conv_vae/prior \
        [--samples 100000,1000000,10000000] [--repeats 2] [--mixture] \
        [--temperatures 0.8,1,1.1,1.2,1.3,1.5] [--no-scan] \
        [--out benchmarks/results/log_z_convergence.json (log_z_mixture.json with --mixture)]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from _results import write_results
from torch import Tensor
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

from ncpvae.data import TensorData, load_data
from ncpvae.distributions import sample
from ncpvae.evaluation import fit_log_normalizer
from ncpvae.metrics import LogWeightSums
from ncpvae.prior import NCPPrior
from ncpvae.runs import load_prior, resolve_device, vae_run_of
from ncpvae.training.encodings import encode_once

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 16_384


class DefensiveMixture:
    """g = (p + N(m, S) + q) / 3 with q = (1/n) sum_i N(mu_i, diag sigma_i^2), the aggregate
    posterior of n images, and N(m, S) its moment-matched Gaussian; drawn a third from each."""

    def __init__(self, base: Distribution, loc: Tensor, scale: Tensor) -> None:
        self.base, self.loc, self.scale = base, loc, scale
        n, d = loc.shape
        mean = loc.mean(0)
        centred = loc - mean
        cov = centred.T @ centred / n + torch.diag(scale.pow(2).mean(0))
        self.envelope = MultivariateNormal(mean, covariance_matrix=cov)
        # log N(z; mu_i, sigma_i) = [z^2, z] . [-1/(2 sigma^2), mu/sigma^2] + c_i: one matmul,
        # in float64 (the terms cancel to a few nats where sigma is small)
        loc, scale = loc.double(), scale.double()
        precision = scale.pow(-2)
        self.coefficients = torch.cat([-0.5 * precision, loc * precision], 1).T
        self.constants = (
            -0.5 * (loc.pow(2) * precision).sum(1)
            - scale.log().sum(1)
            - 0.5 * d * math.log(2 * math.pi)
        )

    def log_q(self, z: Tensor) -> Tensor:
        """log q(z) (float64)."""
        z = z.double()
        terms = torch.cat([z.pow(2), z], 1) @ self.coefficients + self.constants
        return terms.logsumexp(1) - math.log(len(self.loc))

    def log_prob(self, z: Tensor) -> Tensor:
        """log g(z) (float64)."""
        parts = [self.base.log_prob(z).double(), self.envelope.log_prob(z).double(), self.log_q(z)]
        return torch.stack(parts).logsumexp(0) - math.log(3)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n draws, stratified: n // 3 from p, as many from N(m, S), the rest from q (the
        estimate of Z stays unbiased, with less variance than drawing the component)."""
        counts = [n // 3, n // 3, n - 2 * (n // 3)]
        index = torch.randint(len(self.loc), (counts[2],), generator=generator)
        noise = torch.randn(counts[2], self.loc.shape[1], generator=generator)
        index, noise = index.to(self.loc.device), noise.to(self.loc.device)
        return torch.cat(
            [
                sample(self.base, (counts[0],), generator),
                sample(self.envelope, (counts[1],), generator),
                self.loc[index] + self.scale[index] * noise,
            ]
        )


def gaussian_posterior(prior: NCPPrior, data: TensorData) -> Independent:
    """q(z|x) of every example of ``data``, batched: (N,) diagonal Gaussians."""
    encoded = encode_once(prior.model, data, max_bytes=2**62)
    if encoded is None:
        raise SystemExit("--mixture needs data that are not binarized afresh")
    posterior = prior.model.posterior_from(encoded.values.to(prior.model.device))
    if not (isinstance(posterior, Independent) and isinstance(posterior.base_dist, Normal)):
        raise SystemExit("--mixture needs a VAE with a diagonal Gaussian q(z|x)")
    return posterior


@torch.no_grad()
def mixture_draws(prior: NCPPrior, g: DefensiveMixture, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """f(z) and log p(z) - log g(z) for n draws of g."""
    generator = torch.Generator().manual_seed(seed)
    logits, log_ratio = [], []
    for start in range(0, n, CHUNK):
        z = g.sample(min(CHUNK, n - start), generator)
        logits.append(prior.log_ratio(z).double())
        log_ratio.append(prior.base.log_prob(z).double() - g.log_prob(z))
    return torch.cat(logits), torch.cat(log_ratio)


def importance_estimate(log_w: Tensor) -> tuple[float, float, float]:
    """log mean exp(log_w), its delta-method standard error and the weights' ESS (as the
    library's log Z estimates compute them)."""
    n = len(log_w)
    sums = LogWeightSums(dim=0)
    sums.add(log_w)
    ess = float(sums.ess())
    return float(sums.lse) - math.log(n), math.sqrt(max(0, 1 / ess - 1 / n)), ess


@torch.no_grad()
def temperature_fit(prior: NCPPrior, validation: TensorData, draws: int) -> dict[str, float]:
    """Platt scaling f' = a f + b on the held-out images' latents (``draws`` // images fresh
    draws of q(z|x) for each image) against as many fresh draws of p, and E_q_val[f]."""
    torch.manual_seed(7)
    posterior = gaussian_posterior(prior, validation)
    repeats = max(1, draws // posterior.batch_shape[0])
    latents = [posterior.sample() for _ in range(repeats)]
    real = torch.cat([prior.log_ratio(z) for z in latents])
    fake = torch.cat(
        [
            prior.log_ratio(prior.base.sample((min(CHUNK, len(real) - s),)))
            for s in range(0, len(real), CHUNK)
        ]
    )
    log_base = torch.cat([prior.base.log_prob(z) for z in latents]).double()
    log_standard = torch.cat([prior.model.base_prior().log_prob(z) for z in latents]).double()
    ab = torch.tensor([1.0, 0.0], requires_grad=True)
    optimiser = torch.optim.LBFGS([ab], max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimiser.zero_grad()
        with torch.enable_grad():
            loss = (
                F.softplus(-(ab[0] * real + ab[1])).mean() + F.softplus(ab[0] * fake + ab[1]).mean()
            )
            loss.backward()
        return loss

    optimiser.step(closure)
    return {
        "platt_a": float(ab[0]),
        "platt_b": float(ab[1]),
        "validation_mean_f": float(real.double().mean()),
        "validation_mean_log_base": float(log_base.mean()),
        "validation_mean_log_vae_prior": float(log_standard.mean()),
        "validation_latents": len(real),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", required=True, help="a train-prior run folder")
    parser.add_argument("--samples", default="100000,1000000,10000000")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--mixture", action="store_true")
    parser.add_argument("--temperatures", default="0.8,1,1.1,1.2,1.3,1.5")
    parser.add_argument(
        "--no-scan",
        action="store_true",
        help="with --mixture: no Platt log Z and temperature scan (their own 10^N mixture draws)",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--out",
        help="default: benchmarks/results/log_z_convergence.json, or "
        "log_z_mixture.json with --mixture",
    )
    args = parser.parse_args()
    name = "log_z_mixture.json" if args.mixture else "log_z_convergence.json"
    args.out = args.out or str(ROOT / "benchmarks/results" / name)
    device = resolve_device(args.device)
    prior = load_prior(args.prior, device)
    vae = vae_run_of(args.prior)
    splits = load_data(vae.data)
    mixture = None
    if args.mixture:
        if not isinstance(prior, NCPPrior) or prior.model is None:
            raise SystemExit("--mixture needs a flat prior fitted on a VAE")
        posterior = gaussian_posterior(prior, splits.train)
        mixture = DefensiveMixture(prior.base, posterior.base_dist.loc, posterior.base_dist.scale)
    rows = []
    print(f"{'samples':>10} | seed | proposal | log Z    | s.e.   | ESS      | seconds")
    for n in (int(s) for s in args.samples.split(",")):
        for seed in range(args.repeats):
            start = time.perf_counter()
            estimate = fit_log_normalizer(prior, splits.train, n, seed=100 + seed)
            groups = estimate.groups
            ess = sum(g.num_samples / (1 + g.relative_variance) for g in groups) / len(groups)
            found = [("p", estimate.value, estimate.stderr, ess, time.perf_counter() - start)]
            if mixture is not None:
                start = time.perf_counter()
                logits, log_ratio = mixture_draws(prior, mixture, n, 100 + seed)
                found.append(
                    (
                        "mixture",
                        *importance_estimate(logits + log_ratio),
                        time.perf_counter() - start,
                    )
                )
            for proposal, value, stderr, ess, seconds in found:
                rows.append(
                    {
                        "samples": n,
                        "seed": 100 + seed,
                        "proposal": proposal,
                        "log_z": value,
                        "stderr": stderr,
                        "ess": ess,
                        "seconds": seconds,
                    }
                )
                print(
                    f"{n:>10} | {100 + seed} | {proposal:>8} | {value:+.4f} | {stderr:.4f} | "
                    f"{ess:8.1f} | {seconds:.1f}",
                    flush=True,
                )
    tempered = {}
    if mixture is not None:
        n = max(int(s) for s in args.samples.split(","))
        fit = temperature_fit(prior, splits.validation, 100_000)
        first = next(r for r in rows if r["proposal"] == "mixture" and r["samples"] == n)
        fit["validation_log_density"] = (
            fit["validation_mean_log_base"] + fit["validation_mean_f"] - first["log_z"]
        )
        print(
            f"held-out latents: mean log p_NCP {fit['validation_log_density']:.3f} nats (log Z "
            f"by the mixture, {n:,} draws, seed {first['seed']}), under the VAE's own prior "
            f"{fit['validation_mean_log_vae_prior']:.3f}"
        )
        tempered = {"temperature": {**fit, "samples": n}}
    if mixture is not None and not args.no_scan:
        logits, log_ratio = mixture_draws(prior, mixture, n, 200)
        platt_log_z = fit["platt_b"] + importance_estimate(fit["platt_a"] * logits + log_ratio)[0]
        fit["platt_log_z"] = platt_log_z
        print(
            f"Platt scaling on {fit['validation_latents']:,} held-out latents: "
            f"a = {fit['platt_a']:.3f}, b = {fit['platt_b']:+.3f}; log Z of a f + b: "
            f"{platt_log_z:+.3f}"
        )
        print(" a    | log Z(a) (mixture, s.e.) | ESS    | E_q_val[a f] - log Z(a)")
        scan = []
        for a in (float(t) for t in args.temperatures.split(",")):
            value, stderr, ess = importance_estimate(a * logits + log_ratio)
            gain = a * fit["validation_mean_f"] - value
            scan.append(
                {"a": a, "log_z": value, "stderr": stderr, "ess": ess, "validation_gain": gain}
            )
            print(f" {a:4.2f} | {value:+8.3f} ({stderr:.3f})        | {ess:6.1f} | {gain:.3f}")
        tempered = {"temperature": {**fit, "samples": n, "seed": 200, "scan": scan}}
    write_results(args.out, device, prior=str(args.prior), rows=rows, **tempered)


if __name__ == "__main__":
    main()
