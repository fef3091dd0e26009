"""``python -m ganpaint_core dissect``: label each unit of the semantic layer with a concept.

GAN dissection (Bau et al. 2019): for every unit, threshold its bilinearly
upsampled activation at a top quantile (0.99 by default) taken over all
samples and positions, then score the IoU of the thresholded region with the
segmenter's mask of every concept over thousands of generated images.  A
unit's label is its best concept; the editor takes the top units of a concept.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from ganpaint_core.concepts import NAMES, NUM_CONCEPTS
from ganpaint_core.imaging import to_uint8

IOU_GRID = 64          # IoU is measured at this resolution
QUANTILE_GRID = 16     # thresholds from activations upsampled to this grid
TOP_UNITS = 24         # units listed per concept


def add_arguments(p):
    p.add_argument("--model", default="default", help="'default', a model folder, or a checkpoint path")
    p.add_argument("--out", default="", help="dissection JSON (default: the model folder's dissection.json)")
    p.add_argument("--layer", default="", help="semantic layer (default: the model's)")
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--quantile", type=float, default=0.99)
    p.add_argument("--batch", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--picture", default="", help="also draw the top units of each concept to this PNG")


def _batches(generator, layer, n, batch, seed):
    g = torch.Generator().manual_seed(seed)
    for start in range(0, n, batch):
        z = torch.randn(min(batch, n - start), generator.z_dim, generator=g)
        with torch.inference_mode():
            feats = generator.features(z, layer)
            images = generator.render_from(feats, layer)
        yield z, feats, images


def dissect(generator, segmenter, layer: str = "layer4", samples: int = 2000, quantile: float = 0.99,
            batch: int = 25, seed: int = 0, progress: bool = True) -> dict:
    """The dissection of ``layer``: per-unit concept, IoU, threshold and high level."""
    if samples < 1:
        raise ValueError("samples must be at least 1")
    if not 0.5 <= quantile < 1:
        raise ValueError(f"quantile must be in [0.5, 1), got {quantile}")
    # Pass 1: per-unit thresholds (upsampled activations) and high levels (raw activations).
    n_q = min(samples, 500)
    up_vals, raw_vals = [], []
    for _, feats, _ in tqdm(_batches(generator, layer, n_q, batch, seed), total=-(-n_q // batch),
                            desc="quantiles", disable=not progress):
        up = F.interpolate(feats, size=QUANTILE_GRID, mode="bilinear", align_corners=False)
        up_vals.append(up.transpose(0, 1).flatten(1))
        raw_vals.append(feats.transpose(0, 1).flatten(1))
    thresholds = torch.quantile(torch.cat(up_vals, 1), quantile, dim=1)
    high = torch.quantile(torch.cat(raw_vals, 1), 0.99, dim=1)
    del up_vals, raw_vals
    # Pass 2: intersections and unions with the segmenter's concept masks.
    units = thresholds.numel()
    inter = torch.zeros(units, NUM_CONCEPTS, dtype=torch.float64)
    act_area = torch.zeros(units, dtype=torch.float64)
    concept_area = torch.zeros(NUM_CONCEPTS, dtype=torch.float64)
    for _, feats, images in tqdm(_batches(generator, layer, samples, batch, seed + 1), total=-(-samples // batch),
                                 desc="dissect", disable=not progress):
        labels = torch.from_numpy(segmenter.predict(to_uint8(images)))[:, None].float()
        labels = F.interpolate(labels, size=IOU_GRID, mode="nearest")[:, 0].long()
        onehot = F.one_hot(labels, NUM_CONCEPTS).reshape(-1, NUM_CONCEPTS).double()
        up = F.interpolate(feats, size=IOU_GRID, mode="bilinear", align_corners=False)
        on = (up > thresholds.view(1, -1, 1, 1)).permute(1, 0, 2, 3).reshape(units, -1).double()
        inter += on @ onehot
        act_area += on.sum(1)
        concept_area += onehot.sum(0)
    iou = (inter / (act_area[:, None] + concept_area[None, :] - inter).clamp_min(1)).numpy()
    result = {
        "layer": layer, "quantile": quantile, "num_samples": samples, "iou_grid": IOU_GRID,
        "units": [{"unit": u, "concept": NAMES[int(iou[u].argmax())], "iou": round(float(iou[u].max()), 4),
                   "threshold": round(float(thresholds[u]), 4), "high": round(float(high[u]), 4)}
                  for u in range(units)],
        "concepts": {},
    }
    for c, name in enumerate(NAMES):
        order = np.argsort(-iou[:, c])[:TOP_UNITS]
        result["concepts"][name] = {"units": [int(u) for u in order],
                                    "ious": [round(float(iou[u, c]), 4) for u in order]}
    return result


def summary(dissection: dict, min_iou: float = 0.10) -> dict[str, int]:
    """For each concept, how many units have it as best concept with IoU >= ``min_iou``."""
    counts = dict.fromkeys(NAMES, 0)
    for unit in dissection["units"]:
        if unit["iou"] >= min_iou:
            counts[unit["concept"]] += 1
    return counts


def draw(generator, dissection: dict, path: str, per_concept: int = 3, samples: int = 4, seed: int = 7) -> None:
    """A picture: for the top units of each concept, samples with the unit's region highlighted."""
    from PIL import Image

    from ganpaint_core.imaging import image_grid

    layer = dissection["layer"]
    z = torch.randn(64, generator.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        feats = generator.features(z, layer)
        images = to_uint8(generator.render_from(feats, layer)).astype(np.float32)
    tiles = []
    names = [n for n in NAMES if dissection["concepts"][n]["ious"][0] >= 0.05]
    for name in names:
        for unit in dissection["concepts"][name]["units"][:per_concept]:
            thr = dissection["units"][unit]["threshold"]
            best = torch.argsort(feats[:, unit].amax(dim=(1, 2)), descending=True)[:samples]
            for i in best.tolist():
                up = F.interpolate(feats[i : i + 1, unit : unit + 1], size=images.shape[1], mode="bilinear",
                                   align_corners=False)[0, 0].numpy()
                on = (up > thr)[..., None]
                tiles.append(np.where(on, images[i], images[i] * 0.35).astype(np.uint8))
    if tiles:
        Image.fromarray(image_grid(np.stack(tiles), per_concept * samples)).save(path)


def run(args):
    from ganpaint_core.models import MODELS_DIR, load_model

    bundle = load_model(args.model)
    if bundle.segmenter is None:
        raise ValueError(f"model {args.model!r} has no segmenter; dissection needs one (models/default has it)")
    layer = args.layer or bundle.layer
    if layer not in bundle.generator.layer_names:
        raise ValueError(f"unknown layer {layer!r}; the generator has {', '.join(bundle.generator.layer_names)}")
    result = dissect(bundle.generator, bundle.segmenter, layer, args.samples, args.quantile, args.batch, args.seed)
    result["model"] = bundle.name
    out = Path(args.out) if args.out else MODELS_DIR / bundle.name / "dissection.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    counts = summary(result)
    print("units with IoU >= 0.10 per concept: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if args.picture:
        draw(bundle.generator, result, args.picture)
        print(f"wrote {args.picture}")
    print(f"wrote {out}")
