"""``python -m ganpaint_core sample``: a grid of generator samples (optionally beside their segmentation)."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image


def add_arguments(p):
    from ganpaint_core.models.registry import model_help

    p.add_argument("--model", default="default", help=model_help())
    p.add_argument("--n", type=int, default=64, help="number of samples")
    p.add_argument("--cols", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--labels", action="store_true", help="put the segmenter's label map beside each sample")
    p.add_argument("--out", default="samples.png")


def run(args):
    from ganpaint_core.concepts import colorize
    from ganpaint_core.imaging import image_grid, to_uint8
    from ganpaint_core.models import load_model

    if args.n < 1 or args.cols < 1:
        raise ValueError("--n and --cols must be at least 1")
    bundle = load_model(args.model)
    g = bundle.generator
    z = torch.randn(args.n, g.z_dim, generator=torch.Generator().manual_seed(args.seed))
    with torch.inference_mode():
        images = to_uint8(torch.cat([g(chunk) for chunk in z.split(16)]))
    tiles, cols = images, args.cols
    if args.labels:
        if bundle.segmenter is None:
            raise ValueError(f"model {args.model!r} has no segmenter for --labels")
        labels = bundle.segmenter.predict(images)
        tiles = torch.stack([torch.from_numpy(t) for pair in zip(images, colorize(labels), strict=True)
                             for t in pair]).numpy()
        cols *= 2
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image_grid(tiles, cols)).save(args.out)
    print(f"wrote {args.out}")
