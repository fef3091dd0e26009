"""Acceptance of the editor on the shipped default model, on 20 held-out scenes (slow).

Five label-derived edit pairs per kind (add tree, add dome, remove tree, remove door) from the
held-out seeds (>= 10_000_000, never used in training); each scene is fitted once.
- reconstruction: mean PSNR of G'(r) >= 30 dB and mean SSIM >= 0.90 (the plain inversion G(r) is
  reported beside it and must be worse);
- edits: the segmenter's share of the concept inside the mask moves the right way: adds by at least
  0.95 of the ground-truth edit's own gain on the same masks, removes by >= 0.3 on average; PSNR against
  the photo outside the dilated mask is >= 35 dB on average.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import pytest

from ganpaint_core import metrics as M
from ganpaint_core.models import MODELS_DIR

# GANPAINT_EDITOR_MODEL points the tests at another model folder (to try a checkpoint before shipping it).
DEFAULT = Path(os.environ.get("GANPAINT_EDITOR_MODEL", MODELS_DIR / "default"))
NEEDED = ("generator.safetensors", "segmenter.safetensors", "dissection.json")
PAIRS_PER_KIND = 5

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all((DEFAULT / f).is_file() for f in NEEDED),
                       reason=f"{DEFAULT} is not shipped yet (needs {', '.join(NEEDED)})"),
]


@pytest.fixture(scope="module")
def fitted():
    from eval.studies.editor_study import EDIT_KINDS
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.scenes import HELDOUT_SEED_START
    from ganpaint_core.scenes.pairs import find_pairs

    editor = Editor.from_pretrained(str(DEFAULT))
    pairs = [p for kind in EDIT_KINDS for p in find_pairs(kind, PAIRS_PER_KIND, HELDOUT_SEED_START, editor.size)]
    return editor, [(pair, editor.fit(pair.before_rgb)) for pair in pairs]


def test_adapted_reconstruction_of_held_out_scenes(fitted, record_property):
    _, sessions = fitted
    quality = [s.quality() for _, s in sessions]
    means = {k: statistics.fmean(q[k] for q in quality) for k in quality[0]}
    record_property("reconstruction", json.dumps(means))
    print("reconstruction means:", means)
    assert len(sessions) == 4 * PAIRS_PER_KIND
    assert means["reconstruction_psnr"] >= 30 and means["reconstruction_ssim"] >= 0.90
    assert means["reconstruction_psnr"] > means["inversion_psnr"]


@pytest.fixture(scope="module")
def edit_summary(fitted):
    editor, sessions = fitted
    gains, outside, by_kind = [], [], {}
    for pair, session in sessions:
        session.reset()
        result = session.edit(pair.mask, pair.concept, pair.action).image
        before = M.concept_share(editor.segment(session.photo), pair.concept, pair.mask)
        after = M.concept_share(editor.segment(result), pair.concept, pair.mask)
        sign = 1 if pair.action == "add" else -1
        gain = (after - before) * sign
        gains.append(gain)
        by_kind.setdefault(pair.kind, []).append(gain)
        truth = (M.concept_share(editor.segment(pair.after_rgb), pair.concept, pair.mask) - before) * sign
        by_kind.setdefault(f"truth_{pair.kind}", []).append(truth)
        outside.append(M.psnr(result, session.photo, M.outside_region(pair.mask)))
    summary = {"share_gain": statistics.fmean(gains), "outside_psnr": statistics.fmean(outside),
               **{(k if k.startswith("truth_") else f"gain_{k}"): statistics.fmean(v) for k, v in by_kind.items()}}
    print("edit means:", summary)
    return summary


def test_semantic_edits_keep_the_rest_of_the_photo(edit_summary, record_property):
    record_property("edits", json.dumps(edit_summary))
    assert edit_summary["outside_psnr"] >= 35


def test_semantic_edits_move_the_concept(edit_summary):
    """Adds move their concept by at least 0.95 of the ground truth's own gain on the same masks (issue 23: an add
    draws the object, not the whole mask, whose shadow stays grass); removes by 0.3 on average."""
    adds = [k[len("gain_"):] for k in edit_summary if k.startswith("gain_add")]
    ours = statistics.fmean(edit_summary[f"gain_{k}"] for k in adds)
    truth = statistics.fmean(edit_summary[f"truth_{k}"] for k in adds)
    assert ours >= 0.95 * truth, (ours, truth)
    assert statistics.fmean(edit_summary[k] for k in edit_summary if k.startswith("gain_remove")) >= 0.3


def test_every_kind_of_edit_moves_the_right_way(edit_summary):
    """No kind of edit may ride on the others: each moves its concept by more than 0.1."""
    assert all(edit_summary[k] > 0.1 for k in edit_summary if k.startswith("gain_")), edit_summary


def test_edits_are_fast_and_undoable(fitted):
    import time

    _, sessions = fitted
    pair, session = sessions[0]
    recon = session.reset().image
    start = time.perf_counter()
    session.edit(pair.mask, pair.concept, pair.action)
    assert time.perf_counter() - start < 1.0          # the benchmark target is 0.1 s; CI machines vary
    assert (session.undo().image == recon).all()
