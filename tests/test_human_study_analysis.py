"""simulate -> analyze recovers planted preferences; MTurk results give the same numbers as the local export;
screening lists unfinished, too-fast and careless workers; answers of another build are refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ganpaint_core.commands.cli import main
from human_study.__main__ import COMMANDS
from human_study.analyze import analyse, md_text
from human_study.build import build
from human_study.common import read_manifest
from human_study.demo import write_demo_pairs
from human_study.mturk import from_results, to_results
from human_study.responses import load, tidy, with_key, write_export
from human_study.simulate import parse_prefer, simulate
from human_study.stats import preference, preference_test, two_level_bootstrap

SAMPLES = 1000


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("hs_analysis")
    build(write_demo_pairs(root / "pairs", tasks=24), root / "study", seed=1,   # 2 sessions of 36 + 4 catch
          display_px=0)   # the answers are under test, not the pictures (upscaling: test_human_study_build)
    return root / "study"


def analysed(answers: pd.DataFrame, study) -> dict:
    return analyse(tidy(with_key(answers, read_manifest(study))), samples=SAMPLES)


def test_planted_preferences_are_recovered_inside_their_cis(study):
    answers = simulate(study, 60, parse_prefer(["ours=0.7", "copy_paste=0.9"]), catch_fail=0.1, seed=1,
                       worker_sd=0.3)
    tables = analysed(answers, study)
    assert 0 < tables["info"]["excluded"] < 15                             # careless workers fail catch trials
    head = tables["baselines"].query("exclusion == 'screened'").set_index("baseline")
    planted = {"copy_paste": 0.9, "poisson": 0.7, "plain_g": 0.7}
    for baseline, p in planted.items():
        row = head.loc[baseline]
        assert row.ci_low < p < row.ci_high, (baseline, row.preference)
        assert row.significant and row.workers == 60 - tables["info"]["excluded"]
    ranking = tables["ranking"].query("exclusion == 'screened'")
    assert list(ranking["method"])[0] == "ours" and list(ranking["method"])[-1] == "copy_paste"
    assert ranking.iloc[0]["log_low"] > ranking.iloc[1]["log_high"]        # ours clearly first ...
    assert ranking.iloc[0]["first_share"] > 0.95                           # ... in nearly every worker resample
    inside = (ranking["log_low"] <= ranking["log_strength"]) & (ranking["log_strength"] <= ranking["log_high"])
    assert inside.all()
    workers = tables["workers"]
    careless = workers[workers["excluded"]]
    assert (careless["catch_accuracy"] < 1).all() and (workers.loc[~workers["excluded"], "catch_accuracy"] == 1).all()
    assert careless["reason"].str.startswith("catch accuracy").all()
    position = tables["position"].set_index("exclusion")
    assert position.loc["screened", "ci_low"] < 0.5 < position.loc["screened", "ci_high"]
    actions = tables["actions"].query("exclusion == 'screened' and baseline == 'all'")
    assert set(actions["action"]) == {"add", "remove", "appearance"} and (actions["preference"] > 0.6).all()
    assert not tables["info"]["warnings"]                                  # 50-odd workers: enough


def test_confidence_intervals_cover_the_planted_preference_over_many_runs(study):
    """Guards against a lucky seed: over 20 simulated studies the 95% CIs must cover the truth nearly always."""
    covered = []
    for seed in range(20):
        answers = simulate(study, 30, parse_prefer(["ours=0.7"]), catch_fail=0.1, seed=100 + seed)
        frame = tidy(with_key(answers, read_manifest(study)))
        failed = frame[(frame["phase"] == "catch") & ~frame["correct"]]["worker_id"].unique()
        scored = frame[(frame["phase"] == "scored") & ~frame["worker_id"].isin(failed)]
        for _, group in scored.groupby("baseline"):
            row = preference(group, "chose_ours", 0, seed)
            covered.append(row["ci_low"] < 0.7 < row["ci_high"])
    assert len(covered) == 60 and np.mean(covered) >= 0.85, np.mean(covered)


def test_planted_indifference_is_not_significant(study):
    tables = analysed(simulate(study, 40, parse_prefer(["ours=0.5"]), catch_fail=0.1, seed=6), study)
    for exclusion in ("none", "screened"):
        rows = tables["baselines"][tables["baselines"]["exclusion"] == exclusion]
        assert len(rows) == 3
        assert not rows["significant"].any() and (rows["p_holm"] > 0.05).all()
        assert ((rows["ci_low"] < 0.5) & (rows["ci_high"] > 0.5)).all()


def test_position_bias_is_detected(study):
    tables = analysed(simulate(study, 40, parse_prefer(["ours=0.5"]), catch_fail=0.0, seed=7, left_bias=1.0), study)
    row = tables["position"].query("exclusion == 'none'").iloc[0]
    assert row.share > 0.6 and row.preference > 0.6 and row.p < 0.001


def test_mturk_results_round_trip_gives_identical_numbers(study, tmp_path):
    answers = simulate(study, 30, parse_prefer(["ours=0.65"]), catch_fail=0.2, seed=8, worker_sd=0.5)
    answers.loc[answers["worker_id"] == "W0003", "comments"] = 'too "easy", =1+1, <b>bold</b>'
    local = tmp_path / "responses.csv"
    write_export(with_key(answers, read_manifest(study)), local)
    results = to_results(answers)
    assert {"HITId", "AssignmentId", "WorkerId", "Input.session", "Answer.taskAnswers"} <= set(results.columns)
    task_answers = json.loads(results["Answer.taskAnswers"].iloc[0])
    assert isinstance(task_answers, list) and {"answers", "comments"} <= set(task_answers[0])
    mturk = tmp_path / "Batch_1_batch_results.csv"
    results.to_csv(mturk, index=False)
    from_local = tidy(load(local))
    from_mturk = tidy(load(mturk, str(study)))
    assert len(from_local) == len(from_mturk) == len(answers)
    assert from_mturk.loc[from_mturk["worker_id"] == "W0003", "comments"].iloc[0] == 'too "easy", =1+1, <b>bold</b>'
    a, b = analyse(from_local, samples=SAMPLES), analyse(from_mturk, samples=SAMPLES)
    for name in ("baselines", "actions", "ranking", "position"):
        pd.testing.assert_frame_equal(a[name], b[name])
    times = ["consented_at", "finished_at"]     # MTurk's AcceptTime and SubmitTime stand in for them there
    pd.testing.assert_frame_equal(a["workers"].drop(columns=["source", *times], errors="ignore"),
                                  b["workers"].drop(columns=["source", *times], errors="ignore"))
    assert a["workers"]["consented"].all() and b["workers"]["consented"].all()
    assert not a["info"]["notes"]
    assert a["info"]["agreement"] == b["info"]["agreement"]


def test_rejected_assignments_and_plain_form_answers(study):
    answers = simulate(study, 3, parse_prefer(["ours=0.7"]), seed=9)
    results = to_results(answers)
    results.loc[0, "AssignmentStatus"] = "Rejected"
    plain = results.drop(columns="Answer.taskAnswers")
    plain["Answer.answers"] = [json.loads(t)[0]["answers"] for t in results["Answer.taskAnswers"]]
    plain["Answer.comments"] = ""
    for frame in (results, plain):
        back = from_results(frame.astype(str))
        assert set(back["worker_id"]) == {"W0001", "W0002"}
        assert len(back) == (answers["worker_id"] != "W0000").sum()


def test_cli_simulate_then_analyze_writes_the_report(study, tmp_path, capsys):
    out = tmp_path / "R.csv"
    assert main("hs", "", COMMANDS, ["simulate", str(study), "--workers", "12", "--prefer", "ours=0.7",
                                     "--catch-fail", "0.25", "--seed", "2", "--out", str(out)]) == 0
    report = tmp_path / "report"
    assert main("hs", "", COMMANDS, ["analyze", str(out), "--out", str(report), "--bootstrap", "200"]) == 0
    for name in ("summary.md", "baselines.csv", "actions.csv", "ranking.csv", "position.csv", "workers.csv",
                 "preferences.png", "actions.png"):
        assert (report / name).stat().st_size > 0, name
    summary = (report / "summary.md").read_text()
    assert "Screening" in summary and "after screening" in summary and "all answers" in summary
    assert "## Warnings" in summary and "only 9 workers remain" in summary      # 3 of 12 careless
    assert "WARNING: only 9 workers remain" in capsys.readouterr().out
    baselines = pd.read_csv(report / "baselines.csv")
    assert set(baselines["exclusion"]) == {"none", "screened"} and len(baselines) == 6
    mturk = tmp_path / "batch.csv"
    assert main("hs", "", COMMANDS, ["simulate", str(study), "--workers", "4", "--format", "mturk",
                                     "--out", str(mturk)]) == 0
    assert main("hs", "", COMMANDS, ["analyze", str(mturk), "--out", str(tmp_path / "r2")]) == 2   # no --study
    assert "--study" in capsys.readouterr().err
    assert main("hs", "", COMMANDS, ["analyze", str(mturk), "--study", str(study), "--out",
                                     str(tmp_path / "r2"), "--bootstrap", "200"]) == 0
    assert main("hs", "", COMMANDS, ["simulate", str(study), "--workers", "4", "--prefer", "ours=2",
                                     "--out", str(mturk)]) == 2


def test_participant_text_is_inert_in_the_report():
    text = md_text("<script>alert('x')</script> | [link](http://evil) **bold**\nnext")
    assert "<" not in text and ">" not in text and "\n" not in text
    assert "\\|" in text and "\\[" in text and "\\*\\*" in text


def test_preference_test_counts_workers_not_answers():
    """Two workers who disagree completely are no evidence, however many answers they give; agreeing workers are."""
    y = np.r_[np.ones(200), np.zeros(100)]
    split = preference_test(y, np.r_[np.zeros(200), np.ones(100)], np.arange(300))
    assert split["workers"] == 2 and split["p"] > 0.3 and split["ci_low"] < 0.5 < split["ci_high"]
    agree = preference_test(np.tile([1, 1, 0], 100), np.repeat(np.arange(10), 30), np.arange(300))
    assert agree["p"] < 1e-4 and 0.6 < agree["preference"] < 0.72 and agree["ci_low"] > 0.5
    unanimous = preference_test(np.ones(10), np.repeat(np.arange(5), 2), np.zeros(10))   # no spread at all
    assert unanimous["p"] == pytest.approx(2 / 2 ** 5)                    # the sign-flip test's answer, not 0
    one = preference_test(y, np.zeros(300), np.arange(300))
    assert one["workers"] == 1 and np.isnan(one["p"]) and np.isnan(one["ci_low"])


def test_preference_test_widens_for_pairs_that_differ():
    """The same answers, once spread over 30 pairs alike and once where the pairs, not the workers, decide."""
    rng = np.random.default_rng(0)
    workers = np.repeat(np.arange(20), 30)
    items = np.tile(np.arange(30), 20)
    alike = preference_test((rng.random(600) < 0.6).astype(float), workers, items)
    decisive = np.tile(rng.random(30) < 0.6, 20).astype(float)           # every worker answers each pair alike
    by_item = preference_test(decisive, workers, items)
    assert by_item["se_logit"] > 3 * alike["se_logit"]
    assert by_item["df"] == 19 and alike["df"] == 19


def test_two_level_bootstrap_widens_with_worker_spread():
    narrow = two_level_bootstrap([10] * 20, [20] * 20, samples=2000)
    wide = two_level_bootstrap([2, 18] * 10, [20] * 20, samples=2000)
    assert narrow[0] < 0.5 < narrow[1] and wide[0] < 0.5 < wide[1]
    assert (wide[1] - wide[0]) > 1.5 * (narrow[1] - narrow[0])


def test_holm_matches_statsmodels_and_keeps_nans():
    from statsmodels.stats.multitest import multipletests

    from human_study.stats import holm

    rng = np.random.default_rng(0)
    for size in range(1, 8):
        p = rng.random(size) ** 3
        assert np.allclose(holm(p), multipletests(p, method="holm")[1])
    mixed = holm([0.01, np.nan, 0.04, 0.03])
    assert np.isnan(mixed[1]) and np.allclose(mixed[[0, 2, 3]], multipletests([0.01, 0.04, 0.03], method="holm")[1])
    assert holm([]).size == 0
