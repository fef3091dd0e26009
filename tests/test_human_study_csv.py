"""Every CSV the study package writes is safe to open in a spreadsheet, and reads back to the original values."""

from __future__ import annotations

import csv
import re

import pytest

from ganpaint_core.commands.cli import main
from human_study import store
from human_study.__main__ import COMMANDS
from human_study.analyze import analyse, write_report
from human_study.api import Study
from human_study.build import build
from human_study.common import (
    FORMULA_START,
    read_csv,
    read_manifest,
    session_trials,
    spreadsheet_safe,
    spreadsheet_text,
    write_csv,
    write_frame,
)
from human_study.demo import write_demo_pairs
from human_study.mturk import to_results
from human_study.responses import load, tidy

HOSTILE = ["=1+2", "+1+2", "-1+2", "@SUM(A1:A9)", "\t=1", "\r=1", "=HYPERLINK(\"http://x\")", "'=1", "''"]
NUMERIC = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def assert_spreadsheet_safe(path) -> int:
    """No cell of ``path`` would run as a formula; returns how many cells were checked."""
    with open(path, newline="") as f:
        cells = [c for row in csv.reader(f) for c in row]
    unsafe = [c for c in cells if c[:1] in FORMULA_START and not NUMERIC.fullmatch(c)]
    assert not unsafe, f"{path.name}: {unsafe[:5]}"
    return len(cells)


@pytest.mark.parametrize("value", [*HOSTILE, "plain", "", "-3", "+4.5", "-1e-3", "'quoted", 7, -7, -0.5, None])
def test_escape_is_reversible_and_numbers_stay_numbers(value):
    safe = spreadsheet_safe(value)
    assert spreadsheet_text(safe) == value
    if isinstance(value, str) and value[:1] in FORMULA_START and not NUMERIC.fullmatch(value):
        assert safe == "'" + value
    if not isinstance(value, str) or NUMERIC.fullmatch(value):
        assert safe == value


def test_every_writer_neutralises_formulas(tmp_path):
    pairs = write_demo_pairs(tmp_path / "pairs", tasks=3)          # a hostile concept and baseline name
    rows = [{**r, "concept": HOSTILE[i % len(HOSTILE)], "method_b": "+" + r["method_b"]}
            for i, r in enumerate(read_csv(pairs / "manifest.csv"))]
    write_csv(pairs / "manifest.csv", list(rows[0]), rows)
    build(pairs, tmp_path / "study", trials_per_session=6, practice=1, seed=0, display_px=0,
          image_base_url="https://images.study-host.net/study/")
    study = Study(tmp_path / "study")
    assert {r["concept"] for r in read_manifest(study.folder)} <= set(HOSTILE)     # read back unescaped

    trials = session_trials(study.manifest)
    with study.store.transaction() as db:                           # what a hostile participant can send
        for w, value in enumerate(HOSTILE):
            worker = f"w{w}"
            session = store.assign(db, worker, len(trials), assignment_id=value, study_id=value,
                                   session_id=value, source=value)
            store.add_answers(db, worker, session, [{"trial_id": t, "choice": "left", "rt_ms": 5,
                                                     "client_time": value} for t in trials[session]])
            store.finish(db, worker, value)
    export = study.export()
    write_report(analyse(tidy(load(export)), samples=100), tmp_path / "report", str(export))
    write_frame(to_results(study.store.answers()), tmp_path / "mturk_results.csv")      # as `simulate` writes it
    for fmt in ("local", "mturk"):
        assert main("hs", "", COMMANDS, ["simulate", str(study.folder), "--workers", "3", "--format", fmt,
                                         "--out", str(tmp_path / f"sim_{fmt}.csv")]) == 0

    written = sorted(tmp_path.rglob("*.csv"))
    names = {p.name for p in written}
    assert {"manifest.csv", "batch_input.csv", "responses.csv", "workers.csv", "baselines.csv", "ranking.csv",
            "actions.csv", "position.csv", "mturk_results.csv", "sim_local.csv", "sim_mturk.csv"} <= names
    assert all(assert_spreadsheet_safe(p) for p in written)

    back = load(export).set_index("worker_id")                      # the readers undo the escape
    for w, value in enumerate(HOSTILE):
        assert back.loc[f"w{w}", ["source", "comments", "client_time"]].drop_duplicates().values.tolist() == \
            [[value] * 3]
    workers = read_csv(tmp_path / "report" / "workers.csv")
    assert sorted(r["source"] for r in workers) == sorted(HOSTILE)
    mturk = load(tmp_path / "mturk_results.csv", str(study.folder)).set_index("worker_id")
    assert mturk.loc["w0", "comments"].iloc[0] == HOSTILE[0]
