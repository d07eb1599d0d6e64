"""Hostile or damaged results files (validation/common/results.py) are refused quickly, in one line naming the file.

Each case is given both to the generic reader (``load_results``) and to an experiment's
``--plot-only``: a JSON nested thousands deep, an ``.npy`` member whose header claims an
enormous shape, an object or string array where numbers are expected, and members that
declare (or really decompress to) more than the caps. None may raise a traceback,
allocate what the file claims, or take long.
"""
from __future__ import annotations

import io
import json
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from interaction.cliutil import run_cli
from validation.common import results as common
from validation.common.results import load_results, save_results
from validation.merger_phase_diagram import PhaseDiagramConfig, analyse
from validation.merger_phase_diagram.cli import PROG, main
from validation.merger_phase_diagram.results import save

SECONDS = 10           # each refusal takes well under this
PEAK_BYTES = 64 << 20  # and allocates no more than this (numpy reports its allocations to tracemalloc)
CONFIG = PhaseDiagramConfig(gains=(0.3, 0.9), fractions=(0.5, 1.0), L=4, val_lengths=(12, 20), bootstrap=5)


def _phase_diagram_arrays() -> dict[str, np.ndarray]:
    """A small valid phase-diagram grid (as in tests/test_phase_diagram_results.py)."""
    shape = (1, 2, 2)
    rng = np.random.default_rng(0)
    return {"status": np.full(shape, "converged"), "epochs": np.full(shape, 7), "train_loss": rng.random(shape),
            "val_loss": rng.random(shape + (2,)), "val_accuracy": rng.random(shape + (2,)),
            "n_states_raw": np.full(shape, 5.0), "n_states_min": np.full(shape, 2.0),
            "finite": np.ones(shape, bool), "equivalent": np.ones(shape, bool), "eps": np.ones(shape),
            "contraction": np.array([[[0.5, 0.5], [1.5, 1.5]]]), "gains": np.array(CONFIG.gains),
            "fractions": np.array(CONFIG.fractions), "val_lengths": np.array(CONFIG.val_lengths)}


# --------------------------------------------------------------------------- hand-made files

def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def _npy_claiming(descr: str, shape: tuple[int, ...], body: bytes) -> bytes:
    """A version 1.0 ``.npy`` whose header claims ``descr`` and ``shape``, followed by ``body`` (whatever it is)."""
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


def _write_npz(path: Path, arrays: dict[str, np.ndarray], raw: dict[str, bytes] | None = None) -> None:
    """An npz of ``arrays`` in which the members named in ``raw`` hold the given bytes instead."""
    members = {name: _npy(a) for name, a in arrays.items()} | dict(raw or {})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(f"{name}.npy", data)


def _declare_size(path: Path, member: str, size: int) -> None:
    """Make ``member``'s zip headers declare ``size`` bytes decompressed (its real content is unchanged)."""
    data = bytearray(path.read_bytes())
    name = f"{member}.npy".encode()
    # (signature, offset of the uncompressed size, of the name's length, of the name): central directory, local
    for signature, size_at, length_at, name_at in ((b"PK\x01\x02", 24, 28, 46), (b"PK\x03\x04", 22, 26, 30)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            length = struct.unpack_from("<H", data, start + length_at)[0]
            if data[start + name_at:start + name_at + length] == name:
                struct.pack_into("<I", data, start + size_at, size)
            start += 4
    path.write_bytes(bytes(data))


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --------------------------------------------------------------------------- the cases

def _deep_json(npz: Path, member: str, depth: int) -> None:
    js = npz.with_suffix(".json")
    text = js.read_text()
    js.write_text(text[:text.rindex("}")] + f', "deep": {_nested(depth)}}}')


def _huge_json(npz: Path, member: str, arrays: dict[str, np.ndarray]) -> None:
    with npz.with_suffix(".json").open("r+b") as f:
        f.truncate(65 << 20)   # 65 MiB, sparse: over the 64 MiB limit


def _huge_header(npz: Path, member: str, arrays: dict[str, np.ndarray]) -> None:
    _write_npz(npz, arrays, {member: _npy_claiming("<f8", (10 ** 12,), bytes(16))})


def _object_array(npz: Path, member: str, arrays: dict[str, np.ndarray]) -> None:
    _write_npz(npz, arrays, {member: _npy_claiming("|O", (2,), b"\x80\x04N." * 4)})


def _string_array(npz: Path, member: str, arrays: dict[str, np.ndarray]) -> None:
    _write_npz(npz, {**arrays, member: np.full(arrays[member].shape, "abc")})


def _declared_oversize(npz: Path, member: str, arrays: dict[str, np.ndarray]) -> None:
    _write_npz(npz, arrays)
    _declare_size(npz, member, 3 << 30)   # 3 GiB declared, a few bytes held


CASES = {  # name: (damage, file named in the refusal, words it must contain)
    "deep_json": (lambda npz, m, a: _deep_json(npz, m, 100_000), "results.json", ("nested deeper",)),
    "deep_json_under_recursion_limit": (lambda npz, m, a: _deep_json(npz, m, 100), "results.json",
                                        ("nested deeper",)),
    "huge_json": (_huge_json, "results.json", ("larger than 64 MiB",)),
    "huge_header": (_huge_header, "results.npz", ("{m}", "(1000000000000,)", "limit")),
    "object_array": (_object_array, "results.npz", ("{m}", "object")),
    "string_array": (_string_array, "results.npz", ("{m}", "numbers")),
    "declared_oversize": (_declared_oversize, "results.npz", ("{m}", "GiB", "limit")),
}


def _check_line(line: str, directory: Path, file: str, words: tuple[str, ...], member: str) -> None:
    assert f"{directory / file}: " in line, line
    for word in words:
        assert word.format(m=repr(member)) in line, line
    assert "Traceback" not in line and "allow_pickle" not in line


@pytest.fixture
def generic(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    arrays = {"x": np.arange(3.0), "n": np.arange(4)}
    save_results(tmp_path, "exp", arrays, {"config": {"a": 1}})
    return tmp_path / "results.npz", arrays


def _refused_by_load_results(path: Path, numeric: tuple[str, ...] = ()) -> str:
    kwargs = {"numeric": numeric} if numeric else {}   # the caller says what must hold numbers
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError) as exc:
            load_results(path, "exp", arrays=["x", "n"], **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < SECONDS
    assert peak < PEAK_BYTES, peak
    message = str(exc.value)
    assert len(message.splitlines()) == 1, message
    return message


@pytest.mark.parametrize("case", CASES)
def test_load_results_refuses_in_one_line(generic, case):
    npz, arrays = generic
    damage, file, words = CASES[case]
    damage(npz, "x", arrays)
    message = _refused_by_load_results(npz, ("x",) if case == "string_array" else ())
    _check_line(message, npz.parent, file, words, "x")


@pytest.fixture
def phase_diagram(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    arrays = _phase_diagram_arrays()
    save(tmp_path, arrays, CONFIG, analyse(arrays, CONFIG), {})
    return tmp_path / "results.npz", arrays


@pytest.mark.parametrize("case", CASES)
def test_plot_only_refuses_in_one_line(phase_diagram, case, capsys):
    npz, arrays = phase_diagram
    damage, file, words = CASES[case]
    damage(npz, "train_loss", arrays)
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exc:
        run_cli(main, PROG, ["--plot-only", str(npz)])
    assert time.perf_counter() - start < SECONDS
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    _check_line(err[0], npz.parent, file, words, "train_loss")
    assert not (npz.parent / "phase_diagram.png").exists()


def test_a_real_zip_bomb_is_not_decompressed(generic, monkeypatch):
    """A member that really decompresses to more than the archive cap is refused before it is read."""
    npz, arrays = generic
    _write_npz(npz, {**arrays, "x": np.zeros(2 << 20)})   # 16 MiB of zeros, a few KiB compressed
    assert npz.stat().st_size < 1 << 20
    monkeypatch.setattr(common, "MAX_ARCHIVE_BYTES", 1 << 20, raising=False)
    start = time.perf_counter()
    message = _refused_by_load_results(npz)
    assert time.perf_counter() - start < 1
    _check_line(message, npz.parent, "results.npz", ("GiB", "limit of a results archive"), "x")


def test_files_within_the_limits_still_load(generic):
    npz, arrays = generic
    loaded = load_results(npz, "exp", arrays=["x", "n"], numeric=["x", "n", "absent"])
    for name, array in arrays.items():
        np.testing.assert_array_equal(loaded.arrays[name], array)
    meta = json.loads(npz.with_suffix(".json").read_text())
    meta["nested"] = json.loads(_nested(common.MAX_JSON_DEPTH - 1))   # the object itself is one level
    npz.with_suffix(".json").write_text(json.dumps(meta))
    assert load_results(npz, "exp").meta["nested"] == meta["nested"]
    with pytest.raises(ValueError, match="'n' has dtype <U3, expected numbers"):
        common.check_kinds(npz, {"n": np.array(["abc"])}, {"n": common.NUMERIC})
