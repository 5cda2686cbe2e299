"""In-memory data sets: values as stored (uint8 pixels or floats), turned into model input one
minibatch at a time.

Images are kept as uint8 (a quarter of the memory of float32) and scaled to [0, 1] per batch.
Dynamically binarized data (MNIST, docs/method.md section 3) draw x ~ Bernoulli(pixel / 255)
afresh every time an image is used, at evaluation too: pass a ``generator`` for reproducible
draws.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ncpvae.distributions import generator_on
from ncpvae.errors import DataError

__all__ = ["TensorData", "as_data", "DataLike"]


@dataclass(frozen=True)
class TensorData:
    """A data set of ``len(values)`` examples of shape ``values.shape[1:]``.

    Args:
        values: the stored examples, (N, *shape), uint8 or floating point.
        scale: multiplies the values after conversion to float32 (1/255 for uint8 pixels).
        binarize: draw each batch as x ~ Bernoulli(scale * values) (dynamic binarization).
    """

    values: Tensor
    scale: float = 1.0
    binarize: bool = False

    @classmethod
    def images(cls, pixels: Tensor, binarize: bool = False) -> TensorData:
        """uint8 pixels shown to the model in [0, 1], optionally dynamically binarized."""
        return cls(pixels, scale=1.0 / 255.0, binarize=binarize)

    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one example."""
        return tuple(self.values.shape[1:])

    def batch(self, index: Tensor | slice, generator: torch.Generator | None = None) -> Tensor:
        """The examples at ``index`` as float32 model input (binarized afresh if asked)."""
        x = self.values[index].float()
        if self.scale != 1.0:
            x = x * self.scale
        if self.binarize:
            x = torch.bernoulli(x, generator=generator_on(x.device, generator))
        return x

    def head(self, n: int) -> TensorData:
        """The first ``n`` examples (all of them if ``n`` is 0 or at least the length)."""
        return self if n <= 0 or n >= len(self) else replace(self, values=self.values[:n])

    def mean(self, batch_size: int = 4096) -> Tensor:
        """The mean example (before binarization: the pixel probabilities)."""
        total = torch.zeros(self.shape, dtype=torch.float64, device=self.values.device)
        for start in range(0, len(self), batch_size):
            total += self.values[start : start + batch_size].double().sum(0)
        return (total * self.scale / len(self)).float()

    def check(self, what: str) -> TensorData:
        """Refuse empty data and NaN or infinite values with a message that says which."""
        if len(self) == 0:
            raise DataError(f"{what} is empty")
        if self.values.is_floating_point():
            finite = torch.isfinite(self.values.flatten(1)).all(1)
            if not finite.all():
                bad = int((~finite).sum())
                raise DataError(
                    f"{what} has {bad} example(s) with NaN or infinite values; clean them first"
                )
        if self.binarize:
            low, high = float(self.values.min()) * self.scale, float(self.values.max()) * self.scale
            if low < 0 or high > 1:
                raise DataError(
                    f"{what}: binarization needs values in [0, 1] after scaling, found "
                    f"[{low:g}, {high:g}]"
                )
        return self


DataLike = TensorData | Tensor | np.ndarray | torch.utils.data.Dataset


def as_data(data: DataLike | Any) -> TensorData:
    """Wrap a tensor, a numpy array or any map-style torch ``Dataset`` (items are examples or
    tuples whose first element is the example, as in (image, label)) as :class:`TensorData`.
    uint8 values are taken as pixels and scaled to [0, 1]; other numbers are used as they are."""
    if isinstance(data, TensorData):
        return data
    if isinstance(data, np.ndarray):
        if data.dtype == object:
            raise DataError("a numpy array of Python objects is not data; pass numbers")
        data = torch.from_numpy(data)
    if isinstance(data, Tensor):
        if data.ndim < 2:
            raise DataError(
                f"data must have shape (N, ...) with N examples, got {tuple(data.shape)}"
            )
        if data.is_complex() or data.dtype == torch.bool:
            raise DataError(f"data must hold real numbers, not {data.dtype}")
        if data.dtype == torch.uint8:  # pixels: shown to the model in [0, 1]
            return TensorData.images(data)
        return TensorData(data.float())
    if isinstance(data, torch.utils.data.Dataset):
        try:
            items = [data[i] for i in range(len(data))]  # type: ignore[arg-type]
        except TypeError:
            raise DataError(
                "a torch Dataset must have __len__ and __getitem__ (map-style)"
            ) from None
        if not items:
            raise DataError("the Dataset is empty")
        examples = [torch.as_tensor(i[0] if isinstance(i, tuple | list) else i) for i in items]
        if len({e.shape for e in examples}) != 1:
            raise DataError("the Dataset's examples differ in shape; resize them to one shape")
        return as_data(torch.stack(examples))
    raise DataError(
        f"cannot use a {type(data).__name__} as data; pass a tensor, a numpy array, a torch "
        "Dataset or ncpvae.data.TensorData"
    )
