"""Writing results: atomic files, figures in PNG and PDF, and provenance.

Every results file of the toolkit carries the full configuration and the
package versions (``provenance()``); every write goes through a temporary file
in the same directory followed by ``os.replace`` so that an interrupted run
never leaves a half-written file behind.

``check_output_file`` and ``check_output_dir`` check an output location before
any work starts (CLIs call them first), so that a run never computes for an hour
and then fails to write: they raise ``ValueError`` naming the option, which the
CLIs print as one line with exit status 2.
"""
from __future__ import annotations

import dataclasses
import io
import json
import os
import platform
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

DISTRIBUTION = "representation-mergers"
_VERSIONED = ("numpy", "scipy", "sympy", "torch", "numba", "matplotlib", "dask", "distributed")


def package_version() -> str:
    """Version of the installed toolkit (``0+unknown`` when run from an uninstalled tree)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def provenance() -> dict[str, Any]:
    """Toolkit version, Python, platform and versions of the numerical dependencies."""
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "package": DISTRIBUTION,
        "version": package_version(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "dependencies": versions,
    }


def to_jsonable(obj: Any) -> Any:
    """Convert dataclasses, numpy scalars/arrays, paths and tuples into JSON-ready values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def _nearest_existing(path: Path) -> Path:
    """``path`` itself or its closest ancestor that exists (``.`` for a relative path)."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(".")


def _check_creatable_in(option: str, path: Path, base: Path) -> None:
    """``base`` (the closest existing ancestor of ``path``) must be a writable directory."""
    if not base.is_dir():
        raise ValueError(f"{option} {str(path)!r} lies under {str(base)!r}, which is a file, "
                         "not a directory")
    try:
        # A real probe, because os.access answers True for root on read-only or virtual
        # file systems (/proc); an anonymous temporary file leaves nothing behind.
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as exc:
        raise ValueError(f"{option} {str(path)!r} cannot be written: {str(base)!r} is not a "
                         f"writable directory ({exc.strerror or exc})") from None


def check_output_file(path: str | os.PathLike, option: str = "--output") -> Path:
    """Check that ``path`` can be written as a file, before any work; return it as a ``Path``.

    Raises ``ValueError`` naming ``option`` when ``path`` is an existing directory, when
    one of its ancestors is a file, or when the directory it would be created in is
    not writable. Missing parent directories are fine (the atomic writers create
    them). Nothing is written.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {str(path)!r} is a directory; a file path is needed")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{option} {str(path)!r} exists and is not writable")
    _check_creatable_in(option, path, _nearest_existing(path.parent))
    return path


def check_output_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """Check that ``path`` is, or can be created as, a writable directory; return it as a ``Path``.

    Raises ``ValueError`` naming ``option`` when ``path`` (or an ancestor) is an existing
    file or the directory cannot be written or created. Nothing is written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {str(path)!r} is a file; a directory is needed")
    _check_creatable_in(option, path, _nearest_existing(path))
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600 files; give results the ordinary permissions of the user's umask.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` (after ``to_jsonable``) as indented JSON, atomically."""
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False, allow_nan=False)
    return atomic_write_bytes(path, (text + "\n").encode())


def atomic_savez(path: str | os.PathLike, **arrays: Any) -> Path:
    """Write a compressed ``.npz`` atomically. ``path`` should end in ``.npz``."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def save_figure(fig: Any, stem: str | os.PathLike, *, dpi: int = 150) -> list[Path]:
    """Save a matplotlib figure as ``stem.png`` and ``stem.pdf`` (atomically); return both paths."""
    stem = Path(stem)
    paths = []
    for ext in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=dpi, bbox_inches="tight")
        paths.append(atomic_write_bytes(stem.with_suffix(f".{ext}"), buf.getvalue()))
    return paths
