"""NCP on your own VAE: implement ``posterior`` and ``likelihood``, and ncpvae does the rest.

A small VAE written from scratch (not one of ncpvae's models) on the built-in 25-Gaussians
data: train it with ncpvae's stage 1, fit an NCP prior on its aggregate posterior (stage 2),
estimate log Z, sample with SIR and HMC, and compare test log-likelihoods under both priors.

    python examples/ncp_on_my_vae.py                 # about a minute on 2 CPU cores
    python examples/ncp_on_my_vae.py --steps 50      # a quick check
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from ncpvae import (
    HMCSampler,
    LatentVariableModel,
    NCPPrior,
    SIRSampler,
    TrainConfig,
    log_likelihoods,
    train_prior,
    train_vae,
)
from ncpvae.data import gaussians25
from ncpvae.nets import ResidualMLPClassifier


class MyVAE(LatentVariableModel):
    """Gaussian encoder and decoder, two hidden layers each: all ncpvae needs is the contract
    of :class:`~ncpvae.LatentVariableModel` (``latent_shape``, ``posterior``, ``likelihood``)."""

    def __init__(self, data_dim: int = 2, latent_dim: int = 2, hidden: int = 128) -> None:
        super().__init__()
        self.latent_shape = (latent_dim,)
        self.encoder = nn.Sequential(
            nn.Linear(data_dim, hidden), nn.Tanh(), nn.Linear(hidden, 2 * latent_dim)
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.Tanh(), nn.Linear(hidden, 2 * data_dim)
        )

    def posterior(self, x: Tensor) -> Distribution:
        mean, log_scale = self.encoder(x).chunk(2, dim=-1)
        return Independent(Normal(mean, log_scale.clamp(-7, 2).exp()), 1)

    def likelihood(self, z: Tensor) -> Distribution:
        mean, log_scale = self.decoder(z).chunk(2, dim=-1)
        return Independent(Normal(mean, log_scale.clamp(-5, 2).exp()), 1)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="training steps of each stage")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    train, test = gaussians25(20_000, g), gaussians25(500, g)

    vae = MyVAE()
    train_vae(vae, train, TrainConfig(steps=args.steps), kl_warmup_fraction=0.9, progress=False)
    prior = NCPPrior(vae.base_prior(), ResidualMLPClassifier(latent_dim=2, hidden_dim=64), vae)
    train_prior(prior, train, TrainConfig(steps=args.steps, lr_final=1e-7), progress=False)
    log_z = prior.estimate_log_normalizer(200_000)

    sir = prior.sample(1000, SIRSampler(num_proposals=200), generator=g)
    hmc = prior.sample(500, HMCSampler(num_steps=20, num_warmup=20, num_leapfrog=5))
    ll = log_likelihoods(vae, test, {"vae": vae.base_prior(), "ncp": prior}, num_samples=200)
    result = {
        "log_z": log_z.value,
        "sir_ess": float(sir.ess.mean()),
        "hmc_acceptance": float(hmc.acceptance_rate),
        "vae_log_likelihood": float(ll["vae"].mean()),
        "ncp_log_likelihood": float(ll["ncp"].mean()),
    }
    for name, value in result.items():
        print(f"{name:>20}: {value:.4f}")
    return result


if __name__ == "__main__":
    main()
