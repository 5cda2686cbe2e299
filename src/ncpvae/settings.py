"""Settings declared once: a config field's default, help text and valid range live in its
``metadata``, and :func:`check_settings` validates an instance from them.

    @dataclass
    class TrainConfig:
        section: ClassVar[str] = "train"
        steps: int = setting(20_000, "optimisation steps", min=1)

        def __post_init__(self) -> None:
            check_settings(self)

The CLI's ``--help`` and the docs' CLI page read the same ``help`` text (:func:`help_text`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ncpvae.errors import ConfigError

__all__ = ["setting", "check_settings", "help_text"]

_MISSING = dataclasses.MISSING


def setting(
    default: Any = _MISSING,
    help: str = "",
    *,
    default_factory: Any = _MISSING,
    min: float | None = None,
    max: float | None = None,
    above: float | None = None,
    below: float | None = None,
    choices: Sequence[Any] | None = None,
    each_min: float | None = None,
) -> Any:
    """A dataclass field with its help text and bounds: ``min``/``max`` inclusive,
    ``above``/``below`` exclusive, ``choices`` a finite set, ``each_min`` a bound on every item of
    a list."""
    metadata = {
        "help": help,
        "min": min,
        "max": max,
        "above": above,
        "below": below,
        "choices": tuple(choices) if choices is not None else None,
        "each_min": each_min,
    }
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _prefix(obj: Any) -> str:
    section = getattr(type(obj), "section", "")
    return f"{section}." if section else ""


def check_settings(obj: Any) -> None:
    """Raise :class:`ConfigError` (naming ``section.field``) for the first field of the
    dataclass instance ``obj`` that is outside the bounds its :func:`setting` declares."""
    prefix = _prefix(obj)
    for f in dataclasses.fields(obj):
        meta, value, name = f.metadata, getattr(obj, f.name), prefix + f.name
        if not meta or value is None:
            continue
        choices = meta.get("choices")
        if choices is not None and value not in choices:
            options = ", ".join(str(c) for c in choices)
            raise ConfigError(f"unknown {name} {value!r}; use one of: {options}")
        bounds = (
            ("min", lambda v, b: v >= b, "at least"),
            ("max", lambda v, b: v <= b, "at most"),
            ("above", lambda v, b: v > b, "above"),
            ("below", lambda v, b: v < b, "below"),
        )
        for key, holds, words in bounds:
            bound = meta.get(key)
            if bound is not None and not holds(value, bound):
                raise ConfigError(f"{name} must be {words} {bound:g}, got {value!r}")
        each_min = meta.get("each_min")
        if each_min is not None and not all(v >= each_min for v in value):
            raise ConfigError(f"every entry of {name} must be at least {each_min:g}, got {value}")


def help_text(f: dataclasses.Field) -> str:
    """The help sentence of a config field (empty when it declares none)."""
    return f.metadata.get("help", "") if f.metadata else ""
