"""The NCE losses of stage 2 (docs/method.md sections 2.1 and 2.5): the paper's, for one
classifier telling aggregate-posterior latents from base-prior latents, and the telescoping one,
whose K bridges each tell neighbouring waymark distributions apart; and the waymark batches."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["nce_loss_from_logits", "bridge_nce_loss", "waymark_batches", "check_waymarks"]


def nce_loss_from_logits(
    real_logits: Tensor, fake_logits: Tensor, group: int = 0
) -> tuple[Tensor, dict[str, float]]:
    """BCEWithLogits(f(z_q), 1) + BCEWithLogits(f(z_p), 0) for a balanced batch of logits
    (docs/method.md section 2.1), and the group's metrics: the loss (``nce<k>``), the
    classifier's accuracy (``acc<k>``) and log of the mean of exp f over the base-prior draws
    (``logz<k>``, a one-batch estimate of log Z_k, near 0 at the optimum)."""
    loss = F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    with torch.no_grad():
        accuracy = 0.5 * ((real_logits > 0).float().mean() + (fake_logits <= 0).float().mean())
        log_z = torch.logsumexp(fake_logits.float(), 0) - math.log(len(fake_logits))
    metrics = {
        f"nce{group}": float(loss.detach()),
        f"acc{group}": float(accuracy),
        f"logz{group}": float(log_z),
    }
    return loss, metrics


def bridge_nce_loss(logits: Tensor, group: int = 0) -> tuple[Tensor, dict[str, float]]:
    """Telescoping NCE (docs/method.md section 2.5) from the logits (K + 1, N, K) of the
    waymark batches z_K (the aggregate posterior) down to z_0 (the base prior) under every
    bridge: bridge k tells z_k from z_{k-1}, sum_k BCE(f_k(z_k), 1) + BCE(f_k(z_{k-1}), 0).
    For K = 1 it is :func:`nce_loss_from_logits`, bit for bit. The metrics are the loss
    (``nce<k>``), the bridges' mean accuracy (``acc<k>``) and log of the mean of
    exp(sum_k f_k) over the base-prior draws (``logz<k>``, a one-batch estimate of log Z)."""
    bridges = logits.shape[-1]
    top = len(logits) - 1  # index of z_0 in the batches, which run from z_K down
    total, accuracies = 0.0, []
    for k in range(bridges):
        loss, metrics = nce_loss_from_logits(logits[top - k - 1, :, k], logits[top - k, :, k])
        total = total + loss
        accuracies.append(metrics["acc0"])
    with torch.no_grad():
        log_r = logits[top].sum(-1).float()
        log_z = torch.logsumexp(log_r, 0) - math.log(len(log_r))
    metrics = {
        f"nce{group}": float(total.detach()),
        f"acc{group}": sum(accuracies) / bridges,
        f"logz{group}": float(log_z),
    }
    return total, metrics


def check_waymarks(waymarks: Sequence[float]) -> tuple[float, ...]:
    """The mixing weights a_1 < ... < a_{K-1} of the waymarks, as floats; ValueError unless
    they rise strictly inside (0, 1)."""
    weights = [0.0, *waymarks, 1.0]
    if any(not a < b for a, b in zip(weights, weights[1:], strict=False)):
        raise ValueError(f"waymarks must rise strictly inside (0, 1), got {list(waymarks)}")
    return tuple(float(a) for a in waymarks)


def waymark_batches(
    real: Tensor, fake: Tensor, centre: Tensor | float, waymarks: Sequence[float]
) -> list[Tensor]:
    """The batches z_K = real (the aggregate posterior), z_{K-1}, ..., z_0 = fake (the base
    prior) of paired draws, z_k = m + sqrt(1 - a_k^2) (fake - m) + a_k (real - m) around the
    base's mean m = ``centre`` (docs/method.md section 2.5): bridge k tells z_k (label 1) from
    z_{k-1} (label 0). Without waymarks, [real, fake]."""
    mixed = [
        centre + (1 - a * a) ** 0.5 * (fake - centre) + a * (real - centre)
        for a in reversed(waymarks)
    ]
    return [real, *mixed, fake]
