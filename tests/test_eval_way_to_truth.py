"""The measures a perfect edit passes: label accuracy inside the mask against the ground truth, the share of the
way from the unedited photo to the truth, the machine judge against the truth, in ``eval run`` and ``add-study``."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from eval.measures.way_to_truth import share_of_way, share_of_way_ci

CHEAP_FIT = "z_steps=2,r_steps=2,adapt_steps=3"


# ---- the share of the way -------------------------------------------------------------------------------

def test_doing_nothing_scores_exactly_zero_and_the_truth_exactly_one():
    rng = np.random.default_rng(0)
    unedited, truth = rng.uniform(0.4, 0.8, 30), rng.uniform(0.9, 1.0, 30)
    assert share_of_way(unedited, unedited, truth) == 0.0
    assert share_of_way(truth, unedited, truth) == 1.0
    assert share_of_way_ci(unedited, unedited, truth) == (0.0, 0.0, 0.0)
    assert share_of_way_ci(truth, unedited, truth) == (1.0, 1.0, 1.0)
    halfway = (unedited + truth) / 2
    assert share_of_way(halfway, unedited, truth) == pytest.approx(0.5)


def test_moving_away_from_the_truth_is_negative_and_the_interval_holds_the_estimate():
    rng = np.random.default_rng(1)
    unedited, truth = rng.uniform(0.5, 0.8, 40), rng.uniform(0.9, 1.0, 40)
    worse = unedited - rng.uniform(0.0, 0.3, 40)
    share, low, high = share_of_way_ci(worse, unedited, truth, seed=3)
    assert share < 0 and low <= share <= high < 0
    assert share == pytest.approx((worse.mean() - unedited.mean()) / (truth.mean() - unedited.mean()))


def test_tasks_missing_a_value_are_dropped_together_and_bad_input_is_refused():
    acc, unedited, truth = [0.9, math.nan, 0.7], [0.5, 0.6, 0.7], [1.0, 1.0, math.nan]
    assert share_of_way(acc, unedited, truth) == pytest.approx(0.8)        # only the first task is complete
    assert math.isnan(share_of_way([0.5], [0.9], [0.8]))                   # the truth no better: undefined
    assert all(math.isnan(v) for v in share_of_way_ci([], [], []))
    with pytest.raises(ValueError, match="one value per task"):
        share_of_way([0.5, 0.6], [0.5], [0.9])


# ---- scored as eval run scores a method, on held-out scene tasks with the default model's segmenter ------

@pytest.fixture(scope="module")
def scene_world(tmp_path_factory):
    """The default editor and one scene task of each kind (seed 5: not the lead's seeds) with their pictures."""
    from eval.run import tasks as T
    from eval.run.worker import load_labels
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.photo import Crop, load_photo

    editor = Editor.from_pretrained("default")
    tasks = T.scene_tasks(len(T.SCENE_KINDS), editor.size, tmp_path_factory.mktemp("scenes"), seed=5,
                          concepts=list(editor.concepts))
    crop = Crop.centred(editor.size, editor.size, editor.size)     # scene photos have the model's size
    loaded = [(t, load_photo(t.photo), load_photo(t.target), load_labels(t.target_labels, crop),
               T.load_masks(t.mask, crop, editor.size)[1], crop) for t in tasks]
    return editor, loaded


def _scored(editor, loaded, edit) -> tuple[list[float], list[float], list[float]]:
    """Label accuracy of ``edit(photo, target, mask)`` scored by ``eval run``'s own ``score``, and the two
    reference pictures' accuracies, per task."""
    from eval.run.methods import shared_region
    from eval.run.worker import reference_label_accuracy, score

    acc, unedited, truth = [], [], []
    for task, photo, target, labels, mask, crop in loaded:
        image = edit(photo, target, mask)
        row = score(editor, lambda *a: math.nan, image, photo, task, (mask, mask), target, labels, 4,
                    shared_region(mask, editor.options), crop)
        refs = reference_label_accuracy(editor, photo, target, labels, mask, crop)
        acc.append(row["label_acc"])
        unedited.append(refs["label_acc_photo"])
        truth.append(refs["label_acc_truth"])
    return acc, unedited, truth


def test_the_ground_truth_edit_scored_as_an_edit_passes(scene_world):
    editor, loaded = scene_world
    acc, unedited, truth = _scored(editor, loaded, lambda photo, target, mask: target)
    assert np.mean(acc) >= 0.95
    assert acc == truth                                 # the reference row is the truth scored as an edit
    assert share_of_way(acc, unedited, truth) == 1.0
    assert np.mean(unedited) < 0.85                     # the measure separates doing nothing from the truth


@pytest.mark.parametrize("fill", ["grey", "noise"])
def test_a_broken_edit_scores_low_and_closes_none_of_the_way(scene_world, fill):
    editor, loaded = scene_world
    rng = np.random.default_rng(0)

    def broken(photo, target, mask):
        out = photo.copy()
        out[mask] = 128 if fill == "grey" else rng.integers(0, 256, (int(mask.sum()), 3))
        return out

    acc, unedited, truth = _scored(editor, loaded, broken)
    assert np.mean(acc) < 0.5 and np.mean(acc) < np.mean(unedited)
    assert share_of_way(acc, unedited, truth) < 0
    nothing, _, _ = _scored(editor, loaded, lambda photo, target, mask: photo.copy())
    assert share_of_way(nothing, unedited, truth) == 0.0      # doing nothing is exactly the unedited row


# ---- eval run: the headline lines, the reference rows and the machine judge against the truth -----------

def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_eval_run_summary_has_the_label_headline_and_the_ground_truth_judge_row(tmp_path, without_plots):
    from eval.__main__ import COMMANDS
    from ganpaint_core.commands.cli import main

    out = tmp_path / "run"
    assert main("python -m eval", "", COMMANDS, ["run", "--photos", "scenes:3", "--seed", "3", "--out", str(out),
                                                 "--methods", "ours,poisson", "--workers", "1",
                                                 "--fit", CHEAP_FIT, "--references", "32"]) == 0
    edits = _rows(out / "edits.csv")
    for task in {r["task_id"] for r in edits}:          # one reference value per task, shared by every method
        mine = [r for r in edits if r["task_id"] == task]
        assert len({(r["label_acc_photo"], r["label_acc_truth"]) for r in mine}) == 1
        assert float(mine[0]["label_acc_truth"]) > float(mine[0]["label_acc_photo"]) - 0.2
    summary = (out / "summary.md").read_text()
    assert "## Label accuracy inside the mask against the ground truth (headline)" in summary
    headline = summary.split("## Label accuracy")[1]
    for row in ("| ours (G' + paste-back) |", "| Poisson |", "| unedited photo (reference) | 0.",
                "| ground truth (reference) | "):
        assert row in headline
    assert "share of the way" in headline and "Per task kind:" in headline
    unedited = next(line for line in headline.splitlines() if line.startswith("| unedited photo"))
    truth = next(line for line in headline.splitlines() if line.startswith("| ground truth"))
    assert "0.000 [0.000, 0.000]" in unedited and "1.000 [1.000, 1.000]" in truth
    assert "Label accuracy inside the mask (the segmenter's labels" in summary.split("**Headline.**")[1]
    pairs = _rows(out / "truth_pairs" / "manifest.csv")
    assert len(pairs) == 3 and {p["method_b"] for p in pairs} == {"truth"}
    assert all((out / "truth_pairs" / p["image_b"]).is_file() for p in pairs)
    assert all(p["method_b"] != "truth" for p in _rows(out / "pairs" / "manifest.csv"))   # people's pairs as before
    judge = summary.split("## Machine judge")[1].split("\n## ")[0]
    row = next(line for line in judge.splitlines() if line.startswith("| ground truth"))
    assert row.split("|")[2].strip() == "3" and 0 <= float(row.split("|")[3]) <= 1
    assert "against the ground-truth edit itself" in summary
    assert "machine judge against 32 held-out real scenes (`--references`)" in summary   # 256 by default


# ---- add-study: the reference rows and the share of the way per action ----------------------------------

def test_add_study_label_measures_put_doing_nothing_at_zero_and_the_truth_at_one():
    from eval.studies.add_study import TRUTH, UNEDITED, label_markdown, summarise

    rows = []
    for kind, seed, photo, truth, edit in (("add_tree", 1, 0.6, 0.98, 0.7), ("add_tree", 2, 0.5, 0.96, 0.9),
                                           ("remove_door", 3, 0.55, 0.97, 0.4)):
        for variant, acc in (("v", edit), (TRUTH, truth), (UNEDITED, photo)):
            rows.append({"variant": variant, "kind": kind, "seed": seed, "success": 0.5, "psnr_out": 40.0,
                         "realism": 0.0, "seam": 1.0, "l1_target": 0.1, "label_acc": acc})
    summary = {row["variant"]: row for row in summarise(rows, ["add_tree", "remove_door"])}
    assert summary[UNEDITED]["share:add"][0] == 0.0 and summary[TRUTH]["share:remove"][0] == 1.0
    assert summary["v"]["share:add"][0] == pytest.approx((0.8 - 0.55) / (0.97 - 0.55))
    assert summary["v"]["share:remove"][0] < 0
    assert summary["v"]["label_acc:add_tree"] == pytest.approx(0.8)
    table = label_markdown(list(summary.values()), ["add_tree", "remove_door"])
    assert "share of the way add" in table and f"| {UNEDITED} |" in table


def test_add_study_variants_are_chosen_by_name_even_with_commas_or_by_number():
    from eval.studies.add_study import VARIANTS, chosen_variants

    with_comma = next(v for v in VARIANTS if "," in v.name)
    assert chosen_variants("") == list(VARIANTS)
    assert chosen_variants(with_comma.name) == [with_comma]                 # a name that holds a comma, alone
    assert chosen_variants(f" 1 ; {with_comma.name}") == [VARIANTS[0], with_comma]
    with pytest.raises(ValueError, match="unknown variant.*'nope'.*1 "):
        chosen_variants("nope")
    with pytest.raises(ValueError, match="unknown variant"):
        chosen_variants(str(len(VARIANTS) + 1))
