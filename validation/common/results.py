"""Results files: ``NAME.npz`` (arrays) beside ``NAME.json`` (configuration, summary, provenance).

Writing is atomic (``interaction.artifacts``). Reading validates what it loads and
says in one line which file is wrong and why (``ValueError``): a missing or corrupt
file, a JSON that is not an object, missing arrays or metadata keys, arrays of the
wrong shape, or a file of another experiment. Arrays are read with
``allow_pickle=False``: a results file never executes code.
"""
from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interaction.artifacts import atomic_savez, atomic_write_json, package_version, provenance


@dataclass(frozen=True)
class Results:
    """Arrays and metadata of one results file pair."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]
    npz: Path
    json: Path


def save_results(out_dir: str | Path, experiment: str, arrays: Mapping[str, Any], meta: Mapping[str, Any],
                 *, stem: str = "results") -> Results:
    """Write ``out_dir/stem.npz`` and ``out_dir/stem.json``; the JSON gains ``experiment`` and ``provenance``."""
    out_dir = Path(out_dir)
    full_meta = {"experiment": experiment, **meta, "provenance": provenance()}
    npz = atomic_savez(out_dir / f"{stem}.npz", **arrays)
    js = atomic_write_json(out_dir / f"{stem}.json", full_meta)
    return Results({k: np.asarray(v) for k, v in arrays.items()}, json.loads(js.read_text()), npz, js)


def resolve(path: str | Path, stem: str = "results") -> tuple[Path, Path]:
    """The (npz, json) pair for a path to either file or to their directory."""
    path = Path(path)
    if path.is_dir():
        path = path / f"{stem}.npz"
    return path.with_suffix(".npz"), path.with_suffix(".json")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or a one-line ``ValueError`` naming the file."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file (written by a finished run)")
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON file ({exc.__class__.__name__})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(meta).__name__}")
    return meta


def read_npz(path: Path, required: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """All arrays of ``path``, checking that ``required`` are present; one-line errors name the file."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file (written by a finished run)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        # numpy's own message for object arrays suggests allow_pickle=True, which a results
        # reader must never do; say what is wrong with the file instead.
        raise ValueError(f"{path}: not a readable results archive (corrupt, truncated or not written by "
                         f"this toolkit: {exc.__class__.__name__})") from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise ValueError(f"{path}: missing array(s) {missing}")
    return arrays


def check_shapes(path: Path, arrays: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int | None, ...]]) -> None:
    """Each named array has the given shape (``None`` = any size on that axis)."""
    for name, shape in shapes.items():
        actual = arrays[name].shape
        if len(actual) != len(shape) or any(s is not None and s != a for s, a in zip(shape, actual)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{path}: array {name!r} has shape {actual}, expected {want}")


def load_results(path: str | Path, experiment: str, *, arrays: Iterable[str] = (),
                 meta_keys: Iterable[str] = ("config",), stem: str = "results") -> Results:
    """Read and validate a results pair written by ``save_results`` for ``experiment``.

    Refuses a file of another experiment, missing arrays or metadata keys; a file of another
    package version loads (its ``provenance`` says which) but the caller may refuse it.
    """
    npz, js = resolve(path, stem)
    meta = read_json(js)
    if meta.get("experiment") != experiment:
        raise ValueError(f"{js}: results of {meta.get('experiment')!r}, not of {experiment!r}")
    missing = [k for k in meta_keys if k not in meta]
    if missing:
        raise ValueError(f"{js}: missing key(s) {missing}")
    return Results(read_npz(npz, arrays), meta, npz, js)


def written_by_this_version(meta: Mapping[str, Any]) -> bool:
    """Whether a results file's provenance names this package version."""
    prov = meta.get("provenance")
    return isinstance(prov, Mapping) and prov.get("version") == package_version()
