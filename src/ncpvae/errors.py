"""Errors that reach the user as a one-line message (the CLI prints them without a traceback)."""

import difflib
from collections.abc import Iterable

__all__ = [
    "NCPVAEError",
    "NonFiniteLossError",
    "ConfigError",
    "CheckpointError",
    "DataError",
    "SamplingError",
    "require",
    "first_line",
    "did_you_mean",
]


class NCPVAEError(Exception):
    """Base class: the message says what went wrong and what to do about it."""


class ConfigError(NCPVAEError, ValueError):
    """A config file or override is missing, malformed, or names an unknown option."""


class CheckpointError(NCPVAEError):
    """A run folder or weights file is missing, corrupt, or does not match its config."""


class DataError(NCPVAEError, ValueError):
    """Data is missing, has the wrong shape, or holds non-finite values."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


class SamplingError(NCPVAEError):
    """A sampler failed, for example diverged to non-finite values."""


class NonFiniteLossError(NCPVAEError, FloatingPointError):
    """Training produced a NaN or infinite loss."""


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type's name if it has none), at most
    ``limit`` characters: the part of a library's multi-line error that fits a one-line one."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return (lines[0] if lines else type(err).__name__)[:limit]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` for the choice closest to a misspelt ``word``; empty when none
    is close (difflib's ratio of at least 0.6)."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
