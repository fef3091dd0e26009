"""The demo's model picker at handler level: per-model editors, concepts and sessions; church from a local cache."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import make_photo
from editor_support import FAST, tiny_editor
from paper_support import needs_reference
from test_app import no_progress, painted, read

import app
from ganpaint_core.editing.editor import Editor, FitOptions
from ganpaint_core.editing.session_cache import SessionCache
from ganpaint_core.editing.strokes import EDIT_COLOR
from ganpaint_core.models.registry import lookup


@pytest.fixture
def two_models(monkeypatch):
    """Models "scenes" (the start model) and "other", loaded through Editor.from_pretrained, which counts loads."""
    loads = []

    def from_pretrained(name, options=None, device="cpu", channels_last=None):
        loads.append(name)
        return tiny_editor(seed={"scenes": 0, "other": 1}[name])

    monkeypatch.setattr(Editor, "from_pretrained", staticmethod(from_pretrained))
    monkeypatch.setattr(app, "MODEL", "scenes")
    monkeypatch.setattr(app, "_editors", {})
    monkeypatch.setattr(app, "_loading", {})
    monkeypatch.setattr(app, "CACHE", SessionCache(4))
    return loads


def test_each_model_is_loaded_once_even_when_users_pick_it_at_once(two_models):
    got = []
    threads = [threading.Thread(target=lambda: got.append(app.get_editor("other"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert two_models == ["other"] and all(e is got[0] for e in got)
    assert app.get_editor() is not got[0] and two_models == ["other", "scenes"]


def test_a_session_belongs_to_the_model_it_was_fitted_with(two_models):
    photo = make_photo(64, 64)
    value = painted(photo, {EDIT_COLOR: (20, 20, 16)})
    _, _, _, state, _ = app.fit_photo(value, None, no_progress)
    assert state["model"] == "scenes" and state["session"].editor is app.get_editor("scenes")
    edited, *_ = app.edit_photo(value, "tree", "add", 1.0, state, no_progress)
    edited = read(edited)
    # picking another model: the next edit fits the photo again with it, in a session of its own
    _, _, _, other, _ = app.edit_photo(value, "tree", "add", 1.0, state, no_progress, "other")
    assert other["model"] == "other" and other["session"].editor is app.get_editor("other")
    assert other["session"] is not state["session"] and len(other["session"].operations) == 1
    assert len(app.CACHE) == 2, "the same photo is cached once per model"
    # undo acts on the user's session of this photo whatever the picker says
    undone, _, message, kept, _ = app.undo_edit(value, other, no_progress, "scenes")
    assert kept["session"] is other["session"] and np.array_equal(read(undone), photo) and "0 edit" in message
    # the first session still holds its own edit
    again, *_ = app.reset_edits(value, state, no_progress, "scenes")
    assert np.array_equal(read(again), photo) and not np.array_equal(edited, photo)


def test_picking_a_model_sets_its_concepts_and_strength(two_models):
    dropdown, slider, note, status, picker, in_use = app.choose_model("other", "scenes", no_progress)
    editor = app.get_editor("other")
    assert dropdown.choices == [(c, c) for c in editor.concepts] and dropdown.value == "tree"
    assert slider.value == app.default_strength(editor.dissection)
    assert "`other`" in status and "tree" in note and in_use == "other"


def test_a_concept_the_sessions_model_lacks_is_a_readable_message(two_models, monkeypatch):
    import gradio as gr

    value = painted(make_photo(64, 64), {EDIT_COLOR: (20, 20, 16)})
    editor = app.get_editor("other")
    monkeypatch.setattr(editor, "dissection", None)       # a registered model without unit lists
    dropdown, *_ = app.choose_model("other", "scenes", no_progress)
    assert dropdown.choices == [] and dropdown.value is None
    with pytest.raises(gr.Error, match="no unit lists|cannot"):
        app.edit_photo(value, None, "add", 0.5, None, no_progress, "other")


def test_picker_offers_church_and_cached_registered_models(tmp_path, monkeypatch):
    monkeypatch.setenv("GANPAINT_CACHE", str(tmp_path))
    monkeypatch.setattr(app, "MODEL", "default")
    names = [name for _, name in app.model_choices()]
    assert names[0] == "default" and "church" in names and "bedroom" not in names
    for remote in lookup("bedroom").files:           # files in the cache: offered too
        (tmp_path / remote.file).write_bytes(b"")
    names = [name for _, name in app.model_choices()]
    assert "bedroom" in names
    labels = dict((name, label) for label, name in app.model_choices())
    assert "downloads once" in labels["church"] and "downloads once" not in labels["bedroom"]


@needs_reference
def test_church_from_the_cache_fits_and_paints_with_its_own_concepts(church_cache, monkeypatch):
    """GANPAINT_MODEL=church: the reference-rule church weights in a temporary GANPAINT_CACHE (conftest.py),
    nothing downloaded."""
    monkeypatch.setenv("GANPAINT_CACHE", str(church_cache))
    monkeypatch.setattr(app, "MODEL", "default")
    monkeypatch.setattr(app, "_editors", {})
    monkeypatch.setattr(app, "_loading", {})
    monkeypatch.setattr(app, "CACHE", SessionCache(2))
    dropdown, slider, note, *_ = app.choose_model("church", "default", no_progress)
    church = app.get_editor("church")
    assert church.size == 256 and church.encoder is not None
    assert [c for c, _ in dropdown.choices][:7] == ["tree", "grass", "door", "sky", "cloud", "brick", "dome"]
    assert slider.value == round(10 / 15, 2)
    church.options = FitOptions(**{**FAST, "adapt_steps": 2})     # the test's own budget: a few steps
    photo = make_photo(96, 128)
    value = painted(photo, {EDIT_COLOR: (30, 50, 30)})
    result, _, message, state, _ = app.edit_photo(value, "dome", "add", 1.0, None, no_progress, "church")
    result = read(result)
    assert state["model"] == "church" and result.shape == photo.shape and "Add dome" in message
    assert not np.array_equal(result, photo)
