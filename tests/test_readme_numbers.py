"""The README's numbers are those of the committed results summaries, which the commands shown there wrote.

``docs/results/*.json`` are the ``results.json`` files of the runs the README quotes, copied
unchanged; each test checks that a summary belongs to the command the README names (its
configuration is that preset's) and that every number quoted appears in the README as the
summary gives it.
"""
import json
import pytest
from dataclasses import asdict, replace
from pathlib import Path

from interaction.artifacts import to_jsonable
from rnn.modular.train import PRESETS as MODULAR_PRESETS
from validation.merger_phase_diagram.config import PRESETS
from validation.merger_phase_diagram.predictors import THEORY
from validation.merger_phase_diagram.results import ADDED_FIELDS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _section(start: str, end: str) -> str:
    text = README[README.index(start):]
    return text[: text.index(end)]


def _summary(name: str) -> dict:
    return json.loads((ROOT / "docs" / "results" / f"merger_phase_diagram_{name}.json").read_text())


def test_default_run_summary_is_the_default_preset():
    meta = _summary("quick")
    assert meta["config"] == to_jsonable(asdict(PRESETS["quick"]))
    assert meta["run"]["computed_this_run"] == meta["run"]["tasks"]   # one uninterrupted run


def _grid_quotes(s: dict) -> list[str]:
    """What both phase-diagram sections quote from a summary: outcomes, eq. 9's fit and the three agreements."""
    counts = s["status_counts"]
    return [
        f"all {s['networks']} networks converged" if counts == {"converged": s["networks"]}
        else f"{counts.get('converged', 0)} of {s['networks']} networks converged",
        f"{s['generalised']} of {s['networks']} generalise",
        f"log C = {s['fit']['log_C']:.2f}",
        f"**{s['agreement']:.0%}**",
        f"**{s['agreement_constant_baseline']:.0%}** for a constant guess",
        f"**{s['measured']['agreement']['measured']['agreement']:.0%}**",
    ]


def test_readme_default_run_numbers_equal_the_committed_summary():
    s = _summary("quick")["summary"]
    text = _section("**What the default run shows**", "**The paper grid**")
    fit = s["fit"]
    quoted = _grid_quotes(s) + [
        f"optimal range [{fit['log_C_range'][0]:.2f}, {fit['log_C_range'][1]:.2f}]",
        f"bootstrap 16–84 % [{fit['log_C_interval'][0]:.2f}, {fit['log_C_interval'][1]:.2f}]",
        f"log κ = {s['measured']['fit']['log_kappa']:.2f}",
    ]
    missing = [q for q in quoted if q not in text]
    assert not missing, f"README default-run section lacks {missing}"


def test_readme_paper_grid_numbers_equal_the_committed_summary():
    meta = _summary("paper")
    # the 3-replicate paper grid, trained without checkpoints; read as results.load reads a file
    assert {**ADDED_FIELDS, **meta["config"]} == to_jsonable(asdict(replace(PRESETS["paper"], seeds=3, checkpoints=())))
    assert meta["run"]["computed_this_run"] == meta["run"]["tasks"]
    s = meta["summary"]
    text = _section("**The paper grid**", "**The readout and Fig. 9**")
    onset = s["fig9_comparison"]["generalisation_onset"]
    quoted = _grid_quotes(s) + [
        "log C per replicate " + ", ".join(f"{v:.2f}" for v in s["replicates"]["log_C_per_replicate"]),
        f"{onset['mean_difference_in_grid_steps']:.2g} grid steps",
    ]
    missing = [q for q in quoted if q not in text]
    assert not missing, f"README paper-grid section lacks {missing}"


def _onsets(values: list) -> str:
    return ", ".join("–" if v is None else f"{v:.3f}" for v in values)


@pytest.mark.parametrize("readout", ["linear", "discontinuity"])
def test_readme_readout_table_equals_the_committed_summaries(readout):
    meta = _summary(f"readout_{readout}")
    assert meta["config"]["train"]["readout"] == readout and meta["config"]["seeds"] == 3
    s = meta["summary"]
    onset = s["fig9_comparison"]["generalisation_onset"]
    row = (f"| {readout} | {s['generalised']} of {s['networks']} | {_onsets(onset['ours'])} | "
           f"{onset['mean_difference_in_grid_steps']:.2g} grid steps |")
    figure = f"| P25 Fig. 9 (one network per cell) | | {_onsets(onset['p25_fig9'])} | |"
    text = _section("**The readout and Fig. 9**", "**Outputs**")
    assert row in text and figure in text


def test_readme_modular_fast_seed0_numbers_equal_the_committed_summary():
    meta = json.loads((ROOT / "docs" / "results" / "modular_fast_seed0.json").read_text())
    trained, fast = meta["config"]["train"], MODULAR_PRESETS["fast"]
    assert (trained["P"], trained["train_frac"], trained["weight_decay"]) == (fast.P, fast.train_frac, fast.weight_decay)
    assert trained["seed"] == trained["data_seed"] == 0 and meta["status"] == "grokked"
    text = _section("**Fast preset, seed 0**", "**Against Nanda et al., fast preset")
    phases = meta["phase_boundaries"]
    theory = meta["measured_theory"]["per_site"]
    seconds = meta["seconds"]
    merged = theory["resid_mid"]["observed_mergers"]
    quoted = [
        f"0.99 at epoch {meta['grok_epoch']:,}".replace(",", " "),
        "key frequencies {" + ", ".join(str(k) for k in meta["key_frequencies"]["used"]) + "}",
        " / ".join(f"{phases[k]:,}".replace(",", " ") for k in ("memorisation_end", "cleanup_start", "cleanup_end")),
        f"κ = {theory['resid_mid']['kappa_tau_y_over_tau_h']:.1f} at `resid_mid`",
        f"κ = {theory['mlp_post']['kappa_tau_y_over_tau_h']:.0f} and eq. 7",
        f"only {merged['agreeing']} of {theory['resid_mid']['pairs']['agreeing']} same-answer training pairs merge, "
        f"and all {merged['agreeing_commuted']} are commuted pairs",
        f"{meta['runtime_s']:.0f} s", f"training {seconds['training']:.0f} s",
        f"measurements during training {seconds['measurements_during_training']:.0f} s",
        f"analysis {seconds['analysis_after_training']:.0f} s",
    ]
    # "the fit ends on its search bound and is flagged" at resid_mid, not at mlp_post
    assert not theory["resid_mid"]["pooled_fit"]["success"] and theory["mlp_post"]["pooled_fit"]["success"]
    for site in ("resid_mid", "mlp_post"):
        assert theory[site]["observed_mergers"] == merged and merged["disagreeing"] == 0
    missing = [q for q in quoted if q not in text]
    assert not missing, f"README fast-preset section lacks {missing}"


@pytest.mark.parametrize("preset", ["fast", "default", "paper"])
def test_readme_modular_seed_tables_are_the_committed_comparison(preset):
    """The README's per-seed tables are the lines of the committed ``comparison.md``, which belongs to
    the committed summary (same seeds, same preset settings)."""
    summary = json.loads((ROOT / "docs" / "results" / f"modular_{preset}_seeds.json").read_text())
    table = (ROOT / "docs" / "results" / f"modular_{preset}_comparison.md").read_text()
    assert f"--preset {preset} --seeds {len(summary['seeds'])}" in summary["command"]
    trained = summary["config"]["train"]
    expected = MODULAR_PRESETS[preset]
    assert (trained["P"], trained["train_frac"], trained["weight_decay"]) == (
        expected.P, expected.train_frac, expected.weight_decay)
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    for row in summary["rows"]:
        assert any(line.startswith(f"| seed {row['seed']} (data {row['data_seed']}) | {row['status']} |") for line in rows)
    missing = [line for line in rows if line not in README]
    assert not missing, f"README lacks the {preset} table rows {missing}"


def test_readme_fast_time_to_grokking_is_the_committed_summary():
    """The README's time-to-grokking figures are the task times of the committed stop-at-0.95 run of the fast preset."""
    summary = json.loads((ROOT / "docs" / "results" / "modular_fast_to095_seeds.json").read_text())
    assert "--preset fast --seeds 3 --stop-test-acc 0.95 --cleanup-margin 0" in summary["command"]
    trained, fast = summary["config"]["train"], MODULAR_PRESETS["fast"]
    assert (trained["P"], trained["train_frac"], trained["weight_decay"]) == (fast.P, fast.train_frac, fast.weight_decay)
    assert trained["stop_test_acc"] == 0.95 and trained["cleanup_margin"] == 0
    rows = sorted(summary["rows"], key=lambda r: r["seed"])
    assert [r["status"] for r in rows] == ["grokked"] * 3
    seconds = ", ".join(f"{r['task_seconds']:.0f}" for r in rows[:-1]) + f" and {rows[-1]['task_seconds']:.0f} s"
    assert f"**{seconds}**" in _section("- **Time to grokking**", "- **Cost of the whole runs:**")


def _predictor_rows(s: dict) -> list[str]:
    """The README's predictor table, row by row, from a summary's ``predictors`` section."""
    p = s["predictors"]
    schemes = list(p["out_of_sample"])

    def cell(score: dict) -> str:
        lo, hi = score["interval"]
        return f"{score['agreement']:.1%} [{lo:.1%}, {hi:.1%}]"

    rows = []
    for name in p["predictors"]:
        kind = "theory" if name in THEORY else "baseline"
        held = " | ".join(cell(p["out_of_sample"][scheme][name]) for scheme in schemes)
        rows.append(f"| `{name}` | {kind} | {cell(p['in_sample'][name])} | {held} |")
    return rows


def _verdict_lines(s: dict) -> list[str]:
    p = s["predictors"]
    out = []
    for scheme, v in p["verdict"].items():
        oos = p["out_of_sample"][scheme]
        out.append(f"held-out {scheme}: `{v['theory']}` {oos[v['theory']]['agreement']:.1%} **{v['outcome']}** "
                   f"`{v['baseline']}` {oos[v['baseline']]['agreement']:.1%} (difference {100 * v['difference']:+.1f} "
                   f"points, bootstrap 16–84 % [{100 * v['interval'][0]:+.1f}, {100 * v['interval'][1]:+.1f}])")
    return out


@pytest.mark.parametrize("name, section", [("paper_rerun", "**The theory test**"),
                                           ("quick", "**What the default run shows**")])
def test_readme_predictor_tables_and_verdicts_equal_the_committed_summaries(name, section):
    s = _summary(name)["summary"]
    text = _section(section, "**The paper grid**" if name == "quick" else "**The readout and Fig. 9**")
    missing = [q for q in _predictor_rows(s) + _verdict_lines(s) if q not in text]
    assert not missing, f"README {name} section lacks {missing}"


def _suffix_quotes(s: dict) -> tuple[str, str]:
    """Median over gains of the slope of log ||dh(0)||^2 per unit log G, against the common suffix and against m1."""
    import numpy as np
    sx = s["suffix_scaling"]
    log_G = np.array(sx["log_G"])
    return (f"{np.median(np.array(sx['slope_suffix']) / log_G):.2f}",
            f"{np.median(np.array(sx['slope_length']) / log_G):.2f}")


def _range(values, scale=100) -> str:
    return f"{min(values) * scale:.0f}–{max(values) * scale:.0f}"


def _along_training_text(comparison: dict) -> str:
    """The README's sentences on conservation and the horizon, from the committed CE-vs-MSE comparison."""
    runs = {r["loss"]: r for r in comparison["runs"]}
    ce, mse = runs["ce"]["conservation"], runs["mse"]["conservation"]
    names = ce["checkpoints"]
    plateau = [i for i, n in enumerate(names) if n.startswith("plateau")]
    drop, end = names.index("drop"), names.index("end")
    med = lambda c, i: c["quantiles"][i][2]                              # noqa: E731
    horizon = [v for r in runs.values() for v in r["horizon"]["agreement"][comparison["scheme"]]["measured_median"]]
    return (f"A_high, which eq. 20 conserves for agreeing pairs, is not conserved under cross-entropy: its median "
            f"ratio A_high(t)/A_high(0) is {', '.join(f'{med(ce, i):.2f}' for i in plateau)} through the plateau, "
            f"{med(ce, drop):.2f} at the drop and {med(ce, end):.2f} at the end, and "
            f"{_range([ce['sign_changed'][i] for i in [*plateau, drop]])} % of the agreeing pairs change sign (so flip "
            f"eq. 7's verdict) by the drop. Trained with the theory's own loss (`--loss mse`), the same networks keep "
            f"it at {med(mse, plateau[0]):.2f}–{med(mse, drop):.2f} until the loss drops "
            f"({_range([mse['sign_changed'][i] for i in [*plateau, drop]])} % sign changes); it grows only afterwards "
            f"({med(mse, end):.2f} at the end). The prediction horizon (`measured_median` refitted with z at each "
            f"checkpoint, held-out blocks) stays at {_range(horizon)} % for both losses.")


def test_readme_along_training_and_suffix_numbers_equal_the_committed_summaries():
    comparison = json.loads((ROOT / "docs" / "results" / "merger_phase_diagram_ce_vs_mse.json").read_text())
    quick = _summary("quick")
    assert [r["loss"] for r in comparison["runs"]] == ["ce", "mse"]
    assert comparison["runs"][0]["held_out"] == quick["summary"]["predictors"]["out_of_sample"]["blocks"]
    text = _section("**What the default run shows**", "**The paper grid**")
    suffix, length = _suffix_quotes(quick["summary"])
    for quote in (_along_training_text(comparison), f"at {suffix}·log G", f"at only {length}·log G"):
        assert quote in text, quote


def _stability_quote(s: dict) -> str:
    """How far the sample minimum and the median of log z move with the number of pairs (``score_stability``)."""
    st = s["score_stability"]
    sizes, shift_min, shift_med = st["sizes"], st["shift_min"], st["shift_median"]
    return (f"the sample minimum of log z sits {shift_min[0]:.1f} above its full-sample value with {sizes[0]} pairs "
            f"and still {shift_min[-1]:.1f} with {sizes[-1]}, while the median moves by at most "
            f"{max(abs(v) for v in shift_med):.2f}")


def _shares_quote(s: dict) -> str:
    """Our share generalising per fraction column against P25 Fig. 9's (all gains; ``column_shares``)."""
    band = s["column_shares"]["bands"]["all"]
    n = len(band["ours"])
    return (f"our share lies below the figure's in {band['columns_ours_below']} of {n} columns and above it in "
            f"{band['columns_ours_above']} (bootstrap 16–84 % band; mean difference {band['mean_difference']:+.2f})")


def test_readme_theory_test_on_the_paper_grid_equals_its_committed_summary():
    meta = _summary("paper_rerun")
    # the 3-replicate paper grid without checkpoints, analysed with the current predictors
    assert meta["config"] == to_jsonable(asdict(replace(PRESETS["paper"], seeds=3, checkpoints=())))
    assert meta["run"]["computed_this_run"] == meta["run"]["tasks"]
    s = meta["summary"]
    text = _section("**The theory test**", "**The readout and Fig. 9**")
    suffix, length = _suffix_quotes(s)
    quotes = [_stability_quote(s), _shares_quote(s), f"at {suffix}·log G per shared token", f"at {length}·log G",
              f"{s['generalised']} instead of", f"log C = 10.92 to {s['fit']['log_C']:.2f}",
              f"73.5 % → {100 * s['agreement']:.1f} %"]
    missing = [q for q in quotes if q not in text]
    assert not missing, f"README theory-test section lacks {missing}"
