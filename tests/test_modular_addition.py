"""The modular-addition experiment package (validation/modular_addition/): CLI, results, replot, resume."""
import copy
import importlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from interaction.cliutil import run_cli
from rnn.modular import mergers as mm
from rnn.modular.transformer import model_from_weights
from validation.modular_addition import ExperimentConfig, load, run
from validation.modular_addition.__main__ import PROG, build_parser, main, make_config
from validation.common.runtime import torch_threads
from validation.modular_addition.analysis import KAPPA

TINY = ["--P", "11", "--max-epochs", "30", "--eval-every", "10", "--linkage-every", "10", "--pair-samples", "50",
        "--distance-samples", "500", "--theory-pairs", "20", "--theory-fit-from", "initialisation",
        "--theory-pooled-pairs", "4", "--theory-fit-pairs", "2", "--no-progress"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One tiny run through the command line (P = 11, 30 epochs)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("modular") / "run"
    try:
        assert main([*TINY, "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(previous)
    return out


def cli_error(argv, capsys) -> str:
    """Run the CLI, require exit 2 and one line on stderr; return that line."""
    with pytest.raises(SystemExit) as exc:
        run_cli(main, PROG, argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_cli_end_to_end_writes_results(finished):
    out = finished
    summary = json.loads((out / "results.json").read_text())
    assert summary["experiment"] == "modular_addition" and summary["config"]["train"]["P"] == 11
    assert summary["provenance"]["dependencies"]["torch"]
    arrays = np.load(out / "results.npz")
    epochs = arrays["epochs"]
    assert epochs[-1] == 30 and arrays["restricted_loss"].shape == epochs.shape
    # every checkpoint of this run lies in the dense early phase, which the measurement gate always measures
    np.testing.assert_array_equal(arrays["measure_epochs"], epochs)
    assert arrays["logits/pair_distances_agree_test_train"].shape == (epochs.size, 50)
    # Recompute the final pair distances from the saved final weights, independently of the package's
    # measurement code: rebuild the model, take the logits at '=', normalise by the RMS radius.
    final = model_from_weights({k[len("final/"):]: arrays[k] for k in arrays.files if k.startswith("final/")})
    assert final.P == 11
    a, b = np.divmod(np.arange(121), 11)
    tokens = torch.as_tensor(np.stack([a, b, np.full_like(a, 11)], axis=1))
    with torch.no_grad():
        H = final(tokens)[:, :11].double().numpy()
    r = np.sqrt(np.mean(np.sum((H - H.mean(axis=0)) ** 2, axis=1)))
    labels = (a + b) % 11
    np.testing.assert_array_equal(arrays["labels"], labels)
    train = arrays["train_mask"]
    for group in mm.PAIR_GROUPS:
        i, j = arrays[f"pairs_{group}"]
        agree = labels[i] == labels[j]
        assert np.all(agree) if group.startswith("agree") else not np.any(agree)
        assert np.all(train[j]) and np.all(train[i] == group.endswith("train_train"))
        d = np.linalg.norm(H[i] - H[j], axis=1) / r
        np.testing.assert_allclose(arrays[f"logits/pair_distances_{group}"][-1], d, rtol=1e-5)
        np.testing.assert_allclose(arrays[f"logits/merged_fraction_{group}"][-1], np.mean(d < KAPPA), atol=1e-12)
        # the theory's verdict, recomputed from the labels, against what the run recorded
        assert summary["theory"]["permits_merger"][group] == bool(np.all(agree))
    # and against what happened: pairs with different answers never merged at any site or checkpoint
    for site in ("resid_mid", "mlp_post", "mlp_out", "resid_post", "logits"):
        assert np.all(arrays[f"{site}/merged_fraction_disagree_train_train"] == 0.0)
    config, results = load(out)
    assert isinstance(config, ExperimentConfig) and config.train.max_epochs == 30 and config.pair_samples == 50


def test_measured_theory_is_saved_and_agrees_with_the_final_weights(finished):
    """The theory's H and Y at the last checkpoint, recomputed from the saved weights by plain numpy
    (mlp_post's map to the logits is linear: dy = dh W_out W_U), and its summary."""
    summary = json.loads((finished / "results.json").read_text())
    arrays = np.load(finished / "results.npz")
    theory = summary["measured_theory"]
    assert theory["sites"] == ["resid_mid", "mlp_post"] and theory["N"] == 1
    assert "no target force" in theory["not_applicable"]
    i, j = arrays["theory_pairs"]
    labels = arrays["labels"]
    assert i.size == 40 and np.all(labels[i[:20]] == labels[j[:20]]) and np.all(labels[i[20:]] != labels[j[20:]])
    np.testing.assert_array_equal(arrays["theory_pairs"][:, :20], arrays["pairs_agree_train_train"][:, :20])
    np.testing.assert_array_equal(arrays["theory_S"], np.r_[np.zeros(20), np.full(20, 2.0)])
    np.testing.assert_array_equal(arrays["theory_commuted"], (i // 11 == j % 11) & (i % 11 == j // 11))
    final = model_from_weights({k[len("final/"):]: arrays[k] for k in arrays.files if k.startswith("final/")})
    a, b = np.divmod(np.arange(121), 11)
    with torch.no_grad():
        _, cache = final.run_with_cache(torch.as_tensor(np.stack([a, b, np.full_like(a, 11)], axis=1)))
    h = cache["mlp_post"].double().numpy()
    W = {k: v.detach().double().numpy() for k, v in final.weight_dict().items()}
    dy = (h[j] - h[i]) @ W["W_out"] @ W["W_U"][:, :11]
    np.testing.assert_allclose(arrays["mlp_post/theory_H"][-1], np.sum((h[j] - h[i]) ** 2, axis=1), rtol=1e-10)
    np.testing.assert_allclose(arrays["mlp_post/theory_Y"][-1], np.sum(dy ** 2, axis=1), rtol=1e-8)
    y_tilde = np.eye(11)[labels[j]] - np.eye(11)[labels[i]]
    np.testing.assert_allclose(arrays["mlp_post/theory_W"][-1], np.sum(dy * (dy - y_tilde), axis=1), rtol=1e-8,
                               atol=1e-10)
    for site in theory["sites"]:
        block = theory["per_site"][site]
        observed = arrays[f"{site}/theory_observed"]
        d = np.concatenate([arrays[f"{site}/pair_distances_agree_train_train"][-1, :20],
                            arrays[f"{site}/pair_distances_disagree_train_train"][-1, :20]])
        np.testing.assert_array_equal(observed, d < theory["merge_threshold"])
        assert block["observed_mergers"]["agreeing"] == int(observed[:20].sum())
        assert block["observed_mergers"]["agreeing_commuted"] == int((observed & arrays["theory_commuted"]).sum())
        assert block["fit_start_epoch"] == 0 and set(block["rate_free_auc_H2_over_Y"]) == set(theory["checkpoints"])
        assert arrays[f"{site}/theory_predicted"].shape == (len(theory["checkpoints"]), 40)
        if block["kappa_tau_y_over_tau_h"] is not None:  # eq. 7 never lets a disagreeing pair merge
            assert not np.any(arrays[f"{site}/theory_predicted"][:, 20:])
            c = block["checkpoints"]["initialisation"]["confusion_disagreeing_heldout"]
            assert c["tp"] == c["fp"] == 0


def test_labelled_dataset_names_the_theory_dimensions(finished):
    pytest.importorskip("xarray")
    from validation.modular_addition import load_dataset
    ds = load_dataset(finished)
    assert ds["resid_mid/theory_H"].dims == ("measured_checkpoint", "theory_pair")
    assert ds["mlp_post/theory_predicted"].dims == ("theory_checkpoint", "theory_pair")
    assert ds["logits/M_test"].dims == ("measured_checkpoint",)
    assert list(ds["theory_checkpoint"].values) == list(json.loads(ds.attrs["measured_theory"])["checkpoints"])


def test_replot_redraws_the_figures(finished, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(finished, out)
    stems = ("progress", "mergers", "theory_predictions", "theory_trajectories_resid_mid",
             "theory_trajectories_mlp_post")
    for stem in stems:
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.pdf").stat().st_size > 0
        (out / f"{stem}.png").unlink()
    assert main(["--replot", str(out)]) == 0
    assert all((out / f"{stem}.png").is_file() for stem in stems)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path):
    path.write_bytes(b"not a zip file at all")


def _drop_array(path):
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if k != "epochs"}
    np.savez(path, **arrays)


def _short_array(path):
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["test_loss"] = arrays["test_loss"][:-1]
    np.savez(path, **arrays)


def _drop_meta(path):
    meta = json.loads(path.read_text())
    del meta["phase_boundaries"]
    path.write_text(json.dumps(meta))


def _bad_json(path):
    path.write_text("{not json")


@pytest.mark.parametrize("damage, name, needle", [
    (_truncate, "results.npz", "not a readable results archive"),
    (_garbage, "results.npz", "not a readable results archive"),
    (_drop_array, "results.npz", "missing array(s) ['epochs']"),
    (_short_array, "results.npz", "'test_loss' has shape"),
    (_drop_meta, "results.json", "missing key(s) ['phase_boundaries']"),
    (_bad_json, "results.json", "not a readable JSON file"),
])
def test_replot_refuses_damaged_results_in_one_line(finished, tmp_path, capsys, damage, name, needle):
    out = tmp_path / "copy"
    shutil.copytree(finished, out)
    damage(out / name)
    err = cli_error(["--replot", str(out)], capsys)
    assert str(out / name) in err and needle in err


def test_finished_results_of_another_config_are_not_overwritten(finished, tmp_path, capsys, no_training):
    out = tmp_path / "copy"
    shutil.copytree(finished, out)
    before = (out / "results.npz").read_bytes()
    err = cli_error([*TINY, "--weight-decay", "2", "--out", str(out)], capsys)
    assert "another configuration" in err and str(out / "results.json") in err
    assert (out / "results.npz").read_bytes() == before


@pytest.fixture
def no_training(monkeypatch):
    """Fail loudly if a bad-input case reached training."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the input was checked")
    # the package's ``run`` attribute is the function; the module is reached through importlib
    monkeypatch.setattr(importlib.import_module("validation.modular_addition.run"), "train", refuse)


@pytest.mark.parametrize("argv, needle", [
    (["--P", "2"], "--P: P must be >= 3"), (["--P", "15"], "--P: P must be a prime"),
    (["--train-frac", "1.5"], "--train-frac: train_frac"), (["--train-frac", "0"], "--train-frac: train_frac"),
    (["--weight-decay", "-1"], "--weight-decay: weight_decay must be >= 0"),
    (["--seed", "-1"], "--seed"), (["--data-seed", "-1"], "--data-seed"), (["--data-seed", "x"], "--data-seed"),
    (["--preset", "huge"], "--preset"), (["--replot", "/nonexistent"], "--replot"),
    (["--threads", "-1"], "--threads"), (["--pair-samples", "0"], "--pair-samples: pair_samples"),
    (["--theory-sites", "logits"], "--theory-sites: theory_sites"), (["--theory-pairs", "0"], "--theory-pairs"),
    (["--merge-threshold", "0"], "--merge-threshold"), (["--measure-tolerance", "-1"], "--measure-tolerance"),
    (["--measure-max-gap", "0"], "--measure-max-gap"), (["--theory-fit-from", "cleanup"], "--theory-fit-from"),
    (["--out", "/proc/x"], "--out"),
])
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(argv, needle, capsys, tmp_path, monkeypatch,
                                                             no_training):
    monkeypatch.chdir(tmp_path)  # the default --out is relative: it must not be created either
    err = cli_error([*TINY, *argv], capsys)
    assert needle in err
    assert list(tmp_path.iterdir()) == []


def test_out_that_is_a_file_is_refused_before_training(capsys, tmp_path, no_training):
    target = tmp_path / "file"
    target.write_text("keep me")
    err = cli_error([*TINY, "--out", str(target)], capsys)
    assert "--out" in err and "is a file" in err
    assert target.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal applies only where torch sees no GPU")
def test_cuda_is_refused_without_a_gpu(capsys, tmp_path, no_training):
    err = cli_error([*TINY, "--device", "cuda", "--out", str(tmp_path / "run")], capsys)
    assert "cuda" in err and not (tmp_path / "run").exists()


def test_options_map_onto_the_embedded_trainer_config():
    args = build_parser().parse_args(["--preset", "fast", "--seed", "3", "--data-seed", "2", "--no-early-stop",
                                      "--lr", "0.002", "--linkage-every", "7"])
    config = make_config(args)
    assert (config.train.seed, config.train.data_seed, config.train.lr) == (3, 2, 0.002)
    assert (config.train.train_frac, config.train.weight_decay) == (0.4, 1.0)  # the preset's, not the defaults'
    assert config.train.stop_test_acc is None and config.linkage_every == 7
    help_text = build_parser().format_help()
    for option in ("--preset", "--seed", "--data-seed", "--out", "--threads", "--linkage-every", "--no-early-stop",
                   "--P", "--train-frac", "--weight-decay", "--max-epochs", "--eval-every", "--pair-samples",
                   "--distance-samples", "--save-checkpoints", "--replot", "--device", "--checkpoint-every"):
        assert option in help_text


CHECKPOINTED = ["--P", "7", "--max-epochs", "40", "--eval-every", "10", "--dense-until", "0", "--linkage-every", "1000",
                "--pair-samples", "10", "--distance-samples", "100", "--d-model", "16", "--d-mlp", "16",
                "--n-heads", "1", "--d-head", "8", "--checkpoint-every", "20", "--theory-pairs", "4",
                "--no-early-stop", "--no-progress"]


@pytest.fixture(scope="module")
def saved_payload(tmp_path_factory):
    """The last resume checkpoint a tiny run wrote (the run deletes the file once it has finished)."""
    module = importlib.import_module("validation.modular_addition.run")
    payloads, write = [], module.write_checkpoint
    patch = pytest.MonkeyPatch()
    patch.setattr(module, "write_checkpoint", lambda path, payload: (payloads.append(copy.deepcopy(payload)),
                                                                     write(path, payload))[1])
    patch.setattr(module, "draw", lambda *a, **k: [])
    try:
        with torch_threads(1):
            assert main([*CHECKPOINTED, "--out", str(tmp_path_factory.mktemp("ckpt") / "run")]) == 0
    finally:
        patch.undo()
    assert payloads and payloads[-1]["train"]["epoch"] == 20
    return payloads[-1]


def _set(*keys_and_value):
    """A damage: ``payload[k1]...[kn] = value``."""
    *keys, last, value = keys_and_value

    def damage(payload):
        for k in keys:
            payload = payload[k]
        payload[last] = value
    return damage


def _pop(*keys):
    def damage(payload):
        for k in keys[:-1]:
            payload = payload[k]
        payload.pop(keys[-1])
    return damage


@pytest.mark.parametrize("damage, needle", [
    (_set("version", 7), "format version 7"),
    (_set("train", "version", 2), "training state of version 2"),
    (_pop("train", "optimizer"), "lacks ['optimizer']"),
    (_set("train", "params", "W_E", torch.zeros(3, 3)), "parameters are not those of the configured model"),
    (_set("train", "epoch", 10 ** 6), "epoch must be <= 40"),
    (lambda p: p["train"]["history"]["test_loss"].pop(), "history is not one record per checkpoint"),
    (_pop("recorder", "scalars"), "measurement history incomplete"),
    (lambda p: p["recorder"]["measure_epochs"].append(30), "measurement history inconsistent"),
    (lambda p: p["train"]["history"]["epoch"].__setitem__(1, 11), "measurement and training histories disagree"),
])
def test_a_damaged_or_foreign_checkpoint_is_refused_in_one_line_naming_it(saved_payload, damage, needle, tmp_path,
                                                                           capsys, no_training):
    payload = copy.deepcopy(saved_payload)
    damage(payload)
    out = tmp_path / "run"
    out.mkdir()
    path = out / "checkpoint.pt"
    importlib.import_module("validation.modular_addition.run").write_checkpoint(path, payload)
    before = path.read_bytes()
    err = cli_error([*CHECKPOINTED, "--out", str(out)], capsys)
    assert str(path) in err and needle in err
    assert path.read_bytes() == before and sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]


RESUME = ["--P", "11", "--max-epochs", "150", "--eval-every", "10", "--dense-until", "0", "--linkage-every", "1000",
          "--pair-samples", "20", "--distance-samples", "200", "--d-model", "32", "--d-mlp", "64", "--n-heads", "2",
          "--d-head", "16", "--no-early-stop", "--checkpoint-every", "30", "--no-progress"]


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_and_ends_bit_identical(tmp_path, capsys, one_thread, monkeypatch):
    # figures are covered above; here only the numbers matter (drawing costs more than this tiny training)
    monkeypatch.setattr(importlib.import_module("validation.modular_addition.run"), "draw", lambda *a, **k: [])
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "validation.modular_addition", *RESUME, "--out", str(out)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = out / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    assert checkpoint.exists() and not (out / "results.npz").exists()

    # the same --out with another configuration is refused, and the checkpoint is left as it was
    saved = checkpoint.read_bytes()
    err = cli_error([*RESUME, "--weight-decay", "2", "--out", str(out)], capsys)
    assert "another configuration" in err and str(checkpoint) in err
    assert checkpoint.read_bytes() == saved
    # a corrupt checkpoint is refused in one line
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "checkpoint.pt").write_bytes(saved[: len(saved) // 3])
    err = cli_error([*RESUME, "--out", str(broken)], capsys)
    assert "not a readable resume checkpoint" in err and str(broken / "checkpoint.pt") in err

    # the same command again (in this process, to save an interpreter start) continues and finishes
    assert main([*RESUME, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "resumed from epoch" in printed and "resumed from epoch 0" not in printed
    assert not checkpoint.exists()

    reference = run(make_config(build_parser().parse_args(RESUME)), tmp_path / "uninterrupted")
    resumed = np.load(out / "results.npz")
    assert sorted(resumed.files) == sorted(reference.arrays)
    for key, value in reference.arrays.items():
        np.testing.assert_array_equal(resumed[key], value, err_msg=key)
