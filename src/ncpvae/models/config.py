"""The one model config: which model (``kind``), which networks (``architecture``), their sizes
and the output likelihood. Fields a model does not use are ignored by it."""

from __future__ import annotations

from dataclasses import dataclass, field

from ncpvae.errors import require

__all__ = ["ModelConfig", "ACTIVATIONS"]

ACTIVATIONS = ("silu", "tanh")


@dataclass
class ModelConfig:
    """Sizes and choices of a latent-variable model.

    ``kind``: ``vae`` (Gaussian encoder, ELBO), ``rae`` (deterministic encoder, L2 latent and
    decoder penalties, a Gaussian mixture base prior fitted after training; Ghosh et al. 2020)
    or ``hvae`` (NVAE-style hierarchy of spatial latent groups: ``channels`` wide,
    ``groups_per_scale`` groups of ``latent_channels`` maps per scale, coarsest first,
    ``cells_per_group`` residual cells between groups; ``architecture`` is not used).
    ``architecture``: ``mlp`` (any data, flattened) or ``conv`` (images of side 28, 32 or 64).
    ``data_shape``: the shape of one example; empty means "take it from the data".
    ``likelihood``: ``gaussian`` (learned per-dimension scale), ``gaussian_fixed`` (scale
    ``output_scale``), ``bernoulli`` or ``logistic_mixture`` (``num_mixtures`` components).
    """

    kind: str = "vae"
    architecture: str = "mlp"
    data_shape: list[int] = field(default_factory=list)
    latent_dim: int = 2
    hidden_dim: int = 256  # mlp: width of the hidden layers
    depth: int = 3  # mlp: number of hidden layers
    activation: str = "silu"  # mlp: silu or tanh (Lawson et al. use tanh)
    channels: int = 32  # conv: channels after the stem, doubled at every downsampling
    likelihood: str = "gaussian"
    output_scale: float = 0.1  # gaussian_fixed: the fixed standard deviation of p(x|z)
    num_mixtures: int = 10  # logistic_mixture: components per data element
    rae_latent_penalty: float = 1.0  # rae: weight beta of 1/2 ||z||^2
    rae_decoder_penalty: float = 1e-6  # rae: weight lambda of the decoder's squared L2 norm
    gmm_components: int = 10  # rae: components of the full-covariance Gaussian mixture prior
    groups_per_scale: list[int] = field(default_factory=lambda: [2, 2])  # hvae, coarsest first
    latent_channels: int = 8  # hvae: channels of every latent group
    cells_per_group: int = 1  # hvae: residual cells between consecutive groups
    spectral_regularization: float = 0.0  # hvae: weight of the spectral penalty (0: off)

    def __post_init__(self) -> None:
        require(
            self.kind in ("vae", "rae", "hvae"),
            f"unknown model.kind {self.kind!r}; use vae, rae or hvae",
        )
        require(
            self.architecture in ("mlp", "conv"),
            f"unknown model.architecture {self.architecture!r}; use mlp or conv",
        )
        require(
            self.activation in ACTIVATIONS,
            f"unknown model.activation {self.activation!r}; use one of {list(ACTIVATIONS)}",
        )
        for name in ("latent_dim", "hidden_dim", "depth", "channels", "num_mixtures"):
            require(getattr(self, name) >= 1, f"model.{name} must be at least 1")
        require(self.gmm_components >= 1, "model.gmm_components must be at least 1")
        require(
            bool(self.groups_per_scale) and all(g >= 1 for g in self.groups_per_scale),
            "model.groups_per_scale needs at least one scale, each with at least one group",
        )
        require(self.latent_channels >= 1, "model.latent_channels must be at least 1")
        require(self.cells_per_group >= 0, "model.cells_per_group must be >= 0")
        require(self.spectral_regularization >= 0, "model.spectral_regularization must be >= 0")
        require(all(d >= 1 for d in self.data_shape), "model.data_shape entries must be >= 1")
        require(self.output_scale > 0, "model.output_scale must be positive")
        require(self.rae_latent_penalty >= 0, "model.rae_latent_penalty must be >= 0")
        require(self.rae_decoder_penalty >= 0, "model.rae_decoder_penalty must be >= 0")
