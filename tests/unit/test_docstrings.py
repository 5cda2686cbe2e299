"""Every public object of the library says what it is: modules, the names in ``__all__`` (or,
without one, every public function and class defined in the module) and their public methods."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import ncpvae


def _modules() -> list[str]:
    return [info.name for info in pkgutil.walk_packages(ncpvae.__path__, "ncpvae.")]


def _documented_in(base: type, attr: str) -> bool:
    """An override may rely on its ncpvae base class's docstring (not on torch's)."""
    inherited = getattr(base, attr, None)
    return base.__module__.startswith("ncpvae") and bool(getattr(inherited, "__doc__", None))


def _undocumented(module) -> list[str]:
    missing = [] if module.__doc__ else [module.__name__]
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    for name in names:
        obj = getattr(module, name)
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        doc = obj.__doc__ or ""
        if not doc.strip() or doc.startswith(f"{name}("):  # a dataclass's generated signature
            missing.append(name)
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                fn = (
                    value.fget if isinstance(value, property) else getattr(value, "__func__", value)
                )
                if attr.startswith("_") or not inspect.isfunction(fn) or fn.__doc__:
                    continue
                if not any(_documented_in(base, attr) for base in obj.__mro__[1:]):
                    missing.append(f"{name}.{attr}")
    return missing


@pytest.mark.parametrize("name", _modules())
def test_public_objects_have_docstrings(name: str):
    assert _undocumented(importlib.import_module(name)) == []
