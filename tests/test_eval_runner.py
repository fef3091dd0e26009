"""The ``run`` command end to end on a small real model: outputs, resuming, and a corrupt photo skipped."""

from __future__ import annotations

import csv
import importlib.util

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.commands.cli import main

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ganpaint_core.editing.editor") is None,
                                reason="ganpaint_core/editing/editor.py is not written yet")
FIT = "z_steps=2,r_steps=2,adapt_steps=3,refine_steps=2"     # tiny: the plumbing is under test, not the quality


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A random-weight 32 px model folder (generator, encoder, segmenter, dissection)."""
    from eval.bench.editor import write_random_model

    return str(write_random_model(tmp_path_factory.mktemp("model") / "tiny", sizes=[32, 32, 32, 16, 16],
                                  dissection_samples=4))


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _run(model, *argv):
    from eval.__main__ import COMMANDS

    return main("python -m eval", "", COMMANDS, ["run", "--model", model, "--fit", FIT, *argv])


def test_scene_world_run_writes_every_output_and_resumes(tmp_path, model, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))     # no LPIPS backbone here: its columns read n/a
    out = tmp_path / "out"
    methods = ["ours", "ours_keep", "ours_refine", "plain_g", "no_reg", "copy_paste", "poisson"]
    assert _run(model, "--photos", "scenes:2", "--out", str(out), "--methods", ",".join(methods), "--workers", "1") == 0
    edits = _rows(out / "edits.csv")
    assert [r["method"] for r in edits] == methods * 2
    assert all(r["reference"] == "truth" and r["label_acc"] != "n/a" and r["lpips"] == "n/a" for r in edits)
    for task in {r["task_id"] for r in edits}:    # the ground truth's own success: one value per task, in [0, 1]
        truth = {float(r["truth_success"]) for r in edits if r["task_id"] == task}
        assert len(truth) == 1 and 0 <= truth.pop() <= 1
    recon = _rows(out / "reconstruction.csv")
    assert [r["stage"] for r in recon[:4]] == ["encoder z", "optimised z", "layer-wise r (plain G)",
                                                "adapted G' (ours)"]
    assert {r["method"] for r in recon} == {"ours", "no_reg"} and len(recon) == 2 * 5
    manifest = _rows(out / "pairs" / "manifest.csv")
    assert len(manifest) == 2 * 6 and {r["method_a"] for r in manifest} == {"ours"}
    for r in manifest:
        assert (out / "pairs" / r["image_b"]).is_file() and (out / "pairs" / r["mask"]).is_file()
    summary = (out / "summary.md").read_text()
    assert "## Edits" in summary and "## Reconstruction" in summary and "LPIPS" in summary
    assert "against the ground-truth edits' own on the same masks" in summary
    assert len(list((out / "strips").glob("scene*.png"))) == 2 and (out / "plots" / "edits.png").is_file()
    before = (out / "edits.csv").read_text()
    assert _run(model, "--photos", "scenes:2", "--out", str(out), "--methods", ",".join(methods)) == 0  # 2 workers
    assert (out / "edits.csv").read_text() == before           # nothing redone, nothing duplicated


def test_a_corrupt_photo_is_reported_and_skipped(tmp_path, model, without_plots):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (80, 100, 3), dtype=np.uint8)).save(photos / "good.png")
    (photos / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "out"
    # one process: a photo's failure is caught in evaluate_photo wherever it runs (the pool and Dask run the same
    # function: test_eval_cluster.py, where Dask also meets a corrupt photo)
    assert _run(model, "--photos", str(photos), "--out", str(out), "--methods", "ours,feather", "--workers", "1") == 0
    edits = _rows(out / "edits.csv")
    assert {r["photo_id"] for r in edits} == {"good"} and len(edits) == 2
    assert all(r["reference"] == "photo" and r["label_acc"] == "n/a" for r in edits)
    [failure] = _rows(out / "failures.csv")
    assert "corrupt.jpg" in failure["item"] and "not a readable image" in failure["error"]
    assert "corrupt.jpg" in (out / "summary.md").read_text()


def test_bad_arguments_are_clear_errors(tmp_path, capsys, model):
    assert _run(model, "--photos", str(tmp_path / "missing"), "--out", str(tmp_path / "o")) == 2
    assert "does not exist" in capsys.readouterr().err
    assert _run(model, "--photos", "scenes:2", "--out", str(tmp_path / "o"), "--methods", "magic") == 2
    assert "unknown method" in capsys.readouterr().err
    assert _run(model, "--photos", "scenes:2", "--out", str(tmp_path / "o"), "--fit", "speed=9") == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    assert _run(model, "--photos", "scenes:2", "--out", str(tmp_path / "o"), "--references", "4") == 2
    assert "--references must be at least 8" in capsys.readouterr().err


def test_photos_of_your_own_with_a_tasks_csv(tmp_path, capsys, model, without_plots):
    from ganpaint_core.editing.editor import Editor

    concept = Editor.from_pretrained(model).concepts[0]
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)).save(photos / "mine.png")
    mask = np.zeros((60, 90), np.uint8)
    mask[20:40, 30:60] = 255                               # drawn on the photo at its own size
    Image.fromarray(mask).save(photos / "mine_mask.png")
    (photos / "tasks.csv").write_text(f"photo,mask,concept,action\nmine.png,mine_mask.png,{concept},add\n")
    out = tmp_path / "out"
    argv = ["--photos", str(photos), "--tasks", str(photos / "tasks.csv"), "--out", str(out), "--workers", "1"]
    methods = ["ours", "ours_gen", "plain_g", "copy_paste", "feather", "poisson", "pyramid"]
    assert _run(model, *argv, "--methods", ",".join(methods)) == 0
    edits = _rows(out / "edits.csv")
    assert [r["method"] for r in edits] == methods
    assert all(r["seam"] != "n/a" and r["psnr_truth_in"] == "n/a" for r in edits)
    assert {(r["photo_size"], r["model_size"]) for r in edits} == {("90x60", "32x32")}
    assert len(_rows(out / "pairs" / "manifest.csv")) == len(methods) - 1
    summary = (out / "summary.md").read_text()
    assert "no discriminator" in summary                  # the random model has none: no realism
    assert "90x60 (1 task)" in summary and "computed there (`photo_size` column)" in summary
    # Every picture is at the photo's own size; beyond the model's square (the centred 60x60) and beyond the
    # shared region every method leaves the photo as it was.
    images = out / "pairs" / "images" / edits[0]["task_id"]
    photo = np.asarray(Image.open(photos / "mine.png").convert("RGB"))
    np.testing.assert_array_equal(np.asarray(Image.open(images / "original.png")), photo)
    pictures = {m: np.asarray(Image.open(images / f"{m}.png")) for m in methods}
    for m, img in pictures.items():
        assert img.shape == (60, 90, 3), m
        np.testing.assert_array_equal(img[:, :15], photo[:, :15], err_msg=m)
        np.testing.assert_array_equal(img[:, 75:], photo[:, 75:], err_msg=m)
    # Ours is the library's own path: Session.to_photo of the same fit and edit, at the photo's size.
    import torch

    from eval.run.runner import parse_fit_options
    from eval.run.worker import seed_everything

    editor = Editor.from_pretrained(model)
    with torch.random.fork_rng():
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            seed_everything(0, "mine")
            session = editor.fit(photos / "mine.png", **parse_fit_options(FIT))
            session.edit(mask > 0, concept, "add")
            np.testing.assert_array_equal(pictures["ours"], session.to_photo())
        finally:
            torch.set_num_threads(before)
    changed = (pictures["copy_paste"] != photo).any(-1)
    assert changed.any() and not changed[:10].any()      # the mask's rows 20..40, grown by the paste-back only
    (photos / "tasks.csv").write_text("photo,mask,concept,action\nmine.png,gone.png,tree,add\n")
    assert _run(model, *argv[:-2], "--out", str(tmp_path / "o2")) == 2
    assert "gone.png does not exist" in capsys.readouterr().err


def test_a_resumed_run_keeps_the_columns_its_csv_began_with(tmp_path):
    from eval.run.runner import _append, _read_csv

    path = tmp_path / "edits.csv"
    path.write_text("task_id,method,psnr\n1,ours,30.0\n")          # written by an older version
    _append(path, ("task_id", "method", "psnr", "truth_success"),
            [{"task_id": 2, "method": "ours", "psnr": 31.0, "truth_success": 0.5}])
    frame = _read_csv(path, ())
    assert list(frame.columns) == ["task_id", "method", "psnr"] and frame["psnr"].tolist() == [30.0, 31.0]
