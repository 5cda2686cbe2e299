"""Model configs, one dataclass per model kind, each holding only the settings its model reads.

* :class:`VAEConfig` (``kind: "vae"``): Gaussian encoder and decoder networks, trained by the ELBO;
* :class:`RAEConfig` (``kind: "rae"``): a :class:`VAEConfig` plus the RAE's penalties and the size
  of the Gaussian-mixture base prior (Ghosh et al. 2020);
* :class:`HierarchicalVAEConfig` (``kind: "hvae"``): an NVAE-style hierarchy of spatial latent
  groups, for images.

:data:`ModelConfig` is the union of the three. A run config's ``model`` section is read into the
class its ``kind`` names (see :func:`ncpvae.config.from_dict`), so a setting of another kind is
an error, not silently ignored. Every field declares its default, help text and bounds once
(:func:`~ncpvae.settings.setting`).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from ncpvae.errors import require
from ncpvae.settings import Int, config_section, kind_union, setting

__all__ = [
    "BaseModelConfig",
    "VAEConfig",
    "RAEConfig",
    "HierarchicalVAEConfig",
    "ModelConfig",
    "LIKELIHOOD_NAMES",
]

LikelihoodName = Literal["gaussian", "gaussian_fixed", "bernoulli", "logistic_mixture"]
LIKELIHOOD_NAMES = LikelihoodName.__args__
"""The output likelihoods by their ``model.likelihood`` name (``ncpvae.likelihoods.LIKELIHOODS``
builds them)."""
Shape = list[Annotated[int, Field(ge=1)]]

KIND_HELP = (
    "Which model: vae (Gaussian encoder, trained by the ELBO), rae (deterministic encoder with L2 "
    "penalties and a Gaussian-mixture prior fitted after training) or hvae (NVAE-style hierarchy "
    "of spatial latent groups, for images)."
)


@config_section
class BaseModelConfig:
    """The settings every model kind has: its kind, the shape of one example and the output
    likelihood p(x|z)."""

    section: ClassVar[str] = "model"
    chosen_by: ClassVar[str] = "kind"  # the field that chooses the kind (see kind_union)

    kind: str = setting("", KIND_HELP)
    data_shape: Shape = setting(
        help="Shape of one example, e.g. 1,28,28; empty: taken from the data.",
        default_factory=list,
    )
    likelihood: LikelihoodName = setting(
        "gaussian",
        "Output distribution p(x|z): gaussian (learned scale per element), gaussian_fixed "
        "(standard deviation output_scale), bernoulli (binary data) or logistic_mixture (8-bit "
        "data, num_mixtures components).",
    )
    output_scale: float = setting(
        0.1,
        "Standard deviation of p(x|z) for likelihood gaussian_fixed, in data units.",
        above=0,
    )
    num_mixtures: Int = setting(
        10, "Logistic components per data element for likelihood logistic_mixture.", min=1
    )


@config_section
class VAEConfig(BaseModelConfig):
    """A VAE with one latent vector: encoder and decoder networks of ``architecture``
    (``mlp``: ``depth`` hidden layers of ``hidden_dim``; ``conv``: stride-2 convolutions starting
    at ``channels``) and the output likelihood."""

    kind: Literal["vae"] = setting("vae", KIND_HELP)
    architecture: Literal["mlp", "conv"] = setting(
        "mlp",
        "Encoder and decoder networks: mlp (any data, flattened) or conv (square images whose "
        "side is even and above 7, e.g. 28, 32 or 64).",
    )
    latent_dim: Int = setting(2, "Dimension of the latent vector z.", min=1)
    hidden_dim: Int = setting(256, "Width of every hidden layer of the mlp networks.", min=1)
    depth: Int = setting(3, "Number of hidden layers of the mlp networks.", min=1)
    activation: Literal["silu", "tanh"] = setting(
        "silu", "Activation of the mlp networks: silu or tanh (Lawson et al. use tanh)."
    )
    channels: Int = setting(
        32,
        "Channels of the conv networks after the first convolution, doubled at every "
        "downsampling up to 8 times this.",
        min=1,
    )


@config_section
class RAEConfig(VAEConfig):
    """A regularised autoencoder (RAE-L2): the networks of a :class:`VAEConfig`, a deterministic
    encoder, the loss -log p(x|z) + ``latent_penalty`` * ||z||^2 / 2 + ``decoder_penalty`` *
    ||decoder weights||^2, and a Gaussian mixture of ``gmm_components`` as base prior."""

    kind: Literal["rae"] = setting("rae", KIND_HELP)  # type: ignore[assignment]
    latent_penalty: float = setting(
        1.0, "Weight beta of the latent penalty beta * ||z||^2 / 2 in the loss (0: none).", min=0
    )
    decoder_penalty: float = setting(
        1e-6,
        "Weight lambda of the decoder weights' squared L2 norm in the loss (0: none).",
        min=0,
    )
    gmm_components: Int = setting(
        10,
        "Components of the full-covariance Gaussian mixture fitted on the training codes after "
        "training, the base prior.",
        min=1,
    )


@config_section
class HierarchicalVAEConfig(BaseModelConfig):
    """An NVAE-style hierarchical VAE for square images: ``groups_per_scale`` latent groups of
    ``latent_channels`` maps per scale (coarsest first), ``channels`` wide, ``cells_per_group``
    residual cells between groups."""

    kind: Literal["hvae"] = setting("hvae", KIND_HELP)
    channels: Int = setting(32, "Channels of the encoder's and decoder's feature maps.", min=1)
    groups_per_scale: Shape = setting(
        help="Latent groups at each scale, coarsest first, e.g. 2,2; the finest scale is a "
        "quarter of the image side and each scale before it halves it.",
        default_factory=lambda: [2, 2],
    )
    latent_channels: Int = setting(8, "Channels of every latent group.", min=1)
    cells_per_group: Int = setting(
        1, "Residual cells between consecutive latent groups (0: none).", min=0
    )
    spectral_regularization: float = setting(
        0.0,
        "Weight of the spectral penalty, the sum of the largest singular values of all "
        "convolutions (0: off).",
        min=0,
    )

    def __post_init__(self) -> None:
        require(bool(self.groups_per_scale), "model.groups_per_scale needs at least one scale")


ModelConfig = kind_union(VAEConfig, RAEConfig, HierarchicalVAEConfig)
"""Any model config; its ``kind`` says which (an :class:`RAEConfig` is also a
:class:`VAEConfig`), and a JSON object without one is a ``vae``."""
