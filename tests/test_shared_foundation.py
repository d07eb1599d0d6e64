"""Tests of the shared foundation: argument checks, atomic artifacts, CLI plumbing,
the reference Elman RNN (against torch.nn.RNN) and the parity data."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

from interaction import artifacts, checks
from rnn.parity import elman
from rnn.parity import data as parity_data


# --- checks -----------------------------------------------------------------------------

@pytest.mark.parametrize("fn,bad,fragment", [
    (checks.check_positive, 0.0, "tau_h must be > 0"),
    (checks.check_positive, np.array([1.0, -2.0]), "tau_h must be > 0"),
    (checks.check_nonnegative, -1e-9, "tau_h must be >= 0"),
    (checks.check_finite, float("nan"), "tau_h must be finite"),
    (checks.check_finite, [1.0, np.inf], "tau_h must be finite"),
])
def test_checks_name_parameter_and_range(fn, bad, fragment):
    with pytest.raises(ValueError, match=fragment):
        fn("tau_h", bad)


def test_check_interval_int_choice():
    assert checks.check_interval("p", 1.0, 0.0, 1.0, lo_closed=False) == 1.0
    with pytest.raises(ValueError, match=r"p must lie in \(0.0, 1.0\]"):
        checks.check_interval("p", 0.0, 0.0, 1.0, lo_closed=False)
    assert checks.check_int("N", 3.0, minimum=1) == 3
    with pytest.raises(ValueError, match="N must be >= 1"):
        checks.check_int("N", 0, minimum=1)
    with pytest.raises(ValueError, match="N must be an integer"):
        checks.check_int("N", 1.5)
    with pytest.raises(ValueError, match="N must be an integer"):
        checks.check_int("N", True)
    with pytest.raises(ValueError, match="loss must be one of 'mse', 'ce'"):
        checks.check_choice("loss", "l1", ("mse", "ce"))


# --- artifacts --------------------------------------------------------------------------

def test_atomic_json_and_npz_roundtrip(tmp_path):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Cfg:
        gains: tuple
        seed: int

    payload = {"config": Cfg((0.1, 0.2), 3), "x": np.float32(1.5), "nan": float("nan"),
               "arr": np.arange(3), "prov": artifacts.provenance()}
    path = artifacts.atomic_write_json(tmp_path / "sub" / "r.json", payload)
    loaded = json.loads(path.read_text())
    assert loaded["config"] == {"gains": [0.1, 0.2], "seed": 3}
    assert loaded["x"] == 1.5 and loaded["nan"] is None and loaded["arr"] == [0, 1, 2]
    assert loaded["prov"]["package"] == "representation-mergers"
    assert "numpy" in loaded["prov"]["dependencies"]
    npz = artifacts.atomic_savez(tmp_path / "a.npz", h=np.eye(2))
    np.testing.assert_array_equal(np.load(npz)["h"], np.eye(2))
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "r.json"
    artifacts.atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        artifacts.atomic_write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_save_figure_writes_png_and_pdf(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png, pdf = artifacts.save_figure(fig, tmp_path / "fig")
    plt.close(fig)
    assert png.read_bytes()[:4] == b"\x89PNG" and pdf.read_bytes()[:4] == b"%PDF"


# --- CLI plumbing -----------------------------------------------------------------------

def test_cli_errors_are_one_line_exit_2(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(
        "from interaction.cliutil import ArgumentParser, run_cli\n"
        "def main(argv=None):\n"
        "    p = ArgumentParser(prog='prog'); p.add_argument('--n', type=int, default=1)\n"
        "    a = p.parse_args(argv)\n"
        "    if a.n < 1: raise ValueError(f'n must be >= 1 (got {a.n})')\n"
        "    print('ok'); return 0\n"
        "run_cli(main, 'prog')\n")
    for argv, fragment in ((["--n", "0"], "n must be >= 1"), (["--bogus"], "unrecognized arguments")):
        res = subprocess.run([sys.executable, str(script), *argv], capture_output=True, text=True)
        assert res.returncode == 2
        assert res.stdout == ""
        assert len(res.stderr.strip().splitlines()) == 1 and fragment in res.stderr
    ok = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip() == "ok"


# --- reference Elman RNN ----------------------------------------------------------------

def test_elman_matches_torch_nn_rnn():
    params = elman.init_params(hidden=16, gain=0.7, seed=5, dtype=torch.float64)
    params["b_ih"] = torch.randn(16, dtype=torch.float64)
    params["b_hh"] = torch.randn(16, dtype=torch.float64)
    params["h0"] = torch.rand(16, dtype=torch.float64)
    ref = torch.nn.RNN(2, 16, nonlinearity="relu", batch_first=True).double()
    with torch.no_grad():
        ref.weight_ih_l0.copy_(params["W_ih"]); ref.bias_ih_l0.copy_(params["b_ih"])
        ref.weight_hh_l0.copy_(params["W_hh"]); ref.bias_hh_l0.copy_(params["b_hh"])
    tokens = torch.randint(0, 2, (7, 9), generator=torch.Generator().manual_seed(0))
    x = torch.nn.functional.one_hot(tokens, 2).double()
    out, h_last = ref(x, params["h0"].expand(1, 7, 16).contiguous())
    traj = elman.trajectory(params, tokens)
    torch.testing.assert_close(traj[:, 1:], out)
    torch.testing.assert_close(elman.run(params, tokens), h_last[0])
    torch.testing.assert_close(elman.run(params, tokens[3]), h_last[0, 3])


def test_init_is_seeded_xavier_normal():
    # Non-square matrices (fan_in != fan_out on every weight) and enough entries that a few standard
    # errors separate Xavier, std = gain*sqrt(2/(fan_in+fan_out)), from LeCun (gain/sqrt(fan_in),
    # with fan_in = columns as torch counts it, or = rows) and from He (sqrt(2) times LeCun).
    hidden, n_in, n_out, gain = 800, 200, 160, 0.5  # fans 1:4 and 1:5: every alternative >= 10 % off
    a = elman.init_params(hidden=hidden, n_in=n_in, n_out=n_out, gain=gain, seed=1, dtype=torch.float64)
    for name, (rows, cols) in {"W_ih": (hidden, n_in), "W_hh": (hidden, hidden), "W_hy": (n_out, hidden)}.items():
        w = a[name].numpy()
        assert w.shape == (rows, cols)
        n = w.size
        xavier = gain * np.sqrt(2.0 / (rows + cols))
        rms = np.sqrt(np.mean(w ** 2))  # the mean is known to be 0: the rms estimates the std
        se = xavier / np.sqrt(2 * n)    # standard error of that estimate for normal entries
        assert abs(rms - xavier) < 4 * se, name
        alternatives = [gain / np.sqrt(cols), gain / np.sqrt(rows), gain * np.sqrt(2.0 / cols),
                        gain * np.sqrt(2.0 / rows)]
        if rows == cols:  # on the square W_hh LeCun equals Xavier: only He is told apart there
            alternatives = alternatives[2:]
        for other in alternatives:
            assert abs(rms - other) > 20 * se, (name, other)
        assert abs(w.mean()) < 4 * xavier / np.sqrt(n), name
        # normal, not uniform (same std, kurtosis 1.8): excess kurtosis 0 within a few standard errors
        z = w.ravel() / rms
        assert abs(np.mean(z ** 4) - 3.0) < 5 * np.sqrt(24.0 / n), name
        assert abs(np.mean(z ** 3)) < 5 * np.sqrt(6.0 / n), name
    # seeded: one generator, drawn in the documented order W_ih, W_hh, W_hy
    gen = torch.Generator().manual_seed(1)
    for name, (rows, cols) in {"W_ih": (hidden, n_in), "W_hh": (hidden, hidden), "W_hy": (n_out, hidden)}.items():
        expected = torch.randn(rows, cols, generator=gen, dtype=torch.float64) * gain * np.sqrt(2.0 / (rows + cols))
        torch.testing.assert_close(a[name], expected, rtol=1e-12, atol=0)
    b = elman.init_params(hidden=hidden, n_in=n_in, n_out=n_out, gain=gain, seed=1, dtype=torch.float64)
    c = elman.init_params(hidden=hidden, n_in=n_in, n_out=n_out, gain=gain, seed=2, dtype=torch.float64)
    assert all(torch.equal(a[k], b[k]) for k in elman.PARAM_NAMES)
    assert not any(torch.equal(a[k], c[k]) for k in ("W_ih", "W_hh", "W_hy"))
    single = elman.init_params(hidden=hidden, n_in=n_in, n_out=n_out, gain=gain, seed=1)
    assert all(torch.equal(single[k], a[k].float()) for k in elman.PARAM_NAMES)
    assert torch.all(a["h0"] == 1) and all(torch.all(a[k] == 0) for k in ("b_ih", "b_hh", "b_hy"))
    assert torch.all(elman.init_params(hidden=4, h0="zeros")["h0"] == 0)


@pytest.mark.parametrize("kwargs,name", [({"hidden": 0}, "hidden"), ({"gain": 0.0}, "gain"),
                                         ({"h0": "rand"}, "h0")])
def test_init_rejects_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        elman.init_params(**kwargs)


def test_unknown_nonlinearity_rejected():
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        elman.activation("sigmoid")


# --- parity data ------------------------------------------------------------------------

def test_all_sequences_canonical_order_and_parity():
    seqs = parity_data.all_sequences(10)
    assert len(seqs) == 2046
    labels = seqs.labels()
    assert labels[:6] == ["0", "1", "00", "01", "10", "11"]
    assert labels == sorted(labels, key=lambda s: (len(s), s))
    assert len(set(labels)) == 2046
    expected = np.array([s.count("1") % 2 for s in labels])
    np.testing.assert_array_equal(parity_data.parity(seqs.tokens), expected)


@given(L=st.integers(1, 9), p=st.floats(0.05, 1.0), seed=st.integers(0, 2**31))
def test_sample_sequences_distinct_seeded_subset(L, p, seed):
    a = parity_data.sample_sequences(L, p, np.random.default_rng(seed))
    b = parity_data.sample_sequences(L, p, np.random.default_rng(seed))
    np.testing.assert_array_equal(a.tokens, b.tokens)
    labels = a.labels()
    assert len(set(labels)) == len(labels)
    assert labels == sorted(labels, key=lambda s: (len(s), s))
    assert set(labels) <= set(parity_data.all_sequences(L).labels())


def test_sample_fraction_one_is_everything_and_bad_p_rejected():
    full = parity_data.sample_sequences(6, 1.0, np.random.default_rng(0))
    assert full.labels() == parity_data.all_sequences(6).labels()
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="p must"):
            parity_data.sample_sequences(6, bad, np.random.default_rng(0))
    with pytest.raises(ValueError, match="L must be >= 1"):
        parity_data.all_sequences(0)


def test_atomic_write_uses_umask_permissions(tmp_path):
    import os
    old = os.umask(0o022)
    try:
        path = artifacts.atomic_write_json(tmp_path / "p.json", {})
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_issue_names_importable_from_interaction():
    import interaction
    for name in ("a_high", "a_low", "final_distance", "will_merge", "integrate_three_scalar",
                 "fixed_points", "fit_rates", "integrate_three_scalar_batched", "merger_condition",
                 "shared_continuations", "exact_agreeing_final_distance", "integrate",
                 "integrate_batched", "check_output_file", "check_output_dir"):
        assert callable(getattr(interaction, name)), name
    assert set(interaction.__all__) <= set(dir(interaction))
    assert interaction.final_distance(-1.0, 0.0) == 0.0
