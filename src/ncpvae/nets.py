"""Network blocks shared by the models and the NCP classifiers."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = [
    "mlp",
    "ACTIVATION_MODULES",
    "SqueezeExcitation",
    "ResidualMLPBlock",
    "ResidualMLPClassifier",
]


ACTIVATION_MODULES: dict[str, type[nn.Module]] = {"silu": nn.SiLU, "tanh": nn.Tanh}


def mlp(
    in_dim: int,
    hidden_dim: int,
    depth: int,
    out_dim: int,
    activation: type[nn.Module] = nn.SiLU,
) -> nn.Sequential:
    """``depth`` hidden layers of width ``hidden_dim`` with ``activation`` (Swish by default),
    then a linear output."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden_dim), activation()]
        width = hidden_dim
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation gating (Hu et al., CVPR 2018): x * sigmoid(W2 swish(W1 s(x))),
    where s averages a feature map (N, C, H, W) over space and is the identity on vectors."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.gate = nn.Sequential(
            nn.Linear(channels, hidden), nn.SiLU(), nn.Linear(hidden, channels), nn.Sigmoid()
        )

    def forward(self, x: Tensor) -> Tensor:
        """``x`` rescaled channel-wise, same shape as ``x``."""
        squeezed = x.mean(dim=(2, 3)) if x.ndim == 4 else x
        gate = self.gate(squeezed)
        return x * (gate[:, :, None, None] if x.ndim == 4 else gate)


class ResidualMLPBlock(nn.Module):
    """Pre-activation residual block for vectors: x + SE(W2 swish(BN(W1 swish(BN(x))))), the
    NCP paper's classifier cell (batch norm and squeeze-and-excitation can be switched off)."""

    def __init__(self, width: int, batch_norm: bool = True, squeeze_excitation: bool = True):
        super().__init__()
        norm = (lambda: nn.BatchNorm1d(width)) if batch_norm else nn.Identity
        self.body = nn.Sequential(
            norm(),
            nn.SiLU(),
            nn.Linear(width, width),
            norm(),
            nn.SiLU(),
            nn.Linear(width, width),
            SqueezeExcitation(width) if squeeze_excitation else nn.Identity(),
        )

    def forward(self, x: Tensor) -> Tensor:
        """x + body(x), same shape as x."""
        return x + self.body(x)


class ResidualMLPClassifier(nn.Module):
    """Classifier for vector latents whose output is the logit f(z) = log r(z): a linear stem,
    ``num_blocks`` residual blocks (Swish, batch norm, squeeze-and-excitation), a linear head.

    ``forward(z, context)`` takes a batch of latents of any event shape (flattened here) and an
    optional context feature (the frozen prior network's c_k in a hierarchical VAE, DESIGN.md
    section 2.2); it returns one logit per row.
    """

    def __init__(
        self,
        latent_dim: int,
        hidden_dim: int = 256,
        num_blocks: int = 3,
        context_dim: int = 0,
        *,
        batch_norm: bool = True,
        squeeze_excitation: bool = True,
    ) -> None:
        super().__init__()
        self.context_dim = context_dim
        self.stem = nn.Linear(latent_dim + context_dim, hidden_dim)
        self.blocks = nn.Sequential(
            *(
                ResidualMLPBlock(hidden_dim, batch_norm, squeeze_excitation)
                for _ in range(num_blocks)
            )
        )
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(hidden_dim, 1))

    def forward(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """Logits f(z) of shape (N,) for latents (N, ...) and an optional context (N, ...)."""
        h = z.flatten(start_dim=1)
        if self.context_dim:
            if context is None:
                raise ValueError("this classifier was built with context_dim > 0: pass a context")
            h = torch.cat([h, context.flatten(start_dim=1)], dim=1)
        return self.head(self.blocks(self.stem(h))).squeeze(-1)
