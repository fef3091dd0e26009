"""``python -m ganpaint_core scenes export``: write scenes, label maps and edit pairs to a folder."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ganpaint_core.commands.cli import check_out_dir
from ganpaint_core.concepts import CONCEPTS, colorize
from ganpaint_core.imaging import image_grid
from ganpaint_core.scenes.pairs import PAIR_KINDS, find_pairs
from ganpaint_core.scenes.render import MIN_SIZE, render_batch


def add_arguments(p):
    p.add_argument("--n", type=int, required=True, help="number of scenes")
    p.add_argument("--size", type=int, default=128, help=f"image size in pixels (>= {MIN_SIZE})")
    p.add_argument("--seed", type=int, default=0, help="first seed; scenes use seeds SEED..SEED+N-1")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--workers", type=int, default=0, help="processes (0: all cores)")
    p.add_argument("--pairs", action="store_true", help="also write edit pairs (before, after, mask) per kind")
    p.add_argument("--pairs-per-kind", type=int, default=0, help="pairs per kind (default: N)")
    p.add_argument("--sheet", default="", help="also write a contact sheet (up to 64 scenes beside their labels)")


def concepts_json() -> dict:
    return {"concepts": [{"id": c.id, "name": c.name, "color": list(c.color)} for c in CONCEPTS]}


def run(args):
    if args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}")
    if args.size < MIN_SIZE:
        raise ValueError(f"--size must be at least {MIN_SIZE} pixels, got {args.size}")
    out = Path(args.out)
    check_out_dir(out)
    (out / "images").mkdir(exist_ok=True)
    (out / "labels").mkdir(exist_ok=True)
    seeds = range(args.seed, args.seed + args.n)
    images, labels = render_batch(seeds, args.size, workers=args.workers or os.cpu_count())
    for seed, rgb, lab in tqdm(zip(seeds, images, labels, strict=True), total=args.n, desc="write", unit="scene"):
        Image.fromarray(rgb).save(out / "images" / f"{seed:08d}.png")
        Image.fromarray(lab).save(out / "labels" / f"{seed:08d}.png")
    info = concepts_json()
    info["pixel_share"] = {c.name: float(np.mean(labels == c.id)) for c in CONCEPTS}
    info.update(size=args.size, seeds=[args.seed, args.seed + args.n - 1])
    (out / "concepts.json").write_text(json.dumps(info, indent=2))
    if args.sheet:
        Image.fromarray(contact_sheet(images[:64], labels[:64])).save(args.sheet)
    if args.pairs:
        write_pairs(out / "pairs", args.pairs_per_kind or args.n, args.seed, args.size)
    print(f"wrote {args.n} scenes to {out}")


def contact_sheet(images: np.ndarray, labels: np.ndarray, cols: int = 8) -> np.ndarray:
    """Each scene beside its colourised label map, ``cols`` pairs per row."""
    tiles = np.stack([t for rgb, lab in zip(images, labels, strict=True) for t in (rgb, colorize(lab))])
    return image_grid(tiles, 2 * cols)


def write_pairs(out: Path, n: int, seed: int, size: int) -> None:
    """``out/<kind>/<seed>_{before,after,mask}.png`` and ``out/pairs.csv``."""
    rows = []
    for kind in tqdm([k for k in PAIR_KINDS if k != "add_door"] + ["add_door"], desc="pairs", unit="kind"):
        (out / kind).mkdir(parents=True, exist_ok=True)
        for p in find_pairs(kind, n, seed, size, max_tries=max(1000, 50 * n)):
            stem = out / kind / f"{p.seed:08d}"
            Image.fromarray(p.before_rgb).save(f"{stem}_before.png")
            Image.fromarray(p.after_rgb).save(f"{stem}_after.png")
            Image.fromarray(p.before_labels).save(f"{stem}_before_labels.png")
            Image.fromarray(p.after_labels).save(f"{stem}_after_labels.png")
            Image.fromarray(p.mask.astype(np.uint8) * 255).save(f"{stem}_mask.png")
            rows.append({"seed": p.seed, "kind": kind, "action": p.action, "concept": p.concept,
                         "before": f"{kind}/{p.seed:08d}_before.png", "after": f"{kind}/{p.seed:08d}_after.png",
                         "mask": f"{kind}/{p.seed:08d}_mask.png"})
    with open(out / "pairs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
