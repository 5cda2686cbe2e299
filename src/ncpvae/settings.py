"""Settings declared once and checked by pydantic: a config section is a
:func:`config_section` class (a pydantic dataclass), and each field declares its default, help
text and bounds with :func:`setting`. Constructing a section validates it, from Python, JSON or
flags alike:

    @config_section
    class TrainConfig:
        section: ClassVar[str] = "train"
        steps: Int = setting(20_000, "Optimisation steps.", min=1)

A value of the wrong type, out of bounds, not finite or an unknown key raises a
:class:`~ncpvae.errors.ConfigError` of one line naming the dotted key (:func:`config_error`). The
CLI's ``--help`` and the docs' CLI page read the same help text (:func:`help_text`).
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import ConfigDict, Discriminator, Field, Tag, ValidationError
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic.fields import FieldInfo

from ncpvae.errors import ConfigError, did_you_mean

__all__ = [
    "config_section",
    "setting",
    "kind_union",
    "Int",
    "help_text",
    "fields_of",
    "kinds",
    "chosen_by",
    "config_error",
]

C = TypeVar("C")
INT_LIMIT = 2**62  # seeds, counts: every int setting fits in 64 bits with room to spare
Int = Annotated[int, Field(gt=-INT_LIMIT, lt=INT_LIMIT)]
"""An int setting (bounded, so that a seed or count always fits torch's 64-bit integers)."""

# strict: JSON's "5" is not an int, nor true a number; a section is a JSON object
STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
_MISSING = dataclasses.MISSING


def setting(
    default: Any = _MISSING,
    help: str = "",
    *,
    default_factory: Callable[[], Any] | None = None,
    min: float | None = None,
    max: float | None = None,
    above: float | None = None,
    below: float | None = None,
) -> Any:
    """A field with its help text and bounds: ``min``/``max`` inclusive, ``above``/``below``
    exclusive. (A finite set of values is a ``Literal`` annotation; a bound on every item of a
    list is ``list[Annotated[int, Field(ge=...)]]``.)"""
    bounds = dict(ge=min, le=max, gt=above, lt=below)
    if default_factory is not None:
        return Field(default_factory=default_factory, description=help, **bounds)
    return Field(default, description=help, **bounds)


def config_section(cls: type[C]) -> type[C]:
    """Make ``cls`` a config section: a dataclass whose constructor validates every field (and
    then runs ``__post_init__`` for checks across fields), raising a one-line
    :class:`ConfigError`."""
    cls = pydantic_dataclass(cls, config=STRICT)
    init = cls.__init__

    @functools.wraps(init)
    def checked_init(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except ValidationError as err:
            raise config_error(err, type(self)) from None

    cls.__init__ = checked_init  # type: ignore[method-assign]
    return cls


def kind_union(*members: type) -> Any:
    """The annotation of a section chosen by one of its fields: each member names that field in
    its ``chosen_by`` class variable (``kind`` for models, ``name`` for data sources) and gives it
    its own default; a JSON object without it is the first member's."""
    tag = _chosen_by(members[0])
    if any(_chosen_by(m) != tag for m in members):
        raise TypeError(f"the members of a kind_union must all be chosen by {tag!r}")
    default = _tag_of(members[0])

    def choose(value: Any) -> str | None:
        return value.get(tag, default) if isinstance(value, dict) else getattr(value, tag)

    tagged = [Annotated[m, Tag(_tag_of(m))] for m in members]
    return Annotated[typing.Union[tuple(tagged)], Discriminator(choose)]  # noqa: UP007


def _chosen_by(cls: type) -> str | None:
    """The field that chooses ``cls`` among the members of its :func:`kind_union`, if any."""
    tag = getattr(cls, "chosen_by", None)
    return tag if dataclasses.is_dataclass(cls) and tag in fields_of(cls) else None


def _tag_of(cls: type) -> str:
    """The value of the choosing field that names ``cls`` (its default)."""
    return fields_of(cls)[_chosen_by(cls)].default


def fields_of(cls: type) -> dict[str, FieldInfo]:
    """Field name -> pydantic's view of the field (annotation, default, description, bounds)."""
    return cls.__pydantic_fields__  # type: ignore[attr-defined]


def kinds(annotation: Any) -> dict[str, type]:
    """kind (the value of the choosing field) -> member class, when ``annotation`` is a
    :func:`kind_union`; empty otherwise."""
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is not typing.Union:
        return {}
    members = [typing.get_args(m)[0] for m in typing.get_args(annotation)]
    if not all(_chosen_by(m) for m in members):
        return {}
    return {_tag_of(m): m for m in members}


def chosen_by(annotation: Any) -> str | None:
    """The field that chooses the member of a :func:`kind_union` (``kind``, ``name``); None for
    any other annotation."""
    members = list(kinds(annotation).values())
    return _chosen_by(members[0]) if members else None


def help_text(cls: type, name: str) -> str:
    """The help sentence of the field ``name`` of section ``cls`` (empty when it declares none)."""
    return fields_of(cls)[name].description or ""


def _walk(cls: type, loc: tuple[Any, ...]) -> tuple[list[str], type, str | None]:
    """The dotted key of an error's location in section ``cls``, without the union tags that
    pydantic adds, the section class holding its last part, and that section's kind if chosen
    by kind."""
    key: list[str] = []
    kind = None
    parts = list(loc)
    while parts:
        name = parts.pop(0)
        if isinstance(name, int) and key:  # an item of a list
            key[-1] += f"[{name}]"
            continue
        key.append(str(name))
        info = fields_of(cls).get(name)
        if info is None or not parts:
            continue
        members = kinds(info.annotation)
        if members and parts[0] in members:
            kind = parts.pop(0)
            cls = members[kind]
        elif dataclasses.is_dataclass(info.annotation):
            cls, kind = info.annotation, None
    return key, cls, kind


def _names(ctx: dict[str, Any]) -> str:
    """The choices pydantic lists (``'a', 'b' or 'c'``) as ``a, b, c``."""
    expected = ctx.get("expected_tags", ctx.get("expected", ""))
    return expected.replace("'", "").replace(" or ", ", ")


TYPE_NAMES = {"int": "int", "float": "float", "bool": "bool", "string": "str", "list": "list"}


def config_error(err: ValidationError, cls: type, prefix: str = "") -> ConfigError:
    """pydantic's first error on section ``cls`` as the one line the CLI prints, naming the
    dotted key (``prefix`` is the section's own path; default its ``section`` name), which the
    error keeps as ``key``."""
    first = err.errors()[0]
    parts, owner, kind = _walk(cls, first["loc"])
    prefix = prefix or (f"{cls.section}." if getattr(cls, "section", "") else "")
    key = prefix + ".".join(parts)
    ctx = first.get("ctx", {})
    if isinstance(ctx.get("error"), ConfigError):  # raised by a section's __post_init__
        error = ctx["error"]
    else:
        error = _one_line(first, key, parts, owner, kind, prefix)
    if not hasattr(error, "key"):
        error.key = key  # type: ignore[attr-defined]
    return error


def _one_line(
    first: Any, key: str, parts: list[str], owner: type, kind: str | None, prefix: str
) -> ConfigError:
    """The message for pydantic's error ``first`` at the dotted ``key`` (see :func:`_walk`)."""
    kind_of_error, value, ctx = first["type"], first.get("input"), first.get("ctx", {})
    if kind_of_error == "unexpected_keyword_argument":
        names = list(fields_of(owner))
        if kind is None and _chosen_by(owner):  # a kind's section built directly
            kind = _tag_of(owner)
        if kind is not None:
            return ConfigError(
                f"{key} is not a setting of {owner.section or prefix.rstrip('.')} "
                f"{_chosen_by(owner)} {kind!r}; its settings: {', '.join(names)}"
            )
        base = key[: len(key) - len(parts[-1])]  # the section's dotted path
        hint = did_you_mean(key, [base + name for name in names])
        return ConfigError(
            f"unknown config key {key!r}{hint}; known keys: {', '.join(sorted(names))}"
        )
    if kind_of_error == "union_tag_invalid":
        union = fields_of(owner).get(parts[-1]) if parts else None
        tag = (union and chosen_by(union.annotation)) or "kind"
        return ConfigError(f"unknown {key}.{tag} {ctx['tag']!r}; use one of: {_names(ctx)}")
    if kind_of_error == "literal_error":
        return ConfigError(f"unknown {key} {value!r}; use one of: {_names(ctx)}")
    if kind_of_error in ("greater_than", "less_than") and abs(ctx.get("gt", ctx.get("lt"))) == (
        INT_LIMIT
    ):
        return ConfigError(f"{key} is out of range: {value}")
    bounds = {"greater_than_equal": ("ge", "at least"), "less_than_equal": ("le", "at most")}
    bounds |= {"greater_than": ("gt", "above"), "less_than": ("lt", "below")}
    if kind_of_error in bounds:
        bound, words = bounds[kind_of_error]
        item = "every entry of " if key.endswith("]") else ""
        key = key.rsplit("[", 1)[0]
        return ConfigError(f"{item}{key} must be {words} {ctx[bound]:g}, got {value!r}")
    if kind_of_error == "finite_number":
        return ConfigError(f"{key} must be a finite number, got {value}")
    if kind_of_error in ("dataclass_type", "dataclass_exact_type", "model_type"):
        return ConfigError(f"config section {key or '<top>'!r} must be a JSON object")
    expected = TYPE_NAMES.get(kind_of_error.split("_")[0])
    if expected:
        return ConfigError(f"config key {key!r} must be {expected}, got {value!r}")
    return ConfigError(f"{key}: {first['msg']}, got {value!r}")
