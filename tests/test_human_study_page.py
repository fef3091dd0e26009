"""The study page in Chromium: keys answer only a shown trial and only once, Back/Forward and reload resume (served,
ExternalQuestion and HTMLQuestion modes), a second tab takes over and the first is told, the phone layout says
top/bottom and a laptop shows the photos at least 384 px wide.  Short studies (6 trials): every browser event is
slow on a busy 2-core machine."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from human_study.build import build
from human_study.common import read_csv
from human_study.demo import write_demo_pairs
from human_study.server import running

CODE = "PAGE55"
SANDBOX = "https://workersandbox.mturk.com"
IMAGE_BASE = "https://images.study-host.net/study/"
pytestmark = pytest.mark.browser


@contextmanager
def served(tmp_path: Path, **options):
    """A study of 2 sessions x 6 trials (2 practice, 3 scored, 1 catch), served on a free port."""
    kwargs = {"trials_per_session": 3, "practice": 2, "exposure_ms": 300, "seed": 7, "completion_code": CODE,
              "display_px": 96, **options}
    build(write_demo_pairs(tmp_path / "pairs", tasks=2), tmp_path / "study", **kwargs)
    with running(tmp_path / "study") as port:
        yield tmp_path / "study", f"http://127.0.0.1:{port}/"


def db(study: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(study / "study.sqlite") as conn:
        return conn.execute(sql, args).fetchall()


def stored(study: Path, worker: str) -> int:
    return db(study, "SELECT COUNT(*) FROM answers WHERE worker_id = ?", worker)[0][0]


def wait_stored(study: Path, worker: str, n: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while stored(study, worker) != n and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stored(study, worker) == n


def errors_of(page) -> list[str]:
    """The page's uncaught script errors, collected as they happen."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def consent_and_start(page) -> None:
    page.check("#consent-check")
    page.click("#consent-next")
    page.wait_for_selector("#start-practice:not([disabled])", timeout=30_000)
    page.click("#start-practice")


def ready(page) -> None:
    page.wait_for_selector("#choose-left:not([disabled])", timeout=30_000)


def progress(page) -> str:
    return page.inner_text("#progress-text")


def resume(page) -> None:
    """After a reload or Back/Forward: the page is either still on its trial (kept in the back/forward cache) or
    offers to continue without asking for consent again."""
    page.wait_for_function("() => !document.getElementById('screen-trial').hidden || "
                           "!document.getElementById('start-practice').disabled", timeout=30_000)
    assert page.locator("#screen-consent").is_hidden()
    if page.locator("#screen-instructions").is_visible():
        assert page.inner_text("#start-practice") == "Continue"
        page.click("#start-practice")
    ready(page)


def answer_rest(page, practice_feedback: bool = True) -> None:
    """Answer every trial left (left photo), through practice feedback and the break, up to the comments."""
    while True:
        page.wait_for_function("() => ['screen-trial', 'screen-break', 'screen-comments'].some(id => "
                               "!document.getElementById(id).hidden) && (document.getElementById('screen-trial')"
                               ".hidden || !document.getElementById('choose-left').disabled || "
                               "!document.getElementById('feedback-next').hidden)", timeout=30_000)
        if page.locator("#screen-comments").is_visible():
            return
        if page.locator("#screen-break").is_visible():
            page.click("#start-scored")
        elif page.locator("#feedback-next").is_visible():
            page.click("#feedback-next")
        else:
            page.click("#choose-left")


def reload_and_finish(page) -> None:
    """Reload at the second practice trial, check the page resumes there, answer the rest and submit."""
    page.reload()
    resume(page)
    assert progress(page) == "Practice 2 of 2"
    answer_rest(page)
    page.click("#submit-answers")


def test_keys_answer_only_a_shown_trial_and_only_once(tmp_path, browser):
    with served(tmp_path, min_rt_ms=1000) as (study, url):
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        errors = errors_of(page)
        page.goto(url + "?PROLIFIC_PID=keys1")
        page.wait_for_function("() => document.getElementById('consent-check')")
        for key in ("f", "j", "ArrowLeft"):                            # consent screen: nothing happens
            page.keyboard.press(key)
        assert db(study, "SELECT COUNT(*) FROM participants") == [(0,)]   # nothing stored before consent
        page.check("#consent-check")
        page.click("#consent-next")
        page.wait_for_selector("#start-practice:not([disabled])", timeout=30_000)
        page.keyboard.press("j")                                       # instructions: nothing happens
        assert page.locator("#screen-instructions").is_visible()
        page.click("#start-practice")
        ready(page)
        for key in ("Control+f", "Alt+j", "Meta+f", "Control+ArrowLeft", "Shift+Alt+j"):   # e.g. Ctrl+F: find
            page.keyboard.press(key)
        assert progress(page) == "Practice 1 of 2" and page.inner_text("#feedback") == ""
        page.keyboard.down("j")
        page.keyboard.down("j")                                        # held down: auto-repeat
        page.keyboard.up("j")
        page.wait_for_selector("#feedback-next", state="visible")
        feedback = page.inner_text("#feedback")
        page.keyboard.press("f")                                       # feedback shown: no second answer
        assert page.inner_text("#feedback") == feedback and progress(page) == "Practice 1 of 2"
        page.click("#feedback-next")
        ready(page)
        page.keyboard.press("f")
        page.click("#feedback-next")
        page.wait_for_selector("#screen-break", state="visible")
        page.keyboard.press("j")                                       # the break: nothing happens
        page.click("#start-scored")
        ready(page)
        wait_stored(study, "keys1", 2)
        page.keyboard.type("jjjjjj")                                   # six quick presses: one answer
        wait_stored(study, "keys1", 3)
        time.sleep(1.2)                                                # past the next trial's minimum
        assert stored(study, "keys1") == 3 and progress(page) == "Pair 2 of 4"
        choices = db(study, "SELECT trial_id, choice, rt_ms FROM answers WHERE worker_id = 'keys1' ORDER BY trial_id")
        assert [c[1] for c in choices] == ["right", "left", "right"] and all(c[2] >= 1000 for c in choices)
        assert not errors, errors
        page.close()


def test_back_forward_and_reload_resume_where_the_participant_was(tmp_path, browser):
    with served(tmp_path) as (study, url):
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        errors = errors_of(page)
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.type), d.accept()))
        page.goto(url + "api/study")
        page.goto(url)
        page.check("#consent-check")                                   # Back/Forward before consent
        page.go_back()
        page.go_forward()
        page.wait_for_selector("#consent-check")
        assert page.locator("#consent-check").is_checked() == page.locator("#consent-next").is_enabled()
        consent_and_start(page)
        ready(page)
        page.click("#choose-right")
        page.click("#feedback-next")
        ready(page)
        worker = db(study, "SELECT worker_id FROM participants")[0][0]
        wait_stored(study, worker, 1)
        page.go_back()                                                 # leaves the study: warned first
        assert page.url.endswith("/api/study") and dialogs == ["beforeunload"]
        page.go_forward()
        resume(page)
        assert progress(page) == "Practice 2 of 2"
        page.reload()
        resume(page)
        assert progress(page) == "Practice 2 of 2" and dialogs == ["beforeunload"] * 2
        answer_rest(page)
        page.click("#submit-answers")
        page.wait_for_selector("#completion-code", state="visible", timeout=30_000)
        assert page.inner_text("#completion-code") == CODE
        rows = db(study, "SELECT worker_id, consented_at, finished_at FROM participants")
        assert len(rows) == 1 and rows[0][1] and rows[0][2] and stored(study, worker) == 6
        assert not errors, errors
        page.close()


def test_external_question_resumes_and_submits_to_mturk(tmp_path, browser):
    with served(tmp_path) as (study, url):
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        errors = errors_of(page)
        page.on("dialog", lambda d: d.accept())
        posts = []

        def mturk(route):
            posts.append((route.request.url, route.request.post_data))
            route.fulfill(status=200, content_type="text/html", body="<p>submitted</p>")

        page.route(SANDBOX + "/**", mturk)
        query = f"?assignmentId=ASG%201&hitId=HIT1&workerId=MTW%3C1&turkSubmitTo={SANDBOX}"
        page.goto(url + query.replace("ASG%201", "ASSIGNMENT_ID_NOT_AVAILABLE"))     # preview: cannot start
        page.check("#consent-check")
        assert page.locator("#preview-note").is_visible() and page.locator("#consent-next").is_disabled()
        page.goto(url + query)
        consent_and_start(page)
        ready(page)
        page.click("#choose-left")
        wait_stored(study, "MTW<1", 1)
        reload_and_finish(page)
        page.wait_for_function("() => document.body.innerText.includes('submitted')", timeout=30_000)
        assert len(posts) == 1 and posts[0][0] == SANDBOX + "/mturk/externalSubmit"
        assert f"assignmentId=ASG+1&completion_code={CODE}" in posts[0][1]
        assert db(study, "SELECT source, assignment_id, study_id FROM participants WHERE worker_id = 'MTW<1'") == [
            ("mturk", "ASG 1", "HIT1")]
        assert stored(study, "MTW<1") == 6
        assert not errors, errors
        page.close()


def test_html_question_reload_keeps_the_answers(tmp_path, browser):
    with served(tmp_path, image_base_url=IMAGE_BASE) as (study, _):
        batch = read_csv(study / "mturk" / "batch_input.csv")[0]
        page_html = (study / "mturk" / "template.html").read_text()
        for name in ("session", "trials"):
            page_html = page_html.replace("${" + name + "}", batch[name])
        hit = tmp_path / "hit.html"
        hit.write_text(page_html)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        errors = errors_of(page)
        page.on("dialog", lambda d: d.accept())
        page.route("https://assets.crowd.aws/**", lambda route: route.fulfill(
            content_type="text/javascript", body="customElements.define('crowd-form', class extends HTMLElement {"
            "submit() { window.submitted = document.getElementById('answers-field').value; "
            "window.consented = document.getElementById('consented-field').value; } });"))
        page.route(IMAGE_BASE + "**", lambda route: route.fulfill(
            path=str(study / route.request.url.removeprefix(IMAGE_BASE))))
        page.goto(hit.as_uri() + f"?assignmentId=A1&hitId=H1&workerId=W1&turkSubmitTo={SANDBOX}")
        consent_and_start(page)
        ready(page)
        page.click("#choose-left")
        page.click("#feedback-next")
        ready(page)
        reload_and_finish(page)
        page.wait_for_function("() => window.submitted", timeout=30_000)
        answers = json.loads(page.evaluate("window.submitted"))
        trials = [t["id"] for t in json.loads(batch["trials"])]
        assert [a["trial_id"] for a in answers] == trials and all(a["rt_ms"] >= 200 for a in answers)
        assert page.evaluate("window.consented")
        assert not errors, errors
        page.close()


def test_a_second_tab_takes_over_and_the_first_is_told(tmp_path, browser):
    with served(tmp_path) as (study, url):
        context = browser.new_context(viewport={"width": 1100, "height": 800})
        first, second = context.new_page(), context.new_page()
        errors = errors_of(first) + errors_of(second)
        for page in (first, second):                                   # both open at the consent screen
            page.goto(url + "?PROLIFIC_PID=tabs1")
        consent_and_start(first)
        ready(first)
        first.click("#choose-left")
        first.click("#feedback-next")
        ready(first)
        second.check("#consent-check")                                 # consents too: joins the same session
        second.click("#consent-next")
        resume(second)
        assert progress(second) == "Practice 2 of 2"
        first.wait_for_selector("#screen-elsewhere", state="visible", timeout=10_000)
        assert first.locator("#screen-trial").is_hidden()
        other = browser.new_context()                                  # another browser, same id: told
        elsewhere = other.new_page()
        elsewhere.goto(url + "?PROLIFIC_PID=tabs1")
        elsewhere.check("#consent-check")
        elsewhere.click("#consent-next")
        elsewhere.wait_for_function("() => document.getElementById('consent-status').textContent", timeout=10_000)
        assert "already started the study in another browser" in elsewhere.inner_text("#consent-status")
        assert db(study, "SELECT COUNT(*) FROM participants") == [(1,)]
        other.close()
        assert not errors, errors
        context.close()


def test_phone_says_top_and_bottom_and_a_laptop_shows_big_photos(tmp_path, browser, artifacts):
    with served(tmp_path, display_px=512, exposure_ms=0) as (_, url):
        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=1)
        errors = errors_of(phone)
        phone.goto(url + "?PROLIFIC_PID=phone1")
        consent_and_start(phone)
        ready(phone)
        text = phone.inner_text("#screen-trial")
        assert "Top looks more real" in text and "Bottom looks more real" in text
        assert "left" not in text.lower() and "right" not in text.lower()
        top, bottom = phone.locator("#img-left").bounding_box(), phone.locator("#img-right").bounding_box()
        assert bottom["y"] >= top["y"] + top["height"] and top["x"] + top["width"] <= 390
        for button in ("#choose-left", "#choose-right"):                # the whole trial fits the screen
            box = phone.locator(button).bounding_box()
            assert box["y"] + box["height"] <= 844 and box["y"] >= bottom["y"] + bottom["height"]
        phone.screenshot(path=str(artifacts / "human_study_phone.png"))
        phone.click("#choose-left")
        phone.wait_for_selector("#feedback-next", state="visible")
        feedback = phone.inner_text("#feedback").lower()
        assert ("top" in feedback or "bottom" in feedback) and "left" not in feedback and "right" not in feedback
        assert not errors, errors
        phone.close()

        laptop = browser.new_page(viewport={"width": 1280, "height": 720})
        errors = errors_of(laptop)
        laptop.goto(url + "?PROLIFIC_PID=laptop1")
        consent_and_start(laptop)
        ready(laptop)
        left, right = laptop.locator("#img-left").bounding_box(), laptop.locator("#img-right").bounding_box()
        assert left["width"] >= 384 and left["height"] >= 384 and abs(left["y"] - right["y"]) < 1
        assert laptop.evaluate("document.getElementById('img-left').naturalWidth") == 512
        assert "Left looks more real" in laptop.inner_text("#screen-trial")
        laptop.screenshot(path=str(artifacts / "human_study_laptop.png"))
        laptop.click("#choose-right")
        laptop.wait_for_selector("#feedback-next", state="visible")
        for element in ("#choose-right", "#feedback", "#feedback-next"):   # all in view without scrolling
            box = laptop.locator(element).bounding_box()
            assert box["y"] + box["height"] <= 720, element
        assert laptop.evaluate("window.scrollY") == 0
        assert not errors, errors
        laptop.close()


def test_mturk_may_frame_the_page_and_other_sites_may_not(tmp_path, browser):
    """An ExternalQuestion shows the served page in a frame on MTurk's worker site; CSP frame-ancestors allows
    exactly MTurk's hosts.  (Chromium's local-network checks, which would block any public page framing
    127.0.0.1, are turned off for this browser: a real study is served from a public host.)"""
    from eval.bench.app_latency import CHROMIUM, CHROMIUM_FLAGS

    no_local_checks = "--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessForNavigations," \
                      "PrivateNetworkAccessForIframes,BlockInsecurePrivateNetworkRequests"
    framer = browser.browser_type.launch(executable_path=CHROMIUM, headless=True,
                                         args=[*CHROMIUM_FLAGS, no_local_checks])
    with served(tmp_path) as (_, url):
        page = framer.new_page()
        shown = {}
        for host in ("https://worker.mturk.com", "https://workersandbox.mturk.com", "https://other-site.net"):
            page.route(host + "/**", lambda route: route.fulfill(content_type="text/html", body=(
                f'<iframe src="{url}?assignmentId=A1&hitId=H1&workerId=W1&turkSubmitTo={SANDBOX}"></iframe>')))
            page.goto(host + "/task")
            frame = page.frames[1]
            frame.wait_for_load_state()
            shown[host] = frame.url.startswith(url) and frame.locator("#consent-check").count() == 1
        framer.close()
    assert shown == {"https://worker.mturk.com": True, "https://workersandbox.mturk.com": True,
                     "https://other-site.net": False}
