"""Encoder and decoder networks, chosen by ``VAEConfig.architecture``.

Every architecture gives an encoder mapping x (N, *data_shape) to (N, encoder_out) and a decoder
mapping z (N, latent_dim) to likelihood parameters (N, params_per_dim, *data_shape).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ncpvae.config.model import VAEConfig
from ncpvae.errors import ConfigError
from ncpvae.nets import ACTIVATION_MODULES, mlp

__all__ = ["build_networks", "set_output_bias", "OutputBias", "ARCHITECTURES", "conv_scales"]

Networks = tuple[nn.Module, nn.Module]


def mlp_networks(cfg: VAEConfig, encoder_out: int, params_per_dim: int) -> Networks:
    """MLPs on the flattened data (the Lawson et al. MNIST VAE with ``activation='tanh'``,
    ``hidden_dim=300``, ``depth=2``, ``latent_dim=50``)."""
    data_dim = math.prod(cfg.data_shape)
    act = ACTIVATION_MODULES[cfg.activation]
    encoder = nn.Sequential(
        nn.Flatten(), mlp(data_dim, cfg.hidden_dim, cfg.depth, encoder_out, act)
    )
    decoder = nn.Sequential(
        mlp(cfg.latent_dim, cfg.hidden_dim, cfg.depth, params_per_dim * data_dim, act),
        nn.Unflatten(1, (params_per_dim, *cfg.data_shape)),
    )
    return encoder, decoder


class OutputBias(nn.Module):
    """A learned bias per output element (params_per_dim, *data_shape), added last: a
    convolution's own bias is shared across space, and the output should start at the data
    mean pixel by pixel."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(shape))

    def forward(self, x: Tensor) -> Tensor:
        """``x`` plus the bias (broadcast over the batch)."""
        return x + self.bias


def conv_scales(image_size: int) -> int:
    """Number of stride-2 stages: halve while the side is even and above 7 (28 -> 7 in two,
    32 -> 4 in three, 64 -> 4 in four)."""
    stages = 0
    while image_size > 7 and image_size % 2 == 0:
        image_size //= 2
        stages += 1
    return stages


def _down(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.SiLU()
    )


def _up(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.SiLU()
    )


def conv_networks(cfg: VAEConfig, encoder_out: int, params_per_dim: int) -> Networks:
    """A DCGAN-like pair for square images (C, S, S): stride-2 convolutions with batch norm and
    Swish down to a 4x4 or 7x7 map, a linear layer to the latent, and the mirror image back."""
    if len(cfg.data_shape) != 3 or cfg.data_shape[1] != cfg.data_shape[2]:
        raise ConfigError(
            f"model.architecture conv needs square images (C, S, S), got data_shape "
            f"{cfg.data_shape}; use --model.architecture mlp"
        )
    channels_in, size, _ = cfg.data_shape
    stages = conv_scales(size)
    if stages == 0:
        raise ConfigError(f"model.architecture conv needs an even image side above 7, got {size}")
    widths = [min(cfg.channels * 2**i, 8 * cfg.channels) for i in range(stages + 1)]
    side = size >> stages
    flat = widths[-1] * side * side
    encoder = nn.Sequential(
        nn.Conv2d(channels_in, widths[0], 3, padding=1),
        nn.SiLU(),
        *(_down(widths[i], widths[i + 1]) for i in range(stages)),
        nn.Flatten(),
        nn.Linear(flat, encoder_out),
    )
    decoder = nn.Sequential(
        nn.Linear(cfg.latent_dim, flat),
        nn.Unflatten(1, (widths[-1], side, side)),
        nn.SiLU(),
        *(_up(widths[i + 1], widths[i]) for i in reversed(range(stages))),
        nn.Conv2d(widths[0], params_per_dim * channels_in, 3, padding=1, bias=False),
        nn.Unflatten(1, (params_per_dim, channels_in)),
        OutputBias((params_per_dim, *cfg.data_shape)),
    )
    return encoder, decoder


ARCHITECTURES: dict[str, Callable[[VAEConfig, int, int], Networks]] = {
    "mlp": mlp_networks,
    "conv": conv_networks,
}


@torch.no_grad()
def set_output_bias(decoder: nn.Module, bias: Tensor) -> None:
    """Set the bias of the decoder's last layer (a linear layer or an :class:`OutputBias`) to a
    bias per output element (P, *data_shape)."""
    layer = [m for m in decoder.modules() if isinstance(m, nn.Linear | OutputBias)][-1]
    layer.bias.copy_(bias.reshape(layer.bias.shape))


def build_networks(cfg: VAEConfig, encoder_out: int, params_per_dim: int) -> Networks:
    """(encoder, decoder) of ``cfg.architecture`` for data of shape ``cfg.data_shape``."""
    return ARCHITECTURES[cfg.architecture](cfg, encoder_out, params_per_dim)
