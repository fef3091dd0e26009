"""Clean data and safe analysis: unfinished, unconsented and too-fast workers are excluded and listed, fast answers
dropped and counted, thresholds are options; answers of another build are refused or warned about loudly."""

from __future__ import annotations

import json
import os
import sqlite3

import pandas as pd
import pytest

from ganpaint_core.commands.cli import main
from human_study.__main__ import COMMANDS
from human_study.analyze import analyse
from human_study.build import build
from human_study.common import read_manifest
from human_study.consistency import MismatchError, check
from human_study.demo import write_demo_pairs
from human_study.responses import tidy, with_key, write_export
from human_study.screening import Rules, screen
from human_study.simulate import parse_prefer, simulate

SAMPLES = 200


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("hs_screening")
    pairs = write_demo_pairs(root / "pairs", tasks=12)
    build(pairs, root / "study", seed=1, practice=2, display_px=0)     # answers under test, not pictures
    build(pairs, root / "rebuilt", seed=2, practice=2, display_px=0)   # same pairs, new sides and order
    return root


@pytest.fixture(scope="module")
def answers(study):
    """24 workers: some stop halfway, some click through in ~100 ms, some fail catch trials."""
    return simulate(study / "study", 24, parse_prefer(["ours=0.7"]), catch_fail=0.1, seed=3, unfinished=0.2,
                    fast=0.15)


def tidy_answers(answers, study):
    return tidy(with_key(answers, read_manifest(study / "study")))


def test_unfinished_fast_and_careless_workers_are_excluded_with_their_reason(answers, study):
    frame = tidy_answers(answers, study)
    tables = analyse(frame, samples=SAMPLES)
    frame = frame[frame["phase"] != "practice"]
    workers = tables["workers"].set_index("worker_id")
    quit_ = set(answers.loc[answers["finished_at"] == "", "worker_id"])
    rt = answers.groupby("worker_id")["rt_ms"].median()
    clickers = set(rt[rt < 200].index)
    assert quit_ and clickers, "the simulation should plant both kinds"
    for w in quit_:
        assert workers.loc[w, "excluded"] and "not finished" in workers.loc[w, "reason"]
    for w in clickers:
        assert workers.loc[w, "excluded"] and "too fast: median reaction time" in workers.loc[w, "reason"]
    kept = workers[~workers["excluded"]]
    assert kept["reason"].eq("").all() and (kept["catch_accuracy"] == 1).all() and kept["finished"].all()
    info = tables["info"]
    scored = frame[frame["phase"] == "scored"]
    assert info["kept_workers"] == len(kept) and info["excluded"] == len(workers) - len(kept)
    assert info["fast_answers"] == int((frame["rt_ms"] < 200).sum()) > 0
    screened = tables["baselines"].query("exclusion == 'screened'")
    assert screened["n"].sum() == scored["worker_id"].isin(kept.index).sum() - \
        int(((scored["rt_ms"] < 200) & scored["worker_id"].isin(kept.index)).sum())
    assert (screened["workers"] == len(kept)).all()
    assert any("workers remain after screening" in w for w in info["warnings"])   # under 20 kept


def test_thresholds_are_options(answers, study):
    frame = tidy_answers(answers, study)
    lenient = Rules(min_median_rt_ms=0, max_fast_share=1, require_finished=False, min_catch_accuracy=0)
    workers, keep, _ = screen(frame[frame["phase"] != "practice"], lenient)
    assert not workers["excluded"].any()
    assert (~keep).sum() == (frame.loc[frame["phase"] != "practice", "rt_ms"] < 200).sum()   # fast answers still go
    nothing_fast = Rules(min_rt_ms=0, min_median_rt_ms=0)
    workers, keep, _ = screen(frame[frame["phase"] != "practice"], nothing_fast)
    assert not workers["reason"].str.contains("too fast").any()
    with pytest.raises(ValueError, match="max-fast-share"):
        Rules(max_fast_share=2).check()


def test_older_exports_without_consent_or_finish_times_degrade_clearly(answers, study):
    old = tidy_answers(answers.drop(columns=["consented_at", "finished_at"]), study)
    workers, _, notes = screen(old[old["phase"] != "practice"], Rules())
    assert "consent" in notes and "finished" in notes
    assert workers["consented"].isna().all()
    quit_ = set(answers.loc[answers["finished_at"] == "", "worker_id"])
    assert set(workers.loc[~workers["finished"], "worker_id"]) == quit_      # inferred from trials answered
    empty = tidy_answers(answers.assign(consented_at=""), study)           # a column nobody filled: not recorded
    assert "consent" in screen(empty[empty["phase"] != "practice"], Rules())[2]


def test_a_worker_without_consent_is_excluded(answers, study):
    changed = answers.copy()
    target = changed["worker_id"].iloc[-1]
    changed.loc[changed["worker_id"] == target, "consented_at"] = ""
    frame = tidy_answers(changed, study)
    workers = screen(frame[frame["phase"] != "practice"], Rules())[0].set_index("worker_id")
    assert workers.loc[target, "excluded"] and "no consent" in workers.loc[target, "reason"]
    lenient = Rules(require_consent=False)
    assert "no consent" not in screen(frame[frame["phase"] != "practice"], lenient)[0] \
        .set_index("worker_id").loc[target, "reason"]


def test_answers_of_a_rebuilt_study_are_refused(answers, study, tmp_path, capsys):
    export = tmp_path / "responses.csv"
    write_export(with_key(answers, read_manifest(study / "study")), export)
    frame = tidy(with_key(answers, read_manifest(study / "study")))
    assert check(frame, study / "study") == []
    with pytest.raises(MismatchError, match="rebuilt"):
        check(frame, study / "rebuilt")                                    # same trial ids, other photos/sides
    report = tmp_path / "report"
    assert main("hs", "", COMMANDS, ["analyze", str(export), "--study", str(study / "rebuilt"),
                                     "--out", str(report)]) == 2
    assert "rebuilt" in capsys.readouterr().err and not report.exists()
    moved = frame.copy()
    moved.loc[moved.index[0], "session"] = 1 - int(moved.loc[moved.index[0], "session"])
    with pytest.raises(MismatchError, match="another session"):
        check(moved.drop(columns=["left", "right"]), study / "study")
    strange = frame.copy()
    strange.loc[strange.index[0], "trial_id"] = "s999-99"
    with pytest.raises(MismatchError, match="not in"):
        check(strange, study / "study")


def test_study_version_and_build_time_are_checked(answers, study, tmp_path):
    folder = tmp_path / "versioned"
    build(write_demo_pairs(tmp_path / "pairs", tasks=12), folder, seed=1, practice=2, display_px=0)
    config = json.loads((folder / "server.json").read_text())
    (folder / "server.json").write_text(json.dumps({**config, "study_version": "v2",
                                                    "built_at": "2030-01-01T00:00:00+00:00"}))
    frame = tidy(with_key(answers, read_manifest(folder)))
    with pytest.raises(MismatchError, match="study version 'v1'"):
        check(frame.assign(study_version="v1"), folder)
    real = frame.assign(study_version="v2", source="local")
    warnings = check(real, folder)
    assert len(warnings) == 1 and "stored before the study was built" in warnings[0]
    assert check(frame.assign(study_version="v2"), folder) == []           # simulated times are not checked


def test_database_answers_from_an_earlier_build_are_warned_about(answers, study, tmp_path, capsys):
    """A database holds only trial ids, so a rebuild with the same ids shows only in the times."""
    db_path = tmp_path / "study.sqlite"
    real = answers.assign(source="local")
    with sqlite3.connect(db_path) as db:
        real.drop(columns=["study_version"], errors="ignore").to_sql("answers", db, index=False)
        db.execute("CREATE TABLE participants (worker_id TEXT, assignment_id TEXT, study_id TEXT, session_id TEXT,"
                   " source TEXT, comments TEXT, consented_at TEXT, finished_at TEXT, study_version TEXT)")
        db.execute("ALTER TABLE answers RENAME TO raw")
        db.execute("CREATE TABLE answers AS SELECT worker_id, trial_id, session, choice, rt_ms, client_time, "
                   "server_time FROM raw")
        db.execute("INSERT INTO participants SELECT DISTINCT worker_id, assignment_id, study_id, session_id, source,"
                   " comments, consented_at, finished_at, '' FROM raw")
    manifest_time = (study / "study" / "manifest.csv").stat().st_mtime
    os.utime(study / "study" / "manifest.csv", (manifest_time, manifest_time))
    report = tmp_path / "report"
    assert main("hs", "", COMMANDS, ["analyze", str(db_path), "--study", str(study / "study"),
                                     "--out", str(report)]) == 0
    out = capsys.readouterr().out
    assert "WARNING:" in out and "stored before the study was built" in out
    summary = (report / "summary.md").read_text()
    assert "## Warnings" in summary and "stored before the study was built" in summary
    workers = pd.read_csv(report / "workers.csv")
    assert {"reason", "excluded", "fast_answers", "median_rt_ms", "finished"} <= set(workers.columns)


def test_the_machine_judge_is_not_speed_checked(study):
    frame = tidy_answers(simulate(study / "study", 6, parse_prefer(["ours=0.7"]), catch_fail=0, seed=5), study)
    judged = frame.assign(rt_ms=0, source="machine-judge")
    workers, keep, _ = screen(judged[judged["phase"] != "practice"], Rules())
    assert not workers["excluded"].any() and keep.all()
    as_people = frame.assign(rt_ms=0)
    assert screen(as_people[as_people["phase"] != "practice"], Rules())[0]["excluded"].all()
