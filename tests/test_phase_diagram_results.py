"""Results files of the phase diagram (validation/merger_phase_diagram/results.py): what --plot-only refuses."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from interaction.cliutil import run_cli
from validation.merger_phase_diagram import PhaseDiagramConfig, analyse, load
from validation.merger_phase_diagram.cli import PROG, main
from validation.merger_phase_diagram.results import save

CONFIG = PhaseDiagramConfig(gains=(0.3, 0.9), fractions=(0.5, 1.0), L=4, val_lengths=(12, 20), bootstrap=5)


def _arrays() -> dict[str, np.ndarray]:
    shape = (1, 2, 2)
    rng = np.random.default_rng(0)
    return {"status": np.full(shape, "converged"), "epochs": np.full(shape, 7), "train_loss": rng.random(shape),
            "val_loss": rng.random(shape + (2,)), "val_accuracy": np.array([[[[0.5, 0.5], [1, 1]],
                                                                             [[0.6, 0.6], [1, 1]]]]),
            "n_states_raw": np.full(shape, 5.0), "n_states_min": np.full(shape, 2.0),
            "finite": np.ones(shape, bool), "equivalent": np.ones(shape, bool), "eps": np.ones(shape),
            "contraction": np.array([[[0.5, 0.5], [1.5, 1.5]]]), "gains": np.array(CONFIG.gains),
            "fractions": np.array(CONFIG.fractions), "val_lengths": np.array(CONFIG.val_lengths)}


@pytest.fixture
def results(tmp_path) -> Path:
    arrays = _arrays()
    save(tmp_path, arrays, CONFIG, analyse(arrays, CONFIG), {})
    return tmp_path


def test_round_trip_gives_back_arrays_and_config(results):
    arrays, config, files = load(results / "results.npz")
    assert config == CONFIG
    np.testing.assert_array_equal(arrays["contraction"], _arrays()["contraction"])
    assert files.json == results / "results.json"


def _refused(path: Path, capsys, *words: str) -> str:
    with pytest.raises(SystemExit) as exc:
        run_cli(main, PROG, ["--plot-only", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    for word in words:
        assert word in err[0], err[0]
    assert "allow_pickle" not in err[0] and "Traceback" not in err[0]
    assert not (path.parent / "phase_diagram.png").exists()
    return err[0]


def test_corrupt_npz_is_refused_naming_the_file(results, capsys):
    (results / "results.npz").write_bytes(b"not a zip archive at all")
    _refused(results / "results.npz", capsys, "results.npz", "not a readable results archive")


def test_truncated_npz_is_refused_naming_the_file(results, capsys):
    npz = results / "results.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    _refused(npz, capsys, "results.npz")


def test_npz_with_a_missing_array_is_refused(results, capsys):
    arrays = _arrays()
    del arrays["contraction"]
    np.savez(results / "results.npz", **arrays)
    _refused(results / "results.npz", capsys, "results.npz", "contraction")


def test_npz_with_arrays_of_the_wrong_shape_is_refused(results, capsys):
    arrays = _arrays()
    arrays["epochs"] = arrays["epochs"][:, :1]
    np.savez(results / "results.npz", **arrays)
    _refused(results / "results.npz", capsys, "results.npz", "epochs")


@pytest.mark.parametrize("edit, word", [
    (lambda meta: meta.pop("config"), "config"),
    (lambda meta: meta["config"].pop("gains"), "gains"),
    (lambda meta: meta["config"]["train"].pop("hidden"), "config.train lacks field(s) ['hidden']"),
    (lambda meta: meta["config"].update(L=1), "L"),
    (lambda meta: meta["config"]["train"].update(lr=-1), "lr"),
    (lambda meta: meta.update(experiment="parity_run"), "parity_run"),
])
def test_json_with_missing_or_bad_keys_is_refused_naming_the_file(results, capsys, edit, word):
    path = results / "results.json"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))
    _refused(results / "results.npz", capsys, "results.json", word)


def test_json_that_is_not_json_is_refused(results, capsys):
    (results / "results.json").write_text('{"config": ')
    _refused(results, capsys, "results.json")
