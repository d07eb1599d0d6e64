"""Every script in examples/ runs at its small size (so that none can rot)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(name: str, *args: str) -> str:
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), "--small", *args], capture_output=True, text=True,
                          timeout=240, env=env, cwd=EXAMPLES.parent)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_every_example_is_tested():
    assert {p.name for p in EXAMPLES.glob("*.py")} == {"theory_in_ten_lines.py", "own_torch_rnn.py",
                                                       "hooked_transformer.py", "dask_sweep.py"}


def test_theory_in_ten_lines(tmp_path):
    out = _run("theory_in_ten_lines.py", "--out", str(tmp_path))
    assert "agreeing pair (S = 0): A_high = -1.000, A_low = 0.000 -> ||dh(inf)||^2 = 0.0000, will merge: True" in out
    assert "will merge: False" in out
    assert {p.name for p in tmp_path.iterdir()} >= {"agreeing.png", "agreeing.pdf", "disagreeing.png"}


@pytest.mark.slow
def test_own_torch_rnn():
    out = _run("own_torch_rnn.py")
    assert "after minimisation" in out and "equivalent to parity: True" in out
    assert "predicted" in out


@pytest.mark.slow
def test_hooked_transformer():
    out = _run("hooked_transformer.py")
    try:
        import transformer_lens  # noqa: F401
    except ImportError:
        assert out.startswith("skipped:")
        return
    assert "key frequencies (neurons)" in out and "restricted loss" in out and "excluded loss" in out


@pytest.mark.slow
def test_dask_sweep():
    pytest.importorskip("distributed")
    out = _run("dask_sweep.py")
    assert "6 tasks computed on the cluster" in out
    assert "H0 = 1.00, S = 0   : A_high =  -1.000, ||dh(inf)||^2 = 0.000, merges: True" in out
