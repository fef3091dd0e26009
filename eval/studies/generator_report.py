"""``python -m eval generator-report``: how close the generator's world is to the scene world.

Two measures, both through the segmenter: the pixel share of every concept on
generated samples vs. held-out scenes, and a Fréchet distance between the
segmenter's pooled features of samples and of held-out scenes, printed beside
the same distance between two disjoint held-out sets (the floor).  Also writes
an 8x8 sample grid.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import linalg
from tqdm import tqdm

from ganpaint_core.concepts import NAMES, NUM_CONCEPTS
from ganpaint_core.imaging import image_grid, to_tensor, to_uint8
from ganpaint_core.scenes import HELDOUT_SEED_START

KEY_CONCEPTS = ("sky", "tree", "grass", "building", "roof")


def add_arguments(p):
    p.add_argument("--model", default="default")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="docs/generator_report.json")
    p.add_argument("--grid", default="docs/generator_samples.png", help="8x8 sample grid ('' to skip)")


@torch.inference_mode()
def segmenter_stats(segmenter, images: np.ndarray, batch: int = 50,
                    shares: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
    """(pixel share per concept, pooled feature vectors (N, D)) of uint8 images; no shares (None) if not ``shares``.

    The encoder runs once per batch: its activations give the pooled features and, decoded, the labels."""
    counts = np.zeros(NUM_CONCEPTS, np.int64)
    feats = []
    segmenter.eval()
    for i in range(0, len(images), batch):
        x = to_tensor(np.asarray(images[i:i + batch]))
        levels = segmenter.features(x)
        feats.append(torch.cat([f.mean(dim=(2, 3)) for f in levels], 1).numpy())
        if shares:
            labels = segmenter.decode(levels).argmax(1).numpy()
            counts += np.bincount(labels.ravel(), minlength=NUM_CONCEPTS)
    return (counts / counts.sum() if shares else None), np.concatenate(feats).astype(np.float64)


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    root = root.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def generate(generator, n: int, seed: int, batch: int = 50) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    out = []
    with torch.inference_mode():
        for start in tqdm(range(0, n, batch), desc="samples", unit="batch"):
            out.append(to_uint8(generator(torch.randn(min(batch, n - start), generator.z_dim, generator=g))))
    return np.concatenate(out)


def report(bundle, samples: int = 1000, seed: int = 0) -> dict:
    from ganpaint_core.scenes import render_batch

    if bundle.segmenter is None:
        raise ValueError("the generator report needs a model with a segmenter")
    size = bundle.generator.resolution
    fake = generate(bundle.generator, samples, seed)
    real_a, _ = render_batch(range(HELDOUT_SEED_START, HELDOUT_SEED_START + samples), size)
    real_b, _ = render_batch(range(HELDOUT_SEED_START + samples, HELDOUT_SEED_START + 2 * samples), size)
    share_fake, feat_fake = segmenter_stats(bundle.segmenter, fake)
    share_real, feat_a = segmenter_stats(bundle.segmenter, real_a)
    _, feat_b = segmenter_stats(bundle.segmenter, real_b, shares=False)
    ratio = {n: float(share_fake[i] / max(share_real[i], 1e-9)) for i, n in enumerate(NAMES)}
    return {
        "model": bundle.name, "samples": samples, "resolution": size,
        "pixel_share_generated": {n: float(share_fake[i]) for i, n in enumerate(NAMES)},
        "pixel_share_scenes": {n: float(share_real[i]) for i, n in enumerate(NAMES)},
        "share_ratio": ratio,
        "key_concepts_within_1_5x": all(1 / 1.5 <= ratio[n] <= 1.5 for n in KEY_CONCEPTS),
        "frechet_segmenter_features": frechet(feat_fake, feat_a),
        "frechet_floor_two_scene_sets": frechet(feat_b, feat_a),
    }, fake


def run(args):
    from ganpaint_core.models import load_model

    if args.samples < 10:
        raise ValueError("--samples must be at least 10")
    bundle = load_model(args.model)
    result, fake = report(bundle, args.samples, args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    if args.grid:
        Image.fromarray(image_grid(fake[:64], 8)).save(args.grid)
    print("concept   generated  scenes  ratio")
    for n in NAMES:
        print(f"{n:9s} {result['pixel_share_generated'][n]:9.3f} {result['pixel_share_scenes'][n]:7.3f} "
              f"{result['share_ratio'][n]:6.2f}")
    print(f"Fréchet distance (segmenter features): {result['frechet_segmenter_features']:.3f} "
          f"(floor, two scene sets: {result['frechet_floor_two_scene_sets']:.3f})")
    print(f"wrote {args.out}")
