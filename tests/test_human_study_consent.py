"""Safe studies through the API: nothing before consent, sessions bound to tokens, any platform id, answers
faster than the minimum reaction time refused, frame headers for MTurk, rebuilds that would orphan answers
refused, the MTurk image address checked, pictures upscaled."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image
from study_support import call

from ganpaint_core.commands.cli import main
from human_study.__main__ import COMMANDS
from human_study.api import Study
from human_study.build import build
from human_study.common import read_csv, read_manifest, session_trials
from human_study.demo import write_demo_pairs
from human_study.server import running

MIN_RT = 200


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A served study of 2 sessions x 5 trials with the default minimum reaction time."""
    root = tmp_path_factory.mktemp("hs_consent")
    build(write_demo_pairs(root / "pairs", tasks=2), root / "study", trials_per_session=3, practice=1, seed=5,
          completion_code="SAFE77", min_rt_ms=MIN_RT, display_px=0)
    with running(root / "study") as port:
        yield root / "study", port


def participants(study: Path) -> list[tuple]:
    with sqlite3.connect(study / "study.sqlite") as db:
        return db.execute("SELECT worker_id, session, consented_at, finished_at FROM participants").fetchall()


def consent(port: int, worker: str, token: str = "", **ids) -> dict:
    status, data, _ = call(port, "POST", "/api/consent", {"worker_id": worker, **ids}, token=token)
    assert status == 200, data
    return data


def trials_of(study: Path, worker: str) -> list[str]:
    session = next(p[1] for p in participants(study) if p[0] == worker)
    return session_trials(read_manifest(study))[session]


def wait_as_long_as_a_person(study: Path, worker: str, consented: float | None = None) -> None:
    """Sleep as long as answering every trial takes at least (the minimum reaction time each), less the time since
    the consent (``time.monotonic()`` once it was answered), where given."""
    spent = 0.0 if consented is None else time.monotonic() - consented
    time.sleep(max(0.0, len(trials_of(study, worker)) * MIN_RT / 1000 + 0.05 - spent))


def answer_all(port: int, study: Path, worker: str, token: str, rt_ms: int) -> tuple[int, dict]:
    answers = [{"trial_id": t, "choice": "left", "rt_ms": rt_ms} for t in trials_of(study, worker)]
    status, data, _ = call(port, "POST", "/api/answers", {"worker_id": worker, "answers": answers}, token=token)
    return status, data


def test_nothing_is_stored_before_consent_and_only_consent_counts_for_balance(served):
    study, port = served
    before = participants(study)
    for path in ("/", "/study-data.js", "/api/study", "/api/session?worker_id=browsing"):
        call(port, "GET", path)
    assert call(port, "GET", "/api/study")[1] == {"served": True, "min_rt_ms": MIN_RT, "study_version":
                                                  json.loads((study / "server.json").read_text())["study_version"]}
    assert participants(study) == before                                # looking at the page stores nothing
    a, b = consent(port, "balance-a"), consent(port, "balance-b")
    assert {a["session"], b["session"]} == {0, 1} and a["answered"] == [] and a["min_rt_ms"] == MIN_RT
    rows = {p[0]: p for p in participants(study)}
    assert rows["balance-a"][2] and rows["balance-a"][3] is None      # consent time stored, not finished


def test_a_session_is_bound_to_its_token(served):
    study, port = served
    own = consent(port, "owner", source="prolific", study_id="S1", session_id="X1")
    token = own["token"]
    assert len(token) >= 32
    refusals = [call(port, "GET", "/api/session?worker_id=owner"),
                call(port, "GET", "/api/session?worker_id=owner", token="wrong" + token),
                call(port, "GET", "/api/session?worker_id=nobody-at-all", token=token),
                call(port, "POST", "/api/answers", {"worker_id": "owner", "answers": [
                    {"trial_id": "s000-00", "choice": "left", "rt_ms": 900}]}),
                call(port, "POST", "/api/finish", {"worker_id": "owner"}, token=token[:-1])]
    assert [r[0] for r in refusals] == [403] * 5
    assert len({r[1]["error"] for r in refusals}) == 1               # an unknown id reads like a wrong token
    again = call(port, "POST", "/api/consent", {"worker_id": "owner"})  # someone else who knows the id
    assert again[0] == 409 and "another browser" in again[1]["error"] and "token" not in again[1]
    assert "session" not in again[1]
    assert consent(port, "owner", token)["session"] == own["session"]  # the holder: the same session
    status, data, _ = call(port, "GET", "/api/session?worker_id=owner", token=token)
    assert status == 200 and data["session"] == own["session"] and data["finished"] is False
    with sqlite3.connect(study / "study.sqlite") as db:
        (stored,) = db.execute("SELECT token_hash FROM participants WHERE worker_id = 'owner'").fetchone()
    assert token not in stored                                         # the database keeps only a hash


PLATFORM_IDS = ["A1B2 C3", "<script>alert(1)</script>", "José 山田 🙂", "=1+2", "x" * 128, "'; DROP TABLE answers; --"]


@pytest.fixture(scope="module")
def platform_consents(served) -> dict:
    """Each platform id consented (as from MTurk), all at once, so that their minimum answering times run out
    together rather than one after another: worker -> (token, time.monotonic() once consented)."""
    _, port = served
    return {worker: (consent(port, worker, source="mturk", assignment_id="A/" + worker[:100])["token"],
                     time.monotonic()) for worker in PLATFORM_IDS}


@pytest.mark.parametrize("worker", PLATFORM_IDS)
def test_platform_ids_with_any_characters_are_accepted_verbatim(served, platform_consents, worker):
    study, port = served
    token, consented = platform_consents[worker]
    session = next(p[1] for p in participants(study) if p[0] == worker)
    status, data, _ = call(port, "GET", "/api/session?worker_id=" + quote(worker), token=token)
    assert status == 200 and data["session"] == session
    wait_as_long_as_a_person(study, worker, consented)
    assert answer_all(port, study, worker, token, 900)[0] == 200
    status, data, _ = call(port, "POST", "/api/finish", {"worker_id": worker, "comments": worker}, token=token)
    assert status == 200 and data["completion_code"] == "SAFE77"
    export = Study(study).export(study / "ids.csv")
    rows = [r for r in read_csv(export) if r["worker_id"] == worker]   # read back, spreadsheet escapes undone
    assert len(rows) == len(trials_of(study, worker)) and {r["assignment_id"] for r in rows} == {"A/" + worker[:100]}
    assert all(r["finished_at"] and r["consented_at"] for r in rows)


@pytest.mark.parametrize("worker", ["", "x" * 129, "tab\there", "line\nbreak", "nul\x00", "\ud800"])
def test_ids_with_control_characters_or_too_long_are_refused(served, worker):
    _, port = served
    body = json.dumps({"worker_id": worker}).encode()                 # \ud800 goes out as a JSON escape
    status, data, _ = call(port, "POST", "/api/consent", body)
    assert status == 400 and "worker_id" in data["error"]


def test_answers_faster_than_the_minimum_are_refused_and_get_no_code(served):
    study, port = served
    token = consent(port, "speedy")["token"]
    status, data = answer_all(port, study, "speedy", token, 1)        # reaction time 1 ms, as a script posts
    assert status == 422 and f"{MIN_RT} ms" in data["error"]
    status, data = answer_all(port, study, "speedy", token, 900)      # plausible rt, but all answers at once
    assert status == 422 and "faster than one per" in data["error"]
    status, data, _ = call(port, "POST", "/api/finish", {"worker_id": "speedy"}, token=token)
    assert status == 409 and "completion_code" not in data
    with sqlite3.connect(study / "study.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM answers WHERE worker_id = 'speedy'").fetchone() == (0,)
    wait_as_long_as_a_person(study, "speedy")
    assert answer_all(port, study, "speedy", token, 1)[0] == 422
    assert answer_all(port, study, "speedy", token, MIN_RT)[0] == 200
    status, data, _ = call(port, "POST", "/api/finish", {"worker_id": "speedy"}, token=token)
    assert status == 200 and data["completion_code"] == "SAFE77"


def test_the_page_may_be_framed_by_mturk_only(served):
    _, port = served
    for path in ("/", "/api/study"):
        status, _, headers = call(port, "GET", path)
        csp = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
        assert status == 200 and "X-Frame-Options" not in headers
        assert csp["frame-ancestors"].split() == ["'self'", "https://worker.mturk.com", "https://www.mturk.com",
                                                  "https://workersandbox.mturk.com"]
        assert csp["form-action"].split() == ["'self'", "https://www.mturk.com", "https://workersandbox.mturk.com"]


def test_building_into_a_folder_with_answers_is_refused(tmp_path, capsys):
    pairs = write_demo_pairs(tmp_path / "pairs", tasks=2)
    study = tmp_path / "study"
    first = build(pairs, study, trials_per_session=3, practice=1, seed=0, display_px=0, min_rt_ms=0)
    again = build(pairs, study, trials_per_session=3, practice=1, seed=1, display_px=0, min_rt_ms=0)
    assert again["study_version"] != first["study_version"]           # nothing recorded yet: a new version
    with running(study) as port:
        status, data, _ = call(port, "POST", "/api/consent", {"worker_id": "w1"})
        trial = session_trials(read_manifest(study))[data["session"]][0]
        call(port, "POST", "/api/answers", {"worker_id": "w1", "answers": [
            {"trial_id": trial, "choice": "left", "rt_ms": 800}]}, token=data["token"])
    manifest, config = (study / "manifest.csv").read_bytes(), (study / "server.json").read_bytes()
    with pytest.raises(ValueError, match="1 participants and 1 answers"):
        build(pairs, study, trials_per_session=3, practice=1, seed=2, display_px=0)
    assert main("hs", "", COMMANDS, ["build", "--pairs", str(pairs), "--out", str(study)]) == 2
    assert "Build into a new folder" in capsys.readouterr().err
    assert (study / "manifest.csv").read_bytes() == manifest and (study / "server.json").read_bytes() == config

    other = tmp_path / "other"                                        # a database of another build is not served
    build(pairs, other, trials_per_session=3, practice=1, seed=0, display_px=0)
    for suffix in ("", "-wal", "-shm"):
        if (study / ("study.sqlite" + suffix)).exists():
            (other / ("study.sqlite" + suffix)).write_bytes((study / ("study.sqlite" + suffix)).read_bytes())
    with pytest.raises(ValueError, match="holds answers to study version"):
        Study(other)


def test_mturk_export_needs_a_real_image_address(tmp_path, capsys):
    pairs = write_demo_pairs(tmp_path / "pairs", tasks=2)
    for url in ("https://YOUR-BUCKET.example.com/STUDY/", "https://images.example.org/s/", "http://host.net/s/",
                "https://host.net/s"):
        with pytest.raises(ValueError, match="--image-base-url"):
            build(pairs, tmp_path / "s", trials_per_session=3, practice=1, image_base_url=url, display_px=0)
    assert main("hs", "", COMMANDS, ["build", "--pairs", str(pairs), "--out", str(tmp_path / "s"),
                                     "--display-px", "0"]) == 0
    assert "no MTurk HTMLQuestion template was written: pass --image-base-url" in capsys.readouterr().err
    assert not (tmp_path / "s" / "mturk" / "template.html").exists()
    assert "ExternalQuestion" in (tmp_path / "s" / "mturk" / "README.md").read_text()


def test_pictures_are_upscaled_with_lanczos_to_fill_their_frame(tmp_path):
    pairs = write_demo_pairs(tmp_path / "pairs", tasks=1, size=48)
    config = build(pairs, tmp_path / "s", trials_per_session=3, practice=1)
    assert (config["display_px"], config["upscale_filter"], config["exposure_ms"]) == (512, "Lanczos", 1000)
    row = next(r for r in read_manifest(tmp_path / "s") if r["phase"] == "scored")
    with Image.open(tmp_path / "s" / row["left"]) as im:
        assert im.size == (512, 512)
        shown = np.asarray(im.convert("RGB"), float)
    source = np.asarray(Image.open(pairs / f"images/task000/{row['method_left']}.png").convert("RGB"), float)
    expected = np.asarray(Image.fromarray(source.astype(np.uint8)).resize((512, 512), Image.LANCZOS), float)
    assert np.abs(shown - expected).max() == 0


def test_serve_can_change_the_minimum_and_the_page_is_told(tmp_path):
    build(write_demo_pairs(tmp_path / "pairs", tasks=2), tmp_path / "study", trials_per_session=3, practice=1,
          display_px=0, min_rt_ms=MIN_RT)
    with running(tmp_path / "study", min_rt_ms=1000) as port:
        assert call(port, "GET", "/api/study")[1]["min_rt_ms"] == 1000
        token = consent(port, "slow")["token"]
        trial = trials_of(tmp_path / "study", "slow")[0]
        status, data, _ = call(port, "POST", "/api/answers", {"worker_id": "slow", "answers": [
            {"trial_id": trial, "choice": "left", "rt_ms": 900}]}, token=token)
        assert status == 422 and "1000 ms" in data["error"]


def test_an_export_from_before_consent_times_still_loads(served, tmp_path):
    from human_study.common import write_csv
    from human_study.responses import load, tidy

    study, port = served
    token = consent(port, "exporter")["token"]
    wait_as_long_as_a_person(study, "exporter")
    assert answer_all(port, study, "exporter", token, 700)[0] == 200
    rows = read_csv(Study(study).export(tmp_path / "now.csv"))
    assert rows and {"consented_at", "finished_at", "study_version", "rt_ms"} <= set(rows[0])
    old = [{k: v for k, v in r.items() if k not in ("consented_at", "finished_at", "study_version")} for r in rows]
    write_csv(tmp_path / "old.csv", list(old[0]), old)
    frame = tidy(load(tmp_path / "old.csv"))
    assert len(frame) == len(rows) and (frame["finished_at"] == "").all() and frame["rt_ms"].notna().all()
