"""Spread over replicates and per-gain onsets of the phase diagram (validation/merger_phase_diagram/replicates.py)."""
import numpy as np
import pytest

from validation.merger_phase_diagram.replicates import onset, replicate_spread


def test_onset_is_the_first_fraction_reaching_the_level_in_any_column_order():
    fractions = np.array([0.7, 0.1, 0.4])
    frequency = np.array([[1.0, 0.0, 0.5],      # reaches 1/2 at p = 0.4
                          [0.4, 0.0, 0.2],      # never
                          [1.0, 0.6, 1.0]])     # already at p = 0.1
    np.testing.assert_array_equal(onset(frequency, fractions), [0.4, np.nan, 0.1])
    np.testing.assert_array_equal(onset(frequency, fractions, level=0.9), [0.7, np.nan, 0.4])
    with pytest.raises(ValueError, match="frequency"):
        onset(frequency[:, :2], fractions)


def test_replicate_spread_refits_each_replicate_and_compares_with_the_pooled_fit():
    rng = np.random.default_rng(0)
    score = rng.normal(size=(3, 4, 5))
    planted = np.array([-0.5, 0.0, 0.5])              # each replicate its own true threshold
    observed = score > planted[:, None, None]
    solved = np.zeros_like(observed)
    spread = replicate_spread(score, observed, solved, np.linspace(0.2, 1.0, 5), pooled_log_C=0.0)
    np.testing.assert_array_equal(spread.agreement_own_fit, 1.0)
    for r in range(3):
        below = score[r][score[r] <= planted[r]].max()
        above = score[r][score[r] > planted[r]].min()
        assert below <= spread.log_C[r] <= above
        np.testing.assert_allclose(spread.agreement_pooled_fit[r], np.mean((score[r] > 0.0) == observed[r]))
    assert spread.agreement_pooled_fit[1] == 1.0 and spread.agreement_pooled_fit[0] < 1.0
    np.testing.assert_allclose(spread.generalised_frequency, observed.mean(0))
    assert np.all(np.isnan(spread.state_count_onset))
    summary = spread.summary()
    assert summary["replicates"] == 3 and summary["agreement_own_fit"]["mean"] == 1.0
    assert summary["state_count_onset_by_gain"] == [None] * 4
    assert summary["log_C"]["n"] == 3 and summary["log_C"]["min"] <= summary["log_C"]["max"]


def test_replicate_spread_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="replicate, gain, fraction"):
        replicate_spread(np.zeros((2, 3, 4)), np.zeros((2, 3, 4), bool), np.zeros((2, 3), bool), np.ones(4), 0.0)


def test_fig9_comparison_only_on_the_paper_grid_and_in_grid_steps():
    from validation.merger_phase_diagram import p25_fig9
    from validation.merger_phase_diagram.replicates import fig9_comparison
    gains, fractions = np.array(p25_fig9.GAINS), np.array(p25_fig9.FRACTIONS)
    # every replicate generalises exactly from the paper's onset on; small automata one step later
    paper = np.array([np.inf if v is None else v for v in p25_fig9.GENERALISATION_ONSET])
    observed = np.broadcast_to(fractions[None, :] >= paper[:, None], (2, 20, 20))
    small = np.broadcast_to(fractions[None, :] >= paper[:, None] + 0.04, (2, 20, 20))
    spread = replicate_spread(np.zeros((2, 20, 20)), observed, small, fractions, 0.0)
    table = fig9_comparison(spread, gains, fractions)
    assert table["generalisation_onset"]["ours"] == list(p25_fig9.GENERALISATION_ONSET)
    assert table["generalisation_onset"]["mean_difference_in_grid_steps"] == 0.0
    assert table["state_count_onset"]["ours"][0] == fractions[2]      # 0.147 + 0.04 -> next grid point
    assert fig9_comparison(spread, gains + 0.01, fractions) is None          # not the paper's grid
    # a sub-grid: the paper's onsets recomputed on the same cells
    sub = replicate_spread(np.zeros((2, 3, 5)), observed[:, [0, 5, 19]][:, :, :5], small[:, [0, 5, 19]][:, :, :5],
                           fractions[:5], 0.0)
    part = fig9_comparison(sub, gains[[0, 5, 19]], fractions[:5])
    assert part["generalisation_onset"]["ours"] == part["generalisation_onset"]["p25_fig9"]
    assert part["gains"] == [gains[0], gains[5], gains[19]]
