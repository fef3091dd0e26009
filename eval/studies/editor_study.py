"""``python -m eval editor-study``: measure the editor's design choices on held-out scene pairs.

Writes ``study.json`` and ``study.md`` (tables of means) to ``--out``.  Studies:

- ``fit``: reconstruction PSNR/SSIM of G(r) and G'(r) and fit time for each perceptual backend and
  for bf16 autocast on and off (on only where the CPU has native bf16);
- ``edits``: on add-tree / add-dome / remove-tree / remove-door pairs (label-derived masks): the
  concept's share in the mask before and after (signed so that up is the right way), PSNR outside the
  dilated mask and inside the mask, for paste-back on/off x clearing perturbations on/off x refine
  0/N steps, and for each strength.

Scenes come from held-out seeds ``HELDOUT_SEED_START + STUDY_SEED_OFFSET`` on, away from the seeds
the acceptance tests use, so that choices are not tuned on the test scenes.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np

STUDY_SEED_OFFSET = 100_000
EDIT_KINDS = ("add_tree", "add_dome", "remove_tree", "remove_door")
PERCEPTUAL_WEIGHTS = (1.0, 0.1, 0.03)     # the fit study tries each backend at each weight


def add_arguments(p):
    from ganpaint_core.models.registry import model_help

    p.add_argument("--model", default="default", help=model_help())
    p.add_argument("--pairs", type=int, default=2, help="scene pairs per edit kind")
    p.add_argument("--studies", default="fit,edits", help="comma-separated: fit, edits")
    p.add_argument("--refine-steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    p.add_argument("--out", default="runs/editor_study", help="folder for study.json and study.md")


def scene_pairs(n_per_kind: int, size: int, seed_start: int):
    from ganpaint_core.scenes.pairs import find_pairs

    return [pair for kind in EDIT_KINDS for pair in find_pairs(kind, n_per_kind, seed_start, size)]


def fit_rows(editor, pairs, variants: dict[str, dict]) -> list[dict]:
    rows = []
    for pair in pairs:
        for name, overrides in variants.items():
            session = editor.fit(pair.before_rgb, **overrides)
            rows.append({"variant": name, "seed": pair.seed, "fit_seconds": session.fit_seconds,
                         **session.quality()})
    return rows


def edit_row(editor, session, pair, result: np.ndarray) -> dict:
    from ganpaint_core import metrics as M

    sign = 1 if pair.action == "add" else -1
    before = M.concept_share(editor.segment(session.photo), pair.concept, pair.mask)
    after = M.concept_share(editor.segment(result), pair.concept, pair.mask)
    return {"kind": pair.kind, "seed": pair.seed, "share_before": before, "share_after": after,
            "share_gain": sign * (after - before),
            "outside_psnr": M.psnr(result, session.photo, M.outside_region(pair.mask)),
            "inside_psnr": M.psnr(result, session.photo, pair.mask)}


def edit_rows(editor, pairs, refine_steps: int) -> list[dict]:
    from ganpaint_core.editing.edits import STRENGTH_UNITS

    rows = []
    for pair in pairs:
        fitted = editor.fit(pair.before_rgb)
        for clear in (False, True):
            session = fitted.fork(clear_perturbations=clear)
            session.edit(pair.mask, pair.concept, pair.action)
            for paste in (False, True):
                row = edit_row(editor, session, pair, session.render(paste_back=paste))
                rows.append({"variant": f"clear={clear} paste={paste} refine=0", **row})
            session.refine(refine_steps)
            for paste in (False, True):
                row = edit_row(editor, session, pair, session.render(paste_back=paste))
                rows.append({"variant": f"clear={clear} paste={paste} refine={refine_steps}", **row})
        for strength in STRENGTH_UNITS:
            session = fitted.fork()
            result = session.edit(pair.mask, pair.concept, pair.action, strength).image
            rows.append({"variant": f"strength={strength}", **edit_row(editor, session, pair, result)})
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Mean of every numeric column per variant (first-seen order)."""
    out = []
    for variant in dict.fromkeys(r["variant"] for r in rows):
        group = [r for r in rows if r["variant"] == variant]
        keys = [k for k, v in group[0].items() if isinstance(v, float) and k != "seed"]
        means = {k: statistics.fmean(r[k] for r in group if not np.isnan(r[k])) if any(not np.isnan(r[k])
                                                                                         for r in group) else
                 float("nan") for k in keys}
        out.append({"variant": variant, "n": len(group), **means})
    return out


def markdown(title: str, summary: list[dict]) -> str:
    if not summary:
        return ""
    keys = [k for k in summary[0] if k != "variant"]
    lines = [f"### {title}", "", "| variant | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for row in summary:
        cells = [f"{row[k]:.3f}" if isinstance(row[k], float) else str(row[k]) for k in keys]
        lines.append(f"| {row['variant']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run(args):
    import torch

    from ganpaint_core import precision
    from ganpaint_core.editing import perceptual
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.scenes import HELDOUT_SEED_START

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    studies = {s.strip() for s in args.studies.split(",") if s.strip()}
    if not studies <= {"fit", "edits"} or not studies:
        raise ValueError(f"--studies takes fit and/or edits, got {args.studies!r}")
    editor = Editor.from_pretrained(args.model)
    pairs = scene_pairs(args.pairs, editor.size, HELDOUT_SEED_START + STUDY_SEED_OFFSET)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result, text = {"model": args.model, "size": editor.size, "pairs": len(pairs)}, []
    if "fit" in studies:
        backends = perceptual.available(editor.segmenter, editor.discriminator)
        variants = {f"perceptual={b} weight={w:g}": {"perceptual": b, "perceptual_weight": w}
                    for b in backends if b != "none" for w in PERCEPTUAL_WEIGHTS}
        variants["perceptual=none"] = {"perceptual": "none"}
        if precision.native_bf16():     # elsewhere bf16 autocast is ~20x slower (ganpaint_core.precision)
            variants["default, bf16"] = {"bf16": True}
        else:
            text.append("bf16 autocast not measured: this CPU has no native bf16 (there it is ~20x slower).\n")
        rows = fit_rows(editor, pairs, variants)
        result["fit"] = {"rows": rows, "summary": summarise(rows)}
        text.append(markdown("Fit: reconstruction and time", result["fit"]["summary"]))
    if "edits" in studies:
        if not editor.concepts or editor.segmenter is None:
            raise ValueError("the edits study needs a model with a dissection and a segmenter")
        rows = edit_rows(editor, pairs, args.refine_steps)
        result["edits"] = {"rows": rows, "summary": summarise(rows)}
        text.append(markdown("Edits: concept share gain and fidelity", result["edits"]["summary"]))
    (out / "study.json").write_text(json.dumps(result, indent=1))
    (out / "study.md").write_text(f"# Editor study: model `{args.model}`, {len(pairs)} pairs\n\n" + "\n".join(text))
    print((out / "study.md").read_text())
