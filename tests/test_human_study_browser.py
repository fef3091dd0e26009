"""A short study completed in Chromium against the study server; the answers land in SQLite."""

from __future__ import annotations

import sqlite3

import pytest

from human_study.build import build
from human_study.common import read_manifest
from human_study.demo import write_demo_pairs
from human_study.server import running

CODE = "BROWSER7"


@pytest.fixture
def served_study(tmp_path):
    build(write_demo_pairs(tmp_path / "pairs", tasks=2), tmp_path / "study", trials_per_session=8, practice=2,
          exposure_ms=300, seed=2, completion_code=CODE)
    with running(tmp_path / "study") as port:
        yield tmp_path / "study", port


def _consent_and_start(page):
    """Tick consent, read the instructions, start the practice trials."""
    page.check("#consent-check")
    page.click("#consent-next")
    page.wait_for_selector("#start-practice:not([disabled])", timeout=30_000)
    page.click("#start-practice")


@pytest.mark.browser
def test_browser_completes_a_short_study(served_study, browser, artifacts):
    study, port = served_study
    rows = read_manifest(study)
    assert [r["phase"] for r in rows][:2] == ["practice", "practice"] and len(rows) == 9
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"http://127.0.0.1:{port}/?PROLIFIC_PID=pp123&STUDY_ID=st9&SESSION_ID=se5")
    assert page.locator("#consent-next").is_disabled()
    _consent_and_start(page)
    for i, row in enumerate(rows):
        if i == 2:
            page.wait_for_selector("#screen-break", state="visible")
            page.click("#start-scored")
        page.wait_for_selector("#choose-left:not([disabled])", timeout=30_000)
        if i == 2:
            assert page.inner_text("#progress-text") == "Pair 1 of 7"
            page.wait_for_selector("#img-left.masked", state="attached", timeout=5_000)   # timed exposure
        if i == 0:
            page.screenshot(path=str(artifacts / "human_study_trial.png"))
        side = "left" if i % 3 else "right"
        if i % 2:
            page.keyboard.press("ArrowLeft" if side == "left" else "j")
        else:
            page.click(f"#choose-{side}")
        if row["phase"] == "practice":
            page.wait_for_selector("#feedback-next", state="visible")
            expected = "Correct" if side == row["correct_side"] else "Not quite"
            assert page.inner_text("#feedback").startswith(expected)
            page.click("#feedback-next")
    page.wait_for_selector("#screen-comments", state="visible")
    assert CODE not in page.content()                                      # no code before the answers are saved
    comment = "<img src=x onerror=alert(1)> looked fine"
    page.fill("#comments", comment)
    page.click("#submit-answers")
    page.wait_for_selector("#completion-code", state="visible", timeout=30_000)
    assert page.inner_text("#completion-code") == CODE
    assert page.get_attribute("#prolific-link", "href").endswith("cc=" + CODE)
    page.screenshot(path=str(artifacts / "human_study_done.png"))
    page.close()
    assert not errors, errors
    assert all(url.startswith(f"http://127.0.0.1:{port}/") for url in requests), "the study must not load remote files"

    with sqlite3.connect(study / "study.sqlite") as db:
        answers = db.execute("SELECT trial_id, choice, rt_ms FROM answers WHERE worker_id = 'pp123'").fetchall()
        who = db.execute("SELECT source, study_id, session_id, comments, finished_at FROM participants").fetchall()
    assert sorted(a[0] for a in answers) == sorted(r["trial_id"] for r in rows)
    choices = {a[0]: a[1] for a in answers}
    assert [choices[r["trial_id"]] for r in rows] == ["left" if i % 3 else "right" for i in range(len(rows))]
    assert all(a[2] is not None and a[2] >= 0 for a in answers)
    assert who == [("prolific", "st9", "se5", comment, who[0][4])] and who[0][4]


@pytest.mark.browser
def test_study_opened_from_disk_keeps_answers_in_the_browser(served_study, browser):
    study, _ = served_study
    rows = read_manifest(study)
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((study / "index.html").as_uri())
    _consent_and_start(page)
    for i, row in enumerate(rows):
        if i == 2:
            page.click("#start-scored")
        page.wait_for_selector("#choose-left:not([disabled])", timeout=30_000)
        page.keyboard.press("f")
        if row["phase"] == "practice":
            page.click("#feedback-next")
    page.click("#submit-answers")
    page.wait_for_selector("#download-link", state="visible")
    assert page.locator("#code-line").is_hidden()                           # no code without a server
    stored = page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('study-answers:'))")
    assert len(stored) == 1
    assert len(page.evaluate(f"JSON.parse(localStorage.getItem('{stored[0]}'))")) == len(rows)
    page.close()
    assert not errors, errors
    assert not (study / "study.sqlite").exists() or not sqlite3.connect(study / "study.sqlite").execute(
        "SELECT COUNT(*) FROM answers").fetchone()[0]
