"""``python -m eval add-study``: what holds "add" edits back, measured on held-out scene pairs.

Each pair (add tree / dome / door, remove tree / door) is fitted once (the fits are cached in
``--cache``); every edit variant then renders from that fit: the edit's features are rendered by
G' with its perturbations cleared in the dilated edit region and pasted back into the photo, as
the editor does.  Scores per variant and kind: edit success (the segmenter's share of the concept
inside the mask for add, one minus it for remove, as ``eval run`` scores it), PSNR outside the
dilated mask against the photo, the evaluation's realism score of the edited photo (``eval.measures.realism``) and its
seam score across the mask's boundary (``eval.measures.seams``), and for adds the L1 error inside the mask against the
pair's edited target, the segmenter's agreement with the target's labels there (label accuracy) and the success
relative to the ground truth's own (the pair's edited scene scored the same way: its success is the metric's
ceiling on these masks).
Writes ``add_study.md``, ``add_study.json`` and a before/after gallery to ``--out``.

Seeds start at ``HELDOUT_SEED_START + ADD_STUDY_SEED_OFFSET``, away from the acceptance tests'
scenes and from ``editor-study``'s.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from eval.run.report import bootstrap_ci as bootstrap
from ganpaint_core.machine import cpu_model

ADD_STUDY_SEED_OFFSET = 200_000
KINDS = ("add_tree", "add_dome", "add_door", "remove_tree", "remove_door")


def add_arguments(p):
    from ganpaint_core.models.registry import model_help

    p.add_argument("--model", default="default", help=model_help())
    p.add_argument("--pairs", type=int, default=3, help="scene pairs per kind (each fitted once)")
    p.add_argument("--kinds", default=",".join(KINDS), help="comma-separated pair kinds")
    p.add_argument("--variants", default="",
                   help="variant names separated by ';' (names hold commas), or their numbers, 1-based (default: all)")
    p.add_argument("--cache", default="runs/add_study", help="folder of cached fits (per model name; empty it after "
                   "changing a model)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    p.add_argument("--out", default="docs/add_study", help="folder for add_study.md/.json and the strip")


def study_pairs(kinds: list[str], n: int, size: int):
    from ganpaint_core.scenes import HELDOUT_SEED_START
    from ganpaint_core.scenes.pairs import PAIR_KINDS, find_pairs

    unknown = [k for k in kinds if k not in PAIR_KINDS]
    if unknown:
        raise ValueError(f"unknown pair kind(s) {', '.join(unknown)}; choose from {', '.join(PAIR_KINDS)}")
    return [p for kind in kinds for p in find_pairs(kind, n, HELDOUT_SEED_START + ADD_STUDY_SEED_OFFSET, size)]


def fitted_session(editor, pair, cache: Path):
    """The editor's session for ``pair.before_rgb``: fitted once, then loaded from ``cache``."""
    import torch

    from ganpaint_core.editing.adaptation import ActivationAdaptation
    from ganpaint_core.editing.editor import Session
    from ganpaint_core.photo import square_crop

    path = cache / f"{editor.name}_{editor.size}_{pair.kind}_{pair.seed}.pt"   # a fit belongs to one model
    if path.is_file():
        saved = torch.load(path, weights_only=True)
        image, crop = square_crop(pair.before_rgb, editor.size)
        adapted = ActivationAdaptation(editor.generator, editor.layer, saved["r"])
        adapted.deltas = saved["deltas"]
        return Session(editor, image, crop, pair.before_rgb, saved["z"], saved["r"], adapted, editor.options, None,
                       float(saved["fit_seconds"]), {})
    session = editor.fit(pair.before_rgb)
    cache.mkdir(parents=True, exist_ok=True)
    torch.save({"z": session.z, "r": session.r, "deltas": session.adapted.deltas,
                "fit_seconds": session.fit_seconds}, path)
    return session


@dataclass(frozen=True)
class Variant:
    """One way to edit: how ``add`` sets units, the strength, the grid pooling, the cleared radius and the
    paste-back's blend."""

    name: str
    add_mode: str = "units"
    strength: str | float = "medium"
    pool: str = "max"
    clear_radius: int = 4
    blend: str = "multiband"
    fine: bool = True           # exemplar adds: also at the dissection's finer layer


VARIANTS = (
    Variant("before: top 24 causal units at their high level", "units"),
    Variant("units: top 36 (strength high)", "units", "high"),
    Variant("units: area-pooled mask", "units", pool="area"),
    Variant("units: perturbations cleared 8 px around", "units", clear_radius=8),
    Variant("levels: every unit to the concept's level", "levels"),
    Variant("levels, blend 0.67 (strength 0.44)", "levels", 0.44),
    Variant("levels, blend 0.5 (strength low)", "levels", "low"),
    Variant("levels: area-pooled mask", "levels", pool="area"),
    Variant("levels: perturbations cleared 8 px around", "levels", clear_radius=8),
    Variant("exemplar: an instance's shape placed, levels on its cells at layer4 and layer6", "exemplar"),
    Variant("exemplar at layer4 alone", "exemplar", fine=False),
    Variant("exemplar, strength low (blend 0.5)", "exemplar", "low"),
    Variant("exemplar, strength high (blend 1.25)", "exemplar", "high"),
    Variant("exemplar, alpha paste-back", "exemplar", blend="alpha"),
    Variant("exemplar: perturbations cleared 8 px around", "exemplar", clear_radius=8),
)
BEFORE = VARIANTS[0].name


def chosen_variants(text: str) -> list[Variant]:
    """The variants ``--variants`` names: names separated by ';' or their 1-based numbers (all when empty)."""
    chosen = [v.strip() for v in text.split(";") if v.strip()]
    if not chosen:
        return list(VARIANTS)
    by_name = {v.name: v for v in VARIANTS}
    unknown = [c for c in chosen if c not in by_name and not (c.isdigit() and 1 <= int(c) <= len(VARIANTS))]
    if unknown:
        numbered = "; ".join(f"{k} {v.name}" for k, v in enumerate(VARIANTS, 1))
        raise ValueError(f"unknown variant(s) {unknown}; choose names separated by ';' or numbers: {numbered}")
    picked = {by_name[c].name if c in by_name else VARIANTS[int(c) - 1].name for c in chosen}
    return [v for v in VARIANTS if v.name in picked]


def editor_variant(action: str) -> str:
    """The variant that is the editor's default edit for ``action`` (the study checks it renders the same)."""
    from ganpaint_core.editing.edits import ADD_MODE

    mode = ADD_MODE if action == "add" else "units"     # remove ignores the add mode
    return next(v.name for v in VARIANTS if v.add_mode == mode and v.strength == "medium" and v.pool == "max"
                and v.clear_radius == 4 and v.blend == "multiband" and v.fine)


AFTER = editor_variant("add")


def render_variant(session, pair, variant: Variant) -> np.ndarray:
    """The session's photo edited as ``variant`` says, rendered the editor's way (G', cleared, pasted back)."""
    import torch

    from ganpaint_core.concepts import NAMES
    from ganpaint_core.editing.compose import paste_into_photo
    from ganpaint_core.editing.edits import concept_operation, fine_edits
    from ganpaint_core.editing.masks import dilate
    from ganpaint_core.imaging import to_uint8
    from ganpaint_core.photo import Crop

    editor, o = session.editor, session.options
    labels = session.photo_labels() if variant.add_mode == "exemplar" and pair.action == "add" else None
    op = concept_operation(session.r, editor.dissection, pair.mask, pair.concept, pair.action, variant.strength,
                           variant.pool, variant.add_mode, editor.exemplars, labels, NAMES, variant.fine)
    with torch.inference_mode():     # op.mask: the painted mask, or the object placed in it (exemplar adds)
        image = to_uint8(session.adapted.render(op.apply(session.r), dilate(op.mask, variant.clear_radius),
                                                fine_edits([op])))[0]
    square = Crop.centred(editor.size, editor.size, editor.size)
    return paste_into_photo(session.photo, square, image, op.mask, o.paste_radius, o.paste_sigma, variant.blend,
                            op.paste_levels)


def score(editor, session, pair, image: np.ndarray, realism) -> dict:
    """Edit success (as ``eval run``), PSNR outside the dilated mask, realism and seam; L1 and label accuracy to
    the target in the mask."""
    from eval.measures.seams import seam_score
    from ganpaint_core import metrics as M

    labels = editor.segment(image)
    share = M.concept_share(labels, pair.concept, pair.mask)
    return {"success": share if pair.action == "add" else 1 - share,
            "psnr_out": M.psnr(image, session.photo, M.outside_region(pair.mask)),
            "realism": float(realism.score(image)[0]),
            "seam": seam_score(image, session.photo, pair.mask),
            "l1_target": M.l1(image, pair.after_rgb, pair.mask),
            "label_acc": M.label_accuracy(labels, pair.after_labels, pair.mask)}


TRUTH = "ground truth (the pair's edited scene)"
UNEDITED = "unedited photo (reference)"


def summarise(rows: list[dict], kinds: list[str]) -> list[dict]:
    truth = {(r["kind"], r["seed"]): r["success"] for r in rows if r["variant"] == TRUTH}
    out = []
    for name in dict.fromkeys(r["variant"] for r in rows):
        group = [r for r in rows if r["variant"] == name]
        row = {"variant": name, **{k: statistics.fmean(r["success"] for r in group if r["kind"] == k)
                                   for k in kinds if any(r["kind"] == k for r in group)}}
        for action in ("add", "remove"):
            values = [r["success"] for r in group if r["kind"].startswith(action)]
            if values:
                row[action] = bootstrap(values)
        relative = [r["success"] / truth[r["kind"], r["seed"]] for r in group
                    if r["kind"].startswith("add") and truth.get((r["kind"], r["seed"]), 0) > 0]
        if relative:
            row["add_of_truth"] = bootstrap(relative)
        row["psnr_out"] = statistics.fmean(r["psnr_out"] for r in group)
        row["realism"] = bootstrap([r["realism"] for r in group])
        row["seam"] = statistics.fmean(r["seam"] for r in group)
        for key in ("l1_target", "label_acc"):
            adds = [r[key] for r in group if r["kind"].startswith("add")]
            row[f"{key}_add"] = statistics.fmean(adds) if adds else float("nan")
        row.update(label_measures(rows, group, kinds))
        out.append(row)
    return out


def label_measures(rows: list[dict], group: list[dict], kinds: list[str]) -> dict:
    """Label accuracy inside the mask of one variant's ``group`` of rows per kind (``label_acc:<kind>``) and per
    action with its 95% interval (``label_acc:<action>``), and the share of the way from the unedited photo to the
    ground truth it closes per action (``share:<action>``, ``eval.measures.way_to_truth``), paired by pair."""
    from eval.measures.way_to_truth import share_of_way_ci

    references = {name: {(r["kind"], r["seed"]): r["label_acc"] for r in rows if r["variant"] == name}
                  for name in (UNEDITED, TRUTH)}
    out = {f"label_acc:{k}": statistics.fmean(r["label_acc"] for r in group if r["kind"] == k)
           for k in kinds if any(r["kind"] == k for r in group)}
    for action in ("add", "remove"):
        part = [r for r in group if r["kind"].startswith(action)]
        if not part:
            continue
        out[f"label_acc:{action}"] = bootstrap([r["label_acc"] for r in part])
        keys = [(r["kind"], r["seed"]) for r in part]
        if all(key in references[name] for key in keys for name in references):
            out[f"share:{action}"] = share_of_way_ci([r["label_acc"] for r in part],
                                                     [references[UNEDITED][key] for key in keys],
                                                     [references[TRUTH][key] for key in keys])
    return out


def label_markdown(summary: list[dict], kinds: list[str]) -> str:
    """Per variant and reference picture: label accuracy inside the mask per kind and per action, and the share
    of the way from the unedited photo to the ground truth per action."""
    def cell(value) -> str:
        if isinstance(value, tuple):
            return "n/a" if value[0] != value[0] else f"{value[0]:.3f} [{value[1]:.3f}, {value[2]:.3f}]"
        return "n/a" if value is None else f"{value:.3f}"

    actions = [a for a in ("add", "remove") if any(f"label_acc:{a}" in row for row in summary)]
    head = ["variant", *(f"label acc. {k}" for k in kinds), *(f"{what} {a} [95% CI]" for a in actions
                                                              for what in ("label acc.", "share of the way"))]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for row in summary:
        cells = [row["variant"], *(cell(row.get(f"label_acc:{k}")) for k in kinds),
                 *(cell(row.get(f"{what}:{a}")) for a in actions for what in ("label_acc", "share"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown(summary: list[dict], kinds: list[str]) -> str:
    head = ["variant", *kinds, "add [95% CI]", "add / truth's [95% CI]", "remove [95% CI]", "realism [95% CI]",
            "seam", "PSNR out (dB)", "L1 to target (adds)", "label acc. (adds)"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for row in summary:
        ci = [f"{row[a][0]:.3f} [{row[a][1]:.3f}, {row[a][2]:.3f}]" if a in row else "n/a"
              for a in ("add", "add_of_truth", "remove", "realism")]
        cells = [row["variant"], *(f"{row[k]:.3f}" if k in row else "n/a" for k in kinds), *ci,
                 f"{row['seam']:.2f}", f"{row['psnr_out']:.1f}", f"{row['l1_target_add']:.3f}",
                 f"{row['label_acc_add']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def gallery(rows: list[tuple], path: Path) -> None:
    """One row per pair: photo with the mask outlined, the ground truth, before (today's edit), after."""
    from PIL import Image, ImageDraw

    from ganpaint_core.editing.masks import dilate

    size, label = rows[0][0].shape[0], 14
    titles = ("photo + mask", "ground truth", "before", "after")
    canvas = Image.new("RGB", (size * len(titles), label + size * len(rows)), "white")
    pen = ImageDraw.Draw(canvas)
    for i, title in enumerate(titles):
        pen.text((i * size + 4, 1), title, fill="black")
    for j, (photo, mask, *images) in enumerate(rows):
        outlined = photo.copy()
        outlined[dilate(mask, 1) & ~mask] = (255, 40, 40)
        for i, image in enumerate([outlined, *images]):
            canvas.paste(Image.fromarray(image), (i * size, label + j * size))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, quality=92)


def run(args):
    import torch
    from tqdm import tqdm

    from eval.measures.realism import RealismModel
    from ganpaint_core.editing.editor import Editor

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.pairs < 1:
        raise ValueError("--pairs must be at least 1")
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    variants = chosen_variants(args.variants)
    editor = Editor.from_pretrained(args.model)
    if not editor.concepts or editor.segmenter is None:
        raise ValueError("the add study needs a model with a dissection and a segmenter")
    realism = RealismModel.from_model(editor)
    pairs = study_pairs(kinds, args.pairs, editor.size)
    start, rows, pictures, fit_seconds = time.perf_counter(), [], [], []
    for pair in tqdm(pairs, desc="pairs"):
        session = fitted_session(editor, pair, Path(args.cache))
        fit_seconds.append(session.fit_seconds)
        # the variants edit units; removes compare with the units removal (the editor's fill: docs/edits.md)
        units = {"remove": "units"} if pair.action == "remove" else {}
        default = session.fork(**units).edit(pair.mask, pair.concept, pair.action).image
        images = {}
        for variant in variants:
            images[variant.name] = render_variant(session, pair, variant)
            rows.append({"variant": variant.name, "kind": pair.kind, "seed": pair.seed,
                         **score(editor, session, pair, images[variant.name], realism)})
        rows.append({"variant": TRUTH, "kind": pair.kind, "seed": pair.seed,
                     **score(editor, session, pair, pair.after_rgb, realism)})
        rows.append({"variant": UNEDITED, "kind": pair.kind, "seed": pair.seed,
                     **score(editor, session, pair, pair.before_rgb, realism)})
        same = editor_variant(pair.action)
        if same in images and not np.array_equal(images[same], default):
            raise RuntimeError(f"the study's render of {same!r} differs from the editor's edit")
        if BEFORE in images and AFTER in images:
            pictures.append((pair.before_rgb, pair.mask, pair.after_rgb, images[BEFORE], images[AFTER]))
    seconds = time.perf_counter() - start
    summary = summarise(rows, kinds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"model": args.model, "pairs": len(pairs), "kinds": kinds, "seed_start_offset": ADD_STUDY_SEED_OFFSET,
            "cpu": cpu_model(), "torch_threads": torch.get_num_threads(), "seconds": round(seconds, 1),
            "fit_seconds_median": statistics.median(fit_seconds)}
    (out / "add_study.json").write_text(json.dumps({**meta, "summary": summary, "rows": rows,
                                                     "variants": [asdict(v) for v in variants]}, indent=1))
    if pictures:
        gallery(pictures, out / "gallery.jpg")
    text = (f"# Add study: model `{args.model}`, {len(pairs)} held-out pairs ({args.pairs} per kind)\n\n"
            f"`python -m eval add-study --pairs {args.pairs}`; {meta['cpu']}, {meta['torch_threads']} torch "
            f"thread(s); {seconds:.0f} s for the edits and scores (fits cached; median fit "
            f"{meta['fit_seconds_median']:.1f} s when made).  Edit success: the segmenter's share of the concept "
            f"in the mask (add), one minus it (remove); *add / truth's*: each add's success over the ground "
            f"truth's on the same mask; *realism*: `eval.measures.realism`'s score of the edited photo (higher is more "
            f"real, a real scene about 0); *seam*: `eval.measures.seams` across the mask's boundary (lower is "
            f"better).\n\n"
            + markdown(summary, kinds)
            + "\n## Label accuracy inside the mask against the ground truth\n\n"
              "The segmenter's labels of the edited photo against the pair's ground-truth labels inside the mask, "
              "every variant and the two reference pictures (the unedited photo: doing nothing; the ground truth's "
              "edited scene: a perfect edit) scored the same way. *Share of the way*: (acc − acc of the unedited "
              "photo) / (acc of the truth − acc of the unedited photo) over the same pairs "
              "(`eval.measures.way_to_truth`): doing nothing scores 0, the truth 1.\n\n"
            + label_markdown(summary, kinds))
    (out / "add_study.md").write_text(text)
    print(text)
