"""The data section of a run config: one section per data source, each holding only the settings
its reader uses, chosen by ``name`` (:data:`DataConfig`, ``--data.name``).

* :class:`Gaussians25Config` (``name: "gaussians25"``): built in, ``num_train`` + ``num_test``
  points generated from ``seed`` around a ``grid_size`` x ``grid_size`` grid of modes;
* :class:`FileDataConfig` (``"file"``): a .npy array or .pt tensor (N, ...) at ``path``, the last
  ``num_test`` rows for testing (uint8 values are taken as pixels and scaled to [0, 1]);
* :class:`MNISTConfig` (``"mnist"``): the IDX files in the folder ``path``, split 50k/10k/10k
  (train/validation/test);
* :class:`CIFAR10Config` (``"cifar10"``): ``cifar-10-python.tar.gz`` (read as it is) or its
  ``cifar-10-batches-py`` folder at ``path``;
* :class:`ImageFolderConfig` (``"folder"``): JPEG/PNG images in the folder (or .tar) ``path``,
  centre-cropped to ``crop`` (0: the largest square) and resized to ``image_size``; the last
  ``num_test`` for testing.

Every source keeps the first ``num_train`` training and ``num_test`` test examples, and
``num_validation`` examples for validation, never trained on by either stage: the first of the
data set's own validation split where it has one (MNIST), else chosen at random (by
``split_seed``, :class:`HeldOutConfig`) among the ``num_train`` and held out. The sources read
from ``path`` (:class:`PathConfig`) have ``binarize``: dynamic binarization, a fresh
x ~ Bernoulli(pixel) every time an image is used.

A ``config.json`` written before the sources had their own sections holds all thirteen data
settings; :func:`saved_data_section` reads its data section.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from ncpvae.errors import ConfigError
from ncpvae.settings import Int, config_section, fields_of, kind_union, kinds, setting

__all__ = [
    "BaseDataConfig",
    "HeldOutConfig",
    "PathConfig",
    "Gaussians25Config",
    "FileDataConfig",
    "MNISTConfig",
    "CIFAR10Config",
    "ImageFolderConfig",
    "DataConfig",
    "SOURCES",
    "saved_data_section",
]

NAME_HELP = (
    "Data set: gaussians25 (built in), file (.npy or .pt), mnist, cifar10 or folder (images)."
)


@config_section
class BaseDataConfig:
    """The settings every data source has: its name and how many examples of each split are
    used."""

    section: ClassVar[str] = "data"
    chosen_by: ClassVar[str] = "name"  # the field that chooses the source (see kind_union)

    name: str = setting("", NAME_HELP)
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


@config_section
class HeldOutConfig(BaseDataConfig):
    """A source without a validation split of its own: ``num_validation`` of the ``num_train``
    training examples are held out at random, chosen by ``split_seed``."""

    split_seed: Int = setting(
        0,
        "Seed of the random choice of the validation examples (all but mnist, which has its own "
        "validation split).",
    )


@config_section
class PathConfig(BaseDataConfig):
    """A source read from files at ``path``, optionally binarized afresh."""

    path: str = setting("", "File or folder the data set is read from (all but gaussians25).")
    binarize: bool = setting(
        False,
        "Dynamic binarization: a fresh x ~ Bernoulli(pixel) every time an image is used (all "
        "but gaussians25).",
    )


@config_section
class Gaussians25Config(HeldOutConfig):
    """The built-in 25 Gaussians: equal modes of ``mode_std`` on a square grid, generated from
    ``seed``."""

    name: Literal["gaussians25"] = setting("gaussians25", NAME_HELP)
    seed: Int = setting(0, "Seed of the generated gaussians25 points.")
    mode_std: float = setting(0.05, "gaussians25: standard deviation of every mode.", above=0)
    grid_size: Int = setting(5, "gaussians25: modes per side of the square grid.", min=1)
    grid_spacing: float = setting(2.0, "gaussians25: distance between neighbouring modes.", above=0)


@config_section
class FileDataConfig(PathConfig, HeldOutConfig):
    """One .npy array or .pt tensor (N, ...) at ``path``; its last ``num_test`` rows test."""

    name: Literal["file"] = setting("file", NAME_HELP)


@config_section
class MNISTConfig(PathConfig):
    """MNIST's IDX files in the folder ``path``, with its own validation split."""

    name: Literal["mnist"] = setting("mnist", NAME_HELP)


@config_section
class CIFAR10Config(PathConfig, HeldOutConfig):
    """CIFAR-10 from ``cifar-10-python.tar.gz`` or its ``cifar-10-batches-py`` folder."""

    name: Literal["cifar10"] = setting("cifar10", NAME_HELP)


@config_section
class ImageFolderConfig(PathConfig, HeldOutConfig):
    """JPEG/PNG images in a folder (or .tar), centre-cropped to ``crop`` and resized to
    ``image_size``; the last ``num_test`` test."""

    name: Literal["folder"] = setting("folder", NAME_HELP)
    image_size: Int = setting(64, "folder: side in pixels the images are resized to.", min=1)
    crop: Int = setting(
        0,
        "folder: side in pixels of the centred square cropped before resizing (0: the largest).",
        min=0,
    )


DataConfig = kind_union(
    Gaussians25Config, FileDataConfig, MNISTConfig, CIFAR10Config, ImageFolderConfig
)
"""Any data source; its ``name`` says which, and a JSON object without one is ``gaussians25``."""

SOURCES: dict[str, type] = kinds(DataConfig)
"""Data source name -> its section class."""

# The one data section of ncpvae before the sources had their own (a config.json of a run folder
# written then holds all of it): setting -> its default.
FLAT_DEFAULTS: dict[str, Any] = {
    "name": "gaussians25",
    "path": "",
    "num_train": 100_000,
    "num_test": 5_000,
    "num_validation": 0,
    "split_seed": 0,
    "binarize": False,
    "image_size": 64,
    "crop": 0,
    "seed": 0,
    "mode_std": 0.05,
    "grid_size": 5,
    "grid_spacing": 2.0,
}


def saved_data_section(section: Any, where: str) -> Any:
    """The data section of a saved run config, read as its source's section: a setting the
    source does not have is dropped where it holds the old default (a run folder written before
    the sources had their own sections holds all of them), else refused in one line naming the
    key and the fix (``where``: the file, for the message)."""
    if not isinstance(section, dict) or section.get("name", "gaussians25") not in SOURCES:
        return section  # nothing to read as a source's section; from_dict names the problem
    name = section.get("name", "gaussians25")
    own = fields_of(SOURCES[name])
    kept = {}
    for key, value in section.items():
        if key in own or key not in FLAT_DEFAULTS:
            kept[key] = value  # its own setting, or an unknown key that from_dict refuses
        elif type(value) is not type(FLAT_DEFAULTS[key]) or value != FLAT_DEFAULTS[key]:
            raise ConfigError(
                f"{where}: data.{key} = {value!r} is not a setting of data name {name!r} (it has "
                f'no effect on {name} data); delete "{key}" from the data section of that '
                "file to load the run"
            )
    return kept
