"""``python -m ganpaint_core edit``: fit a photo, apply one painted edit, write the result and a JSON report.

The report holds the fit and edit times, the reconstruction PSNR/SSIM of G'(r)
(and of the plain inversion G(r)) against the photo, the PSNR of the edit
against the photo outside the mask grown by 1/32 of the picture, and the
segmenter's share of the concept inside the mask before and after.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image


def add_arguments(p):
    p.add_argument("--image", required=True, help="the photo to edit")
    p.add_argument("--mask", required=True, help="mask picture: nonzero (or opaque) pixels are edited; the "
                                                 "model's size or the photo's")
    p.add_argument("--concept", help="the concept to add or remove (e.g. tree, dome, door)")
    p.add_argument("--action", choices=("add", "remove", "appearance"),
                   help="add or remove --concept, or copy the appearance of --reference-mask (the default when "
                        "only --reference-mask is given)")
    p.add_argument("--reference-mask", help="the region whose appearance the masked region takes")
    p.add_argument("--strength", default="medium", help="low, medium, high, or a number in [0, 1]")
    p.add_argument("--model", default="default", help="'default', a model folder or a checkpoint")
    p.add_argument("--adapt", choices=("activations", "weights", "none"), default="activations")
    p.add_argument("--no-regularize", action="store_true", help="adapt without the regulariser (ablation)")
    p.add_argument("--adapt-steps", type=int, help="adaptation steps (default: the editor's)")
    p.add_argument("--refine", type=int, default=0, help="warm-started re-fit steps after the edit (0: none)")
    p.add_argument("--full-size", action="store_true", help="paste the result back into the full-size photo")
    p.add_argument("--out", required=True, help="the edited picture (PNG)")
    p.add_argument("--report", help="JSON report to write")


def _strength(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def region_psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    """PSNR (peak 255) over a bool region; NaN for an empty region, 100 for identical pixels."""
    if not region.any():
        return float("nan")
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2)[region].mean())
    return 100.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def concept_share(labels: np.ndarray, concept: str, region: np.ndarray) -> float:
    from ganpaint_core.concepts import concept_id

    return float((labels[region] == concept_id(concept)).mean()) if region.any() else float("nan")


def run(args):
    from tqdm import tqdm

    from ganpaint_core.editor import Editor
    from ganpaint_core.masks import dilate, load_mask

    action = args.action or ("appearance" if args.reference_mask else None)
    if action is None:
        raise ValueError("give --action add|remove with --concept, or --reference-mask")
    if action == "appearance" and not args.reference_mask:
        raise ValueError("--action appearance needs --reference-mask")
    if action != "appearance" and not args.concept:
        raise ValueError(f"--action {action} needs --concept")
    mask = load_mask(args.mask)
    reference = load_mask(args.reference_mask) if args.reference_mask else None
    editor = Editor.from_pretrained(args.model)
    if action != "appearance" and args.concept.strip().lower() not in editor.concepts:
        raise ValueError(f"concept {args.concept!r} cannot be painted with this model; "
                         f"choose from {', '.join(editor.concepts) or 'none'}")
    overrides = {} if args.adapt_steps is None else {"adapt_steps": args.adapt_steps}
    with tqdm(total=100, desc="fitting", unit="%") as bar:
        def progress(fraction, message):
            bar.n = round(100 * fraction)
            bar.set_postfix_str(message)
            bar.refresh()
        session = editor.fit(args.image, adapt=args.adapt, regularize=not args.no_regularize, progress=progress,
                             **overrides)
    model_mask = session.mask(mask)
    start = time.perf_counter()
    if action == "appearance":
        result = session.copy_appearance(mask, reference)
    else:
        result = session.edit(mask, args.concept, action, _strength(args.strength))
    edit_seconds = time.perf_counter() - start
    if args.refine > 0:
        start = time.perf_counter()
        result = session.refine(args.refine)
        edit_seconds += time.perf_counter() - start
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(session.to_photo(result) if args.full_size else result).save(out)
    print(f"wrote {out}")
    if args.report:
        report = {"image": str(args.image), "mask": str(args.mask), "model": args.model, "size": editor.size,
                  "crop": list(session.crop.box), "action": action, "concept": args.concept,
                  "strength": args.strength, "adapt": args.adapt, "regularize": not args.no_regularize,
                  "refine_steps": args.refine, "fit_seconds": session.fit_seconds, "edit_seconds": edit_seconds,
                  "fit_timings": session.timings, **session.quality()}
        margin = max(1, round(editor.size / 32))
        outside = ~dilate(model_mask, margin)
        report["outside_margin_px"] = margin
        report["outside_mask_psnr"] = region_psnr(result, session.photo, outside)
        if action != "appearance" and editor.segmenter is not None:
            report["concept_share_before"] = concept_share(editor.segment(session.photo), args.concept, model_mask)
            report["concept_share_after"] = concept_share(editor.segment(result), args.concept, model_mask)
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.report}")
