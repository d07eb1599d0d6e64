"""Task, model, trainer and CLI of the modular-addition experiment (rnn/modular_*.py, validation/modular_addition.py)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from interaction.cliutil import run_cli
from rnn.modular import mergers as mm
from rnn.modular.data import modular_addition_data
from rnn.modular.train import ModularConfig, checkpoint_epochs, preset_config, train
from rnn.modular.transformer import SITES, ModularTransformer, model_from_weights
from validation import modular_addition


@pytest.fixture
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_data_split_matches_reference_sizes_and_masks():
    data = modular_addition_data(113, 0.3, 0)
    assert (data.n_train, data.n_test) == (3830, 8939)  # Nanda et al.: 3,830 train / 8,939 test
    assert not np.any(data.train_mask & data.test_mask) and np.all(data.train_mask | data.test_mask)
    np.testing.assert_array_equal(data.labels, (data.a + data.b) % 113)
    assert np.all(data.tokens[:, 2] == 113)
    again = modular_addition_data(113, 0.3, 0)
    np.testing.assert_array_equal(again.train_mask, data.train_mask)
    assert not np.array_equal(modular_addition_data(113, 0.3, 1).train_mask, data.train_mask)


@pytest.mark.parametrize("kwargs, name", [({"P": 2, "train_frac": 0.3}, "P"), ({"P": 11, "train_frac": 0.0}, "train_frac"),
                                          ({"P": 11, "train_frac": 1.0}, "train_frac"),
                                          ({"P": 11, "train_frac": 1.5}, "train_frac")])
def test_data_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        modular_addition_data(**kwargs)


def test_bad_config_and_preset():
    with pytest.raises(ValueError, match="preset"):
        preset_config("huge")
    with pytest.raises(ValueError, match="P"):
        ModularConfig(P=2)
    with pytest.raises(ValueError, match="train_frac"):
        preset_config("fast", train_frac=1.0)


def test_model_matches_reference_shapes_and_init():
    model = ModularTransformer(113, seed=0).requires_grad_(False)
    assert sum(p.numel() for p in model.parameters()) == 226_816
    assert model.W_U.shape == (128, 114) and model.W_E.shape == (114, 128)
    assert float(model.W_in.std()) == pytest.approx(128 ** -0.5, rel=0.02)
    assert float(model.W_U.std()) == pytest.approx(114 ** -0.5, rel=0.05)
    assert float(model.b_in.abs().sum()) == 0.0
    same = ModularTransformer(113, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), same.parameters()))


def test_last_position_forward_equals_full_forward():
    model = ModularTransformer(23, seed=3, dtype=torch.float64).requires_grad_(False)
    with torch.no_grad():
        for p in model.parameters():  # non-trivial biases and sharp attention
            p.add_(0.5 * torch.randn_like(p))
    tokens = torch.as_tensor(modular_addition_data(23, 0.3, 0).tokens)
    last, cache = model.run_with_cache(tokens)
    full = model.forward_full(tokens)
    scale = float(full.abs().max())
    assert scale > 10.0
    torch.testing.assert_close(last, full[:, -1], rtol=0, atol=1e-13 * scale)  # float64 rounding only
    model32 = ModularTransformer(23, seed=3).requires_grad_(False)
    with torch.no_grad():
        full32 = model32.forward_full(tokens)[:, -1]
        torch.testing.assert_close(model32(tokens), full32, rtol=0, atol=1e-6 * float(full32.abs().max()))
    assert set(SITES) <= set(cache)
    torch.testing.assert_close(cache["resid_post"], cache["resid_mid"] + cache["mlp_out"])
    torch.testing.assert_close(cache["logits"], cache["resid_post"] @ model.W_U)
    rebuilt = model_from_weights(model.weight_dict())
    torch.testing.assert_close(rebuilt(tokens), last)


def test_checkpoint_schedule_is_dense_early():
    e = checkpoint_epochs(2000, 100, 500)
    assert e[0] == 0 and e[-1] == 2000 and np.all(np.diff(e) > 0)
    assert np.sum(e <= 100) >= 10 and np.all(np.isin(np.arange(0, 2001, 100), e))


def test_short_training_memorises_and_train_pairs_merge_first(one_thread):
    """CI-sized run (P = 23, 300 epochs): the training set is memorised, test accuracy stays low, and the
    merger metrics move in the predicted direction: same-answer training pairs merge at the read-out
    sites while held-out pairs do not (yet), and disagreeing pairs never merge."""
    config = ModularConfig(P=23, train_frac=0.3, weight_decay=1.0, max_epochs=300, eval_every=100,
                           dense_until=0, stop_test_acc=None)
    seen = {}

    def record(epoch, model, cache):
        seen[epoch] = {s: cache[s].double().numpy()[:, :23] if s == "logits" else cache[s].double().numpy()
                       for s in SITES}

    result = train(config, on_checkpoint=record)
    assert result.status == "capped" and result.epochs_trained == 300
    assert result.train_acc[-1] == 1.0 and result.train_loss[-1] < 0.05
    assert result.test_acc[-1] < 0.3
    data = result.data
    pairs = mm.sample_pairs(data.labels, data.train_mask, data.test_mask, n=300, seed=0)
    for site in ("mlp_out", "logits"):
        start = mm.site_measurements(seen[0][site], data.labels, data.train_mask, data.test_mask, pairs=pairs)
        end = mm.site_measurements(seen[300][site], data.labels, data.train_mask, data.test_mask, pairs=pairs)
        assert abs(start["M_train"]) < 0.1 and end["M_train"] > 0.2
        assert end["M_train"] > end["M_test"] + 0.2
        assert end["rho_train"] < start["rho_train"] - 0.1
        agree = np.median(end["pair_distances"]["agree_train_train"])
        disagree = np.median(end["pair_distances"]["disagree_train_train"])
        assert agree < disagree
        assert mm.merged_fraction(end["pair_distances"]["disagree_train_train"]) == 0.0
    # the additive-like attention output cannot separate classes on the full grid (spec §2.1)
    assert abs(mm.merging_score(seen[300]["resid_mid"], data.labels).M) < 0.1


def test_cli_end_to_end_writes_results(tmp_path, one_thread):
    out = tmp_path / "run"
    status = modular_addition.main(["--P", "11", "--max-epochs", "30", "--eval-every", "10", "--linkage-every", "10",
                                    "--pair-samples", "50", "--distance-samples", "500", "--no-progress",
                                    "--out", str(out)])
    assert status == 0
    summary = json.loads((out / "results.json").read_text())
    assert summary["config"]["P"] == 11 and summary["provenance"]["dependencies"]["torch"]
    assert summary["theory"]["permits_merger"] == {"agree_train_train": True, "disagree_train_train": False,
                                                   "agree_test_train": True}
    arrays = np.load(out / "results.npz")
    assert arrays["epochs"][-1] == 30 and arrays["restricted_loss"].shape == arrays["epochs"].shape
    assert arrays["logits/pair_distances_agree_test_train"].shape == (arrays["epochs"].size, 50)
    final = model_from_weights({k[len("final/"):]: arrays[k] for k in arrays.files if k.startswith("final/")})
    assert final.P == 11
    for stem in ("progress", "mergers"):
        path = out / f"{stem}.png"
        assert path.stat().st_size > 0 and (out / f"{stem}.pdf").stat().st_size > 0
        path.unlink()
    assert modular_addition.main(["--replot", str(out)]) == 0 and (out / "mergers.png").is_file()


@pytest.mark.parametrize("argv, needle", [(["--P", "2"], "P must be >= 3"), (["--P", "15"], "prime"),
                                          (["--train-frac", "1.5"], "train_frac"),
                                          (["--preset", "huge"], "--preset"),
                                          (["--replot", "/nonexistent"], "--replot")])
def test_cli_bad_input_is_one_line_exit_2(argv, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        run_cli(modular_addition.main, modular_addition.PROG, argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_cli_help_and_subprocess_exit_code():
    proc = subprocess.run([sys.executable, "-m", "validation.modular_addition", "--train-frac", "0"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "train_frac" in proc.stderr and proc.stderr.count("\n") == 1
    help_text = modular_addition.build_parser().format_help()
    for option in ("--preset", "--seed", "--out", "--threads", "--linkage-every", "--no-early-stop"):
        assert option in help_text
