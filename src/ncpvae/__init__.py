"""ncpvae: Noise Contrastive Priors for variational autoencoders (Aneja et al., NeurIPS 2021).

Train a VAE, freeze it, fit a classifier that tells aggregate-posterior latents from base-prior
latents, and reweight the prior by the classifier's density ratio:
p_NCP(z) = p(z) exp f(z) / Z.
"""

from ncpvae.data import TensorData
from ncpvae.distributions import sample, standard_normal, tempered
from ncpvae.evaluation import log_likelihood, log_likelihoods
from ncpvae.hierarchical_prior import HierarchicalNCPPrior, merge_priors
from ncpvae.models import (
    RAE,
    VAE,
    HierarchicalLatentModel,
    HierarchicalVAE,
    HierarchicalVAEConfig,
    LatentVariableModel,
    ModelConfig,
    RAEConfig,
    VAEConfig,
    build_model,
)
from ncpvae.nets import ResidualConvClassifier, ResidualMLPClassifier
from ncpvae.prior import LogNormalizerEstimate, NCPPrior
from ncpvae.samplers import (
    BasePriorSampler,
    HMCSampler,
    LangevinSampler,
    SampleOutput,
    Sampler,
    SIRSampler,
)
from ncpvae.stages import posterior_latents, train_prior, train_vae
from ncpvae.training import TrainConfig

__version__ = "0.1.0"

__all__ = [
    "NCPPrior",
    "HierarchicalNCPPrior",
    "merge_priors",
    "LogNormalizerEstimate",
    "ResidualMLPClassifier",
    "ResidualConvClassifier",
    "LatentVariableModel",
    "HierarchicalLatentModel",
    "HierarchicalVAE",
    "ModelConfig",
    "VAEConfig",
    "RAEConfig",
    "HierarchicalVAEConfig",
    "build_model",
    "VAE",
    "RAE",
    "TensorData",
    "Sampler",
    "SampleOutput",
    "BasePriorSampler",
    "SIRSampler",
    "LangevinSampler",
    "HMCSampler",
    "TrainConfig",
    "train_vae",
    "train_prior",
    "posterior_latents",
    "log_likelihood",
    "log_likelihoods",
    "standard_normal",
    "tempered",
    "sample",
]
