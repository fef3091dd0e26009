"""``python -m ganpaint_core dissect``: label the units of a model's semantic layer and write dissection.json.

It also keeps the generator's instance shapes per concept next to it (``exemplars.safetensors``), which
exemplar adds place in the painted region; ``--exemplars-only`` rebuilds just those.
"""

from __future__ import annotations

import json
from pathlib import Path

from ganpaint_core.dissection import exemplars as ex
from ganpaint_core.dissection.dissect import CAUSAL_SAMPLES, QUANTILES, dissect, draw, summary
from ganpaint_core.dissection.levels import LEVEL_SAMPLES, add_levels


def add_arguments(p):
    from ganpaint_core.models.registry import model_help

    p.add_argument("--model", default="default", help=model_help())
    p.add_argument("--out", default="", help="dissection JSON (default: the model folder's dissection.json)")
    p.add_argument("--segmenter", default="", help="segmenter weights (a .safetensors file or a model folder) for "
                   "a model without one, e.g. a .pth generator (default: the model's own, else models/default's)")
    p.add_argument("--layer", default="", help="semantic layer (default: the model's)")
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--quantile", default=",".join(map(str, QUANTILES)),
                   help="top quantile(s) of each unit's activation tried as its threshold, comma-separated; "
                   "each (unit, concept) pair keeps the one with the best IoU")
    p.add_argument("--causal-samples", type=int, default=CAUSAL_SAMPLES,
                   help="samples for ranking units by their causal effect (0: IoU ranking only)")
    p.add_argument("--level-samples", type=int, default=LEVEL_SAMPLES,
                   help="samples for each concept's unit levels, which add edits set (0: skip them)")
    p.add_argument("--levels-only", action="store_true",
                   help="keep the existing dissection JSON (--out, or the model's) and only (re)compute the levels")
    p.add_argument("--exemplar-samples", type=int, default=ex.SAMPLES,
                   help="samples whose instances give each concept's exemplar shapes, written to "
                   "exemplars.safetensors beside the dissection (0: skip them)")
    p.add_argument("--exemplars-only", action="store_true",
                   help="keep the dissection JSON and only (re)build exemplars.safetensors beside it")
    p.add_argument("--batch", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--picture", default="", help="also draw the top units of each concept to this PNG")



def run(args):
    from ganpaint_core.models import MODELS_DIR, load_model, load_segmenter
    from ganpaint_core.models.registry import registry

    if not args.out and args.model.strip().lower() in registry():    # its folder keeps the published unit lists
        raise ValueError(f"--out is needed for the registered model {args.model!r}: its folder keeps GAN "
                         f"dissection's published unit lists")
    bundle = load_model(args.model)
    if args.segmenter:
        segmenter = load_segmenter(args.segmenter)
    elif bundle.segmenter is not None:
        segmenter = bundle.segmenter
    elif (MODELS_DIR / "default" / "segmenter.safetensors").is_file():
        segmenter = load_segmenter(MODELS_DIR / "default")
    else:
        raise ValueError(f"model {args.model!r} has no segmenter; pass --segmenter PATH")
    if not args.out and bundle.folder is None:
        raise ValueError("--out is needed when the model is a single checkpoint file")
    layer = args.layer or bundle.layer
    try:
        quantiles = tuple(float(q) for q in str(args.quantile).split(","))
    except ValueError:
        raise ValueError(f"--quantile takes numbers separated by commas, got {args.quantile!r}") from None
    out = Path(args.out) if args.out else bundle.folder / "dissection.json"
    if args.exemplars_only:
        if args.exemplar_samples < 1:
            raise ValueError("--exemplars-only needs --exemplar-samples >= 1")
        write_exemplars(bundle, segmenter, out.parent / ex.FILENAME, args)
        return
    if args.levels_only:
        if not out.is_file():
            raise FileNotFoundError(f"--levels-only needs an existing dissection: {out} is not there")
        if args.level_samples < 1:
            raise ValueError("--levels-only needs --level-samples >= 1")
        result = add_levels(json.loads(out.read_text()), bundle.generator, segmenter, args.level_samples,
                            seed=args.seed + 1)
        out.write_text(json.dumps(result, indent=1))
        print(f"wrote the concept levels ({args.level_samples} samples) into {out}")
        return
    result = dissect(bundle.generator, segmenter, layer, args.samples, quantiles, args.batch, args.seed,
                     causal_samples=args.causal_samples, level_samples=args.level_samples)
    result["model"] = bundle.name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    for by, what in (("concept", "units with IoU >= 0.10 per concept"),
                     ("label", "units labelled with the concept (best IoU >= 0.10)")):
        print(f"{what}: " + ", ".join(f"{k} {v}" for k, v in summary(result, 0.10, by).items()))
    if args.exemplar_samples > 0:
        write_exemplars(bundle, segmenter, out.parent / ex.FILENAME, args)
    if args.picture:
        draw(bundle.generator, result, args.picture)
        print(f"wrote {args.picture}")
    print(f"wrote {out}")


def write_exemplars(bundle, segmenter, path: Path, args) -> None:
    found = ex.collect_exemplars(bundle.generator, segmenter, args.layer or bundle.layer, args.exemplar_samples,
                                 args.batch, seed=args.seed + 2)
    ex.save_exemplars(path, found, {"samples": args.exemplar_samples, "seed": args.seed + 2, "shape": ex.SHAPE,
                                    "min_pixels": ex.MIN_PIXELS})
    counts = ", ".join(f"{name} {len(entry['shapes'])}" for name, entry in found.items()) or "none"
    print(f"wrote {path} (exemplar shapes per concept: {counts})")
