"""The demo as a person first uses it: bad files say what is wrong in the person's words (handlers, API and log),
re-opening a photo starts unedited unless asked, a model that cannot be loaded names every missing file."""

from __future__ import annotations

import io
import logging
import re

import numpy as np
import pytest
from conftest import make_photo
from editor_support import app_on_tiny_editor, tiny_editor
from PIL import Image
from test_app import no_progress, painted, read
from upload_corpus import _huge_png

import app
from ganpaint_core.editing.strokes import EDIT_COLOR
from ganpaint_core.models.registry import lookup

# what each bad file must be called, in words a person uses
BAD_FILES = {"notes.jpg": "not a readable image", "empty.png": "empty", "cut.jpg": "cut off",
             "huge.png": "too large"}
MACHINE_WORDS = re.compile(r"/tmp|/gradio|\.py\b|Traceback|object at 0x|Error\(|<_io|UnidentifiedImage|\\n")


def bad_files(folder) -> dict:
    """name -> path of a file that is no usable photo: text, zero bytes, a truncated JPEG, a 20000 px PNG."""
    (folder / "notes.jpg").write_text("my holiday notes, not a picture")
    (folder / "empty.png").write_bytes(b"")
    buffer = io.BytesIO()
    Image.fromarray(make_photo(300, 400)).save(buffer, "JPEG", quality=90)
    (folder / "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    _huge_png(folder / "huge.png")
    return {name: folder / name for name in BAD_FILES}


@pytest.fixture
def tiny_app(monkeypatch):
    return app_on_tiny_editor(monkeypatch, 4)


def test_bad_files_are_named_in_the_persons_words_and_logged_in_one_line(tiny_app, tmp_path, caplog):
    import gradio as gr

    for name, path in bad_files(tmp_path).items():
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="ganpaint.app"), pytest.raises(gr.Error) as raised:
            app.upload_photo(str(path), None, False)
        message = raised.value.message
        assert BAD_FILES[name] in message and not MACHINE_WORDS.search(message), (name, message)
        assert not raised.value.print_exception, "a person's mistake must not print a traceback"
        records = [r for r in caplog.records if r.name == "ganpaint.app"]
        assert len(records) == 1 and records[0].exc_info is None, (name, records)


def test_reopening_a_photo_starts_unedited_unless_the_edits_are_kept(tiny_app, tmp_path):
    photo = make_photo(96, 128)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    value = painted(photo, {EDIT_COLOR: (30, 40, 24)})
    _, state, message = app.upload_photo(str(tmp_path / "photo.png"), None, False)
    assert "fitting" in message
    _, _, _, state, _ = app.fit_photo(None, state, no_progress)
    edited, _, _, state, _ = app.edit_photo(value, "tree", "add", 1.0, state, no_progress)
    assert not np.array_equal(read(edited), photo)
    _, fresh, message = app.upload_photo(str(tmp_path / "photo.png"), state, False)
    result, _, message, fresh, _ = app.fit_photo(None, fresh, no_progress)
    assert np.array_equal(read(result), photo) and "fitted" in message
    assert len(state["session"].operations) == 1, "the earlier session is not touched"
    _, kept, message = app.upload_photo(str(tmp_path / "photo.png"), state, True)
    assert "1 edit(s) are kept" in message
    result, _, message, _, _ = app.fit_photo(None, kept, no_progress)
    assert np.array_equal(read(result), read(edited)) and "1 edit(s) kept" in message


def test_undo_and_reset_with_nothing_to_undo_say_so(tiny_app):
    value = painted(make_photo(64, 64), {})
    _, _, message, state, _ = app.undo_edit(value, None, no_progress)
    assert message.startswith("Nothing to undo")
    _, _, message, _, _ = app.reset_edits(value, state, no_progress)
    assert message.startswith("Nothing to reset")


def test_apply_on_a_canvas_cleared_by_the_last_apply_says_nothing_is_painted(tiny_app, tmp_path):
    """After Apply the page empties the canvas at once and puts the photo back once the result shows: a click in
    between sends no canvas at all, which is 'nothing painted', not a second edit and not a crash."""
    Image.fromarray(make_photo(64, 64)).save(tmp_path / "photo.png")
    _, state, _ = app.upload_photo(str(tmp_path / "photo.png"), None, False)
    _, _, _, state, _ = app.fit_photo(None, state, no_progress)
    _, _, message, state, _ = app.edit_photo(None, "tree", "add", 0.5, state, no_progress)
    assert message.startswith("Nothing painted") and not state["session"].operations


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An empty model cache on a machine that cannot download (every HTTP request goes to a closed port)."""
    monkeypatch.setenv("GANPAINT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setattr(app, "_editors", {"default": tiny_editor()})
    monkeypatch.setattr(app, "_loading", {})
    return tmp_path / "cache"


def check_missing_files_message(message: str, cache, in_use: str = "default") -> None:
    """The message names every file church needs (generator and encoder) with its URL, and the cache folder."""
    church, message = lookup("church"), message.replace("`", "")      # the page shows Markdown's code as text
    assert church.encoder is not None
    for role, remote in (("generator", church.generator), ("encoder", church.encoder)):
        assert f"{role}: {remote.file} from {remote.url}" in message, (role, message)
    assert str(cache) in message and f"Still using {in_use}" in message


def test_a_model_that_cannot_be_downloaded_names_every_missing_file_and_the_picker_goes_back(offline_cache):
    concept, strength, note, status, picker, in_use = app.choose_model("church", "default", no_progress)
    check_missing_files_message(status, offline_cache)
    assert picker.value == "default" and in_use == "default"


def test_strokes_of_a_large_photo_read_at_mask_size_match_the_full_size_reading(tiny_app):
    """An API client's strokes at the photo's own size give the model the same mask as the page's smaller ones."""
    from ganpaint_core.editing.masks import to_model_mask

    photo = make_photo(1500, 2400)
    session = app.get_editor().fit(photo)
    layer = np.zeros((1500, 2400, 4), np.uint8)
    layer[600:900, 1000:1400] = (*EDIT_COLOR, 255)
    edit, reference = app.stroke_masks_for(session, [layer])
    full = to_model_mask(layer[..., 3] > 0, session.editor.size, session.crop)
    assert not reference.any() and (edit != full).mean() < 0.01 and edit.sum() > 20
    with pytest.raises(ValueError, match="paint on this photo"):
        app.stroke_masks_for(session, [layer[:, :1500]])


def test_fit_cache_is_bounded_by_memory(monkeypatch):
    monkeypatch.setattr(app, "_editors", {app.MODEL: tiny_editor()})
    one = app.session_bytes(app.get_editor().fit(make_photo(600, 800)))
    cache = app.MemoryBoundedCache(megabytes=2.5 * one / 2**20)
    monkeypatch.setattr(app, "CACHE", cache)
    for seed in range(4):
        app.fit_photo(painted(make_photo(600, 800, seed=seed), {}), None, no_progress)
    assert len(cache) == 2 and cache.nbytes() <= cache.budget
    assert one >= 600 * 800 * 3, "the photo at its own size is counted"


@pytest.fixture(scope="module")
def offline_server(served_tiny_demo):
    """``python app.py`` on a tiny model with an empty model cache and no way to download; yields (url, log, cache)."""
    return served_tiny_demo


def test_bad_files_through_the_api_are_sentences_and_one_log_line_each(offline_server, tmp_path):
    from gradio_client import Client, handle_file

    url, log, _ = offline_server
    client = Client(url, verbose=False)
    for name, path in bad_files(tmp_path).items():
        before = log.read_text()
        with pytest.raises(Exception) as raised:
            client.predict({"background": handle_file(str(path)), "layers": [], "composite": None}, api_name="/fit")
        message = str(raised.value)
        assert BAD_FILES[name] in message and not MACHINE_WORDS.search(message), (name, message)
        new = log.read_text()[len(before):]
        assert "Traceback" not in new and new.count("ganpaint.app INFO") == 1, (name, new)


def test_an_api_client_gets_the_missing_files_of_a_model_that_cannot_be_downloaded(offline_server):
    from gradio_client import Client

    url, _, cache = offline_server
    concept, strength, note, status, picker = Client(url, verbose=False).predict("church", api_name="/model")
    assert picker["value"].endswith("tiny"), "the picker goes back to the start model"
    check_missing_files_message(status, cache, picker["value"])


# ---- in the browser --------------------------------------------------------------------------------------------
def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.set_default_timeout(120_000)   # every step waits on a busy 2-core machine
    page.goto(url, wait_until="domcontentloaded", timeout=120_000)
    page.wait_for_selector("#editor", timeout=180_000)
    return page


def status_shows(page, text: str, timeout_ms: int = 120_000) -> str:
    from eval.bench.app_latency import wait_status

    wait_status(page, text, timeout_ms)
    return page.locator("#status").inner_text()


def stroke(page) -> None:
    """A short red stroke across the canvas's centre (each mouse event costs about 250 ms in software WebGL)."""
    page.locator('#editor button[aria-label="Brush"]').click()
    box = page.locator("#editor canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 30, cy)
    page.mouse.down()
    page.mouse.move(cx + 30, cy + 8, steps=2)
    page.mouse.up()


EXAMPLE = 'img[src*="scene_10000003"]'
UNCOVERED = """() => {
    const c = document.querySelector('#editor canvas').getBoundingClientRect();
    const hits = [];
    const points = [];
    for (const f of [0.02, 0.2, 0.35, 0.5, 0.65, 0.8, 0.98]) for (const d of [2, 10, 20]) {
        points.push([c.left + f * c.width, c.top + d], [c.left + d, c.top + f * c.height]);   // top and left bands
    }
    for (const [x, y] of points) {
        const e = document.elementFromPoint(x, y);
        hits.push(e && e.tagName === 'CANVAS' ? 'canvas' : (e ? e.outerHTML.slice(0, 80) : 'nothing'));
    }
    return hits.filter(h => h !== 'canvas');
}"""
CUT_LABELS = """() => [...document.querySelectorAll(
        'label, [data-testid="block-info"], [data-testid="block-label"], button')]
    .filter(e => e.offsetParent !== null && e.innerText.trim() && e.scrollWidth > e.clientWidth + 1)
    .map(e => e.innerText.slice(0, 60))"""


@pytest.mark.browser
def test_browser_first_screen_and_no_traps(offline_server, browser, artifacts):
    """The model line and the examples come first; the canvas is uncovered and its labels fit; strokes clear after
    Apply and with 'Clear strokes'; re-opening a photo keeps its edits only when 'keep my edits' is ticked; Undo/Reset
    say when there is nothing to undo.  Two strokes in all (each costs seconds in software WebGL); undoing a real
    edit is test_app.py::test_undo_reset_and_copy_appearance (the same handler the button calls)."""
    page = open_page(browser, offline_server[0])
    assert "cartoon scene world" in page.locator("#model").inner_text()
    assert "church" in page.locator("#model").inner_text()
    assert page.locator("#examples").bounding_box()["y"] < page.locator("#editor").bounding_box()["y"]
    page.locator(EXAMPLE).first.click()
    status_shows(page, "Ready: fitted")
    page.evaluate("window.scrollTo(0, 0)")
    assert page.evaluate(UNCOVERED) == [], "something covers the top of the photo"
    assert page.evaluate(CUT_LABELS) == [], "a label is cut off"
    stroke(page)
    page.locator("#apply").click()
    status_shows(page, "(1 edit(s))")
    page.screenshot(path=str(artifacts / "app_first_use.png"), full_page=True)
    page.locator("#apply").click()                        # the strokes went with the Apply: nothing is stacked
    status_shows(page, "Nothing painted")
    page.locator("#keep input").check()
    page.locator(EXAMPLE).first.click()                     # the same photo again, the edits kept
    status_shows(page, "Ready, with your 1 edit(s) kept")
    stroke(page)
    page.locator("#clear").click()
    page.locator("#apply").click()
    status_shows(page, "Nothing painted")                   # cleared strokes, photo kept
    page.locator("#keep input").uncheck()
    page.locator(EXAMPLE).first.click()                     # ... and unedited once the box is not ticked
    status_shows(page, "Ready: fitted")
    page.locator("#undo").click()
    status_shows(page, "Nothing to undo")
    page.locator("#reset").click()
    status_shows(page, "Nothing to reset")
    page.close()


@pytest.mark.browser
def test_browser_bad_files_and_a_model_that_cannot_be_downloaded(offline_server, browser, tmp_path):
    """Each bad file is a message in the page within seconds; picking church offline names every missing file,
    and the picker goes back to the model in use."""
    url, _, cache = offline_server
    page = open_page(browser, url)
    for name, path in bad_files(tmp_path).items():
        page.locator("input[type=file]:not(#editor input)").first.set_input_files(str(path))   # the upload button
        toast = page.get_by_text(BAD_FILES[name]).first
        toast.wait_for(timeout=30_000)
        assert not MACHINE_WORDS.search(toast.inner_text()), toast.inner_text()
        page.evaluate("document.querySelectorAll('.toast-close').forEach(b => b.click())")
    start = page.locator("#model input").input_value()
    page.locator("#model input").click()
    page.get_by_role("option", name=re.compile("^church")).click()
    message = status_shows(page, "Missing:")
    check_missing_files_message(message, cache, message.split("Still using ")[1].split(".")[0])
    page.wait_for_function("v => document.querySelector('#model input').value === v", arg=start, timeout=30_000)
    page.close()


@pytest.mark.browser
def test_browser_steps_after_apply_send_strokes_once_and_wait_for_the_result(browser):
    """The page's own steps, run in chromium: strokes sent by Apply are not sent again until the canvas is cleared
    (or the edit failed); the canvas is emptied only once the result's picture is on screen (at most 3 s)."""
    page = browser.new_page()
    page.set_content('<div id="result"></div>')
    value = {"layers": ["strokes"]}
    assert page.evaluate(app.SEND_STROKES_ONCE, value) == value
    assert page.evaluate(app.SEND_STROKES_ONCE, value) is None            # a second Apply before the clear
    page.evaluate(app.STROKES_KEPT)                                         # the edit failed: strokes stay
    assert page.evaluate(app.SEND_STROKES_ONCE, value) == value
    shown = page.evaluate(app.SHOW_PHOTO_SENT_CLEARED, "photo.png")         # cleared: the photo alone
    assert shown == {"background": "photo.png", "layers": [], "composite": None}
    assert page.evaluate(app.SEND_STROKES_ONCE, value) == value
    waited = page.evaluate(f"async () => {{ const t = performance.now(); await ({app.EMPTY_AFTER_RESULT})(null); "
                           "return performance.now() - t; }")
    assert waited >= 2900                                                   # no result picture: waits it out
    pixel = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0g"
             "AAAABJRU5ErkJggg==")
    page.set_content(f'<div id="result"><img src="{pixel}"></div>')
    page.wait_for_function("document.querySelector('#result img').complete")
    waited = page.evaluate(f"async () => {{ const t = performance.now(); const out = await "
                           f"({app.EMPTY_AFTER_RESULT})(null); return [out, performance.now() - t]; }}")
    assert waited[0] is None and waited[1] < 1500                           # the result is shown: at once
    page.close()
