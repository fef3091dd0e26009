"""Reports: bootstrap intervals, best-per-column marking, strips and the human-study pairs layout."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from eval.run import report
from human_study.pairs import PAIR_COLUMNS


def test_bootstrap_ci_brackets_the_mean_and_drops_nans():
    mean, lo, hi = report.bootstrap_ci([1.0, 2.0, 3.0, 4.0, float("nan")], seed=1)
    assert mean == pytest.approx(2.5) and lo < mean < hi and 1 <= lo and hi <= 4
    assert report.bootstrap_ci([5.0, 5.0]) == (5.0, 5.0, 5.0)
    assert all(np.isnan(report.bootstrap_ci([float("nan")])))


def _edits():
    rows = []
    for i in range(4):
        for method, psnr_out, l1_out in (("ours", 30 + i, 0.01), ("copy_paste", 25 + i, 0.02), ("plain_g", 20, 0.01)):
            rows.append({"task_id": f"t{i}", "action": "remove", "concept": "tree", "method": method,
                         "psnr_out": psnr_out, "l1_out": l1_out, "lpips_out": float("nan")})
    return pd.DataFrame(rows)


def test_ci_table_marks_the_best_per_column_by_direction_and_ties():
    table = report.ci_table(_edits(), "method", ["ours", "copy_paste", "plain_g"], report.EDIT_COLUMNS)
    lines = table.splitlines()
    assert "PSNR out ↑" in lines[0] and "L1 out ↓" in lines[0]
    ours, paste, plain = lines[2], lines[3], lines[4]
    assert "**31.50" in ours and "**" not in paste
    assert ours.count("**") == 4 and plain.count("**") == 2      # L1 out: ours and plain G tie at 0.010
    assert "n/a" in ours                                          # LPIPS: all NaN


def test_paired_differences_are_per_task():
    table = report.paired_differences(_edits(), "psnr_out", "ours", ["ours", "copy_paste", "plain_g"])
    assert "| copy_paste | 4 | 5.000 [5.000, 5.000] | 100% |" in table


def test_pairs_manifest_layout(tmp_path):
    edits = _edits()
    for i in range(4):
        folder = tmp_path / "pairs" / "images" / f"t{i}"
        folder.mkdir(parents=True)
        for name in ("ours", "copy_paste", "plain_g", "original", "mask"):
            Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(folder / f"{name}.png")
    (tmp_path / "pairs" / "images" / "t3" / "plain_g.png").unlink()
    n = report.write_pairs_manifest(tmp_path, edits, ["ours", "copy_paste", "plain_g"])
    with open(tmp_path / "pairs" / "manifest.csv") as f:
        rows = list(csv.DictReader(f))
    assert n == len(rows) == 7
    assert tuple(rows[0]) == PAIR_COLUMNS         # the study's input format, as human_study defines it
    assert {r["method_a"] for r in rows} == {"ours"}
    assert rows[0]["image_b"] == "images/t0/copy_paste.png" and rows[0]["original"] == "images/t0/original.png"
    for r in rows:
        for key in ("image_a", "image_b", "original", "mask"):
            assert (tmp_path / "pairs" / r[key]).is_file()


def test_strip_has_one_labelled_tile_per_picture_at_its_own_aspect():
    pictures = [(f"p{i}", np.full((32, 32, 3), 40 * i, np.uint8)) for i in range(3)]
    row = report.strip(pictures, height=64)
    assert row.shape == (64 + 14, 3 * 66, 3)
    assert (row[20, 66 + 10] == 40).all()
    wide = report.strip([("photo", np.full((32, 48, 3), 90, np.uint8)), ("mask", np.zeros((32, 48, 3), np.uint8))],
                        height=64)
    assert wide.shape == (64 + 14, 2 * (96 + 2), 3) and (wide[20:, :96] == 90).all()


def test_summary_and_plots_are_written(tmp_path):
    edits = _edits()
    recon = pd.DataFrame({"photo_id": ["a", "a"], "stage": ["plain", "adapted"], "method": ["plain_g", "ours"],
                          "psnr": [20.0, 30.0], "ssim": [0.5, 0.9], "l1": [0.1, 0.02], "lpips": [np.nan, np.nan]})
    order = ["ours", "copy_paste", "plain_g"]
    edits["seam"] = edits["method"].map({"ours": 2.0, "copy_paste": 5.0, "plain_g": 1.0})
    edits["realism"] = edits["method"].map({"ours": 0.5, "copy_paste": 0.2, "plain_g": -1.0})
    kid = pd.DataFrame({"method": ["ours", "copy_paste", "plain_g", "photo"], "n": 4,
                        "kid": [0.002, 0.001, 0.009, 0.0005], "kid_std": 0.001})
    path = report.write_summary(tmp_path, edits, recon, order, ["plain", "adapted"], {}, ["a note"],
                                [{"item": "bad.jpg", "error": "not a readable image"}],
                                recon_stages=("adapted", "plain"), kid=kid)
    text = path.read_text()
    assert "Realism score of ours: 0.5 (higher is better); better than copy_paste (0.2), plain_g (-1)" in text
    assert "Seam score of ours: 2 (lower is better); better than copy_paste (5); not better than plain_g (1)" in text
    assert "KID x 1000 against held-out real scenes: ours 2.00 (the unedited photos 0.50); lower than ours: " \
           "copy_paste (1.00)" in text and "| unedited photos (reference) | 4 | 0.50 | 1.00 |" in text
    assert "adapted 30.00 dB vs plain 20.00 dB (+10.00 dB)" in text and "## Sanity" in text
    assert "a note" in text and "bad.jpg" in text and "## Reconstruction" in text
    report.write_plots(tmp_path, edits, recon, order, ["plain", "adapted"], {})
    assert (tmp_path / "plots" / "edits.png").is_file() and (tmp_path / "plots" / "reconstruction.png").is_file()
