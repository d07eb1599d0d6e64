"""The numeric reading of P25 Fig. 9 (validation/merger_phase_diagram/p25_fig9.py): shapes, ranges, onsets."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from validation.merger_phase_diagram import p25_fig9 as fig9

N = 20


def _onset_by_loop(grid, threshold, below, stable):
    """Reference onsets by explicit scans of each row, without numpy's accumulate."""
    out = []
    for row in grid:
        passes = [(v <= threshold) if below else (v >= threshold) for v in row]
        found = None
        if stable:
            for j in range(len(passes) - 1, -1, -1):
                if not passes[j]:
                    break
                found = fig9.FRACTIONS[j]
        else:
            found = next((fig9.FRACTIONS[j] for j, ok in enumerate(passes) if ok), None)
        out.append(found)
    return tuple(out)


def test_grid_axes_are_the_figure_linspaces():
    expected = tuple(np.round(np.linspace(0.1, 1.0, N), 6))
    assert fig9.GAINS == expected
    assert fig9.FRACTIONS == expected


def test_cell_arrays_have_the_grid_shape():
    for grid in (fig9.CORRECT_READ, fig9.ACCURACY_READ, fig9.STATES_READ):
        assert len(grid) == N and all(len(row) == N for row in grid)


def test_accuracy_is_correct_count_over_validation_strings_and_spans_the_colour_bar():
    correct = np.array(fig9.CORRECT_READ)
    assert correct.dtype.kind == "i"
    # the colour bar's ends, 9/30 and 30/30, both occur (module docstring)
    assert correct.min() == 9 and correct.max() == fig9.VALIDATION_STRINGS
    np.testing.assert_allclose(np.array(fig9.ACCURACY_READ), correct / fig9.VALIDATION_STRINGS)


def test_state_counts_are_integers_within_the_prefix_tree():
    states = np.array(fig9.STATES_READ)
    assert states.dtype.kind == "i"
    assert states.min() >= 1 and states.max() <= fig9.MAX_STATES


def test_small_automaton_threshold_is_clear_of_the_calibration_uncertainty():
    # docstring claim (ii): no read count within the ±13-state calibration of the threshold
    states = np.array(fig9.STATES_READ)
    assert np.abs(states - fig9.SMALL_AUTOMATON_STATES).min() > 13


@pytest.mark.parametrize("name, grid, threshold, below, stable", [
    ("GENERALISATION_ONSET", fig9.ACCURACY_READ, fig9.GENERALISE_ACCURACY, False, False),
    ("GENERALISATION_ONSET_STABLE", fig9.ACCURACY_READ, fig9.GENERALISE_ACCURACY, False, True),
    ("STATE_COUNT_ONSET", fig9.STATES_READ, fig9.SMALL_AUTOMATON_STATES, True, False),
    ("STATE_COUNT_ONSET_STABLE", fig9.STATES_READ, fig9.SMALL_AUTOMATON_STATES, True, True),
])
def test_written_onsets_are_derived_from_the_cells(name, grid, threshold, below, stable):
    written = getattr(fig9, name)
    assert len(written) == N
    assert written == fig9.onset(grid, threshold, below=below, stable=stable)
    assert written == _onset_by_loop(grid, threshold, below, stable)
    assert all(v is None or v in fig9.FRACTIONS for v in written)


def test_stable_onset_never_precedes_first_crossing():
    pairs = [(fig9.GENERALISATION_ONSET, fig9.GENERALISATION_ONSET_STABLE),
             (fig9.STATE_COUNT_ONSET, fig9.STATE_COUNT_ONSET_STABLE)]
    for first, stable in pairs:
        for a, b in zip(first, stable):
            assert b is None or (a is not None and a <= b)


@given(arrays(np.float64, (N, N), elements=st.sampled_from([0.0, 0.5, 1.0])),
       st.sampled_from([0.25, 0.5, 0.75]), st.booleans(), st.booleans())
def test_onset_matches_a_row_scan(grid, threshold, below, stable):
    assert fig9.onset(grid, threshold, below=below, stable=stable) == \
        _onset_by_loop(grid.tolist(), threshold, below, stable)


def test_onset_rejects_bad_input():
    with pytest.raises(ValueError, match="grid must have shape"):
        fig9.onset(np.zeros((N, N - 1)), 0.5, below=True)
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        fig9.onset(fig9.STATES_READ, float("nan"), below=True)
