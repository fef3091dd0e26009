"""The Gradio demo: handlers called directly, and the app served in a subprocess driven by gradio_client."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_photo
from editor_support import app_on_tiny_editor
from PIL import Image

from eval.bench.app_latency import paint_example
from ganpaint_core.editing.masks import dilate
from ganpaint_core.editing.strokes import EDIT_COLOR, REFERENCE_COLOR

ROOT = Path(__file__).resolve().parent.parent


def no_progress(*args, **kwargs):
    return None


def read(path) -> np.ndarray:
    """A picture file the demo wrote (results, previews), as RGB uint8."""
    return np.asarray(Image.open(path).convert("RGB"))


def painted(photo: np.ndarray, boxes: dict) -> dict:
    """An ImageEditor value: the photo as RGBA background and one stroke layer with coloured boxes."""
    h, w = photo.shape[:2]
    layer = np.zeros((h, w, 4), np.uint8)
    for color, (top, left, side) in boxes.items():
        layer[top:top + side, left:left + side, :3] = color
        layer[top:top + side, left:left + side, 3] = 255
    background = np.dstack([photo, np.full((h, w), 255, np.uint8)])
    return {"background": background, "layers": [layer], "composite": None}


def box_mask(shape, top, left, side):
    mask = np.zeros(shape, bool)
    mask[top:top + side, left:left + side] = True
    return mask


@pytest.fixture
def tiny_app(monkeypatch):
    return app_on_tiny_editor(monkeypatch, 2)


def test_fit_then_edit_changes_only_the_painted_region(tiny_app):
    photo = make_photo(96, 128)
    value = painted(photo, {EDIT_COLOR: (40, 50, 24)})
    result, (before, after), message, state, _ = tiny_app.fit_photo(value, None, no_progress)
    assert "fitted" in message and np.array_equal(read(result), photo)       # no edit yet: the photo itself
    result, (before, after), message, state, download = tiny_app.edit_photo(value, "tree", "add", 0.9, state,
                                                                            no_progress)
    result, before = read(result), read(before)
    inside = box_mask(photo.shape[:2], 40, 50, 24)
    outside = ~dilate(inside, 8)
    assert result.shape == photo.shape and np.array_equal(before, photo)
    assert np.abs(result.astype(int) - photo)[inside].mean() > 3, "the painted region must change"
    assert np.array_equal(result[outside], photo[outside]), "nothing outside the painted region may change"
    path = download.value["path"] if isinstance(download.value, dict) else download.value
    assert np.array_equal(read(path), result)


def test_undo_reset_and_copy_appearance(tiny_app):
    photo = make_photo(96, 96)
    value = painted(photo, {EDIT_COLOR: (30, 30, 20), REFERENCE_COLOR: (60, 10, 20)})
    _, _, _, state, _ = tiny_app.fit_photo(value, None, no_progress)
    first, *_ = tiny_app.edit_photo(value, "tree", "remove", 1.0, state, no_progress)
    second, *_ = tiny_app.edit_photo(value, "dome", "add", 1.0, state, no_progress)
    undone, _, message, _, _ = tiny_app.undo_edit(value, state, no_progress)
    assert np.array_equal(read(undone), read(first)) and not np.array_equal(read(second), read(first))
    reset, *_ = tiny_app.reset_edits(value, state, no_progress)
    assert np.array_equal(read(reset), photo)
    copied, _, message, _, _ = tiny_app.edit_photo(value, "tree", "copy appearance", 0.5, state, no_progress)
    copied = read(copied)
    target = box_mask(photo.shape[:2], 30, 30, 20)
    assert "appearance" in message
    assert np.abs(copied.astype(int) - photo)[target].mean() > 1
    assert np.array_equal(copied[~dilate(target, 8)], photo[~dilate(target, 8)])


def test_users_do_not_share_edits(tiny_app):
    photo = make_photo(64, 64)
    value = painted(photo, {EDIT_COLOR: (20, 20, 16)})
    _, _, _, state_a, _ = tiny_app.fit_photo(value, None, no_progress)
    _, _, _, state_b, _ = tiny_app.fit_photo(value, None, no_progress)
    assert len(tiny_app.CACHE) == 1, "the same photo is fitted once"
    edited_a, *_ = tiny_app.edit_photo(value, "tree", "add", 1.0, state_a, no_progress)
    seen_by_b, *_ = tiny_app.undo_edit(value, state_b, no_progress)
    assert not np.array_equal(read(edited_a), photo) and np.array_equal(read(seen_by_b), photo)


def test_cache_is_bounded(tiny_app):
    for seed in range(4):
        value = painted(make_photo(64, 64, seed=seed), {})
        tiny_app.fit_photo(value, None, no_progress)
    assert len(tiny_app.CACHE) == 2


@pytest.mark.parametrize("value, concept, action, message", [
    (None, "tree", "add", "Upload a photo"),
    ("photo-no-strokes", "tree", "add", None),
    ("photo", "unicorn", "add", "(?i)unknown concept"),
    ("photo", "tree", "explode", "Unknown action"),
])
def test_bad_input_is_a_readable_message(tiny_app, value, concept, action, message):
    import gradio as gr

    photo = make_photo(64, 64)
    if value == "photo":
        value = painted(photo, {EDIT_COLOR: (10, 10, 10)})
    elif value == "photo-no-strokes":
        value = painted(photo, {})
    if message is None:  # an empty mask is a warning, and the photo comes back unchanged
        result, _, text, _, _ = tiny_app.edit_photo(value, concept, action, 0.5, None, no_progress)
        assert np.array_equal(read(result), photo) and "paint" in text.lower()
        return
    with pytest.raises(gr.Error, match=message):
        tiny_app.edit_photo(value, concept, action, 0.5, None, no_progress)


def test_non_image_upload_is_a_readable_message(tiny_app):
    import gradio as gr

    with pytest.raises(gr.Error):
        tiny_app.fit_photo({"background": np.zeros((10, 10, 4), np.uint8), "layers": []}, None, no_progress)


@pytest.fixture(scope="module")
def served_app(served_tiny_demo):
    """``python app.py`` on a tiny model folder, on a free 127.0.0.1 port (one for the session: conftest.py)."""
    return served_tiny_demo[0]


def test_served_app_edits_through_gradio_client(served_app, tmp_path):
    from gradio_client import Client, handle_file

    photo = make_photo(80, 80)
    value = painted(photo, {EDIT_COLOR: (30, 30, 20)})
    Image.fromarray(value["background"]).save(tmp_path / "photo.png")
    Image.fromarray(value["layers"][0]).save(tmp_path / "strokes.png")
    client = Client(served_app, verbose=False)
    editor_value = {"background": handle_file(str(tmp_path / "photo.png")),
                    "layers": [handle_file(str(tmp_path / "strokes.png"))], "composite": None}
    fitted = client.predict(editor_value, api_name="/fit")
    assert "fitted" in fitted[2]
    result = client.predict(editor_value, "tree", "add", 0.9, api_name="/edit")
    edited = np.asarray(Image.open(result[0]).convert("RGB"))
    inside = box_mask((80, 80), 30, 30, 20)
    assert np.abs(edited.astype(int) - photo)[inside].mean() > 3
    assert np.array_equal(edited[~dilate(inside, 8)], photo[~dilate(inside, 8)])


@pytest.mark.browser
def test_browser_paint_and_edit(served_app, browser, artifacts):
    """Open the page, load an example, paint a stroke, choose a concept, Apply, and screenshot the result."""
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.set_default_timeout(120_000)   # every step waits on a busy 2-core machine, not just the first render
    page.goto(served_app, wait_until="domcontentloaded", timeout=120_000)
    page.wait_for_selector("#editor", timeout=180_000)  # a busy 2-core machine renders Gradio's bundle slowly
    paint_example(page, "scene_10000003", "dome")
    uploads = []
    page.on("request", lambda r: uploads.append(r.url) if "/gradio_api/upload" in r.url else None)
    page.locator("#apply").click()
    page.wait_for_function("document.querySelector('#status').innerText.includes('Add dome: done')",
                           timeout=120_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts / "app_edit.png"), full_page=True)
    assert page.locator("#result img").count() == 1
    # one export of the canvas per click (background, stroke layer, composite), not one per status message
    assert len(uploads) <= 3, f"{len(uploads)} uploads for one Apply"
    page.close()
