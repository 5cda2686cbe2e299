"""The ``classifier`` section: the NCP classifier f(z) = log r(z) that stage 2 fits."""

from __future__ import annotations

from typing import ClassVar

from ncpvae.settings import Int, config_section, setting

__all__ = ["ClassifierConfig"]


@config_section
class ClassifierConfig:
    """The residual classifier f(z) = log r(z) (the paper's: Swish, batch norm and
    squeeze-and-excitation in every block)."""

    section: ClassVar[str] = "classifier"
    hidden_dim: Int = setting(256, "Width of the classifier's residual blocks.", min=1)
    num_blocks: Int = setting(3, "Residual blocks (0: a linear classifier).", min=0)
    batch_norm: bool = setting(True, "Batch norm in every block.")
    squeeze_excitation: bool = setting(True, "Squeeze-and-excitation in every block.")
    dropout: float = setting(
        0.0, "Dropout probability inside every block (a regulariser of the ratio).", min=0, below=1
    )
    spectral_norm: bool = setting(
        False, "Spectral normalisation of every layer (a regulariser of the ratio)."
    )
    latent_noise: float = setting(
        0.0,
        "Standard deviation of Gaussian noise added to the aggregate-posterior latents in stage "
        "2: the prior fits q(z) smoothed by N(0, s^2 I) (for a deterministic encoder, whose "
        "codes are points; flat priors only).",
        min=0,
    )
    waymarks: Int = setting(
        0,
        "Telescoping NCP: waymark distributions between the base prior and the aggregate "
        "posterior (of every group, for a hierarchical prior), one ratio per neighbouring pair "
        "(Rhodes et al. 2020); 0: the paper's one ratio. The waymarks mix z_k = m + sqrt(1 - "
        "a_k^2) (z_p - m) + a_k (z_q - m) around the base's mean m, a_k = k / (waymarks + 1).",
        min=0,
    )

    fitted_base: Int = setting(
        0,
        "A base prior fitted to the aggregate posterior in place of the VAE's (flat priors): "
        "the components of a full-covariance Gaussian mixture fitted to one posterior draw of "
        "each training example before stage 2 (1: one Gaussian); 0: the VAE's own base prior.",
        min=0,
    )

    def waymark_weights(self) -> list[float]:
        """The mixing weights a_k = k / K, k = 1 ... K - 1, of the ``waymarks`` (K = waymarks + 1
        bridges; evenly spaced weights measured better than a_k = sqrt(k / K), docs/method.md
        section 2.5)."""
        bridges = self.waymarks + 1
        return [k / bridges for k in range(1, bridges)]
