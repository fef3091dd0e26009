"""``python -m ganpaint_core edit``: fit a photo, apply one painted edit, write the result and a JSON report.

The result has the photo's own size (only the feathered, dilated edit region
differs from the photo); ``--model-size`` writes the model's square instead.
Every argument is checked before the fit.

The report holds the fit and edit times, the reconstruction PSNR/SSIM of G'(r)
(and of the plain inversion G(r)) against the photo, the PSNR of the edit
against the photo outside the mask grown by 1/32 of the picture, and the
segmenter's share of the concept inside the mask before and after.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from PIL import Image


def _per_model(describe) -> str:
    """``describe(dissection)`` for each shipped or registered model with unit lists (no weights are loaded)."""
    from ganpaint_core.models import known_dissection, shipped_models
    from ganpaint_core.models.registry import registry

    parts = []
    for name in [*shipped_models(), *registry()]:
        try:
            dissection = known_dissection(name)[1]
        except (ValueError, FileNotFoundError):
            continue
        if dissection and dissection.get("concepts"):
            parts.append(f"{name}: {describe(dissection)}")
    return "; ".join(parts) or "none"


def _concepts(dissection) -> str:
    from ganpaint_core.editing.edits import paintable

    names = paintable(dissection)
    return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _strengths(dissection) -> str:
    from ganpaint_core.editing.edits import strength_units

    return " / ".join(map(str, strength_units(dissection).values()))


def add_arguments(p):
    from ganpaint_core.commands.fit_option import add_fit_argument
    from ganpaint_core.models.registry import model_help
    from ganpaint_core.precision import add_device_argument

    p.add_argument("--image", required=True, help="the photo to edit")
    p.add_argument("--mask", required=True, help="mask picture: nonzero (or opaque) pixels are edited; the "
                                                 "model's size or the photo's")
    p.add_argument("--concept", help="the concept to add or remove, from the model's own vocabulary "
                                     f"({_per_model(_concepts)})")
    p.add_argument("--action", choices=("add", "remove", "appearance"),
                   help="add or remove --concept, or copy the appearance of --reference-mask (the default when "
                        "only --reference-mask is given)")
    p.add_argument("--reference-mask", help="the region whose appearance the masked region takes")
    p.add_argument("--strength", default="medium", help="low, medium or high (units per edit, the model's own: "
                   f"{_per_model(_strengths)}), or a number in [0, 1] (a share of the high count)")
    p.add_argument("--model", default="default", help=model_help())
    add_device_argument(p)
    p.add_argument("--adapt", choices=("activations", "weights", "none"), default="activations")
    p.add_argument("--no-regularize", action="store_true", help="adapt without the regulariser (ablation)")
    add_fit_argument(p)
    p.add_argument("--refine", type=int, default=0, help="warm-started re-fit steps after the edit (0: none)")
    p.add_argument("--model-size", action="store_true",
                   help="write the model's square render (pasted back beyond the edit) instead of the photo's size")
    p.add_argument("--out", required=True, help="the edited picture (PNG)")
    p.add_argument("--report", help="JSON report to write")


def _strength(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def run(args):
    from tqdm import tqdm

    from ganpaint_core import metrics as M
    from ganpaint_core.commands.fit_option import parse_fit_options
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.editing.edits import concept_name, no_units_message, units_for
    from ganpaint_core.editing.masks import load_mask, to_model_mask
    from ganpaint_core.models import known_dissection
    from ganpaint_core.photo import Crop, load_photo
    from ganpaint_core.precision import resolve_device

    device = resolve_device(args.device)
    action = args.action or ("appearance" if args.reference_mask else None)
    if action is None:
        raise ValueError("give --action add|remove with --concept, or --reference-mask")
    if action == "appearance" and not args.reference_mask:
        raise ValueError("--action appearance needs --reference-mask")
    if action != "appearance" and not args.concept:
        raise ValueError(f"--action {action} needs --concept")
    strength = _strength(args.strength)
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"):
        raise ValueError(f"--out {out} must name a picture file (.png, .jpg, .webp, .tif or .bmp)")
    overrides = parse_fit_options(args.fit)
    if any(v < 0 for v in overrides.values()) or args.refine < 0:
        raise ValueError("step counts must be at least 0")
    known, dissection = known_dissection(args.model)
    if action != "appearance" and known:      # a concept this model cannot paint fails before any download
        if dissection is None:
            raise ValueError(no_units_message(f"model {args.model!r}") + "; use --reference-mask")
        concept_name(dissection, args.concept)
        units_for(strength, dissection)
    photo = load_photo(args.image)
    mask = load_mask(args.mask)
    reference = load_mask(args.reference_mask) if args.reference_mask else None
    editor = Editor.from_pretrained(args.model, device=device)
    concept = None
    if action != "appearance":
        if editor.dissection is None:
            raise ValueError(no_units_message(f"model {args.model!r}") + "; use --reference-mask")
        concept = editor.check_request(args.concept, action, strength)
    crop = Crop.centred(photo.shape[1], photo.shape[0], editor.size)
    model_mask = to_model_mask(mask, editor.size, crop)        # bad masks fail before the fit, not after
    if reference is not None:
        try:
            to_model_mask(reference, editor.size, crop)
        except ValueError as err:
            raise ValueError(f"--reference-mask: {err}") from err
    with tqdm(total=100, desc="fitting", unit="%") as bar:
        def progress(fraction, message):
            bar.n = round(100 * fraction)
            bar.set_postfix_str(message)
            bar.refresh()
        session = editor.fit(photo, adapt=args.adapt, regularize=not args.no_regularize, progress=progress,
                             **overrides)
    start = time.perf_counter()
    if action == "appearance":
        result = session.copy_appearance(mask, reference)
    else:
        result = session.edit(mask, concept, action, strength)
    edit_seconds = time.perf_counter() - start
    if args.refine > 0:
        start = time.perf_counter()
        result = session.refine(args.refine)
        edit_seconds += time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(result.image if args.model_size else session.to_photo()).save(out)
    print(f"wrote {out}")
    if args.report:
        report = {"image": str(args.image), "mask": str(args.mask), "model": args.model, "size": editor.size,
                  "photo_size": [photo.shape[1], photo.shape[0]], "model_size_output": args.model_size,
                  "crop": list(session.crop.box), "action": action, "concept": concept,
                  "strength": args.strength, "device": str(device), "adapt": args.adapt,
                  "regularize": not args.no_regularize,
                  "refine_steps": args.refine, "fit_seconds": session.fit_seconds, "edit_seconds": edit_seconds,
                  "fit_timings": session.timings, **session.quality()}
        report["outside_margin_px"] = M.default_margin(editor.size)
        report["outside_mask_psnr"] = M.psnr(result.image, session.photo, M.outside_region(model_mask))
        if action != "appearance" and editor.segmenter is not None:
            report["concept_share_before"] = M.concept_share(editor.segment(session.photo), concept, model_mask)
            report["concept_share_after"] = M.concept_share(editor.segment(result.image), concept, model_mask)
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.report}")
