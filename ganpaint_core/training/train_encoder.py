"""``python -m ganpaint_core train encoder``: train the inversion encoder on generator samples.

Samples x = G(z) with z ~ N(0, I); the encoder learns z from x with a loss on z
and on the semantic-layer features G_h(E(x)) vs. G_h(z) (cheap: only the
layers up to h are back-propagated).  Reports the PSNR of G(E(x)) on held-out
samples in ``OUT/metrics.json``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
from torch.nn import functional as F
from tqdm import tqdm

from ganpaint_core.encoder import Encoder
from ganpaint_core.training.augment import degrade


def add_arguments(p):
    p.add_argument("--generator", default="models/default/generator.safetensors", help="generator checkpoint")
    p.add_argument("--layer", default="layer4")
    p.add_argument("--out", default="runs/encoder")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--eval-samples", type=int, default=200)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--export", default="", help="write the encoder as safetensors here")


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of images in [-1, 1], per image."""
    mse = ((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse.clamp_min(1e-10))


@torch.inference_mode()
def evaluate(encoder, generator, n: int, seed: int = 10_000_000) -> dict:
    z = torch.randn(n, generator.z_dim, generator=torch.Generator().manual_seed(seed))
    scores = []
    for chunk in z.split(25):
        x = generator(chunk)
        scores.append(psnr(generator(encoder(x)), x))
    scores = torch.cat(scores)
    return {"psnr_mean": float(scores.mean()), "psnr_median": float(scores.median()), "samples": n}


def run(args):
    from ganpaint_core.models import load_generator

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    g = load_generator(args.generator)
    enc = Encoder(g.resolution, g.z_dim)
    opt = torch.optim.Adam(enc.parameters(), lr=args.lr)
    budget = args.minutes * 60
    gen = torch.Generator().manual_seed(0)
    t0, step = time.time(), 0
    bar = tqdm(total=int(budget), unit="s", desc="train encoder")
    while (elapsed := time.time() - t0) < budget:
        for group in opt.param_groups:
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
        z = torch.randn(args.batch, g.z_dim, generator=gen)
        with torch.no_grad():
            feats = g.features(z, args.layer)
            x = g.render_from(feats, args.layer)
            x = degrade(x, gen) if step % 2 else x
        with torch.autocast("cpu", dtype=torch.bfloat16):
            z_hat = enc(x)
            feats_hat = g.features(z_hat, args.layer)
        loss_z = F.mse_loss(z_hat.float(), z)
        loss_f = F.mse_loss(feats_hat.float(), feats) / feats.pow(2).mean()
        loss = loss_z + loss_f
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.n = int(time.time() - t0)
        bar.set_postfix(z=f"{float(loss_z):.3f}", feat=f"{float(loss_f):.3f}", step=step)
    bar.close()
    enc.eval()
    metrics = evaluate(enc, g, args.eval_samples)
    metrics.update(steps=step, batch=args.batch, train_minutes=round((time.time() - t0) / 60, 1),
                   generator=str(args.generator))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))
    if args.export:
        from safetensors.torch import save_file

        Path(args.export).parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in enc.state_dict().items()}, args.export,
                  metadata={"widths": json.dumps(enc.widths), "psnr": f"{metrics['psnr_mean']:.2f}"})
        print(f"wrote {args.export}")
