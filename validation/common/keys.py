"""Cache and resume keys derived from the *whole* compute configuration.

A key covers every field of a config dataclass (embedded configs included) except
those the config declares analysis-only in a class attribute ``ANALYSIS_FIELDS``:
a new field therefore enters the key by default, and a cache written under another
value of it is never reused by mistake. The package version is part of the key too.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from interaction.artifacts import package_version, to_jsonable


def compute_config(config: Any) -> dict[str, Any]:
    """``asdict(config)`` without the fields named in ``type(config).ANALYSIS_FIELDS`` (top level)."""
    analysis_only = set(getattr(type(config), "ANALYSIS_FIELDS", ()))
    unknown = analysis_only - {f.name for f in dataclasses.fields(config)}
    if unknown:
        raise TypeError(f"{type(config).__name__}.ANALYSIS_FIELDS names no field(s) {sorted(unknown)}")
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in analysis_only}


def config_key(config: Any, *extra: Any, length: int = 16) -> str:
    """Hex digest of the compute config, the package version and any ``extra`` values."""
    payload = json.dumps(to_jsonable([compute_config(config), package_version(), *extra]), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:length]
