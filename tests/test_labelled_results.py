"""``load_dataset`` of the experiment packages: results as ``xarray.Dataset`` with named dimensions and coordinates."""
import json

import numpy as np
import pytest

xr = pytest.importorskip("xarray")

from validation.merger_phase_diagram import load_dataset as phase_diagram_dataset  # noqa: E402
from validation.merger_phase_diagram import run as phase_diagram_run  # noqa: E402
from validation.merger_phase_diagram.cli import build_parser as phase_diagram_parser  # noqa: E402
from validation.merger_phase_diagram.cli import config_from_options  # noqa: E402
from validation.parity_run import load_dataset as parity_dataset  # noqa: E402
from validation.parity_run import run as parity_run  # noqa: E402
from validation.parity_run.__main__ import build_parser as parity_parser  # noqa: E402
from validation.parity_run.__main__ import config_from  # noqa: E402

PHASE_TINY = ["--gains", "0.3,0.9", "--fractions", "0.6,1.0", "--L", "3", "--hidden", "8", "--max-epochs", "20",
              "--val-lengths", "12,20", "--val-count", "8", "--bootstrap", "5", "--seed", "3", "--seeds", "2"]
PARITY_TINY = ["--epochs", "6", "--L", "4", "--hidden", "8", "--gain", "1.0", "--lr", "0.1", "--val-length", "12",
               "--val-count", "5", "--long-lengths", "20,40", "--long-count", "3", "--track-every", "2",
               "--eval-every", "3", "--no-progress"]


def test_phase_diagram_dataset_is_labelled_by_grid_values(tmp_path):
    config = config_from_options(phase_diagram_parser().parse_args(PHASE_TINY))
    phase_diagram_run(config, tmp_path, executor="serial")
    ds = phase_diagram_dataset(tmp_path)
    npz = np.load(tmp_path / "results.npz")
    assert ds["val_accuracy"].dims == ("replicate", "gain", "fraction", "val_length")
    assert ds["train_loss"].dims == ("replicate", "gain", "fraction")
    np.testing.assert_array_equal(ds["gain"].values, [0.3, 0.9])
    np.testing.assert_array_equal(ds["fraction"].values, [0.6, 1.0])
    np.testing.assert_array_equal(ds["val_length"].values, [12, 20])
    np.testing.assert_array_equal(ds["replicate"].values, [0, 1])
    picked = ds["val_loss"].sel(replicate=1, gain=0.9, fraction=0.6, val_length=20).item()
    assert picked == npz["val_loss"][1, 1, 0, 1]
    assert ds["train_loss"].sel(gain=0.3, fraction=1.0).values.tolist() == npz["train_loss"][:, 0, 1].tolist()
    assert ds["task_seconds"].dims == ("task",)
    assert json.loads(ds.attrs["config"])["gains"] == [0.3, 0.9] and ds.attrs["experiment"] == "merger_phase_diagram"


def test_parity_run_dataset_names_epochs_lengths_and_parameters(tmp_path):
    config = config_from(parity_parser().parse_args(PARITY_TINY))
    parity_run(config, tmp_path)
    ds = parity_dataset(tmp_path / "results.npz")
    npz = np.load(tmp_path / "results.npz")
    assert ds["train_loss"].dims == ("epoch",) and ds.sizes["epoch"] == 7
    assert ds["validation_loss/length 20"].dims == ("validation_epoch",)
    np.testing.assert_array_equal(ds["validation_epoch"].values, npz["validation_epochs"])
    np.testing.assert_array_equal(ds["tracked_epoch"].values, npz["tracked_epochs"])
    assert ds["states_raw"].dims == ("tracked_epoch",)
    assert ds["merged_fraction"].dims == ("length1", "length2")
    assert ds["final/W_hh"].dims == ("hidden", "hidden_from") and ds["final/W_hy"].dims == ("output", "hidden")
    last = int(npz["tracked_epochs"][-1])
    assert ds["states_minimal"].sel(tracked_epoch=last).item() == npz["states_minimal"][-1]
    epoch = int(npz["validation_epochs"][1])
    assert ds["validation_accuracy/length 40"].sel(validation_epoch=epoch).item() == npz["validation_accuracy/length 40"][1]
    assert ds["merged_fraction"].sel(length1=2, length2=3).item() == pytest.approx(npz["merged_fraction"][2, 3],
                                                                                    nan_ok=True)
    assert json.loads(ds.attrs["config"])["L"] == 4
    assert ds["minimal_start"].dims == ()
