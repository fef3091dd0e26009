"""The machine judge end to end: build a study, answer it with `simulate --judge realism`, `analyze` it."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ganpaint_core.commands.cli import main
from human_study.__main__ import COMMANDS
from human_study.build import build
from human_study.images import broken_composite
from human_study.pairs import PAIR_COLUMNS

TASKS = 24


def _pairs(folder, real: np.ndarray):
    """ours = a real scene; 'worse' = the scene with a broken square; 'same' = ours, byte for byte."""
    rng = np.random.default_rng(0)
    mask = np.zeros(real.shape[1:3], bool)
    mask[40:72, 40:72] = True
    rows = []
    for t, scene in enumerate(real):
        tid = f"task{t:03d}"
        images = folder / "images" / tid
        images.mkdir(parents=True)
        Image.fromarray(scene).save(images / "original.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(images / "mask.png")
        Image.fromarray(scene).save(images / "ours.png")
        Image.fromarray(scene).save(images / "same.png")
        Image.fromarray(broken_composite(scene, mask, rng, "block")).save(images / "worse.png")
        for other in ("worse", "same"):
            rows.append({"pair_id": f"{tid}__ours_vs_{other}", "task_id": tid, "action": "add", "concept": "tree",
                         "method_a": "ours", "method_b": other, "image_a": f"images/{tid}/ours.png",
                         "image_b": f"images/{tid}/{other}.png", "original": f"images/{tid}/original.png",
                         "mask": f"images/{tid}/mask.png"})
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=PAIR_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return folder


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from ganpaint_core.scenes import HELDOUT_SEED_START, render, sample_scene

    root = tmp_path_factory.mktemp("judge")
    real = np.stack([render(sample_scene(HELDOUT_SEED_START + 7_000 + i), 128)[0] for i in range(TASKS)])
    build(_pairs(root / "pairs", real), root / "study", trials_per_session=24, practice=2, seed=3,
          display_px=0)   # the pictures' own pixels, as judge_pairs builds its studies
    return root


def test_judge_prefers_the_planted_better_method_and_is_indifferent_to_identical_pairs(study, capsys):
    answers, report = study / "answers.csv", study / "report"
    assert main("python -m human_study", "", COMMANDS, ["simulate", str(study / "study"), "--judge", "realism",
                                                         "--workers", "6", "--noise", "0.3", "--references", "48",
                                                         "--out", str(answers)]) == 0
    frame = pd.read_csv(answers)
    sizes = pd.read_csv(study / "study" / "manifest.csv").groupby("session").size()
    per_worker = frame.groupby("worker_id").agg(session=("session", "first"), n=("trial_id", "nunique"))
    assert set(frame["source"]) == {"machine-judge"} and len(per_worker) == 6
    assert (per_worker["n"].to_numpy() == sizes.loc[per_worker["session"]].to_numpy()).all()
    assert main("python -m human_study", "", COMMANDS, ["analyze", str(answers), "--out", str(report),
                                                         "--bootstrap", "200"]) == 0
    table = pd.read_csv(report / "baselines.csv").query("exclusion == 'none'").set_index("baseline")
    assert table.loc["worse", "share"] > 0.95 and table.loc["worse", "wilson_low"] > 0.85
    same = table.loc["same"]
    assert same["wilson_low"] < 0.5 < same["wilson_high"] and abs(same["share"] - 0.5) < 0.15
    position = pd.read_csv(report / "position.csv").query("exclusion == 'none'")
    assert position["wilson_low"].iloc[0] < 0.5 < position["wilson_high"].iloc[0]   # no left/right preference


def test_bad_noise_is_a_clear_error(study, capsys, monkeypatch):
    def no_model(*_, **__):
        raise AssertionError("the arguments are checked before any model is loaded")

    monkeypatch.setattr("ganpaint_core.models.load_model", no_model)
    code = main("python -m human_study", "", COMMANDS, ["simulate", str(study / "study"), "--judge", "realism",
                                                         "--workers", "1", "--noise", "-1", "--out",
                                                         str(study / "x.csv")])
    assert code != 0 and "--noise must not be negative" in capsys.readouterr().err
