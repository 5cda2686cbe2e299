"""How well a prior's classifiers fit: their NCE loss, accuracy and one-pass log Z_k on training
and on held-out data, side by side. A validation loss far above the training loss, or an
accuracy near 1, says the density ratio has overfitted (docs/method.md section 2.1)."""

from __future__ import annotations

from ncpvae.data.arrays import TensorData
from ncpvae.prior import Prior
from ncpvae.training.validation import measure_nce

__all__ = ["ClassifierFit", "classifier_fit", "describe_fit"]

ClassifierFit = dict[str, dict[str, float]]
"""The classifiers' fit as ``report.json`` and ``history.json`` hold it: split (``train``,
``validation``) -> the NCE metrics of :func:`~ncpvae.training.validation.measure_nce` (``loss``
and, per trained group k, ``nce<k>``, ``acc<k>``, ``logz<k>``); ``{}`` without validation data."""


def classifier_fit(
    prior: Prior,
    train: TensorData,
    validation: TensorData | None,
    batch_size: int = 256,
    seed: int = 0,
) -> ClassifierFit:
    """``{"train": metrics, "validation": metrics}`` of the trained groups' classifiers (the
    summed NCE ``loss`` and, per group k, ``nce<k>``, ``acc<k>``, ``logz<k>``), the training
    figures on the first ``len(validation)`` training examples so that both rest on as many;
    ``{}`` without validation data."""
    if validation is None:
        return {}
    groups = prior.trained_groups

    def metrics(data: TensorData) -> dict[str, float]:
        return measure_nce(prior, data, groups, batch_size, seed)

    return {"train": metrics(train.head(len(validation))), "validation": metrics(validation)}


def describe_fit(fit: ClassifierFit) -> list[str]:
    """Lines for people: NCE loss and accuracy on training and validation data."""
    if not fit:
        return []
    train, val = fit["train"], fit["validation"]
    accuracy = [k for k in train if k.startswith("acc")]
    line = (
        f"  classifier on train / validation data: NCE loss {train['loss']:.4f} / {val['loss']:.4f}"
    )
    if len(accuracy) == 1:
        return [line + f", accuracy {train[accuracy[0]]:.3f} / {val[accuracy[0]]:.3f}"]
    pairs = ", ".join(f"{k[3:]}: {train[k]:.3f} / {val[k]:.3f}" for k in accuracy)
    return [line, f"  accuracy per group (train / validation): {pairs}"]
