"""The data section of a run config (:class:`DataConfig`): which data set, where it is read
from, and how much of it is used."""

from __future__ import annotations

from typing import ClassVar

from ncpvae.settings import Int, config_section, setting

__all__ = ["DataConfig"]


@config_section
class DataConfig:
    """Where the data come from. ``name``:

    * ``gaussians25``: built in, ``num_train`` + ``num_test`` points generated from ``seed``;
    * ``file``: a .npy array or .pt tensor (N, ...) at ``path``, the last ``num_test`` rows for
      testing (uint8 values are taken as pixels and scaled to [0, 1]);
    * ``mnist``: the IDX files in the folder ``path``, split 50k/10k/10k (train/validation/test);
    * ``cifar10``: ``cifar-10-python.tar.gz`` (read as it is) or its ``cifar-10-batches-py``
      folder at ``path``;
    * ``folder``: JPEG/PNG images in the folder (or .tar) ``path``, centre-cropped to ``crop``
      (0: the largest square) and resized to ``image_size``; the last ``num_test`` for testing.

    Readers keep the first ``num_train`` training and ``num_test`` test examples.
    ``num_validation`` examples are kept for validation, never trained on by either stage: the
    first of the data set's own validation split where it has one (MNIST), else chosen at
    random (by ``split_seed``) among the ``num_train`` and held out. ``binarize``:
    dynamic binarization, a fresh x ~ Bernoulli(pixel) every time an image is used.
    """

    section: ClassVar[str] = "data"

    name: str = setting(
        "gaussians25",
        "Data set: gaussians25 (built in), file (.npy or .pt), mnist, cifar10 or folder (images).",
    )
    path: str = setting("", "File or folder the data set is read from (unused by gaussians25).")
    num_train: Int = setting(
        100_000, "Training examples used: the first num_train of the training split.", min=1
    )
    num_test: Int = setting(
        5_000,
        "Test examples used; for file and folder data, the last num_test examples are held out.",
        min=1,
    )
    num_validation: Int = setting(
        0,
        "Validation examples (MNIST: from its validation split; others: held out at random "
        "from the training examples by data.split_seed); stage 2 keeps its classifier by "
        "them. 0: none.",
        min=0,
    )
    split_seed: Int = setting(0, "Seed of the random choice of the validation examples.")
    binarize: bool = setting(
        False,
        "Dynamic binarization: a fresh x ~ Bernoulli(pixel) every time an image is used.",
    )
    image_size: Int = setting(64, "folder: side in pixels the images are resized to.", min=1)
    crop: Int = setting(
        0,
        "folder: side in pixels of the centred square cropped before resizing (0: the largest).",
        min=0,
    )
    seed: Int = setting(0, "Seed of the generated gaussians25 points.")
    mode_std: float = setting(0.05, "gaussians25: standard deviation of every mode.", above=0)
    grid_size: Int = setting(5, "gaussians25: modes per side of the square grid.", min=1)
    grid_spacing: float = setting(2.0, "gaussians25: distance between neighbouring modes.", above=0)
