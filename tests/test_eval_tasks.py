"""Tasks: CSV round trip, masks through the library's loader at the photo's and the model's size, blob masks,
scene-world pairs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from eval.run import tasks as T
from ganpaint_core.photo import Crop, load_photo


def test_csv_round_trip_resolves_relative_paths(tmp_path, photo_path):
    mask = np.zeros((96, 128), bool)
    mask[10:40, 50:90] = True
    T.save_mask(mask, tmp_path / "m.png")
    (tmp_path / "tasks.csv").write_text("photo,mask,concept,action\nphoto.png,m.png,Tree,Remove\n")
    [task] = T.read_tasks(tmp_path / "tasks.csv")
    assert task.photo == photo_path and task.concept == "tree" and task.action == "remove"
    T.write_tasks([task], tmp_path / "again.csv")
    assert T.read_tasks(tmp_path / "again.csv") == [task]
    # A mask drawn on the original 128x96 photo: the library's crop for the model, the photo's size kept for
    # measuring, cut to the square the model sees.
    crop = Crop.centred(128, 96, 64)
    at_photo, at_model = T.load_masks(task.mask, crop, 64)
    expected = np.asarray(Image.fromarray(mask[:, 16:112].astype(np.uint8) * 255).resize(
        (64, 64), Image.Resampling.BILINEAR)) > 127
    np.testing.assert_array_equal(at_model, expected)
    inside = mask.copy()
    inside[:, :16] = inside[:, 112:] = False
    np.testing.assert_array_equal(at_photo, inside)


def test_a_model_sized_mask_is_scaled_into_the_photos_square(tmp_path):
    small = np.zeros((32, 32), bool)
    small[8:16, 4:12] = True
    T.save_mask(small, tmp_path / "m.png")
    at_photo, at_model = T.load_masks(tmp_path / "m.png", Crop.centred(96, 64, 32), 32)
    np.testing.assert_array_equal(at_model, small)
    assert at_photo.shape == (64, 96) and at_photo.sum() == 4 * small.sum()
    assert at_photo[16:32, 24:40].all() and not at_photo[:, :16].any()
    T.save_mask(np.ones((50, 50), bool), tmp_path / "odd.png")
    with pytest.raises(ValueError, match="it must be 32x32 or the photo's 96x64"):
        T.load_masks(tmp_path / "odd.png", Crop.centred(96, 64, 32), 32)


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


def test_listing_photos(tmp_path, photo_path):
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "notes.txt").write_text("not a photo")
    assert [p.name for p in T.list_photos(tmp_path)] == ["bad.jpg", "photo.png"]


def test_blob_tasks_are_deterministic_and_sized(tmp_path, photo_path):
    photos = [T.Path(photo_path)]
    a = T.blob_tasks(photos, 64, ["tree", "dome"], tmp_path / "a", seed=3)
    b = T.blob_tasks(photos, 64, ["tree", "dome"], tmp_path / "b", seed=3)
    assert [(t.concept, t.action) for t in a] == [(t.concept, t.action) for t in b]
    crop = Crop.centred(*T.photo_size(photo_path), 64)
    (pa, ma), (_, mb) = T.load_masks(a[0].mask, crop, 64), T.load_masks(b[0].mask, crop, 64)
    np.testing.assert_array_equal(ma, mb)
    assert 0.03 < ma.mean() < 0.13 and not ma[0].any() and not ma[:, 0].any()
    assert pa.shape == (crop.height, crop.width)      # drawn at the photo's size, inside the model's square
    assert not pa[:, :crop.left].any() and not pa[:, crop.left + crop.side:].any()


def test_scene_tasks_carry_ground_truth(tmp_path):
    tasks = T.scene_tasks(3, 64, tmp_path, seed=1, concepts=["tree", "dome", "door"])
    assert [t.task_id.split("_", 1)[1] for t in tasks] == ["remove_tree", "add_dome", "remove_door"]
    for t in tasks:
        before, after = load_photo(t.photo), load_photo(t.target)
        mask = T.load_masks(t.mask, Crop.centred(64, 64, 64), 64)[0]
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
