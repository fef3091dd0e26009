"""Tasks: CSV round trip, blob masks, scene-world pairs, photo loading with clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from eval.run import tasks as T


def test_csv_round_trip_resolves_relative_paths(tmp_path, photo_path):
    mask = np.zeros((96, 128), bool)
    mask[10:40, 50:90] = True
    T.save_mask(mask, tmp_path / "m.png")
    (tmp_path / "tasks.csv").write_text("photo,mask,concept,action\nphoto.png,m.png,Tree,Remove\n")
    [task] = T.read_tasks(tmp_path / "tasks.csv")
    assert task.photo == photo_path and task.concept == "tree" and task.action == "remove"
    T.write_tasks([task], tmp_path / "again.csv")
    assert T.read_tasks(tmp_path / "again.csv") == [task]
    # A mask drawn on the original 128x96 photo gets the photo's centre crop.
    loaded = T.load_mask(task.mask, 64, photo_size=T.photo_size(task.photo))
    expected = np.asarray(Image.fromarray(mask[:, 16:112]).resize((64, 64), Image.Resampling.NEAREST))
    np.testing.assert_array_equal(loaded, expected)


@pytest.mark.parametrize(("row", "message"), [
    ("p.png,m.png,tree,paint", "action"),
    ("p.png,m.png,unicorn,add", "unknown concept"),
    ("p.png,m.png,tree,appearance", "reference_mask"),
])
def test_malformed_rows_are_refused(tmp_path, row, message):
    (tmp_path / "t.csv").write_text(f"photo,mask,concept,action\n{row}\n")
    with pytest.raises(ValueError, match=message):
        T.read_tasks(tmp_path / "t.csv")


def test_missing_columns_and_files(tmp_path):
    (tmp_path / "t.csv").write_text("photo,mask\n")
    with pytest.raises(ValueError, match="concept"):
        T.read_tasks(tmp_path / "t.csv")
    with pytest.raises(FileNotFoundError):
        T.read_tasks(tmp_path / "none.csv")
    with pytest.raises(FileNotFoundError):
        T.list_photos(tmp_path / "nowhere")


def test_photo_loading_crops_and_reports_corrupt_files(tmp_path, photo_path):
    img = T.load_photo(photo_path, 32)
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="not a readable image"):
        T.load_photo(tmp_path / "bad.jpg", 32)
    with pytest.raises(ValueError, match="does not exist"):
        T.load_photo(tmp_path / "gone.png", 32)
    assert [p.name for p in T.list_photos(tmp_path)] == ["bad.jpg", "photo.png"]


def test_blob_tasks_are_deterministic_and_sized(tmp_path, photo_path):
    photos = [T.Path(photo_path)]
    a = T.blob_tasks(photos, 64, ["tree", "dome"], tmp_path / "a", seed=3)
    b = T.blob_tasks(photos, 64, ["tree", "dome"], tmp_path / "b", seed=3)
    assert [(t.concept, t.action) for t in a] == [(t.concept, t.action) for t in b]
    ma, mb = T.load_mask(a[0].mask, 64), T.load_mask(b[0].mask, 64)
    np.testing.assert_array_equal(ma, mb)
    assert 0.03 < ma.mean() < 0.13 and not ma[0].any() and not ma[:, 0].any()


def test_scene_tasks_carry_ground_truth(tmp_path):
    tasks = T.scene_tasks(3, 64, tmp_path, seed=1, concepts=["tree", "dome", "door"])
    assert [t.task_id.split("_", 1)[1] for t in tasks] == ["remove_tree", "add_dome", "remove_door"]
    for t in tasks:
        before, after = T.load_photo(t.photo, 64), T.load_photo(t.target, 64)
        mask = T.load_mask(t.mask, 64)
        assert mask.any() and np.array_equal(before[~mask], after[~mask])
        labels = np.asarray(Image.open(t.target_labels))
        assert labels.shape == (64, 64) and labels.max() < 10
    again = T.scene_tasks(3, 64, tmp_path / "again", seed=1, concepts=["tree", "dome", "door"])
    assert [t.task_id for t in again] == [t.task_id for t in tasks]
    with pytest.raises(ValueError, match="none of the scene-world"):
        T.scene_tasks(1, 64, tmp_path, concepts=["sky"])


def test_parse_photos():
    assert T.parse_photos("scenes:5") == ("scenes", 5)
    assert T.parse_photos("/data/x") == ("folder", "/data/x")
    with pytest.raises(ValueError, match="positive"):
        T.parse_photos("scenes:zero")
