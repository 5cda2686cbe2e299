"""Run configs to and from JSON and command-line flags, strictly, by pydantic.

Every leaf field of a config becomes a dotted path (``train.steps``, ``model.hidden_dim``). A
section chosen by one of its fields (:func:`~ncpvae.settings.kind_union`: the model by ``kind``,
the data by ``name``) contributes the fields of all its kinds. Reading is strict: an unknown key,
a value of the wrong type, or a setting the chosen kind does not have is a
:class:`~ncpvae.errors.ConfigError` of one line naming the key.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import typing
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from ncpvae.config.sampling import RENAMED_KEYS
from ncpvae.errors import ConfigError, did_you_mean
from ncpvae.files import write_json
from ncpvae.settings import INT_LIMIT, chosen_by, config_error, fields_of, help_text, kinds

__all__ = [
    "leaf_fields",
    "default_value",
    "field_help",
    "to_dict",
    "from_dict",
    "load_config",
    "named_configs",
    "resolve_config",
    "save_config",
    "parse_value",
    "apply_overrides",
    "renamed_key_message",
]

C = TypeVar("C")
NAMED_CONFIGS = resources.files("ncpvae") / "configs"  # the ready configs, shipped as package data


def _members(annotation: Any) -> list[type]:
    """The section classes a field holds: its kinds, itself, or none for a leaf."""
    if found := kinds(annotation):
        return list(found.values())
    return [annotation] if dataclasses.is_dataclass(annotation) else []


def leaf_fields(cls: type, prefix: str = "") -> dict[str, Any]:
    """Dotted path -> annotated type of every leaf field of config class ``cls``."""
    out: dict[str, Any] = {}
    for name, info in fields_of(cls).items():
        members = _members(info.annotation)
        if not members:
            out[f"{prefix}{name}"] = info.annotation
        tag = f"{prefix}{name}.{chosen_by(info.annotation)}"
        for member in members:
            for key, kind in leaf_fields(member, f"{prefix}{name}.").items():
                if key == tag:  # each kind's own value: the flag takes any of them
                    kind = str
                if out.setdefault(key, kind) != kind:
                    raise TypeError(f"config key {key!r} has two types: {out[key]} and {kind}")
    return out


def _owner(cls: type, key: str) -> tuple[type, str]:
    """The section class holding the dotted ``key`` (in a section chosen by kind, the first kind
    that has it) and the key's last part."""
    *parents, leaf = key.split(".")
    for i, part in enumerate(parents):
        child = (parents[i + 1 :] or [leaf])[0]
        cls = next(m for m in _members(fields_of(cls)[part].annotation) if child in fields_of(m))
    return cls, leaf


def default_value(config: Any, key: str) -> Any:
    """The value of the dotted ``key`` in ``config``; for a setting of another kind than the
    config's section has, that kind's default."""
    *parents, leaf = key.split(".")
    node = config
    for part in parents:
        node = getattr(node, part)
    if hasattr(node, leaf):
        return getattr(node, leaf)
    owner, _ = _owner(type(config), key)
    return getattr(owner(), leaf)


def field_help(cls: type, key: str) -> str:
    """The help sentence of the config field at the dotted ``key`` of config class ``cls``."""
    return help_text(*_owner(cls, key))


def to_dict(config: Any) -> dict[str, Any]:
    """A config as nested plain dicts (JSON-ready)."""
    return dataclasses.asdict(config)


@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def from_dict(cls: type[C], data: dict[str, Any], prefix: str = "") -> C:
    """Build config class ``cls`` from a (possibly partial) dict; missing keys keep defaults.
    Validated as JSON is: strictly (``"5"`` is not an int)."""
    try:
        text = json.dumps(data, allow_nan=True)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"config {prefix or 'section'} is not JSON data ({err})") from None
    try:
        return _adapter(cls).validate_json(text, strict=True)
    except ValidationError as err:
        loc = err.errors()[0]["loc"]
        if loc and loc[-1] in RENAMED_KEYS:
            raise ConfigError(renamed_key_message(str(loc[-1]))) from None
        raise config_error(err, cls, prefix) from None


def renamed_key_message(old: str, flag: bool = False) -> str:
    """The one line for a setting under its ncpvae 0.1.0 name (:data:`RENAMED_KEYS`)."""
    dash = "--" if flag else ""
    return (
        f"{dash}{old} was renamed {dash}{RENAMED_KEYS[old]} after ncpvae 0.1.0 (each sampler "
        "has its own section); rename it"
    )


def named_configs() -> list[str]:
    """The names of the ready configs shipped in the package (``--config NAME``)."""
    return sorted(p.stem for p in NAMED_CONFIGS.iterdir() if p.name.endswith(".json"))


def resolve_config(name_or_path: str | Path) -> Path:
    """A config file's path: an existing file as given, else the shipped config of that name
    (``mnist_mlp_vae`` or ``mnist_mlp_vae.json``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = NAMED_CONFIGS / (path.name if path.suffix == ".json" else f"{path.name}.json")
    if path.parent == Path(".") and shipped.is_file():
        return Path(str(shipped))
    hint = did_you_mean(path.stem, named_configs()) if path.parent == Path(".") else ""
    raise ConfigError(
        f"config file {str(path)!r} not found{hint}; pass an existing JSON file or a ready "
        f"config: {', '.join(named_configs())}"
    )


def load_config(cls: type[C], path: str | Path) -> C:
    """Read a JSON config file strictly (see :func:`from_dict`); ``path`` may also name a ready
    config shipped in the package (:func:`named_configs`)."""
    path = resolve_config(path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {str(path)!r} is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a JSON object")
    return from_dict(cls, data)


def save_config(config: Any, path: str | Path) -> None:
    """Write ``config`` as JSON, atomically."""
    write_json(Path(path), to_dict(config))


def parse_value(text: str, kind: Any, key: str) -> Any:
    """Parse a command-line string into the annotated type of ``key`` (lists comma-separated:
    ``--model.data_shape 1,28,28``; bounds are checked when the config is built)."""
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        return [parse_value(p, item, key) for p in text.replace(" ", "").split(",") if p]
    if typing.get_origin(kind) is typing.Annotated:
        kind = typing.get_args(kind)[0]
    if typing.get_origin(kind) is typing.Literal:  # the config names the choices if not one
        return text
    try:
        value = TypeAdapter(kind).validate_strings(text)
    except ValidationError:
        raise ConfigError(f"--{key} expects {kind.__name__}, got {text!r}") from None
    if type(value) is int and abs(value) >= INT_LIMIT:
        raise ConfigError(f"--{key} is out of range: {value}")
    return value


def apply_overrides(config: C, overrides: dict[str, Any]) -> C:
    """Return ``config`` with dotted-path values replaced (values already parsed).

    A new kind of a section chosen by kind (``model.kind``, ``data.name``) is applied first: the
    section's settings still at the old kind's defaults take the new kind's defaults, changed
    ones are kept (and refused, naming the kind, where the new kind does not have them)."""
    data = to_dict(config)

    def sections(key: str) -> tuple[dict[str, Any], Any, str]:
        *parents, leaf = key.split(".")
        node, section = data, config
        for part in parents:
            node, section = node[part], getattr(section, part)
        return node, section, leaf

    def chooses(key: str) -> bool:  # whether ``key`` chooses the kind of its section
        _, section, leaf = sections(key)
        return "." in key and getattr(section, "chosen_by", None) == leaf

    for key, value in sorted(overrides.items(), key=lambda item: not chooses(item[0])):
        node, section, leaf = sections(key)
        if chooses(key) and value != getattr(section, leaf):
            defaults = to_dict(type(section)())
            for name in [name for name, v in node.items() if v == defaults[name]]:
                del node[name]
        node[leaf] = value
    return from_dict(type(config), data)
