"""The config reading rules: every ready config in ``configs/`` loads strictly, the five the
issue names are there; a model section is read into the class its ``kind`` names and a setting
of another kind is refused, by JSON and by flag; bounds and help text come from the fields'
metadata. (That each ready config runs end to end: tests/integration/test_ready_configs.py.)"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT

from ncpvae.cli import main
from ncpvae.config import (
    DemoConfig,
    EvaluateConfig,
    MergeConfig,
    PriorRunConfig,
    SampleConfig,
    VAERunConfig,
    apply_overrides,
    from_dict,
    leaf_fields,
    load_config,
    parse_value,
    to_dict,
)
from ncpvae.config.data import SOURCES
from ncpvae.errors import ConfigError
from ncpvae.models import MODELS, HierarchicalVAEConfig, RAEConfig, VAEConfig
from ncpvae.settings import help_text

CONFIG_DIR = ROOT / "configs"
ALL_CONFIGS = sorted(CONFIG_DIR.glob("*.json"))
STAGE1_CONFIGS = [p for p in ALL_CONFIGS if "model" in json.loads(p.read_text())]

# What the issue asks for by name: MNIST (Lawson MLP), MNIST conv, CelebA-64 subset conv VAE,
# CelebA-64 subset RAE+GMM, CIFAR-10 conv.
ISSUE_CONFIGS = {
    "mnist_mlp_vae.json": ("mnist", "vae", "mlp"),
    "mnist_conv_vae.json": ("mnist", "vae", "conv"),
    "celeba64_conv_vae.json": ("folder", "vae", "conv"),
    "celeba64_rae_gmm.json": ("folder", "rae", "conv"),
    "cifar10_conv_vae.json": ("cifar10", "vae", "conv"),
}


# ---------------------------------------------------------------------------------------------
# the tests


def test_issue_configs_are_present() -> None:
    """The five configs the issue names exist, for the data, model kind and architecture it
    names, and the glob below picks each of them up."""
    for name, (data, kind, architecture) in ISSUE_CONFIGS.items():
        assert CONFIG_DIR / name in STAGE1_CONFIGS, name
        cfg = load_config(VAERunConfig, CONFIG_DIR / name)
        assert (cfg.data.name, cfg.model.kind, cfg.model.architecture) == (
            data,
            kind,
            architecture,
        )
    mlp = load_config(VAERunConfig, CONFIG_DIR / "mnist_mlp_vae.json").model
    # Lawson et al.: two tanh layers of 300, a 50-d latent, Bernoulli on binarized MNIST
    assert (mlp.depth, mlp.hidden_dim, mlp.latent_dim, mlp.activation) == (2, 300, 50, "tanh")
    assert load_config(VAERunConfig, CONFIG_DIR / "mnist_mlp_vae.json").data.binarize
    assert load_config(VAERunConfig, CONFIG_DIR / "celeba64_rae_gmm.json").model.gmm_components > 1


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: p.name)
def test_every_config_file_loads_strictly(path: Path) -> None:
    """Each file is a valid config of some verb (strict reading: no unknown keys, right types);
    that every paired prior/evaluate config exists: tests/integration/test_ready_configs.py."""
    loaded = []
    for cls in (VAERunConfig, PriorRunConfig, EvaluateConfig, DemoConfig):
        with contextlib.suppress(ConfigError):
            loaded.append(load_config(cls, path))
    assert loaded, f"{path.name} is not a valid config of train-vae, train-prior, evaluate or demo"


# ---------------------------------------------------------------------------------------------
# strict reading by model kind, bounds and help text from the fields' metadata

RUN_CONFIGS = [VAERunConfig, PriorRunConfig, SampleConfig, EvaluateConfig, MergeConfig, DemoConfig]
# converted to settings.setting by another change (training, samplers, prior); drop them from
# this set once their fields declare help text
NOT_YET_CONVERTED: set[type] = set()


def config_classes(cls: type) -> set[type]:
    """``cls``, its config-class bases and every config class its fields hold (for a section
    chosen by kind: every kind's)."""
    found = {c for c in cls.__mro__ if dataclasses.is_dataclass(c)}
    for hint in typing.get_type_hints(cls).values():
        for member in typing.get_args(hint) or (hint,):
            if dataclasses.is_dataclass(member):
                found |= config_classes(member)
    return found


def own_fields(cls: type) -> list[str]:
    """The names of the fields ``cls`` itself declares (not those it inherits unchanged)."""
    return [
        f.name for f in dataclasses.fields(cls) if f.name in cls.__dict__.get("__annotations__", {})
    ]


def test_every_setting_of_every_run_config_has_help_text() -> None:
    classes = set().union(*map(config_classes, RUN_CONFIGS))
    assert {VAEConfig, RAEConfig, HierarchicalVAEConfig, *SOURCES.values()} <= classes
    missing = [
        f"{cls.__name__}.{name}"
        for cls in classes - NOT_YET_CONVERTED
        for name in own_fields(cls)
        if len(help_text(cls, name).strip()) < 10 or not help_text(cls, name).rstrip().endswith(".")
    ]
    assert missing == []


def test_model_section_is_read_into_the_class_its_kind_names() -> None:
    assert type(from_dict(VAERunConfig, {}).model) is VAEConfig  # default kind: vae
    for kind, (config_class, _) in MODELS.items():
        cfg = from_dict(VAERunConfig, {"model": {"kind": kind, "channels": 5}})
        assert type(cfg.model) is config_class and cfg.model.channels == 5
        assert from_dict(VAERunConfig, to_dict(cfg)) == cfg
    rae = from_dict(VAERunConfig, {"model": {"kind": "rae", "latent_penalty": 0.5}}).model
    assert rae.latent_penalty == 0.5
    with pytest.raises(ConfigError, match="unknown model.kind 'gan'; use one of: vae, rae, hvae"):
        from_dict(VAERunConfig, {"model": {"kind": "gan"}})


@pytest.mark.parametrize(
    "model, message",
    [
        (
            {"kind": "hvae", "hidden_dim": 8},
            "model.hidden_dim is not a setting of model kind 'hvae'",
        ),
        ({"latent_channels": 2}, "model.latent_channels is not a setting of model kind 'vae'"),
        ({"kind": "vae", "gmm_components": 3}, "model.gmm_components is not a setting of model "),
        ({"kind": "rae", "rae_latent_penalty": 1.0}, "model.rae_latent_penalty is not a setting"),
    ],
)
def test_a_setting_of_another_model_kind_is_refused_in_json(
    tmp_path: Path, model: dict[str, Any], message: str
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model": model}))
    with pytest.raises(ConfigError, match=message) as error:
        load_config(VAERunConfig, path)
    kind = model.get("kind", "vae")
    settings = ", ".join(f.name for f in dataclasses.fields(MODELS[kind][0]))
    assert str(error.value).endswith(f"; its settings: {settings}")
    assert "\n" not in str(error.value)


def test_a_setting_of_another_model_kind_is_refused_as_a_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--model.kind", "hvae", "--model.hidden_dim", "8", "--out", tmp_path / "run"]
    assert main(["train-vae", *map(str, flags), "--quiet"]) == 2  # a bad command line
    line = capsys.readouterr().err.strip()
    assert line.startswith("ncpvae: error: model.hidden_dim is not a setting of model kind 'hvae'")
    assert "\n" not in line and not (tmp_path / "run").exists()


def test_model_kind_can_be_changed_by_flag() -> None:
    leaves = leaf_fields(VAERunConfig)
    for config_class, _ in MODELS.values():  # a flag for every setting of every kind
        assert {f"model.{f.name}" for f in dataclasses.fields(config_class)} <= set(leaves)
    flags = {"model.channels": "8", "model.groups_per_scale": "1,2", "model.kind": "hvae"}
    overrides = {key: parse_value(text, leaves[key], key) for key, text in flags.items()}
    cfg = apply_overrides(VAERunConfig(), overrides)
    assert cfg.model == HierarchicalVAEConfig(channels=8, groups_per_scale=[1, 2])
    # settings the file changed carry over to the new kind where it has them ...
    conv = load_config(VAERunConfig, CONFIG_DIR / "mnist_conv_vae.json")
    assert apply_overrides(conv, {"model.kind": "rae"}).model.channels == conv.model.channels
    # ... and are refused where it does not
    with pytest.raises(ConfigError, match="model.architecture is not a setting of model kind"):
        apply_overrides(conv, {"model.kind": "hvae"})


@pytest.mark.parametrize(
    "cls, data, message",
    [
        (VAERunConfig, {"model": {"latent_dim": 0}}, "model.latent_dim must be at least 1, got 0"),
        (
            VAERunConfig,
            {"model": {"kind": "hvae", "cells_per_group": -1}},
            "model.cells_per_group must be at least 0, got -1",
        ),
        (
            VAERunConfig,
            {"model": {"kind": "rae", "decoder_penalty": -1.0}},
            "model.decoder_penalty must be at least 0, got -1.0",
        ),
        (VAERunConfig, {"model": {"output_scale": 0.0}}, "model.output_scale must be above 0"),
        (VAERunConfig, {"model": {"activation": "relu"}}, "unknown model.activation 'relu'"),
        (VAERunConfig, {"data": {"name": "folder", "crop": -2}}, "data.crop must be at least 0"),
        (VAERunConfig, {"kl_warmup_fraction": 1.5}, "kl_warmup_fraction must be at most 1"),
        (PriorRunConfig, {"groups": [0, -1]}, "every entry of groups must be at least 0"),
        (EvaluateConfig, {"fid_samples": 1}, "fid_samples must be 0 or at least 2"),
        (DemoConfig, {"sample": {"num_samples": 0}}, "num_samples must be at least 1, got 0"),
    ],
)
def test_bounds_declared_on_the_fields_are_enforced(
    cls: type, data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        from_dict(cls, data)
