"""Figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402

from ncpvae.prior import Prior  # noqa: E402
from ncpvae.tensor_files import atomic_write  # noqa: E402
from ncpvae.training.history import TrainHistory  # noqa: E402

__all__ = ["scatter", "gaussians25_figure", "image_grid", "image_files", "panel_figure"]

LIMIT = 5.5  # data-space axis limit for 25 Gaussians


def _scatter_panel(
    ax, x: Tensor, title: str, limit: float = LIMIT, color: str = "tab:blue"
) -> None:
    x = x.numpy()
    ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.4, color=color, linewidths=0)
    ax.set(xlim=(-limit, limit), ylim=(-limit, limit), aspect="equal", title=title)


def scatter(x: Tensor, path: Path, title: str) -> None:
    """A 2-D scatter plot of ``x`` saved as PNG."""
    fig, ax = plt.subplots(figsize=(4, 4))
    _scatter_panel(ax, x, title)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=120, format="png"))
    plt.close(fig)


@torch.no_grad()
def gaussians25_figure(
    data: Tensor, samples: dict[str, Tensor], prior: Prior, latents: Tensor, path: Path
) -> None:
    """Data, decoded samples of each sampler, a heat map of log r(z) over the latent space, and
    the aggregate posterior q(z) (encoder samples of test data) on the same axes."""
    panels = 2 + len(samples) + 1
    cols = 3
    rows = -(-panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 4 * rows))
    axes = axes.ravel()
    _scatter_panel(axes[0], data, "data")
    for ax, (name, x) in zip(axes[1:], samples.items(), strict=False):
        _scatter_panel(ax, x, name)

    lim = 3.5
    grid = torch.linspace(-lim, lim, 300)
    zz = torch.stack(torch.meshgrid(grid, grid, indexing="xy"), -1).reshape(-1, 2)
    device = prior.log_normalizer.device
    log_r = prior.log_ratio(zz.to(device)).cpu().reshape(300, 300)
    ax = axes[1 + len(samples)]
    image = ax.imshow(
        log_r.clamp(min=-10).numpy(), origin="lower", extent=(-lim, lim, -lim, lim), cmap="viridis"
    )
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set(title="log r(z) = classifier logit", aspect="equal")
    _scatter_panel(axes[2 + len(samples)], latents, "aggregate posterior q(z)", lim, "tab:green")
    for ax in axes[panels:]:
        ax.axis("off")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)


def image_grid(images: Tensor, path: Path, columns: int = 0, padding: int = 2) -> None:
    """Save images (N, C, H, W) with values in [0, 1] as one PNG grid (C = 1 or 3), ``columns``
    per row (default: the smallest square that holds them)."""

    n, c, h, w = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = torch.ones(c, rows * (h + padding) + padding, columns * (w + padding) + padding)
    for i, image in enumerate(images.clamp(0, 1)):
        top, left = (
            padding + (i // columns) * (h + padding),
            padding + (i % columns) * (w + padding),
        )
        grid[:, top : top + h, left : left + w] = image
    picture = _picture(grid)
    atomic_write(path, lambda p: picture.save(p, format="PNG"))


def _picture(image: Tensor):
    """One image (C, H, W) with values in [0, 1] (C = 1 or 3) as an 8-bit PIL image."""
    from PIL import Image

    pixels = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)


def image_files(images: Tensor, folder: Path) -> None:
    """Save each image (N, C, H, W) with values in [0, 1] (C = 1 or 3) as its own PNG in
    ``folder``, named by its index as pythae's samplers name theirs: ``00000000.png``, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        picture = _picture(image)
        atomic_write(folder / f"{i:08d}.png", lambda p, pic=picture: pic.save(p, format="PNG"))


def panel_figure(panels: dict[str, Path], path: Path, columns: int = 0) -> None:
    """Lay PNG images (sample grids) side by side with a title over each, saved as one PNG."""
    from PIL import Image

    columns = columns or len(panels)
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 4.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, image) in zip(axes.flat, panels.items(), strict=False):
        ax.imshow(Image.open(image), cmap="gray")
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)


def training_curves(history: TrainHistory, path: Path, title: str) -> None:
    """One panel per logged quantity (the loss and its terms, each classifier's NCE loss,
    accuracy and log Z_k, the learning rate) against the training step, as a PNG; validation
    passes drawn over the training values of the same name, and the kept step (the best
    validation loss) marked."""
    steps, curves = history.steps, history.curves
    names = [name for name in curves if len(curves[name]) == len(steps)]
    if not names:
        return
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        ax.plot(steps, curves[name], lw=1, label="train")
        if name in history.validation:
            ax.plot(
                history.validation_steps,
                history.validation[name],
                "o-",
                ms=3,
                lw=1,
                label="validation",
            )
            ax.legend(fontsize=7)
        if history.selected_step is not None:
            ax.axvline(history.selected_step, color="grey", ls=":", lw=1)
        ax.set(title=name, xlabel="step")
        if name == "lr" and min(curves[name]) > 0:
            ax.set_yscale("log")
        else:  # the first few logged steps (an untrained model) would flatten the rest
            shown = curves[name][len(steps) // 20 :] + history.validation.get(name, [])
            low, high = min(shown), max(shown)
            if math.isfinite(low) and math.isfinite(high) and high > low:
                pad = 0.05 * (high - low)
                ax.set_ylim(low - pad, high + pad)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    kept = f" (kept: step {history.selected_step})" if history.selected_step is not None else ""
    fig.suptitle(title + kept)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=100, format="png"))
    plt.close(fig)
