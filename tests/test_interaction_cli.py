"""``python -m interaction``: JSON output, one-line errors with exit status 2, figures."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from interaction import __main__ as cli
from interaction.__main__ import main
from interaction.artifacts import check_output_dir, check_output_file
from interaction.cliutil import run_cli
from interaction.closed_form import final_distance

ENV = dict(os.environ)


def _run(*args):
    return subprocess.run([sys.executable, "-m", "interaction", *args], capture_output=True,
                          text=True, env=ENV, timeout=120)


def test_help_lists_subcommands():
    out = _run("--help")
    assert out.returncode == 0
    for sub in ("closed-form", "fixed-points", "integrate", "portrait"):
        assert sub in out.stdout


def test_closed_form_from_raw_measurements_and_bad_input():
    out = _run("closed-form", "--H0", "1.0", "--Y0", "2.0", "--S", "0.5", "--N", "3",
               "--tau-h", "1", "--tau-y", "2")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    r = 3 * 2 / 1
    assert data["A_high"] == pytest.approx(1.0 - r * 2.0)
    assert data["A_low"] == pytest.approx(np.sqrt(r * 0.5))
    assert data["final_distance"] == pytest.approx(float(final_distance(1.0 - r * 2.0, np.sqrt(3.0))))
    assert data["will_merge"] is False and data["merger"] is None
    # one subprocess checks the real process exit; the other cases run in-process
    res = _run("closed-form", "--a-high", "nan", "--a-low", "1")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "A_high must be finite" in res.stderr


@pytest.mark.parametrize("argv, text", [
    (["closed-form", "--a-high", "1", "--a-low", "-1"], "A_low must be >= 0"),
    (["closed-form", "--a-high", "1"], "together"),
    (["closed-form", "--a-high", "1", "--a-low", "1", "--N", "2"], "either"),
    (["closed-form", "--H0", "0", "--Y0", "1", "--S", "0", "--N", "1", "--tau-h", "1",
      "--tau-y", "1"], "H0 must be > 0"),
    (["integrate", "--H0", "1"], "required"),
    (["integrate", "--H0", "1", "--Y0", "1", "--W0", "0", "--S", "1", "--N", "1", "--tau-h", "-1",
      "--tau-y", "1", "--t-max", "1"], "tau_h must be > 0"),
    (["fixed-points", "--a-high", "1", "--a-low", "1", "--N", "0.5", "--tau-h", "1",
      "--tau-y", "1"], "N must be >= 1"),
    (["portrait", "--a-high", "-1", "--a-low", "1", "--N", "2", "--tau-h", "1", "--tau-y", "1",
      "--out", "x", "--start", "oops"], "--start must be"),
    (["no-such-command"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(argv, text, capsys):
    with pytest.raises(SystemExit) as info:
        run_cli(main, "python -m interaction", argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and text in captured.err


def test_fixed_points_and_integrate_in_process(capsys, tmp_path):
    assert main(["fixed-points", "--a-high", "-1", "--a-low", "0", "--N", "2", "--tau-h", "1",
                 "--tau-y", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = [p["name"] for p in data["fixed_points"]]
    assert names == ["H_minus", "H_plus", "origin"]
    origin = data["fixed_points"][2]
    assert origin["attracting"] is True and origin["stability"] == "non-hyperbolic"
    assert main(["closed-form", "--a-high", "0", "--a-low", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["merger"] == "algebraic"

    npz = tmp_path / "run.npz"
    assert main(["integrate", "--H0", "1", "--Y0", "0.5", "--W0", "0.2", "--S", "0.3", "--N", "2",
                 "--tau-h", "1", "--tau-y", "1", "--t-max", "500", "--output", str(npz)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["success"] is True
    assert summary["H_final"] == pytest.approx(summary["predicted_final_distance"], rel=1e-7)
    assert summary["max_abs_A_high_drift"] < 1e-7
    saved = np.load(npz)
    assert saved["H"][-1] == summary["H_final"] and json.loads(str(saved["provenance"]))["package"]


def test_portrait_writes_png_and_pdf(tmp_path, capsys):
    stem = tmp_path / "portrait"
    assert main(["portrait", "--a-high", "-1", "--a-low", "1", "--N", "2", "--tau-h", "1",
                 "--tau-y", "1", "--out", str(stem), "--start", "0.3,0.5",
                 "--start", "1.2,-0.3"]) == 0
    paths = json.loads(capsys.readouterr().out)["figures"]
    assert sorted(os.path.splitext(p)[1] for p in paths) == [".pdf", ".png"]
    assert all(os.path.getsize(p) > 1000 for p in paths)


def test_phase_portrait_figure_contents():
    import matplotlib

    backend = matplotlib.get_backend()
    from interaction.phase_portrait import phase_portrait

    fig = phase_portrait(-1.0, 1.0, N=2, tau_h=1.0, tau_y=1.0, starts=[(0.3, 0.5), (1.2, -0.3)])
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "H_plus: stable node" in labels and "origin: saddle" in labels
    assert "W-nullcline" in labels and "trajectories" in labels
    # the two trajectories end at the stable node H₊ (eq. 5)
    H_plus = float(final_distance(-1.0, 1.0))
    ends = [line.get_xdata()[-1] for line in fig.axes[0].lines
            if line.get_color() == "k" and len(line.get_xdata()) > 2]
    assert len(ends) == 2 and all(abs(e - H_plus) < 1e-6 for e in ends)
    # a bare Figure: no backend switched, nothing registered with pyplot
    import matplotlib.pyplot as plt

    assert matplotlib.get_backend() == backend
    assert all(plt.figure(n) is not fig for n in plt.get_fignums())


INTEGRATE = ["integrate", "--H0", "1", "--Y0", "0.5", "--W0", "0.2", "--S", "0.3", "--N", "2",
             "--tau-h", "1", "--tau-y", "1", "--t-max", "500"]
PORTRAIT = ["portrait", "--a-high", "-1", "--a-low", "1", "--N", "2", "--tau-h", "1",
            "--tau-y", "1"]


def test_unwritable_output_is_one_line_and_exit_2_in_a_real_process():
    res = _run(*INTEGRATE, "--output", "/proc/x/run.npz")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "--output" in res.stderr


def _bad_outputs(tmp_path):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "stem.png").mkdir()  # where the portrait's PNG should go
    return [
        (INTEGRATE + ["--output", "/proc/x"], "--output"),                          # unwritable
        (INTEGRATE + ["--output", str(tmp_path / "a_dir")], "is a directory"),        # dir, not file
        (INTEGRATE + ["--output", str(tmp_path / "a_file" / "run.npz")], "is a file"),  # file, not dir
        (PORTRAIT + ["--out", "/proc/x/stem"], "--out"),
        (PORTRAIT + ["--out", str(tmp_path / "stem")], "is a directory"),
        (PORTRAIT + ["--out", str(tmp_path / "a_file" / "stem")], "is a file"),
    ]


@pytest.mark.parametrize("case", range(6))
def test_bad_output_location_is_rejected_before_any_computation(case, tmp_path, capsys,
                                                               monkeypatch):
    argv, text = _bad_outputs(tmp_path)[case]

    def no_work(*args, **kwargs):
        raise AssertionError("computed before checking the output location")

    monkeypatch.setattr(cli, "integrate_three_scalar", no_work)
    monkeypatch.setattr(cli, "save_phase_portrait", no_work)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(SystemExit) as info:
        run_cli(main, "python -m interaction", argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and text in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_output_check_helpers(tmp_path):
    (tmp_path / "f").write_text("x")
    target = tmp_path / "new" / "deeper" / "run.npz"
    assert check_output_file(target) == target and not (tmp_path / "new").exists()
    assert check_output_dir(tmp_path / "new" / "out") == tmp_path / "new" / "out"
    assert check_output_dir(tmp_path) == tmp_path
    with pytest.raises(ValueError, match="^--out-dir .* is a file"):
        check_output_dir(tmp_path / "f", "--out-dir")
    with pytest.raises(ValueError, match="^--out-dir .*which is a file"):
        check_output_dir(tmp_path / "f" / "sub", "--out-dir")
    with pytest.raises(ValueError, match="^--out-dir .*not a writable directory"):
        check_output_dir("/proc/x", "--out-dir")
    with pytest.raises(ValueError, match="^--json .* is a directory"):
        check_output_file(tmp_path, "--json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
