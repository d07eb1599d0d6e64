"""Argument validation shared by every public entry point.

Each check raises ``ValueError`` whose message names the parameter, the allowed
range and the offending value, so that a CLI can print it as a single line.
Checks accept scalars or arrays (every element must satisfy the condition) and
never clip or coerce silently.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def _describe(value: Any) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0:
        return repr(arr.item())
    return f"array of shape {arr.shape}"


def _as_float_array(name: str, value: Any) -> np.ndarray:
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number (got {value!r})") from None


def check_finite(name: str, value: Any) -> np.ndarray:
    """Require every element of ``value`` to be a finite real number."""
    arr = _as_float_array(name, value)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (got {_describe(value)} with non-finite entries)"
                         if arr.ndim else f"{name} must be finite (got {_describe(value)})")
    return arr


def check_positive(name: str, value: Any) -> np.ndarray:
    """Require ``0 < value < inf`` elementwise."""
    arr = check_finite(name, value)
    if not np.all(arr > 0):
        raise ValueError(f"{name} must be > 0 (got {_describe(value) if arr.ndim == 0 else 'min ' + repr(float(arr.min()))})")
    return arr


def check_nonnegative(name: str, value: Any) -> np.ndarray:
    """Require ``0 <= value < inf`` elementwise."""
    arr = check_finite(name, value)
    if not np.all(arr >= 0):
        raise ValueError(f"{name} must be >= 0 (got {_describe(value) if arr.ndim == 0 else 'min ' + repr(float(arr.min()))})")
    return arr


def check_interval(name: str, value: Any, lo: float, hi: float, *,
                   lo_closed: bool = True, hi_closed: bool = True) -> np.ndarray:
    """Require ``value`` in the interval from ``lo`` to ``hi`` (closedness as given)."""
    arr = check_finite(name, value)
    ok_lo = arr >= lo if lo_closed else arr > lo
    ok_hi = arr <= hi if hi_closed else arr < hi
    if not np.all(ok_lo & ok_hi):
        interval = f"{'[' if lo_closed else '('}{lo}, {hi}{']' if hi_closed else ')'}"
        raise ValueError(f"{name} must lie in {interval} (got {_describe(value)})")
    return arr


def check_int(name: str, value: Any, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Require an integer (bools rejected) within ``[minimum, maximum]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer (got {value!r})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum} (got {value})")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum} (got {value})")
    return value


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Require ``value`` to be one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))} (got {value!r})")
    return value
