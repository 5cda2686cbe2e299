"""Stage 2 without repeated work: the frozen encoder's output for every example, computed once.

Stage 2 draws z ~ q(z|x) for a fresh minibatch x at every step from the frozen VAE. Where the data
are the same in every epoch (not dynamically binarized), the deterministic part of q(z|x) (the
posterior's parameters for a flat VAE, the bottom-up features of a hierarchical one; see
:meth:`~ncpvae.models.LatentVariableModel.encoder_output`) is the same every time it is computed,
so it is computed once and the minibatches are drawn from it. The posterior's noise is still
drawn afresh at every step: the training pairs have the distribution they had, and with the same
seeds the same values up to float rounding.
"""

from __future__ import annotations

import torch

from ncpvae.data.arrays import TensorData
from ncpvae.models.base import LatentVariableModel

__all__ = ["ENCODER_CACHE_BYTES", "encode_once", "encoding_bytes"]

ENCODER_CACHE_BYTES = 4 * 2**30
"""The most memory the encoder's outputs for the training data may take (else every batch is
encoded as it is drawn, as for binarized data)."""


def _owner(model: LatentVariableModel, method: str) -> type:
    return next(c for c in type(model).__mro__ if method in vars(c))


def _reuses_nothing(model: LatentVariableModel) -> bool:
    """True where ``encoder_output`` is the data, or where ``posterior`` is overridden below the
    class whose ``encoder_output`` and ``posterior_from`` it would pair with (a subclass that
    changed q(z|x) without them: reusing them would fit the wrong posterior)."""
    if _owner(model, "encoder_output") is LatentVariableModel:
        return True
    posterior = _owner(model, "posterior")
    return not all(
        issubclass(_owner(model, method), posterior)
        for method in ("encoder_output", "posterior_from")
    )


@torch.no_grad()
def encoding_bytes(model: LatentVariableModel, data: TensorData) -> int:
    """The memory ``model.encoder_output`` of every example of ``data`` would take."""
    first = model.encoder_output(data.batch(slice(0, 1)).to(model.device))
    return first.numel() * first.element_size() * len(data)


@torch.no_grad()
def encode_once(
    model: LatentVariableModel,
    data: TensorData,
    batch_size: int = 256,
    max_bytes: int = ENCODER_CACHE_BYTES,
) -> TensorData | None:
    """``model.encoder_output`` of every example of ``data`` in order (eval mode, on the model's
    device), to draw stage-2 minibatches from; None where nothing can be reused: data binarized
    afresh in every batch, a model whose encoder output is the data (or whose ``posterior`` a
    subclass changed without ``encoder_output`` and ``posterior_from``), or outputs larger than
    ``max_bytes`` (see :func:`encoding_bytes`)."""
    if len(data) == 0 or data.binarize or _reuses_nothing(model):
        return None
    if encoding_bytes(model, data) > max_bytes:
        return None
    return TensorData(model.encoder_outputs(data, batch_size))
