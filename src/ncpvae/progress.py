"""Progress bars that suit where they are shown: refreshed every second on a terminal, every
minute when stderr is a file or a pipe (a redirected log keeps a line a minute, not every
refresh)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

__all__ = ["progress_bar"]

T = TypeVar("T")
TERMINAL_INTERVAL = 1.0  # seconds between refreshes on a terminal
LOG_INTERVAL = 60.0  # seconds between refreshes written to a file or pipe


def progress_bar(iterable: Iterable[T], description: str, enabled: bool, **options: Any) -> Any:
    """``tqdm`` over ``iterable`` with the description, switched off unless ``enabled``."""
    interactive = sys.stderr.isatty()
    options.setdefault("mininterval", TERMINAL_INTERVAL if interactive else LOG_INTERVAL)
    if not interactive:
        options.setdefault("maxinterval", LOG_INTERVAL)
    return tqdm(iterable, desc=description, disable=not enabled, **options)
