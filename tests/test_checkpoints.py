"""Checkpoint rules on training-loss curves (rnn/parity/checkpoints.py) and the theory along training."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn.parity import TrainConfig, train_ensemble
from rnn.parity.checkpoints import (
    DENSE_UNTIL,
    GRID_RATIO,
    NONE,
    check_rules,
    parse_rule,
    rule_epochs,
    snap,
    tracking_epochs,
)
from rnn.parity.data import parity, sample_sequences
from validation.merger_phase_diagram import PhaseDiagramConfig
from validation.merger_phase_diagram.along_training import a_high, conservation
from validation.merger_phase_diagram.measured import KIND_CODES
from validation.merger_phase_diagram.run import run

pytestmark = pytest.mark.usefixtures("one_thread")

RULES = ("init", "plateau:0.25", "plateau:0.5", "drop", "end")


def _by_hand(loss, epochs, level):
    """The documented rules, written as a plain loop."""
    t_drop = NONE
    for t in range(1, len(loss)):
        if np.isfinite(loss[t]) and loss[t] <= level * loss[0]:
            t_drop = t
            break
    plateau = (lambda q: NONE if t_drop == NONE else int(round(q * t_drop)))   # noqa: E731
    return [0, plateau(0.25), plateau(0.5), t_drop, epochs]


def test_rules_pick_the_documented_epochs_on_a_recorded_loss_curve():
    data = sample_sequences(5, 0.7, np.random.default_rng(0))
    config = TrainConfig(hidden=16, lr=0.05, batch_size=16, max_epochs=400, loss_threshold=1e-3)
    result = train_ensemble(data, parity(data.tokens), config=config, seeds=[1, 2], gains=[0.5, 1.0])
    for e in range(2):
        loss, epochs = result.train_loss[e], int(result.epochs[e])
        for level in (0.5, 0.2):
            got = rule_epochs(loss, epochs, RULES, level)
            assert got.tolist() == _by_hand(loss, epochs, level)
        assert 0 < rule_epochs(loss, epochs, ("drop",))[0] <= epochs       # these networks do learn


def test_a_curve_that_never_drops_selects_no_plateau_or_drop_epoch():
    flat = np.array([0.7, 0.69, 0.68, 0.68, np.nan, np.nan])
    assert rule_epochs(flat, 3, RULES).tolist() == [0, NONE, NONE, NONE, 3]
    assert rule_epochs(np.array([np.nan, 0.1]), 1, ("drop",)).tolist() == [NONE]


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 200_000), st.lists(st.integers(0, 200_000), min_size=1, max_size=20))
def test_snapped_epochs_are_kept_at_or_before_and_within_the_grid_ratio(max_epochs, targets):
    kept = tracking_epochs(max_epochs)
    assert kept[0] == 0 and kept[-1] == max_epochs and np.all(np.diff(kept) > 0)
    assert set(range(min(DENSE_UNTIL, max_epochs) + 1)) <= set(kept.tolist())
    targets = np.minimum(np.array(targets), max_epochs)
    got = snap(targets, kept)
    assert np.all(got <= targets) and np.all(np.isin(got, kept))
    assert np.all(targets - got <= np.maximum(1, (GRID_RATIO - 1) * targets) + 1)
    assert snap(np.array([NONE]), kept).tolist() == [NONE]


@pytest.mark.parametrize("bad", ["plateau:0", "plateau:1", "plateau:x", "plateau", "drop:2", "middle", ""])
def test_a_rule_that_selects_no_definite_epoch_is_refused(bad):
    with pytest.raises(ValueError, match="checkpoints"):
        parse_rule(bad)
    with pytest.raises(ValueError, match="checkpoints"):
        PhaseDiagramConfig(checkpoints=("init", bad))
    with pytest.raises(ValueError, match="repeat"):
        check_rules(("init", "init"))
    with pytest.raises(ValueError, match="drop_level"):
        PhaseDiagramConfig(drop_level=1.0)


def test_conservation_of_an_unchanged_network_and_of_a_flipped_pair():
    shape = (1, 1, 1, 4)
    H0, Y0, N = np.full(shape, 2.0), np.full(shape, 1.0), np.full(shape, 3)
    kind = np.array([KIND_CODES["agree_cross"], KIND_CODES["agree_equal"], KIND_CODES["disagree"],
                     KIND_CODES["agree_cross"]], np.int8).reshape(shape)
    H = np.stack([H0, H0, 0.1 * H0], axis=-2)            # checkpoints: init, unchanged, pairs pulled together
    arrays = {"pair_kind": kind, "pair_ok": np.ones(shape, bool), "pair_N": N, "pair_H0": H0, "pair_Y0": Y0,
              "ckpt_H": H, "ckpt_Y": np.stack([Y0] * 3, axis=-2), "ckpt_epoch": np.array([[[[0, 5, 9]]]])}
    c = conservation(arrays, ("init", "drop", "end"), kappa=0.1)
    assert c.pairs.tolist() == [3, 3, 3]                  # the disagreeing pair is not counted
    np.testing.assert_allclose(c.quantiles[:2], 1.0)
    assert c.sign_changed.tolist() == [0.0, 0.0, 1.0]      # A_high = 2 - 0.15 > 0, then 0.2 - 1.5 < 0
    assert a_high(np.array(0.2), np.array(1.0), np.array(3.0), 0.1) == pytest.approx(0.2 - 1.5)


def test_checkpoints_leave_training_unchanged_and_measure_the_initial_pairs_again(tmp_path):
    config = PhaseDiagramConfig(gains=(0.3, 0.9), fractions=(0.6, 1.0), L=5, measured_pairs=30, bootstrap=20,
                                checkpoints=RULES)
    config = replace(config, train=replace(config.train, hidden=12, max_epochs=1500))
    with_ckpt = run(config, tmp_path / "a").arrays
    without = run(replace(config, checkpoints=()), tmp_path / "b").arrays
    for name in ("epochs", "train_loss", "val_accuracy", "pair_z", "n_states_raw"):
        np.testing.assert_array_equal(with_ckpt[name], without[name])
    assert "ckpt_z" not in without
    live = with_ckpt["pair_ok"]
    np.testing.assert_allclose(with_ckpt["ckpt_H"][..., 0, :][live], with_ckpt["pair_H0"][live], rtol=1e-12)
    np.testing.assert_allclose(with_ckpt["ckpt_z"][..., 0, :][live], with_ckpt["pair_z"][live], rtol=1e-12)
    rules, kept = with_ckpt["ckpt_rule_epoch"], with_ckpt["ckpt_epoch"]
    assert np.all(rules[..., -1] == with_ckpt["epochs"]) and np.all(kept[..., -1] == with_ckpt["epochs"])
    assert np.all((kept <= rules) | (rules == NONE))
