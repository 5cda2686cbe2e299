"""Network blocks shared by the models and the NCP classifiers."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = [
    "mlp",
    "ACTIVATION_MODULES",
    "SqueezeExcitation",
    "ResidualBlock",
    "ResidualConvClassifier",
    "ResidualMLPClassifier",
    "spectral_normalize",
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


def spectral_normalize(module: nn.Module) -> nn.Module:
    """``module`` with every linear and convolutional weight spectrally normalised (Miyato et
    al., ICLR 2018): each layer's Lipschitz constant bounded by 1, one power iteration per
    training forward. A regulariser for density-ratio classifiers. Returns ``module``."""
    from torch.nn.utils.parametrizations import spectral_norm

    for layer in list(module.modules()):
        if isinstance(layer, nn.Linear | nn.Conv2d):
            spectral_norm(layer)
    return module


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


class ResidualBlock(nn.Module):
    """Pre-activation residual block: x + SE(L2 swish(BN(L1 swish(BN(x))))), the NCP paper's
    classifier cell and NVAE's residual cell. The layers L are linear on vectors
    (``spatial=False``) or 3x3 convolutions on feature maps (``spatial=True``); batch norm and
    squeeze-and-excitation can be switched off; ``dropout`` (a probability) drops features
    before L2."""

    def __init__(
        self,
        width: int,
        batch_norm: bool = True,
        squeeze_excitation: bool = True,
        *,
        spatial: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if spatial:
            layer = lambda: nn.Conv2d(width, width, 3, padding=1)  # noqa: E731
            norm = (lambda: nn.BatchNorm2d(width)) if batch_norm else nn.Identity
        else:
            layer = lambda: nn.Linear(width, width)  # noqa: E731
            norm = (lambda: nn.BatchNorm1d(width)) if batch_norm else nn.Identity
        self.body = nn.Sequential(
            norm(),
            nn.SiLU(),
            layer(),
            norm(),
            nn.SiLU(),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            layer(),
            SqueezeExcitation(width) if squeeze_excitation else nn.Identity(),
        )

    def forward(self, x: Tensor) -> Tensor:
        """x + body(x), same shape as x."""
        return x + self.body(x)


class ResidualMLPClassifier(nn.Module):
    """Classifier for vector latents whose output is the logit f(z) = log r(z): a linear stem,
    ``num_blocks`` residual blocks (Swish, batch norm, squeeze-and-excitation), a linear head.

    ``forward(z, context)`` takes a batch of latents of any event shape (flattened here) and an
    optional context feature (the frozen prior network's c_k in a hierarchical VAE,
    docs/method.md section 2.2); it returns one logit per row, or ``outputs`` > 1 logits per row
    (N, outputs) from as many heads on the shared blocks (the bridges of telescoping NCP,
    docs/method.md section 2.5). ``dropout`` and ``spectral_norm`` regularise the ratio it
    learns (see :func:`spectral_normalize`).
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
        dropout: float = 0.0,
        spectral_norm: bool = False,
        outputs: int = 1,
    ) -> None:
        super().__init__()
        self.context_dim = context_dim
        self.outputs = outputs
        self.stem = nn.Linear(latent_dim + context_dim, hidden_dim)
        self.blocks = nn.Sequential(
            *(
                ResidualBlock(hidden_dim, batch_norm, squeeze_excitation, dropout=dropout)
                for _ in range(num_blocks)
            )
        )
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(hidden_dim, outputs))
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        """Logits f(z) of shape (N,), or (N, outputs), for latents (N, ...) and an optional
        context (N, ...)."""
        h = z.flatten(start_dim=1)
        if self.context_dim:
            if context is None:
                raise ValueError("this classifier was built with context_dim > 0: pass a context")
            h = torch.cat([h, context.flatten(start_dim=1)], dim=1)
        logits = self.head(self.blocks(self.stem(h)))
        return logits.squeeze(-1) if self.outputs == 1 else logits


class ResidualConvClassifier(nn.Module):
    """Classifier for a spatial latent group z_k (N, c, s, s) given the frozen prior network's
    context c_k (N, C, s, s) (docs/method.md section 2.2): the logit f_k(z_k, c_k) = log r_k.

    A 3x3 stride-2 convolution of the concatenated maps, ``num_blocks`` convolutional residual
    blocks (Swish, batch norm, squeeze-and-excitation), Swish, global average pooling and a
    linear head. The stem is split into a part on z_k and a part on c_k (the same linear map as
    one convolution of the concatenation), so that :meth:`context_features` can be computed once
    and shared by many proposals z_k of one context. ``dropout``, ``spectral_norm`` and
    ``outputs`` (heads, the bridges of telescoping NCP) as in :class:`ResidualMLPClassifier`.
    """

    def __init__(
        self,
        latent_channels: int,
        context_channels: int,
        hidden_dim: int = 64,
        num_blocks: int = 2,
        *,
        batch_norm: bool = True,
        squeeze_excitation: bool = True,
        dropout: float = 0.0,
        spectral_norm: bool = False,
        outputs: int = 1,
    ) -> None:
        super().__init__()
        self.outputs = outputs
        self.latent_stem = nn.Conv2d(latent_channels, hidden_dim, 3, stride=2, padding=1)
        self.context_stem = nn.Conv2d(
            context_channels, hidden_dim, 3, stride=2, padding=1, bias=False
        )
        self.blocks = nn.Sequential(
            *(
                ResidualBlock(
                    hidden_dim, batch_norm, squeeze_excitation, spatial=True, dropout=dropout
                )
                for _ in range(num_blocks)
            )
        )
        self.head = nn.Sequential(
            nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(hidden_dim, outputs)
        )
        if spectral_norm:
            spectral_normalize(self)

    def context_features(self, context: Tensor) -> Tensor:
        """The context's share of the stem, (N, hidden, s/2, s/2)."""
        return self.context_stem(context)

    def forward(
        self, z: Tensor, context: Tensor | None = None, *, features: Tensor | None = None
    ) -> Tensor:
        """Logits f(z, c) of shape (N,) (or (N, outputs)) for latents z (N, c, s, s) and a
        context (N, C, s, s), or its precomputed :meth:`context_features` (which may broadcast
        over a leading axis: z of shape (M, N, ...) with features (N, ...))."""
        if features is None:
            if context is None:
                raise ValueError("pass the context c_k or its context_features")
            features = self.context_features(context)
        lead = z.shape[: z.dim() - 3]
        h = self.latent_stem(z.flatten(0, len(lead) - 1) if len(lead) > 1 else z)
        h = (h.view(*lead, *h.shape[1:]) + features).flatten(0, len(lead) - 1)
        logits = self.head(self.blocks(h))
        return logits.view(lead) if self.outputs == 1 else logits.view(*lead, self.outputs)
