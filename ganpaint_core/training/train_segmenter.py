"""``python -m ganpaint_core train segmenter``: train the U-Net segmenter on scene-world label maps.

Cross-entropy with class weights (rare concepts such as doors count more),
augmentation toward GAN-like images, a cosine learning-rate schedule over the
time budget, bf16 autocast (where the CPU has native bf16) + channels_last.  Resumable (``OUT/ckpt.pt``); at
the end it reports per-concept IoU on held-out scenes (``OUT/metrics.json``)
and can export the weights as safetensors.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from ganpaint_core import precision
from ganpaint_core.concepts import NAMES, NUM_CONCEPTS
from ganpaint_core.networks.segmenter import Segmenter, confusion, iou_per_class
from ganpaint_core.precision import autocast, use_bf16
from ganpaint_core.scenes import HELDOUT_SEED_START
from ganpaint_core.training.augment import degrade
from ganpaint_core.training.checkpoint import resume, save_checkpoint
from ganpaint_core.training.scene_cache import load_scenes


def add_arguments(p):
    p.add_argument("--out", default="runs/segmenter")
    p.add_argument("--data", type=int, default=30000, help="training scenes (seeds 0..N-1)")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--widths", default="16,32,64,128")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--minutes", type=float, default=20.0, help="training time budget (cosine schedule)")
    p.add_argument("--eval-scenes", type=int, default=500, help="held-out scenes for the mIoU report")
    p.add_argument("--threads", type=int, default=0)
    precision.add_argument(p)
    p.add_argument("--export", default="", help="write the trained weights as safetensors here")
    p.add_argument("--picture", default="", help="also draw held-out scenes beside their truth and prediction here")
    p.add_argument("--eval-only", default="", metavar="WEIGHTS",
                   help="skip training: evaluate these segmenter weights (.safetensors) and write OUT/metrics.json")


def draw_predictions(model: Segmenter, path: str, n: int = 8, size: int = 128) -> None:
    """A picture: held-out scenes, their true labels and the segmenter's labels, one scene per row."""
    from PIL import Image

    from ganpaint_core.concepts import colorize
    from ganpaint_core.imaging import image_grid
    from ganpaint_core.scenes import render_batch

    images, labels = render_batch(range(HELDOUT_SEED_START, HELDOUT_SEED_START + n), size, workers=1)
    pred = model.predict(images)
    tiles = np.stack([t for i in range(n) for t in (images[i], colorize(labels[i]), colorize(pred[i]))])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image_grid(tiles, 6)).save(path)


def evaluate(model: Segmenter, n: int, size: int) -> dict:
    """Per-concept IoU and mIoU on ``n`` held-out scenes."""
    images, labels = load_scenes(n, size, HELDOUT_SEED_START)
    conf = np.zeros((NUM_CONCEPTS, NUM_CONCEPTS), np.int64)
    for i in tqdm(range(0, n, 50), desc="evaluate", unit="batch"):
        conf += confusion(model.predict(np.array(images[i:i + 50])), np.asarray(labels[i:i + 50]))
    iou = iou_per_class(conf)
    return {"miou": float(np.nanmean(iou)), "iou": {name: float(v) for name, v in zip(NAMES, iou, strict=True)},
            "pixel_accuracy": float(np.trace(conf) / conf.sum()), "scenes": n,
            "seeds": [HELDOUT_SEED_START, HELDOUT_SEED_START + n - 1]}


def _report(model: Segmenter, args, out: Path, extra: dict) -> dict:
    metrics = evaluate(model, args.eval_scenes, args.size)
    metrics.update(extra)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))
    if args.picture:
        draw_predictions(model, args.picture, size=args.size)
        print(f"wrote {args.picture}")
    return metrics


def run(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    bf16 = use_bf16(args.precision)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.eval_only:
        from ganpaint_core.models import load_segmenter

        _report(load_segmenter(args.eval_only), args, out, {"weights": args.eval_only})
        return 0
    model = Segmenter([int(w) for w in args.widths.split(",")]).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    images, labels = load_scenes(args.data, args.size, 0)
    share = np.bincount(np.asarray(labels[:2000]).ravel(), minlength=NUM_CONCEPTS) / labels[:2000].size
    weight = torch.tensor(np.clip(1 / np.sqrt(share + 1e-4), 1, 30), dtype=torch.float32)
    weight = weight / weight.mean()
    state = {"step": 0, "seconds": 0.0}
    ckpt_path = out / "ckpt.pt"
    parts = {"model": model, "opt": opt}
    if ckpt_path.exists():
        state = resume(ckpt_path, parts, state)
        print(f"resumed at step {state['step']}")
    budget = args.minutes * 60
    rng = np.random.default_rng(state["step"])
    gen = torch.Generator().manual_seed(state["step"])
    t0, seconds0 = time.time(), state["seconds"]
    bar = tqdm(total=int(budget), initial=int(seconds0), unit="s", desc="train segmenter")
    model.train()
    while (elapsed := seconds0 + time.time() - t0) < budget:
        for group in opt.param_groups:
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
        idx = np.sort(rng.integers(0, len(images), args.batch))
        x = torch.from_numpy(np.stack([images[i] for i in idx])).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        y = torch.from_numpy(np.stack([labels[i] for i in idx])).long()
        flip = torch.from_numpy(rng.random(args.batch) < 0.5)
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
        y = torch.where(flip.view(-1, 1, 1), y.flip(2), y)
        x = degrade(x, gen).contiguous(memory_format=torch.channels_last)
        with autocast(bf16):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, weight=weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["step"] += 1
        bar.n = int(seconds0 + time.time() - t0)
        bar.set_postfix(loss=f"{float(loss):.3f}", step=state["step"])
        if state["step"] % 100 == 0:
            state["seconds"] = seconds0 + time.time() - t0
            save_checkpoint(ckpt_path, parts, state)
    bar.close()
    state["seconds"] = seconds0 + time.time() - t0
    save_checkpoint(ckpt_path, parts, state)
    metrics = _report(model, args, out, {"steps": state["step"], "train_minutes": round(state["seconds"] / 60, 1),
                                         "batch": args.batch, "widths": model.widths, "data": args.data})
    if args.export:
        from safetensors.torch import save_file

        Path(args.export).parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, args.export,
                  metadata={"widths": json.dumps(model.widths), "miou": f"{metrics['miou']:.4f}"})
        print(f"wrote {args.export}")
