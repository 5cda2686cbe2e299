"""Training: one optimisation loop for both stages (single process or torchrun), checkpoints
with exact resumption, sharded batch streams and noise, and the two stages."""

from ncpvae.config.train import TrainConfig
from ncpvae.training.batches import Minibatches
from ncpvae.training.checkpoints import Checkpointing, load_checkpoint, with_state
from ncpvae.training.encodings import encode_once
from ncpvae.training.history import TrainHistory
from ncpvae.training.loop import train
from ncpvae.training.stages import freeze, kl_warmup, posterior_latents, train_prior, train_vae

__all__ = [
    "TrainConfig",
    "TrainHistory",
    "Checkpointing",
    "with_state",
    "load_checkpoint",
    "train",
    "Minibatches",
    "train_vae",
    "train_prior",
    "posterior_latents",
    "freeze",
    "kl_warmup",
    "encode_once",
]
