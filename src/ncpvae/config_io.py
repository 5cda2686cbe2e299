"""Config dataclasses to and from JSON and command-line flags, strictly.

Every leaf field of a config becomes a dotted path (``train.steps``, ``model.hidden_dim``).
Reading is strict: an unknown key or a value of the wrong type is a
:class:`~ncpvae.errors.ConfigError` naming the key.

A field annotated with a union of config classes (``model: VAEConfig | RAEConfig | ...``) is a
section *chosen by kind*: each member has a ``kind`` field with its own default, the section's
``kind`` key picks the member (absent: the kind of the field's default), and a key that member
does not have is refused naming the kind. Its leaf paths are the union of the members'.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from ncpvae.checkpoint import write_json
from ncpvae.errors import ConfigError
from ncpvae.settings import help_text

__all__ = [
    "leaf_fields",
    "default_value",
    "to_dict",
    "from_dict",
    "load_config",
    "named_configs",
    "resolve_config",
    "field_help",
    "save_config",
    "parse_value",
    "apply_overrides",
]

C = TypeVar("C")
NAMED_CONFIGS = resources.files("ncpvae") / "configs"  # the ready configs, shipped as package data


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _kinds(hint: Any) -> dict[str, type]:
    """kind -> member class, when ``hint`` is a union of config classes told apart by their
    ``kind`` field; empty otherwise."""
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return {}
    members = typing.get_args(hint)
    if not all(dataclasses.is_dataclass(m) and "kind" in _names(m) for m in members):
        return {}
    return {next(f for f in dataclasses.fields(m) if f.name == "kind").default: m for m in members}


def leaf_fields(cls: type, prefix: str = "") -> dict[str, type]:
    """Dotted path -> type of every non-dataclass field of config class ``cls``; a section
    chosen by kind contributes the fields of all its kinds."""
    out: dict[str, type] = {}
    hints = _hints(cls)
    for name in _names(cls):
        hint = hints[name]
        members = list(_kinds(hint).values()) or [hint]
        if not dataclasses.is_dataclass(members[0]):
            out[f"{prefix}{name}"] = hint
            continue
        for member in members:
            for key, kind in leaf_fields(member, f"{prefix}{name}.").items():
                if out.setdefault(key, kind) != kind:
                    raise TypeError(f"config key {key!r} has two types: {out[key]} and {kind}")
    return out


def default_value(config: Any, key: str) -> Any:
    """The value of the dotted ``key`` in ``config``; for a setting of another kind than the
    config's section has, that kind's default."""
    *parents, leaf = key.split(".")
    node, hint = config, type(config)
    for part in parents:
        node, hint = getattr(node, part), _hints(type(node))[part]
    if hasattr(node, leaf):
        return getattr(node, leaf)
    owner = next(cls for cls in _kinds(hint).values() if leaf in _names(cls))
    return getattr(owner(), leaf)


def field_help(cls: type, key: str) -> str:
    """The help sentence of the config field at the dotted ``key`` of config class ``cls`` (in
    a section chosen by kind, the first kind that has the field)."""
    parts = key.split(".")
    for part, child in zip(parts, parts[1:], strict=False):
        hint = _hints(cls)[part]
        cls = next(m for m in list(_kinds(hint).values()) or [hint] if child in _names(m))
    field = next(f for f in dataclasses.fields(cls) if f.name == parts[-1])
    return help_text(field)


def to_dict(config: Any) -> dict[str, Any]:
    """A config as nested plain dicts (JSON-ready)."""
    return dataclasses.asdict(config)


def _coerce(value: Any, kind: Any, key: str) -> Any:
    """Check ``value`` read from JSON against the annotated ``kind`` (int, float, str, bool,
    or X | None)."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        kind = next(a for a in args if a is not type(None))
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        if not isinstance(value, list):
            raise ConfigError(f"config key {key!r} must be a list, got {value!r}")
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (int, float, str, bool) and (
        not isinstance(value, kind) or (kind is int and isinstance(value, bool))
    ):
        raise ConfigError(f"config key {key!r} must be {kind.__name__}, got {value!r}")
    return _check_range(value, key)


def _check_range(value: Any, key: str) -> Any:
    """Every float setting is finite and every int fits in 64 bits (seeds, counts)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**62:
        raise ConfigError(f"{key} is out of range: {value}")
    return value


def _class_of_kind(kinds: dict[str, type], data: dict[str, Any], default: str, prefix: str) -> type:
    """The member of a section chosen by kind that ``data`` names (``default`` if it names
    none); refuses a key that member does not have, naming the kind."""
    kind = data.get("kind", default)
    if kind not in kinds:
        raise ConfigError(f"unknown {prefix}kind {kind!r}; use one of: {', '.join(kinds)}")
    cls = kinds[kind]
    names = _names(cls)
    foreign = [key for key in data if key not in names]
    if foreign:
        section = getattr(cls, "section", "") or prefix.rstrip(".")
        raise ConfigError(
            f"{prefix}{foreign[0]} is not a setting of {section} kind {kind!r}; "
            f"its settings: {', '.join(names)}"
        )
    return cls


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def from_dict(cls: type[C], data: dict[str, Any], prefix: str = "") -> C:
    """Build config class ``cls`` from a (possibly partial) dict; missing keys keep defaults."""
    if not isinstance(data, dict):
        raise ConfigError(f"config section {prefix or '<top>'!r} must be a JSON object")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix + unknown[0]!r}; known keys: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, value in data.items():
        hint, key = hints[name], f"{prefix}{name}"
        if kinds := _kinds(hint):
            section = value if isinstance(value, dict) else {}
            chosen = _class_of_kind(kinds, section, _default(fields[name]).kind, f"{key}.")
            kwargs[name] = from_dict(chosen, value, f"{key}.")
        elif dataclasses.is_dataclass(hint):
            kwargs[name] = from_dict(hint, value, f"{key}.")
        else:
            kwargs[name] = _coerce(value, hint, key)
    return cls(**kwargs)


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
    raise ConfigError(
        f"config file {str(path)!r} not found; pass an existing JSON file or a ready config: "
        f"{', '.join(named_configs())}"
    )


def load_config(cls: type[C], path: str | Path) -> C:
    """Read a JSON config file strictly (see :func:`from_dict`); ``path`` may also name a ready
    config shipped in the package (:func:`named_configs`)."""
    path = resolve_config(path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {str(path)!r} is not valid JSON ({err})") from None
    return from_dict(cls, data)


def save_config(config: Any, path: str | Path) -> None:
    """Write ``config`` as JSON, atomically."""
    write_json(Path(path), to_dict(config))


def parse_value(text: str, kind: Any, key: str) -> Any:
    """Parse a command-line string into the annotated type of ``key``."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null"):
            return None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if typing.get_origin(kind) is list:  # comma-separated: --model.data_shape 1,28,28
        (item,) = typing.get_args(kind)
        parts = [p for p in text.replace(" ", "").split(",") if p]
        return [parse_value(p, item, key) for p in parts]
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        value = kind(text)
    except ValueError:
        raise ConfigError(f"--{key} expects {kind.__name__}, got {text!r}") from None
    return _check_range(value, f"--{key}")


def apply_overrides(config: C, overrides: dict[str, Any]) -> C:
    """Return ``config`` with dotted-path values replaced (values already parsed).

    A new ``kind`` of a section is applied first: the section's settings still at the old kind's
    defaults take the new kind's defaults, changed ones are kept (and refused, naming the kind,
    where the new kind does not have them)."""
    data = to_dict(config)
    for key, value in sorted(overrides.items(), key=lambda item: not item[0].endswith(".kind")):
        *parents, leaf = key.split(".")
        node, section = data, config
        for part in parents:
            node, section = node[part], getattr(section, part)
        if leaf == "kind" and parents and value != section.kind:
            defaults = to_dict(type(section)())
            for name in [name for name, v in node.items() if v == defaults[name]]:
                del node[name]
        node[leaf] = value
    return from_dict(type(config), data)
