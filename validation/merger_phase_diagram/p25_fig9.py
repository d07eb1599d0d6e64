"""Numeric reading of P25 Fig. 9, the merger phase diagram of streaming-parity RNNs (docs/experiments.md §2).

Reference values for the map drawn by ``python -m validation.merger_phase_diagram --preset paper``:
per (gain, fraction) cell, the validation accuracy at length 100 and the raw automaton state
count that van Rossem & Saxe (ICML 2025, "P25") show in Fig. 9, and per gain the smallest
training-data fraction at which each panel shows the transition.

Source. Repository ``loekvanrossem/rnn_structure`` (GitHub), file ``parity/grid plot.ipynb``
at commit ``1952b149dfff7e38e0f229f789c6aa2e5c34d00f`` (2025-07-22, "added additional
experiments for reviewers"; the notebook is unchanged from there to the newest commit,
``2537c5d2cf0d10f1b30857b304c1e98c8283aed1``). Code cell 5 (0-based; execution count 13),
output 0: the validation-accuracy map (319 x 274 px PNG), output 1: the state-count map
(332 x 270 px PNG), both base64 ``image/png`` display data. That commit is the only one
whose saved outputs hold a 20 x 20 map over gains 0.1–1.0; the earlier saved maps are other
experiments (531fad4: tanh, 20 x 20, gains 0.1–0.5; 8e36741: tanh, 10 x 10, gains 0.1–0.5;
9540ca5, 302b61f, 4d2035e: tanh, 10 x 10 or 15 x 15, gains 0.1–2.0, default matplotlib
style). No saved output holds the plotted numbers as text, and no commit
holds the ``plots/*.npy`` arrays (``plots`` is git-ignored). The image plots those arrays,
loaded by cell 6 (execution count 12) after the training cell 3 was interrupted, so it
comes from an earlier, uncommitted run (docs/experiments.md §2.1). Rows are gains
``linspace(0.1, 1.0, 20)`` top to bottom (``imshow`` with the default upper origin, data
``reshape(N_gain, N_p)`` of a gain-outer loop), columns fractions ``linspace(0.1, 1.0, 20)``.

How the cells were read (Pillow on the decoded PNGs). The axes box was located from its
3-px spines (185.5–185.7 px for 20 cells, 9.28 px per cell); in each cell the 5 x 5 px centre
was sampled and every pixel was matched to the 256-entry lookup table of the notebook's colour
map (``publication.py``'s ``cdict_seq[2]``, selected by ``set_color_gradient(2)``, default
``N = 256``). All sampled pixels that are not spine anti-aliasing match a table entry exactly
(squared RGB distance <= 2), and within each cell all agree, so each cell gives one table
index ``k`` with no ambiguity about which cell a pixel belongs to: the reading error in grid
steps is zero. The value range comes from the colour bar: a linear fit of its table index
against pixel row gives the rows of the range's ends, and the tick marks convert rows to values.

- Accuracy: the colour bar spans 0.304 to 1.001 by that fit. The accuracy is the fraction of
  30 validation strings classified correctly, so ``vmin = 9/30`` and ``vmax = 30/30`` exactly
  (both ends occur among the cells). Then ``30 (0.3 + 0.7 (k + 0.5)/256)`` lies within 0.12
  of an integer for every cell, and that integer, the number correct out of 30, is stored in
  ``CORRECT_READ``. The accuracy reading is exact.
- States: the fit gives ``vmax = 2047.9`` (±5 from the ticks' pixel snapping). The largest possible count is 2047 (the 2046
  strings of length <= 10 and ``h_0``), so ``vmax = 2047`` is taken as exact. With that fixed,
  the ticks give ``vmin = 23`` (14–32 if each tick is moved by half a pixel, the pixel-snapping
  limit). A colour-table bin is 7.9 states wide, and ``STATES_READ`` holds
  ``round(23 + (2047 - 23)(k + 0.5)/256)``. Each value is uncertain by ±4 states from the bin
  width, plus up to ±9 from ``vmin``; that second part falls linearly to 0 at the top of the
  bar. The top bin (2039–2047, read as 2043) means no merging at all.

Onsets. The onset of a gain row is the smallest grid fraction whose cell passes the criterion
(``onset``). The ``*_STABLE`` variants give the smallest fraction from which every larger
fraction in the row passes, which ignores isolated early successes. The criteria are
accuracy ``>= GENERALISE_ACCURACY`` (0.95, i.e. at least 29 of 30 strings) and a raw
state count ``<= SMALL_AUTOMATON_STATES`` (280). We chose 280 because (i) it is about 14 %
of the 2047-state prefix tree, far below the ~2000-state plateau of the unmerged phase;
(ii) it falls in a 32-state gap between read values (264 | 296), wider than the ±13-state
calibration uncertainty, so no cell's class depends on the calibration; (iii) every gain row reaches it (the smallest read count
rises with the gain, from 27 at gain 0.1 to 122 at gain 1.0, so a threshold near the
parity automaton's size would leave the large gains with no onset at all). Given these
criteria, the onsets are exact functions of the cells read. The boundary itself is noisy,
since each cell is a single network; read single-cell onsets as about ±0.05–0.1 in ``p``
(docs/experiments.md §2.1).

Odd features of the figure worth knowing when comparing. 22 of the 265 cells at 30/30 keep
more than 1000 raw states, mostly near the boundary at large gains (e.g. gain 1.0,
p = 0.337: 30/30 in the top, unmerged, bin). Isolated successes and failures near the
boundary separate the first-crossing and stable onsets of many rows, by up to 9 grid steps
at gain 0.858 (first success at p = 0.384, failures at 0.574 and 0.763, stable from 0.811).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: the figure's grid: gains (rows, top to bottom) and fractions (columns, left to right), rounded as
#: ``config.parse_grid`` rounds a ``lo:hi:count`` grid
GAINS: tuple[float, ...] = tuple(float(v) for v in np.round(np.linspace(0.1, 1.0, 20), 6))
FRACTIONS: tuple[float, ...] = tuple(float(v) for v in np.round(np.linspace(0.1, 1.0, 20), 6))
#: P25's validation set: this many random strings of length 100 per network
VALIDATION_STRINGS = 30
#: the largest raw state count: the 2046 strings of length 1..10 and h_0, none merged
MAX_STATES = 2047
#: generalisation criterion on the accuracy map (at least 29 of the 30 strings)
GENERALISE_ACCURACY = 0.95
#: "small automaton" criterion on the state-count map (why 280: module docstring)
SMALL_AUTOMATON_STATES = 280

#: strings correct out of VALIDATION_STRINGS per cell, read from the accuracy map; [gain][fraction]
CORRECT_READ: tuple[tuple[int, ...], ...] = (
    (19, 30, 29, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    (11, 14, 29, 13, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    (16, 27, 21, 14, 30, 30, 29, 30, 30, 26, 30, 30, 29, 30, 30, 30, 30, 30, 30, 30),
    (15, 11, 15, 27, 13, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    (12, 17, 23, 29, 12, 30, 30, 30, 30, 30, 30, 30, 26, 30, 30, 30, 30, 30, 30, 30),
    (18, 17, 19, 30, 17, 18, 30, 20, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    (11, 13, 11, 29, 11, 17, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    (18, 14, 29, 30, 11, 16, 30, 30, 30, 30, 30, 29, 30, 30, 30, 30, 30, 30, 30, 30),
    (19, 16, 13, 14, 18, 18, 30, 25, 29, 30, 29, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    (19, 18, 10, 17, 18, 25, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    (13, 19, 12, 16, 30,  9, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    (17, 14, 21, 14, 13, 13, 30, 17, 29, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    (13, 14, 20, 13, 19, 14, 29, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    (14, 16, 14, 18, 20, 14, 28, 13, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    (16, 15, 12, 11, 15, 15, 18, 19, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    (14, 17, 13, 13, 14, 14, 30, 17, 14, 30, 30, 30, 29, 30, 30, 30, 30, 30, 30, 30),
    (17, 15, 13, 15, 17, 14, 30, 14, 30, 30, 26, 30, 30, 30, 27, 30, 30, 30, 30, 30),
    (15, 19, 17, 17, 21, 16, 13, 20, 12, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    (10, 18, 13, 19, 20, 10, 15, 14, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
    (15, 13, 12, 14, 11, 30, 17, 30, 12, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30),
)
#: validation accuracy at length 100 per cell; [gain][fraction]
ACCURACY_READ: tuple[tuple[float, ...], ...] = tuple(
    tuple(c / VALIDATION_STRINGS for c in row) for row in CORRECT_READ)
#: raw state count per cell (±4 from the colour bin, up to ±9 more from the bar's calibration;
#: 2043 = the top bin, 2039..2047), read from the state-count map; [gain][fraction]
STATES_READ: tuple[tuple[int, ...], ...] = (
    (1600,  454,  296,  146,   98,   27,  106,   27,  319,  169,   27,  296,   27,   27,   27,   27,   59,   27,   27,   27),
    (1988, 2043, 1102, 2043,  857,   43,  335,  565,  375,   59,  169,   27,   66,   27,   59,   27,   27,   27,   27,   27),
    (2019, 1221, 2035, 2043,   90,   90,  612,  367,  240,  351,   35,  240,  146,   27,   59,   27,   27,   59,   27,   27),
    (2004, 2043, 2043, 1197, 1988,  841,  248,  169,  493,   90,   27,   59,   35,   27,  312,   27,   35,   27,   27,   27),
    (2035, 2043,  509,  565, 2043,  106,  493,  770,   43,   27,   35,  122,  312,   43,  122,   27,   59,   27,   27,   27),
    (2019, 2043, 2043,  146, 2043, 2043,  367, 2011,  881,  233,  106,   35,   27,  138,   27,   35,   35,   27,   27,   27),
    (2043, 2043, 2043,  992, 2043, 2043,  217,  723,   59,  406,   59,   90,   59,   27,  161,   27,   27,   27,   27,   27),
    (2043, 2043,  833,  754, 2043, 2043,  335,  612,  106, 1134,  620,  454,   59,   59,   35,   90,   43,   27,   27,   27),
    (2043, 2043, 2043, 2043, 2043, 2043,  731, 2043,  659,  264,  628,   90,   59,   90,   90,  209,   35,   35,   35,   35),
    (2043, 2043, 2043, 2043, 2043, 1150, 1284,  881, 1110,   59,   66,   74,   59,  201,   43,   43,   43,   35,   35,   35),
    (2043, 2043, 2043, 2043,  233, 2043,  691,  715,  644,  193,   90,  209,  146,   59,   74,  391,   66,   43,   43,   35),
    (2043, 2043, 2043, 2043, 2043, 2043,  296, 2043,  976,  588,  122,  343,   66,   59,   90,   59,   43,   43,   43,   35),
    (2043, 2043, 2043, 2043, 2043, 2043, 1980,  391, 1956,   90,  454,   59,  414,  391,  138,   59,   43,   43,   59,   66),
    (2043, 2043, 2043, 2043, 2043, 2043, 1798, 2043, 1830,  438,  659,  652,  122,  122,  509,   66,   66,   59,   74,   59),
    (2043, 2043, 2043, 2043, 2043, 2043, 2043, 2043, 1284, 1165,  683,  960,  193,  177,  122,   98,   74,   90,   66,   90),
    (2043, 2043, 2043, 2043, 2043, 2043,  897, 2043, 2043,  169, 2035, 1308,  652,  833,  296,  122,  161,   74,  106,   66),
    (2043, 2043, 2043, 2043, 2043, 2043,  691, 2043, 1932,  438, 2043,  264, 1039,  493,  920,  106,  122,   98,  106,   90),
    (2043, 2043, 2043, 2043, 2043, 2043, 2043, 2043, 2043, 1758, 1790,  240,  486,  984,  541,  161,  312,  122,  106,  146),
    (2043, 2043, 2043, 2043, 2043, 2043, 2043, 2043, 1347, 1379, 1339,  920,  209,  240,  161,  375,  905,  122,  177,  201),
    (2043, 2043, 2043, 2043, 2043, 2043, 2043, 1980, 2043, 2043, 2043, 1205, 1869,  146,  454,  233,  201,  201,  122,  264),
)


def onset(grid: Sequence[Sequence[float]], threshold: float, *, below: bool,
          stable: bool = False) -> tuple[float | None, ...]:
    """Per gain row of ``grid``, the smallest fraction whose cell passes ``threshold``.

    A cell passes when its value is ``<= threshold`` (``below=True``, state counts) or
    ``>= threshold`` (``below=False``, accuracies). With ``stable=True`` the onset is the
    smallest fraction from which every larger fraction of the row passes. ``None`` marks a row
    with no such fraction.
    """
    values = np.asarray(grid, dtype=float)
    if values.shape != (len(GAINS), len(FRACTIONS)):
        raise ValueError(f"grid must have shape ({len(GAINS)}, {len(FRACTIONS)}) "
                         f"[gain][fraction], got {values.shape}")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold}")
    passes = values <= threshold if below else values >= threshold
    if stable:
        # a suffix of passing cells: reversed cumulative AND along the fractions
        passes = np.logical_and.accumulate(passes[:, ::-1], axis=1)[:, ::-1]
    return tuple(FRACTIONS[int(np.argmax(row))] if row.any() else None for row in passes)


# The onsets, written out for reading; tests/test_p25_fig9.py checks that ``onset`` derives them from the cells.
#: per gain, the smallest fraction with accuracy >= GENERALISE_ACCURACY (first crossing)
GENERALISATION_ONSET: tuple[float | None, ...] = (
    0.147368, 0.194737, 0.289474, 0.336842, 0.242105, 0.242105, 0.242105, 0.194737, 0.384211,
    0.384211, 0.289474, 0.384211, 0.384211, 0.478947, 0.478947, 0.384211, 0.384211, 0.526316,
    0.478947, 0.336842,
)
#: per gain, the smallest fraction from which every larger fraction has accuracy >= GENERALISE_ACCURACY
GENERALISATION_ONSET_STABLE: tuple[float | None, ...] = (
    0.147368, 0.289474, 0.573684, 0.336842, 0.715789, 0.478947, 0.384211, 0.384211, 0.478947,
    0.384211, 0.384211, 0.478947, 0.384211, 0.478947, 0.478947, 0.526316, 0.810526, 0.526316,
    0.478947, 0.526316,
)
#: per gain, the smallest fraction with at most SMALL_AUTOMATON_STATES raw states (first crossing)
STATE_COUNT_ONSET: tuple[float | None, ...] = (
    0.242105, 0.336842, 0.289474, 0.384211, 0.336842, 0.242105, 0.384211, 0.478947, 0.526316,
    0.526316, 0.289474, 0.573684, 0.526316, 0.668421, 0.668421, 0.526316, 0.621053, 0.621053,
    0.668421, 0.715789,
)
#: per gain, the smallest fraction from which every larger fraction has at most SMALL_AUTOMATON_STATES states
STATE_COUNT_ONSET_STABLE: tuple[float | None, ...] = (
    0.668421, 0.526316, 0.573684, 0.810526, 0.715789, 0.526316, 0.573684, 0.668421, 0.621053,
    0.526316, 0.857895, 0.668421, 0.763158, 0.810526, 0.668421, 0.810526, 0.810526, 0.905263,
    0.905263, 0.810526,
)
