"""CI-sized tests of ``validation.parity_run`` (tiny network, few epochs): CLI, Python entry point, bad input."""
import json
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from interaction.cliutil import run_cli
from rnn.parity import TrainConfig
from validation.parity_run import PRESETS, RunConfig, load, run
from validation.parity_run.__main__ import PROG, build_parser, config_from, main
from validation.parity_run.figures import plot_automaton

TINY = ["--epochs", "6", "--L", "4", "--hidden", "8", "--gain", "1.0", "--lr", "0.1", "--val-length", "12",
        "--val-count", "5", "--long-lengths", "20,40", "--long-count", "3", "--track-every", "2",
        "--eval-every", "3", "--no-progress"]


def tiny_config(**changes) -> RunConfig:
    return config_from(build_parser().parse_args(TINY + [f"--{k.replace('_', '-')}={v}" for k, v in changes.items()]))


def test_main_writes_results_and_figures(tmp_path):
    assert main(TINY + ["--out", str(tmp_path)]) == 0
    for stem in ("loss_curves", "state_counts", "merged_pairs", "automaton"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 0 and (tmp_path / f"{stem}.pdf").stat().st_size > 0
    report = json.loads((tmp_path / "results.json").read_text())
    assert report["experiment"] == "parity_run" and report["preset"] == "quick"
    assert report["config"]["train"]["max_epochs"] == 6 and report["config"]["long_lengths"] == [20, 40]
    assert report["config"]["train"]["hidden"] == 8 and report["config"]["train"]["lr"] == 0.1
    assert "dependencies" in report["provenance"]
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
    # the results read back, validated, into the same config
    config, results = load(tmp_path)
    assert config == tiny_config()
    np.testing.assert_array_equal(results.arrays["train_loss"], arrays["train_loss"])


def test_options_reach_the_embedded_train_config():
    config = tiny_config(data_seed=3, nonlinearity="tanh", loss="ce", batch_size=16, dtype="float64", h0="zeros")
    assert config.train == replace(PRESETS["quick"].train, hidden=8, lr=0.1, max_epochs=6, shuffle_seed=3,
                                   nonlinearity="tanh", loss="ce", batch_size=16, dtype="float64", h0="zeros")
    assert (config.epochs, config.data_seed, config.L, config.gain) == (6, 3, 4, 1.0)
    paper = config_from(build_parser().parse_args(["--preset", "paper", "--epochs", "9"]))
    assert (paper.track_every, paper.eval_every, paper.epochs) == (1, 1, 9)


def test_python_entry_point_matches_the_cli_and_restores_threads(tmp_path):
    threads = torch.get_num_threads()
    config = tiny_config()
    in_memory = run(config, progress=False, threads=1)  # no out_dir: nothing written
    assert in_memory.written == [] and torch.get_num_threads() == threads
    assert main(TINY + ["--out", str(tmp_path)]) == 0
    saved = np.load(tmp_path / "results.npz")
    for name in ("train_loss", "states_raw", "states_minimal", "final_labels", "merged_fraction", "final/W_hh"):
        np.testing.assert_array_equal(in_memory.arrays[name], saved[name])
    assert in_memory.minimal is not None and in_memory.minimal.n_states == in_memory.summary["final_states_minimal"]


def test_the_seeds_change_the_run():
    base = run(tiny_config(batch_size=4), progress=False)  # several minibatches per length: the order matters
    other_weights = run(tiny_config(batch_size=4, seed=1), progress=False)
    other_order = run(tiny_config(batch_size=4, data_seed=1), progress=False)
    assert not np.array_equal(base.arrays["initial/W_hh"], other_weights.arrays["initial/W_hh"])
    np.testing.assert_array_equal(base.arrays["initial/W_hh"], other_order.arrays["initial/W_hh"])
    assert not np.array_equal(base.arrays["train_loss"], other_order.arrays["train_loss"])
    assert not np.array_equal(base.arrays["validation_loss/length 12"], other_order.arrays["validation_loss/length 12"])


@pytest.mark.parametrize("argv", [["--epochs", "many"], ["--gain", "-1"], ["--L", "0"], ["--loss", "l1"],
                                  ["--long-lengths", "10,x"], ["--track-every", "0"], ["--lr", "0"],
                                  ["--epochs", "0"], ["--threads", "0"]])
def test_bad_arguments_exit_2_with_one_line(argv, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, PROG, argv + ["--out", str(out), "--no-progress"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error" in err
    assert not out.exists()


@pytest.mark.parametrize("option", ["--seed", "--data-seed"])
def test_negative_seeds_are_refused_naming_the_option(option, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, PROG, TINY + [option, "-1", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and option in err and "-1" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["proc", "file", "under_file"])
def test_unwritable_output_is_refused_before_training(where, tmp_path, capsys, monkeypatch):
    existing = tmp_path / "existing_file"
    existing.write_text("keep me")
    out = {"proc": "/proc/x", "file": str(existing), "under_file": str(existing / "sub")}[where]

    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking --out")

    # the package re-exports the function run, which hides the module of the same name as an attribute
    monkeypatch.setattr(sys.modules["validation.parity_run.run"], "train_ensemble", no_training)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, PROG, TINY + ["--out", out])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err
    assert existing.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["existing_file"]


def test_config_checks_name_the_field():
    with pytest.raises(ValueError, match="seed"):
        RunConfig(seed=-1)
    with pytest.raises(ValueError, match="loss_threshold"):
        RunConfig(train=TrainConfig(loss_threshold=1e-3))
    with pytest.raises(ValueError, match="protocol"):
        RunConfig(train=TrainConfig(protocol="full_batch"))
    with pytest.raises(ValueError, match="long_lengths"):
        RunConfig(long_lengths=())


def test_load_refuses_a_corrupt_or_foreign_results_file(tmp_path):
    assert main(TINY + ["--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "results.json").read_text())
    (tmp_path / "results.npz").write_bytes((tmp_path / "results.npz").read_bytes()[:100])
    with pytest.raises(ValueError, match="results.npz"):
        load(tmp_path)
    report["experiment"] = "merger_phase_diagram"
    (tmp_path / "results.json").write_text(json.dumps(report))
    with pytest.raises(ValueError, match="not of 'parity_run'"):
        load(tmp_path)


def test_a_large_automaton_is_reported_not_drawn():
    n = 50
    arrays = {"minimal_transitions": np.stack([(np.arange(n) + 1) % n, np.arange(n)], 1),
              "minimal_outputs": np.arange(n) % 2, "minimal_start": np.int64(0)}
    fig = plot_automaton(arrays, {"minimal_equivalent_to_parity": False, "final_states_raw": 60,
                                  "final_states_minimal": n})
    assert "too many to draw" in " ".join(t.get_text() for t in fig.axes[0].texts)
