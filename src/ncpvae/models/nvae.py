"""An NVAE-style hierarchical VAE (Vahdat & Kautz, NeurIPS 2020), written from the paper.

Latent groups z_k are spatial maps (``latent_channels`` x s x s) on one or more scales
(``groups_per_scale``, coarsest first; the finest scale is the padded image side / 4). A
bottom-up encoder produces one feature e_k per group; a top-down decoder carries a state h, the
context c_k = c(z_<k) of group k:

    p(z_k | z_<k)    = N(mu_k(c_k), sigma_k(c_k)^2)
    q(z_k | x, z_<k) = N(mu_k + dmu_k(c_k, e_k), (sigma_k * dsigma_k(c_k, e_k))^2)
                       (NVAE's residual Normal, section 3.2: posterior relative to the prior)
    h <- h + W_k z_k, then residual cells (and a 2x upsampling between scales)

Residual cells are batch norm, Swish, 3x3 convolution (twice) and squeeze-and-excitation
(NVAE section 3.1). Log-scales are soft-clamped; a temperature t multiplies every prior sigma_k;
the optional spectral regularisation (NVAE section 3.2) adds lambda * the sum of the largest
singular values of all convolutions, each estimated by one power iteration per step. Images
whose side is not a multiple of 4 * 2^(scales - 1) are zero-padded at the input and the output
is cropped back, so likelihoods are over the original pixels (MNIST: 28x28 padded to 32x32).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution, Normal

from ncpvae.config.model import HierarchicalVAEConfig
from ncpvae.data.arrays import TensorData
from ncpvae.errors import ConfigError
from ncpvae.likelihoods import build_likelihood, soft_clamp
from ncpvae.models.architectures import OutputBias
from ncpvae.models.base import TrainingOutput
from ncpvae.models.hierarchy import ChooseLatent, GroupStep, HierarchicalLatentModel
from ncpvae.nets import ResidualBlock

__all__ = ["HierarchicalVAE"]

MAX_ABS_LOG_SCALE = 7.0  # soft clamp of every log-scale, prior and posterior


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)


def _cells(width: int, count: int) -> list[nn.Module]:
    return [ResidualBlock(width, spatial=True) for _ in range(count)]


class NearestUpsample2x(nn.Module):
    """Nearest-neighbour upsampling by 2 of (N, C, H, W) maps, as one strided copy: the values of
    ``nn.Upsample(scale_factor=2, mode="nearest")``, about 2.7 times faster on a CPU."""

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        return x[:, :, :, None, :, None].expand(n, c, h, 2, w, 2).reshape(n, c, 2 * h, 2 * w)


# PHASE_TAPS[a, u, p] = 1 where row p of a 3x3 kernel, at output rows of parity a, reads input
# row i - 1 + a + u of the map before upsampling (u = 0, 1): output row 2i + a reads upsampled
# rows 2i + a - 1 .. 2i + a + 1, which are input rows i + floor((a + p - 1) / 2)
PHASE_TAPS = torch.tensor([[[1.0, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]]])


class UpsampledConv(nn.Sequential):
    """conv(up(x)): a 3x3 convolution (padding 1) of the nearest-neighbour 2x upsampled maps,
    computed without the upsampled map. Each of the four output phases (row and column parity)
    reads only a 2x2 neighbourhood of x, with the kernel's taps that fall on the same input pixel
    summed: one 2x2 convolution of x with 4 * C_out channels, then the phases interleaved. The
    same values as ``nn.Sequential(NearestUpsample2x(), conv)`` up to float rounding, with 4/9 of
    its multiply-adds (times (1 + 1/side)^2) and no upsampled copy of the input; the same
    submodules and state dict keys."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(NearestUpsample2x(), _conv(c_in, c_out))

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, C_out, 2H, 2W)."""
        conv: nn.Conv2d = self[1]
        n, _, h, w = x.shape
        c = conv.out_channels
        taps = PHASE_TAPS.to(conv.weight)
        kernel = torch.einsum("aup,bvq,ocpq->abocuv", taps, taps, conv.weight)
        bias = None if conv.bias is None else conv.bias.repeat(4)
        phases = F.conv2d(x, kernel.reshape(4 * c, -1, 2, 2), bias, padding=1)
        phases = phases.view(n, 2, 2, c, h + 1, w + 1)
        out = phases.new_empty(n, c, h, 2, w, 2)
        for a in (0, 1):
            for b in (0, 1):
                out[:, :, :, a, :, b] = phases[:, a, b, :, a : a + h, b : b + w]
        return out.view(n, c, 2 * h, 2 * w)


class HierarchicalVAE(HierarchicalLatentModel):
    """NVAE-style hierarchical VAE for images (C, S, S), sized by a
    :class:`HierarchicalVAEConfig` (``channels``, ``latent_channels``, ``groups_per_scale``,
    ``cells_per_group``, ``spectral_regularization``, ``likelihood``).

    Per group it exposes ``group_shapes``, ``context_shapes`` (the context is the decoder state
    before z_k is added) and the two passes of :class:`HierarchicalLatentModel`.
    """

    def __init__(self, config: HierarchicalVAEConfig) -> None:
        super().__init__()
        if len(config.data_shape) != 3 or config.data_shape[1] != config.data_shape[2]:
            raise ConfigError(
                f"model.kind hvae needs square images (C, S, S), got data_shape {config.data_shape}"
            )
        self.config = config
        channels_in, side, _ = config.data_shape
        scales = len(config.groups_per_scale)
        multiple = 4 << (scales - 1)  # two stride-2 stems, then one halving per extra scale
        self.padded_side = math.ceil(side / multiple) * multiple
        width, lc = config.channels, config.latent_channels
        half = max(width // 2, 1)
        finest = self.padded_side // 4

        # group k's scale, coarsest first: sides finest / 2^(scales-1), ..., finest
        self.group_sides = [
            finest >> (scales - 1 - s)
            for s, count in enumerate(config.groups_per_scale)
            for _ in range(count)
        ]
        self.group_shapes = [(lc, s, s) for s in self.group_sides]
        self.context_shapes = [(width, s, s) for s in self.group_sides]

        self.output = build_likelihood(
            config.likelihood, output_scale=config.output_scale, num_mixtures=config.num_mixtures
        )
        # bottom-up: stems to the finest latent scale, then one cell stack per group (last group
        # first), halving between scales
        self.stem = nn.Sequential(
            _conv(channels_in, half, stride=2),
            *_cells(half, 1),
            _conv(half, width, stride=2),
        )
        self.encoder_cells = nn.ModuleList(
            nn.Sequential(
                *self._rescale(k, _conv(width, width, stride=2)),
                *_cells(width, config.cells_per_group),
            )
            for k in range(self.num_groups)
        )
        # top-down
        top = self.group_sides[0]
        self.top_state = nn.Parameter(torch.zeros(1, width, top, top))
        self.decoder_cells = nn.ModuleList(
            nn.Sequential(
                *_cells(width, config.cells_per_group),
                *self._rescale(k, UpsampledConv(width, width), before=True),
            )
            for k in range(1, self.num_groups)
        )
        self.prior_heads = nn.ModuleList(
            nn.Sequential(nn.SiLU(), _conv(width, 2 * lc)) for _ in range(self.num_groups)
        )
        self.posterior_heads = nn.ModuleList(
            nn.Sequential(nn.SiLU(), _conv(2 * width, 2 * lc)) for _ in range(self.num_groups)
        )
        self.latent_projections = nn.ModuleList(_conv(lc, width) for _ in range(self.num_groups))
        params = self.output.params_per_dim
        self.postprocess = nn.Sequential(
            *_cells(width, config.cells_per_group),
            UpsampledConv(width, half),
            *_cells(half, 1),
            UpsampledConv(half, half),
            nn.SiLU(),
            nn.Conv2d(half, params * channels_in, 3, padding=1, bias=False),
        )
        self.output_bias = OutputBias((params, *config.data_shape))
        self.spectral = SpectralPenalty(self) if config.spectral_regularization > 0 else None

    @property
    def row_activation_elements(self) -> int:
        """The largest feature map a row hands between layers: the output stage's (``channels``
        / 2 maps at the padded image side) or a posterior head's input (2 * ``channels`` at the
        finest scale). The last :class:`UpsampledConv`'s phases, inside the layer, are 13 % larger
        on MNIST's 32x32."""
        width, finest = self.config.channels, self.padded_side // 4
        return max(max(width // 2, 1) * self.padded_side**2, 2 * width * finest**2)

    def _rescale(self, k: int, layer: nn.Module, before: bool = False) -> list[nn.Module]:
        """``[layer]`` where the scale changes between group k and its neighbour (k + 1 for the
        encoder, which runs bottom-up; k - 1 for the decoder), else ``[]``."""
        other = k - 1 if before else k + 1
        if 0 <= other < self.num_groups and self.group_sides[other] != self.group_sides[k]:
            return [layer]
        return []

    # ------------------------------------------------------------------ the two passes

    def _pad(self, x: Tensor) -> Tensor:
        extra = self.padded_side - x.shape[-1]
        return F.pad(x, (0, extra, 0, extra)) if extra else x

    def encode(self, x: Tensor) -> list[Tensor]:
        """Bottom-up pass: the encoder feature e_k of every group, [e_k (N, C, s_k, s_k)]."""
        h = self.stem(self._pad(x))
        features: list[Tensor] = [h] * self.num_groups
        for k in reversed(range(self.num_groups)):
            h = self.encoder_cells[k](h)
            features[k] = h
        return features

    def walk(
        self,
        choose: ChooseLatent,
        num: int,
        features: list[Tensor] | None = None,
        temperature: float = 1.0,
        decode: bool = True,
    ) -> Distribution | None:
        """Top-down pass for ``num`` rows: at each group k compute the context c_k, the prior
        p_t(z_k | z_<k) (and with encoder ``features`` the posterior q(z_k | x, z_<k)), take
        z_k = choose(step) and fold it into the state. Returns p(x | z) if ``decode``."""
        h = self.top_state.expand(num, -1, -1, -1)
        for k in range(self.num_groups):
            if k > 0:
                h = self.decoder_cells[k - 1](h)
            mu, raw_log_sigma = self.prior_heads[k](h).chunk(2, dim=1)
            sigma = soft_clamp(raw_log_sigma, MAX_ABS_LOG_SCALE).exp()
            posterior = None
            if features is not None:
                d_mu, raw_d_log_sigma = self.posterior_heads[k](
                    torch.cat([h, features[k]], dim=1)
                ).chunk(2, dim=1)
                d_sigma = soft_clamp(raw_d_log_sigma, MAX_ABS_LOG_SCALE).exp()
                posterior = Normal(mu + d_mu, sigma * d_sigma, validate_args=False)
            prior = Normal(mu, sigma * temperature, validate_args=False)
            z = choose(GroupStep(k, h, prior, posterior))
            h = h + self.latent_projections[k](z)
        if not decode:
            return None
        params = self.postprocess(h)
        side = self.config.data_shape[-1]
        params = params[..., :side, :side].unflatten(1, (self.output.params_per_dim, -1))
        return self.output(self.output_bias(params))

    def forward(self, x: Tensor, kl_weight: float = 1.0) -> TrainingOutput:
        """Negative ELBO (see :meth:`LatentVariableModel.forward`) plus, when configured, the
        spectral penalty lambda * sum of largest singular values (training mode only)."""
        out = super().forward(x, kl_weight)
        if self.spectral is not None and self.training:
            penalty = self.spectral()
            out.loss = out.loss + self.config.spectral_regularization * penalty
            out.terms["spectral"] = penalty
        return out

    @torch.no_grad()
    def init_from_data(self, data: TensorData) -> None:
        """Start the output at the data mean (logit of it for Bernoulli pixels)."""
        bias = self.output.initial_bias(data.mean().to(self.device))
        if bias is not None:
            self.output_bias.bias.copy_(bias.reshape(self.output_bias.bias.shape))


class SpectralPenalty(nn.Module):
    """sum over the model's convolutions of their largest singular value, by one step of power
    iteration per call on the weight reshaped to (out, in * k * k) (NVAE section 3.2)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.layers = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        for i, layer in enumerate(self.layers):
            u = F.normalize(torch.randn(layer.out_channels), dim=0)
            self.register_buffer(f"u{i}", u)

    def forward(self) -> Tensor:
        total = 0.0
        for i, layer in enumerate(self.layers):
            w = layer.weight.flatten(1)
            u = getattr(self, f"u{i}")
            with torch.no_grad():
                v = F.normalize(w.t() @ u, dim=0)
                u.copy_(F.normalize(w @ v, dim=0))
            total = total + u @ w @ v
        return total
