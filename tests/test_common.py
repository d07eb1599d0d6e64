"""The shared experiment plumbing: dataclass-driven options, cache keys, results readers, runtime contexts."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from interaction.checks import check_int, check_positive
from interaction.cliutil import ArgumentParser
from validation.common.keys import config_key
from validation.common.options import add_config_options, config_from_args, config_from_dict, help_field
from validation.common.results import load_results, save_results
from validation.common.runtime import torch_threads


@dataclasses.dataclass(frozen=True)
class Inner:
    lr: float = help_field(0.1, help="learning rate")
    batch_size: int = help_field(8, help="batch size")

    def __post_init__(self):
        check_positive("lr", self.lr)
        check_int("batch_size", self.batch_size, minimum=1)


@dataclasses.dataclass(frozen=True)
class Outer:
    ANALYSIS_FIELDS = ("threshold",)
    train: Inner = help_field(default_factory=Inner, help="training")
    gains: tuple[float, ...] = help_field((0.5, 1.0), help="gains")
    seed: int = help_field(0, help="seed")
    threshold: float = help_field(0.9, help="analysis threshold")
    cap: int | None = help_field(None, help="optional cap")

    def __post_init__(self):
        check_int("seed", self.seed, minimum=0)


def _parse(argv):
    parser = ArgumentParser(prog="t")
    add_config_options(parser, Outer, defaults=Outer())
    return parser.parse_args(argv)


def test_nested_options_replace_only_what_is_given():
    cfg = config_from_args(_parse(["--lr", "0.5", "--gains", "1,2,3", "--cap", "7"]), Outer())
    assert cfg == Outer(train=Inner(lr=0.5), gains=(1.0, 2.0, 3.0), cap=7)
    assert config_from_args(_parse([]), Outer(seed=4)) == Outer(seed=4)


def test_range_checks_come_from_the_dataclass():
    with pytest.raises(ValueError, match="batch_size"):
        config_from_args(_parse(["--batch-size", "0"]), Outer())
    with pytest.raises(ValueError, match="seed"):
        config_from_args(_parse(["--seed", "-1"]), Outer())


def test_help_shows_every_field_with_its_default(capsys):
    with pytest.raises(SystemExit):
        _parse(["--help"])
    text = capsys.readouterr().out
    for option, default in [("--lr", "0.1"), ("--batch-size", "8"), ("--gains", "0.5,1.0"), ("--threshold", "0.9")]:
        assert option in text and f"[default: {default}]" in text


def test_key_covers_every_compute_field_but_not_analysis_fields():
    base = config_key(Outer())
    assert config_key(Outer(threshold=0.5)) == base
    assert config_key(Outer(train=Inner(batch_size=9))) != base
    assert config_key(Outer(cap=3)) != base


def test_config_round_trips_through_json():
    cfg = Outer(train=Inner(lr=0.3), gains=(0.1,), cap=2)
    data = json.loads(json.dumps(dataclasses.asdict(cfg)))
    assert config_from_dict(Outer, data) == cfg
    with pytest.raises(ValueError, match="file.json: unknown Outer field"):
        config_from_dict(Outer, {**data, "bogus": 1}, source="file.json")


def test_results_round_trip_and_refusals(tmp_path):
    save_results(tmp_path, "exp", {"x": np.arange(3)}, {"config": {"a": 1}})
    res = load_results(tmp_path, "exp", arrays=["x"])
    np.testing.assert_array_equal(res.arrays["x"], np.arange(3))
    with pytest.raises(ValueError, match="not of 'other'"):
        load_results(tmp_path, "other")
    with pytest.raises(ValueError, match=r"missing array\(s\) \['y'\]"):
        load_results(tmp_path, "exp", arrays=["y"])
    npz = tmp_path / "results.npz"
    npz.write_bytes(npz.read_bytes()[:40])                      # truncated archive
    with pytest.raises(ValueError, match="results.npz: not a readable results archive"):
        load_results(tmp_path, "exp")
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match="results.json: not a readable JSON file"):
        load_results(tmp_path, "exp")


def test_torch_threads_restores_the_count():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_labelled_dataset_has_named_dims_and_config(tmp_path):
    xr = pytest.importorskip("xarray")
    from validation.common.labelled import to_dataset
    res = save_results(tmp_path, "exp", {"acc": np.arange(6.0).reshape(2, 3), "n": np.arange(2)},
                       {"config": {"gains": [0.1, 0.2]}})
    ds = to_dataset(res, {"acc": ("gain", "fraction")}, coords={"gain": [0.1, 0.2], "fraction": [0.3, 0.6, 0.9]})
    assert isinstance(ds, xr.Dataset)
    assert ds["acc"].dims == ("gain", "fraction")
    assert float(ds["acc"].sel(gain=0.2, fraction=0.6)) == 4.0
    assert ds["n"].dims == ("n_dim0",)
    assert json.loads(ds.attrs["config"]) == {"gains": [0.1, 0.2]}
    ds.to_netcdf(tmp_path / "r.nc", engine="scipy")
    awkward = to_dataset(save_results(tmp_path / "b", "exp", {"final/W_hh": np.eye(2)}, {"config": {}}), {})
    awkward.to_netcdf(tmp_path / "b.nc", engine="scipy")
    np.testing.assert_array_equal(xr.open_dataset(tmp_path / "b.nc", engine="scipy")["final/W_hh"].values, np.eye(2))
    with pytest.raises(ValueError, match="'acc' has 2 axes"):
        to_dataset(res, {"acc": ("gain",)})
