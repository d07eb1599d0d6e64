"""Results files: ``NAME.npz`` (arrays) beside ``NAME.json`` (configuration, summary, provenance).

Writing is atomic (``interaction.artifacts``). Reading validates what it loads and
says in one line which file is wrong and why (``ValueError``): a missing or corrupt
file, a JSON that is not an object, missing arrays or metadata keys, arrays of the
wrong shape or dtype kind, or a file of another experiment. Arrays are read with
``allow_pickle=False``: a results file never executes code.

Reading is defensive: a file given to ``--plot-only``/``--replot`` or ``load()`` may be
damaged or hostile, and is refused (the same one-line ``ValueError``) before it can hang
the reader or exhaust memory. Each array's ``.npy`` header is read before anything is
allocated: an object dtype, a shape whose size exceeds ``MAX_ARRAY_BYTES`` or the bytes
the member holds is refused; so is an archive whose members declare more than
``MAX_ARCHIVE_BYTES`` decompressed (a zip bomb; a member never yields more than it
declares), and a JSON file larger than ``MAX_JSON_BYTES`` or nested deeper than
``MAX_JSON_DEPTH`` levels.
"""
from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interaction.artifacts import atomic_savez, atomic_write_json, package_version, provenance

#: largest array a results file may hold (its ``.npy`` header's shape x itemsize): 2 GiB
MAX_ARRAY_BYTES = 2 * 1024 ** 3
#: largest total its archive's members may declare decompressed (zip ``file_size``): 4 GiB
MAX_ARCHIVE_BYTES = 4 * 1024 ** 3
#: largest ``.npy`` header read (numpy's own default limit)
MAX_HEADER_BYTES = 10_000
#: largest JSON file read: 64 MiB
MAX_JSON_BYTES = 64 * 1024 ** 2
#: deepest nesting of objects and lists in a JSON file
MAX_JSON_DEPTH = 64
#: dtype kinds of numeric arrays (bool, signed and unsigned integer, float, complex); see ``check_kinds``
NUMERIC = "biufc"


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


class _Refusal(ValueError):
    """A one-line refusal that already names the file (passed on as it is)."""


def _nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests dicts and lists more than ``limit`` levels deep (iteratively: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or a one-line ``ValueError`` naming the file.

    Refuses a file larger than ``MAX_JSON_BYTES`` (unread) or nested deeper than ``MAX_JSON_DEPTH``.
    """
    if not path.is_file():
        raise ValueError(f"{path}: no such file (written by a finished run)")
    too_deep = f"{path}: JSON nested deeper than {MAX_JSON_DEPTH} levels, not a results file"
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            raw = f.read(size + 1) if size <= MAX_JSON_BYTES else None   # a larger file is not read at all
    except OSError as exc:
        raise ValueError(f"{path}: not a readable JSON file ({exc.__class__.__name__})") from None
    if raw is None or len(raw) > MAX_JSON_BYTES:
        raise ValueError(f"{path}: JSON file larger than {MAX_JSON_BYTES // 1024 ** 2} MiB, not a results file")
    try:
        meta = json.loads(raw)
    except RecursionError:
        raise ValueError(too_deep) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON file ({exc.__class__.__name__})") from None
    if _nesting_exceeds(meta, MAX_JSON_DEPTH):
        raise ValueError(too_deep)
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(meta).__name__}")
    return meta


def _array_header(path: Path, name: str, fp: Any, member_bytes: int) -> None:
    """Check one ``.npy`` member's header, before its array is allocated: refuse an object dtype,
    a size over ``MAX_ARRAY_BYTES`` or more data than the member holds."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fp, max_header_size=MAX_HEADER_BYTES)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fp, max_header_size=MAX_HEADER_BYTES)
    else:
        raise _Refusal(f"{path}: array {name!r} has .npy format version {version}, not one this "
                       f"toolkit writes")
    if dtype.hasobject:
        raise _Refusal(f"{path}: array {name!r} holds Python objects (dtype {dtype}), which a results "
                       f"file never does")
    if any(n < 0 for n in shape):
        raise _Refusal(f"{path}: array {name!r} declares a negative shape {shape}")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > MAX_ARRAY_BYTES:
        raise _Refusal(f"{path}: array {name!r} declares shape {shape} of {dtype} ({nbytes / 1024 ** 3:.3g} "
                       f"GiB), over the {MAX_ARRAY_BYTES / 1024 ** 3:g} GiB limit of a results array")
    if nbytes > member_bytes - fp.tell():
        raise _Refusal(f"{path}: array {name!r} declares shape {shape} of {dtype} ({nbytes} bytes) but its "
                       f"member holds {member_bytes - fp.tell()} bytes of data (corrupt or truncated)")


def _read_arrays(path: Path, archive: zipfile.ZipFile) -> dict[str, np.ndarray]:
    """Every ``.npy`` member of ``archive``, each header checked (``_array_header``) before it is read."""
    members = archive.infolist()
    declared = sum(info.file_size for info in members)
    if declared > MAX_ARCHIVE_BYTES:
        raise _Refusal(f"{path}: members declare {declared / 1024 ** 3:.3g} GiB decompressed, over the "
                       f"{MAX_ARCHIVE_BYTES / 1024 ** 3:g} GiB limit of a results archive")
    arrays = {}
    for info in members:
        if not info.filename.endswith(".npy"):
            raise _Refusal(f"{path}: member {info.filename!r} is not an array (.npy)")
        name = info.filename[: -len(".npy")]
        if info.file_size > MAX_ARRAY_BYTES + MAX_HEADER_BYTES:
            raise _Refusal(f"{path}: array {name!r} declares {info.file_size / 1024 ** 3:.3g} GiB decompressed, "
                           f"over the {MAX_ARRAY_BYTES / 1024 ** 3:g} GiB limit of a results array")
        with archive.open(info) as fp:
            _array_header(path, name, fp, info.file_size)
        with archive.open(info) as fp:
            arrays[name] = np.lib.format.read_array(fp, allow_pickle=False, max_header_size=MAX_HEADER_BYTES)
    return arrays


def read_npz(path: Path, required: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """All arrays of ``path``, checking that ``required`` are present; one-line errors name the file.

    Read as ``np.load(path, allow_pickle=False)`` would, but each member's header is checked
    first and the archive's declared size is capped (see the module's docstring).
    """
    if not path.is_file():
        raise ValueError(f"{path}: no such file (written by a finished run)")
    try:
        with zipfile.ZipFile(path) as archive:
            arrays = _read_arrays(path, archive)
    except _Refusal:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, zlib.error, NotImplementedError,
            RuntimeError) as exc:
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


def check_kinds(path: Path, arrays: Mapping[str, np.ndarray], kinds: Mapping[str, str]) -> None:
    """Each named array that is present has a dtype of one of the given kinds (``NUMERIC`` for numbers).

    Absent arrays are left to the required-arrays check; a string array where numbers are
    expected is refused in one line naming the file and the array.
    """
    for name, allowed in kinds.items():
        dtype = arrays[name].dtype if name in arrays else None
        if dtype is not None and dtype.kind not in allowed:
            want = "numbers" if allowed == NUMERIC else f"dtype kind {'/'.join(allowed)}"
            raise ValueError(f"{path}: array {name!r} has dtype {dtype}, expected {want}")


def load_results(path: str | Path, experiment: str, *, arrays: Iterable[str] = (),
                 meta_keys: Iterable[str] = ("config",), numeric: Iterable[str] = (),
                 stem: str = "results") -> Results:
    """Read and validate a results pair written by ``save_results`` for ``experiment``.

    Refuses a file of another experiment, missing arrays or metadata keys, and an array named
    in ``numeric`` (when present) that does not hold numbers; a file of another package version
    loads (its ``provenance`` says which) but the caller may refuse it.
    """
    npz, js = resolve(path, stem)
    meta = read_json(js)
    if meta.get("experiment") != experiment:
        raise ValueError(f"{js}: results of {meta.get('experiment')!r}, not of {experiment!r}")
    missing = [k for k in meta_keys if k not in meta]
    if missing:
        raise ValueError(f"{js}: missing key(s) {missing}")
    loaded = read_npz(npz, arrays)
    check_kinds(npz, loaded, dict.fromkeys(numeric, NUMERIC))
    return Results(loaded, meta, npz, js)


def written_by_this_version(meta: Mapping[str, Any]) -> bool:
    """Whether a results file's provenance names this package version."""
    prov = meta.get("provenance")
    return isinstance(prov, Mapping) and prov.get("version") == package_version()
