"""Network blocks shared by the models and the NCP classifiers."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["mlp", "ResidualMLPBlock", "ResidualMLPClassifier"]


def mlp(in_dim: int, hidden_dim: int, depth: int, out_dim: int) -> nn.Sequential:
    """``depth`` hidden layers of width ``hidden_dim`` with Swish (SiLU), then a linear output."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden_dim), nn.SiLU()]
        width = hidden_dim
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class ResidualMLPBlock(nn.Module):
    """Pre-activation residual block: x + W2 swish(W1 swish(x))."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.SiLU(), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width)
        )

    def forward(self, x: Tensor) -> Tensor:
        """x + body(x), same shape as x."""
        return x + self.body(x)


class ResidualMLPClassifier(nn.Module):
    """Classifier for vector latents whose output is the logit f(z) = log r(z).

    ``forward(z, context)`` takes a batch of latents of any event shape (flattened here) and an
    optional context feature (the frozen prior network's c_k in a hierarchical VAE, DESIGN.md
    section 2.2); it returns one logit per row.
    """

    def __init__(
        self, latent_dim: int, hidden_dim: int = 256, num_blocks: int = 3, context_dim: int = 0
    ) -> None:
        super().__init__()
        self.context_dim = context_dim
        self.stem = nn.Linear(latent_dim + context_dim, hidden_dim)
        self.blocks = nn.Sequential(*(ResidualMLPBlock(hidden_dim) for _ in range(num_blocks)))
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(hidden_dim, 1))

    def forward(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """Logits f(z) of shape (N,) for latents (N, ...) and an optional context (N, ...)."""
        h = z.flatten(start_dim=1)
        if self.context_dim:
            if context is None:
                raise ValueError("this classifier was built with context_dim > 0: pass a context")
            h = torch.cat([h, context.flatten(start_dim=1)], dim=1)
        return self.head(self.blocks(self.stem(h))).squeeze(-1)
