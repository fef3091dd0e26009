"""``python -m eval added-trees``: added objects before and after the add path's levers, on fixed held-out scene tasks.

One row per ``add_<concept>`` scene task (``--concept``: tree, or dome; seeds from ``HELDOUT_SEED_START +
GALLERY_SEED_OFFSET + SEED_OFFSET``, away from ``eval run``'s): the photo with the painted mask, the ground-truth
edit, the add as it was before the levers (a tree's inset, paste-back levels and placement penalty,
``placement.INSET``, ``edits.PASTE_LEVELS`` and ``placement.PENALTIES`` emptied; the looks, ``dissection.looks``,
set aside: the dissection's mean levels) and
the add as it is now, each through ``Session.to_photo``; the segmenter's share of the concept inside the mask
under each.  Writes ``--out`` (default ``docs/edits/add_trees.jpg``; ``docs/edits/add_domes.jpg`` for domes).
Seeded: a rerun with the same code and model writes the same file.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np

SEED_OFFSET = 7_000     # past the gallery's own scene seeds
CONCEPTS = ("tree", "dome")
TILE = 192


def add_arguments(p):
    from ganpaint_core.commands.fit_option import add_fit_argument
    from ganpaint_core.models.registry import model_help

    p.add_argument("--out", default="", help="the picture to write (JPEG; default docs/edits/add_<concept>s.jpg)")
    p.add_argument("--model", default="default", help=model_help())
    p.add_argument("--concept", default="tree", choices=CONCEPTS, help="the added concept")
    p.add_argument("--tasks", type=int, default=6, help="add_<concept> scene tasks, one row each")
    add_fit_argument(p)


@contextmanager
def levers_off(dissection: dict | None = None):
    """The add path as before the tree's inset, paste-back levels and placement penalty and, in ``dissection``,
    the concepts' looks (restored on leaving)."""
    from ganpaint_core.editing import edits, placement

    saved = dict(placement.INSET), dict(edits.PASTE_LEVELS), dict(placement.PENALTIES)
    looks = {name: entry.pop("looks") for name, entry in (dissection or {}).get("concepts", {}).items()
             if "looks" in entry}
    placement.INSET.clear()
    edits.PASTE_LEVELS.clear()
    placement.PENALTIES.clear()
    try:
        yield
    finally:
        placement.INSET.update(saved[0])
        edits.PASTE_LEVELS.update(saved[1])
        placement.PENALTIES.update(saved[2])
        for name, entry in looks.items():
            dissection["concepts"][name]["looks"] = entry


def rows(editor, pairs, fit: dict, concept: str = "tree") -> list[tuple[list[tuple[str, np.ndarray]], dict]]:
    """Per pair: its labelled pictures (photo + mask, truth, before, after) and the concept's shares in the mask."""
    from eval.run.report import mask_overlay
    from eval.run.worker import seed_everything
    from ganpaint_core import metrics

    out = []
    for pair in pairs:
        seed_everything(0, f"added-trees/{pair.seed}")
        session = editor.fit(pair.before_rgb, **fit)
        with levers_off(editor.dissection):
            session.edit(pair.mask, concept, "add")
            before = session.to_photo()
        session.reset()
        session.edit(pair.mask, concept, "add")
        after = session.to_photo()
        shares = {k: metrics.concept_share(editor.segment(v), concept, pair.mask)
                  for k, v in (("truth", pair.after_rgb), ("before", before), ("after", after))}
        out.append(([(f"scene {pair.seed} + mask", mask_overlay(pair.before_rgb, pair.mask)),
                     (f"truth ({concept} {shares['truth']:.2f})", pair.after_rgb),
                     (f"before ({concept} {shares['before']:.2f})", before),
                     (f"after ({concept} {shares['after']:.2f})", after)], shares))
    return out


def run(args):
    from PIL import Image

    from eval.run.report import strip
    from eval.studies.gallery import GALLERY_SEED_OFFSET
    from ganpaint_core.commands.cli import check_out_dir
    from ganpaint_core.commands.fit_option import parse_fit_options
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.scenes import HELDOUT_SEED_START
    from ganpaint_core.scenes.pairs import find_pairs

    if args.tasks < 1:
        raise ValueError(f"--tasks must be at least 1, got {args.tasks}")
    concept = getattr(args, "concept", "tree")
    if concept not in CONCEPTS:
        raise ValueError(f"--concept must be one of {', '.join(CONCEPTS)}, got {concept!r}")
    args.out = args.out or f"docs/edits/add_{concept}s.jpg"
    if not str(args.out).lower().endswith((".jpg", ".jpeg")):
        raise ValueError(f"--out must name a .jpg file, got {args.out!r}")
    fit = parse_fit_options(args.fit)
    out = Path(args.out)
    check_out_dir(out.parent)
    editor = Editor.from_pretrained(args.model)
    pairs = find_pairs(f"add_{concept}", args.tasks, HELDOUT_SEED_START + GALLERY_SEED_OFFSET + SEED_OFFSET,
                       editor.size)
    made = rows(editor, pairs, fit, concept)
    picture = np.concatenate([strip(pictures, TILE) for pictures, _ in made], 0)
    Image.fromarray(picture).save(out, quality=85)
    means = {k: float(np.mean([s[k] for _, s in made])) for k in ("truth", "before", "after")}
    print(f"{out}: {len(made)} add_{concept} tasks; {concept} share in the mask, mean: "
          + ", ".join(f"{k} {v:.3f}" for k, v in means.items()))
    return 0
