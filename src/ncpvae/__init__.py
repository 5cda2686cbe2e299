"""ncpvae: Noise Contrastive Priors for variational autoencoders (Aneja et al., NeurIPS 2021).

Train a VAE, freeze it, fit a classifier that tells aggregate-posterior latents from base-prior
latents, and reweight the prior by the classifier's density ratio:
p_NCP(z) = p(z) exp f(z) / Z (docs/method.md).

    model = ncpvae.build_model(ncpvae.VAEConfig(data_shape=[2], latent_dim=2))
    ncpvae.train_vae(model, train, ncpvae.TrainConfig(steps=3000))
    prior = ncpvae.build_prior(model)
    ncpvae.train_prior(prior, train, ncpvae.TrainConfig(steps=2000, lr_final=1e-7))
    prior.estimate_log_normalizer()
    out = prior.sample(1000, ncpvae.SIRSampler(num_proposals=500))
"""

from ncpvae._version import __version__
from ncpvae.data import (
    CIFAR10Config,
    DataConfig,
    FileDataConfig,
    Gaussians25Config,
    ImageFolderConfig,
    MNISTConfig,
    TensorData,
    load_data,
)
from ncpvae.distributions import standard_normal, tempered
from ncpvae.evaluation import (
    EvaluationReport,
    EvaluationSettings,
    evaluate,
    log_likelihood,
    log_likelihoods,
)
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
from ncpvae.prior import (
    ClassifierConfig,
    HierarchicalNCPPrior,
    LogNormalizer,
    NCPPrior,
    Prior,
    build_prior,
    merge_priors,
)
from ncpvae.runs import load_prior, load_vae, save_prior, save_vae
from ncpvae.samplers import (
    AutoSampler,
    BasePriorSampler,
    HMCConfig,
    HMCSampler,
    LangevinConfig,
    LangevinSampler,
    SampleOutput,
    Sampler,
    SIRConfig,
    SIRSampler,
    build_sampler,
    decode,
)
from ncpvae.threads import set_threads
from ncpvae.training import TrainConfig, train_prior, train_vae

__all__ = [
    "__version__",
    "Prior",
    "NCPPrior",
    "HierarchicalNCPPrior",
    "merge_priors",
    "LogNormalizer",
    "ClassifierConfig",
    "build_prior",
    "LatentVariableModel",
    "HierarchicalLatentModel",
    "VAE",
    "RAE",
    "HierarchicalVAE",
    "ModelConfig",
    "VAEConfig",
    "RAEConfig",
    "HierarchicalVAEConfig",
    "build_model",
    "TensorData",
    "DataConfig",
    "Gaussians25Config",
    "FileDataConfig",
    "MNISTConfig",
    "CIFAR10Config",
    "ImageFolderConfig",
    "load_data",
    "Sampler",
    "SampleOutput",
    "SIRConfig",
    "LangevinConfig",
    "HMCConfig",
    "build_sampler",
    "BasePriorSampler",
    "SIRSampler",
    "LangevinSampler",
    "HMCSampler",
    "AutoSampler",
    "decode",
    "TrainConfig",
    "train_vae",
    "train_prior",
    "save_vae",
    "load_vae",
    "save_prior",
    "load_prior",
    "log_likelihood",
    "log_likelihoods",
    "EvaluationSettings",
    "EvaluationReport",
    "evaluate",
    "standard_normal",
    "tempered",
    "set_threads",
]
