"""CI-sized smoke test of ``python -m validation.parity_run`` (tiny network, few epochs)."""
import json

import numpy as np
import pytest

from interaction.cliutil import run_cli
from validation import parity_run

TINY = ["--epochs", "6", "--L", "4", "--hidden", "8", "--gain", "1.0", "--lr", "0.1", "--val-length", "12",
        "--val-count", "5", "--long-lengths", "20,40", "--long-count", "3", "--track-every", "2",
        "--eval-every", "3", "--no-progress"]


def test_main_writes_results_and_figures(tmp_path):
    assert parity_run.main(TINY + ["--out", str(tmp_path)]) == 0
    for stem in ("loss_curves", "state_counts", "merged_pairs", "automaton"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 0 and (tmp_path / f"{stem}.pdf").stat().st_size > 0
    report = json.loads((tmp_path / "results.json").read_text())
    assert report["config"]["epochs"] == 6 and report["config"]["long_lengths"] == [20, 40]
    assert report["train_config"]["max_epochs"] == 6 and "dependencies" in report["provenance"]
    summary = report["summary"]
    assert summary["status"] == "capped" and summary["epochs_trained"] == 6
    assert set(summary["fidelity_by_length"]) == {"12", "20", "40"}
    arrays = np.load(tmp_path / "results.npz")
    np.testing.assert_array_equal(arrays["tracked_epochs"], [0, 2, 4, 6])
    np.testing.assert_array_equal(arrays["validation_epochs"], [0, 3, 6])
    assert arrays["train_loss"].shape == (7,) and np.all(np.isfinite(arrays["train_loss"]))
    assert arrays["states_raw"].shape == (4,) and np.all(arrays["states_minimal"] <= arrays["states_raw"])
    assert arrays["merged_fraction"].shape == (5, 5)
    # 30 sequences: the merged-pair table's agreeing pairs are all same-parity pairs
    assert summary["agreeing_pairs"] == 2 * 15 * 14 // 2
    assert summary["merged_disagreeing"] + summary["merged_agreeing"] == summary["merged_pairs"]
    lines = (tmp_path / "merged_pairs.csv").read_text().splitlines()
    assert len(lines) == 1 + 4 * 5 // 2


@pytest.mark.parametrize("argv", [["--epochs", "many"], ["--gain", "-1"], ["--L", "0"], ["--loss", "l1"],
                                  ["--long-lengths", "10,x"], ["--track-every", "0"]])
def test_bad_arguments_exit_2_with_one_line(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(parity_run.main, parity_run.PROG, argv + ["--out", str(tmp_path), "--no-progress"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error" in err
