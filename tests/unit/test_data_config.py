"""The data section: one section class per source, chosen by ``name`` (not ``kind``); a setting
of another source is refused in one line naming the source, by JSON and by flag; a run folder
written when the data section was one 13-field class for every source still loads."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

import ncpvae
from ncpvae.cli import main
from ncpvae.config import (
    CIFAR10Config,
    FileDataConfig,
    Gaussians25Config,
    ImageFolderConfig,
    MNISTConfig,
    VAERunConfig,
    apply_overrides,
    from_dict,
    leaf_fields,
    to_dict,
)
from ncpvae.config.data import FLAT_DEFAULTS, SOURCES
from ncpvae.data import DATASETS
from ncpvae.errors import ConfigError
from ncpvae.runs import load_run, load_vae, vae_run_of

SETTINGS = {
    Gaussians25Config: {"seed", "mode_std", "grid_size", "grid_spacing", "split_seed"},
    FileDataConfig: {"path", "binarize", "split_seed"},
    MNISTConfig: {"path", "binarize"},  # its own validation split: no split_seed
    CIFAR10Config: {"path", "binarize", "split_seed"},
    ImageFolderConfig: {"path", "binarize", "split_seed", "image_size", "crop"},
}


def test_each_source_has_only_the_settings_its_reader_uses() -> None:
    assert set(SOURCES) == set(DATASETS)  # one reader per source, one dispatch
    shared = {"name", "num_train", "num_test", "num_validation"}
    for cls, own in SETTINGS.items():
        assert {f.name for f in dataclasses.fields(cls)} == shared | own
        assert SOURCES[cls().name] is cls
    # every setting of every source has a flag, and together they are the 13 of before
    flags = [key.partition(".") for key in leaf_fields(VAERunConfig)]
    assert {name for section, _, name in flags if section == "data"} == set(FLAT_DEFAULTS)


def test_the_section_is_read_into_the_class_its_name_names() -> None:
    assert type(from_dict(VAERunConfig, {}).data) is Gaussians25Config  # default: gaussians25
    for name, cls in SOURCES.items():
        cfg = from_dict(VAERunConfig, {"data": {"name": name, "num_test": 7}})
        assert type(cfg.data) is cls and cfg.data.num_test == 7
        assert from_dict(VAERunConfig, to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match="unknown data.name 'svhn'; use one of: gaussians25, "):
        from_dict(VAERunConfig, {"data": {"name": "svhn"}})


def test_a_setting_of_another_source_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = "data.grid_size is not a setting of data name 'mnist'; its settings: name, "
    with pytest.raises(ConfigError, match=message):
        from_dict(VAERunConfig, {"data": {"name": "mnist", "grid_size": 3}})
    with pytest.raises(ConfigError, match=message):
        MNISTConfig(grid_size=3)  # type: ignore[call-arg]
    flags = ["--data.name", "mnist", "--data.grid_size", "3", "--out", str(tmp_path / "run")]
    assert main(["train-vae", *flags, "--quiet"]) == 2  # a bad command line
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"ncpvae: error: {message}") and "\n" not in line
    assert not (tmp_path / "run").exists()


def test_a_new_name_by_flag_keeps_the_changed_shared_settings() -> None:
    cfg = apply_overrides(VAERunConfig(data=Gaussians25Config(num_test=9)), {"data.name": "file"})
    assert cfg.data == FileDataConfig(num_test=9)
    with pytest.raises(ConfigError, match="data.seed is not a setting of data name 'cifar10'"):
        apply_overrides(VAERunConfig(data=Gaussians25Config(seed=3)), {"data.name": "cifar10"})


def _old_style_run(tmp_path: Path, **data: object) -> Path:
    """A train-vae run folder whose config.json holds the 13-field data section of before."""
    model = ncpvae.build_model(ncpvae.VAEConfig(data_shape=[2], latent_dim=2, hidden_dim=8))
    folder = ncpvae.save_vae(model, tmp_path / "vae")
    saved = json.loads((folder / "config.json").read_text())
    saved["data"] = {**FLAT_DEFAULTS, **data}
    (folder / "config.json").write_text(json.dumps(saved, indent=2))
    return folder


def test_an_old_run_folder_with_all_13_data_settings_still_loads(tmp_path: Path) -> None:
    folder = _old_style_run(tmp_path, name="mnist", path="/data/mnist", binarize=True, num_test=10)
    cfg = load_run(folder, expect="vae")
    assert cfg.data == MNISTConfig(path="/data/mnist", binarize=True, num_test=10)
    assert isinstance(load_vae(folder), ncpvae.VAE)
    prior = ncpvae.build_prior(load_vae(folder), ncpvae.ClassifierConfig(hidden_dim=8))
    ncpvae.save_prior(prior, tmp_path / "prior", vae=folder)
    assert vae_run_of(tmp_path / "prior").data == cfg.data  # train-prior, sample, evaluate
    assert load_run(_old_style_run(tmp_path / "g", seed=4), expect="vae").data == (
        Gaussians25Config(seed=4)
    )


def test_an_old_run_folder_with_a_setting_of_another_source_is_refused(tmp_path: Path) -> None:
    folder = _old_style_run(tmp_path, name="cifar10", path="c.tar.gz", image_size=32)
    with pytest.raises(ConfigError) as error:
        load_run(folder)
    assert str(error.value) == (
        f"{folder / 'config.json'}: data.image_size = 32 is not a setting of data name 'cifar10' "
        '(it has no effect on cifar10 data); delete "image_size" from the data section of that '
        "file to load the run"
    )
    saved = json.loads((folder / "config.json").read_text())
    saved["data"]["image_size"] = "64"  # not the old default either (a string)
    (folder / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ConfigError, match="data.image_size = '64' is not a setting"):
        load_run(folder)


def test_the_readers_take_their_own_sections() -> None:
    splits = ncpvae.load_data(Gaussians25Config(num_train=40, num_test=8, num_validation=10))
    assert [len(s) for s in splits] == [30, 10, 8]
    assert torch.equal(
        ncpvae.load_data(Gaussians25Config(num_train=40, num_test=8)).test.values,
        splits.test.values,
    )
