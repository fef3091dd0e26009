"""The analysis' test is calibrated: under no preference it rejects 2-8% of the time at 5% for 5 to 30 workers and
worker spreads 0 to 2 (family-wise after Holm at most 6%), also when pairs differ; planted preferences are found.

The full grid (4,000 studies per cell) is `python -m human_study calibrate --out docs/study_calibration.json`;
this test runs the same grid with 600 null studies per cell (1,800 tests: the rate's standard error at 5% is
0.005, so the bounds are 6 standard errors away) and the power near the report's warning threshold."""

from __future__ import annotations

import json

from ganpaint_core.commands.cli import main
from human_study.__main__ import COMMANDS
from human_study.analyze import MIN_WORKERS
from human_study.calibrate import FAMILY_BOUND, NULL_BOUNDS, calibrate


def test_null_rates_hold_on_the_grid_and_power_justifies_the_warning():
    result = calibrate(runs=600, power_runs=300, seed=11, workers=(5, 10, 30), spreads=(0.0, 1.0, 2.0),
                       power_workers=(MIN_WORKERS - 5, MIN_WORKERS, 30), power_preferences=(0.7,), progress=False)
    assert len(result["null"]) == 9 and len(result["items"]) == 3
    for row in result["null"] + result["items"]:
        assert NULL_BOUNDS[0] <= row["rate"] <= NULL_BOUNDS[1], row
        assert row["family_rate_holm"] <= FAMILY_BOUND, row
        assert row["holds"]
    assert result["null_holds"] and result["seed"] == 11
    for row in result["null"] + result["items"] + result["power"]:
        assert row["ci_coverage"] >= 0.9, row                              # the 95% CI holds the planted truth
    power = {r["workers"]: r["power"] for r in result["power"]}
    assert power[MIN_WORKERS - 5] < 0.8 <= power[MIN_WORKERS] + 0.03 and power[30] > 0.9, power
    assert result["min_workers"]["workers"] in (MIN_WORKERS, 30)


def test_a_test_that_counts_answers_as_independent_would_fail_the_calibration():
    """The grid can fail: the old pooled binomial test, run on the same simulated studies, rejects far too often."""
    import numpy as np
    from scipy.stats import binomtest

    from human_study.calibrate import Design

    design = Design(seed=3)
    rng = np.random.default_rng(3)
    rejected = []
    for _ in range(100):
        _, _, chose = design.answers(10, 0.5, 2.0, 0.0, rng)
        rejected.append(binomtest(int(chose.sum()), len(chose)).pvalue < 0.05)
    assert np.mean(rejected) > NULL_BOUNDS[1] * 3


def test_calibrate_command_writes_rates_power_settings_and_seed(tmp_path, capsys):
    out = tmp_path / "cal.json"
    assert main("hs", "", COMMANDS, ["calibrate", "--out", str(out), "--runs", "50", "--power-runs", "50",
                                     "--seed", "4"]) == 0
    result = json.loads(out.read_text())
    assert result["seed"] == 4 and result["settings"]["runs"] == 50 and result["settings"]["alpha"] == 0.05
    cells = {(r["workers"], r["worker_spread"]) for r in result["null"]}
    assert cells == {(w, s) for w in (5, 10, 30) for s in (0.0, 1.0, 2.0)}
    assert all({"rate", "family_rate_holm", "tests"} <= set(r) for r in result["null"])
    assert {r["preference"] for r in result["power"]} == {0.6, 0.7, 0.9}
    assert all(0 <= r["power"] <= 1 for r in result["power"])
    assert "wrote" in capsys.readouterr().out
    assert main("hs", "", COMMANDS, ["calibrate", "--out", str(out), "--runs", "5"]) == 2
    assert main("hs", "", COMMANDS, ["calibrate", "--out", str(out), "--runs", "50", "--power-runs", "50",
                                     "--tasks", "10", "--baselines", "2", "--trials-per-session", "10"]) == 0
    design = json.loads(out.read_text())["settings"]["design"]
    assert design == {"tasks": 10, "baselines": 2, "scored_per_session": 10, "sessions": 2}
