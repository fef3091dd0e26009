"""``python -m eval gallery`` on a tiny configuration: one scene task, one real photo, a cheap fit."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.commands.cli import main

CHEAP_FIT = "z_steps=2,r_steps=2,adapt_steps=3"


def _gallery(*argv):
    from eval.__main__ import COMMANDS

    return main("python -m eval", "", COMMANDS, ["gallery", "--fit", CHEAP_FIT, *argv])


def test_the_gallery_writes_small_deterministic_pictures_and_names_its_sources(tmp_path):
    from eval.studies.gallery import LABEL, SCENE_COLUMNS, TILE

    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        assert _gallery("--out", str(out), "--scenes", "1", "--photos", "cameraman") == 0
    for name in ("scenes.jpg", "photos.jpg"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), f"{name} differs between two runs"
    assert (first / "README.md").read_text().replace(str(first), "OUT") == \
        (second / "README.md").read_text().replace(str(second), "OUT")
    scenes = Image.open(first / "scenes.jpg")
    assert scenes.format == "JPEG" and scenes.height == LABEL + LABEL + TILE + 2
    assert scenes.width >= len(SCENE_COLUMNS) * TILE
    assert (first / "scenes.jpg").stat().st_size + (first / "photos.jpg").stat().st_size < 150_000
    readme = (first / "README.md").read_text()
    assert "`skimage/data/camera.png` from the `scikit-image` package" in readme
    assert "![scene tasks](scenes.jpg)" in readme and "![real photos](photos.jpg)" in readme
    assert "remove tree — scene seed" in readme


def test_a_real_photo_is_edited_at_its_own_size_and_only_near_the_mask(tmp_path):
    from eval.studies.gallery import REAL_PHOTOS, photo_row
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.editing.masks import dilate
    from ganpaint_core.photo import load_photo

    photo = next(r for r in REAL_PHOTOS if r.name == "rocket")
    editor = Editor.from_pretrained("default")
    (before, after), facts = photo_row(editor, photo, {"z_steps": 2, "r_steps": 2, "adapt_steps": 3})
    original = load_photo(photo.path())
    assert after.shape == original.shape and tuple(facts["size"]) == (original.shape[1], original.shape[0])
    from eval.studies.gallery import painted_mask

    mask = painted_mask(photo, original.shape[1], original.shape[0])
    assert mask.any() and not mask.all()
    changed = np.any(after != original, axis=-1)
    assert changed.any() and not (changed & ~dilate(mask, original.shape[0] // 16)).any()
    assert (before[~dilate(mask, 8)] == original[~dilate(mask, 8)]).all()     # only the outline is drawn


def test_unknown_photos_and_negative_counts_are_clear_errors(tmp_path, capsys):
    assert _gallery("--out", str(tmp_path), "--photos", "mona_lisa") == 2
    assert "unknown photo" in capsys.readouterr().err
    assert _gallery("--out", str(tmp_path), "--scenes", "-1", "--photos", "cameraman") == 2
    assert "--scenes" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["cameraman", "rocket", "eiffel", "lion", "motorcycle"])
def test_every_real_photo_ships_with_an_installed_package(name):
    from eval.studies.gallery import REAL_PHOTOS

    photo = next(r for r in REAL_PHOTOS if r.name == name)
    assert photo.path().is_file()
