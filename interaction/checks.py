"""Argument validation shared by every public entry point.

Each check raises ``ValueError`` whose message names the parameter, the allowed
range and the offending value, so that a CLI can print it as a single line.
Checks accept scalars or arrays (every element must satisfy the condition) and
never clip or coerce silently.
"""
from __future__ import annotations

import numbers
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
    except OverflowError:  # an integer beyond the float range
        raise ValueError(f"{name} must be finite (got an integer too large for a float)") from None


def check_finite(name: str, value: Any) -> np.ndarray:
    """Require every element of ``value`` to be a finite real number."""
    arr = _as_float_array(name, value)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (got {_describe(value)} with non-finite entries)"
                         if arr.ndim else f"{name} must be finite (got {_describe(value)})")
    return arr


def check_real(name: str, value: Any, allowed: str = "a real number") -> float:
    """Require one real number: a Python or numpy int or float, or a 0-d array of one.

    Strings (even ``"10"``), bools, complex numbers, ``None`` and arrays of more than
    one element are rejected rather than converted; ``allowed`` describes the accepted
    values in the message (e.g. ``"a real number > 0"``). Returns the value as a float
    (finiteness is checked; range checks follow with the helpers below).
    """
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {allowed} (got {value!r})")
    return float(check_finite(name, value))


def check_real_array(name: str, value: Any) -> np.ndarray:
    """Require an array (or nested sequence) of real numbers; returns it as a float array.

    Strings, bools, complex numbers, objects and ragged sequences are rejected rather
    than converted (``np.asarray(["1"], dtype=float)`` would accept a string).
    Finiteness is left to ``check_finite`` and friends, so that the caller can name the
    offending component.
    """
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be an array of real numbers (got {value!r})")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of real numbers (got a ragged or "
                         f"non-numeric {type(value).__name__})") from None
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be an array of real numbers (got dtype {arr.dtype})")
    return arr.astype(float)


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
    try:  # an array is never a choice (its comparison is elementwise or ambiguous)
        found = not isinstance(value, np.ndarray) and value in choices
    except (TypeError, ValueError):
        found = False
    if not found:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))} (got {value!r})")
    return value
