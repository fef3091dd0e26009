"""``python -m ganpaint_core train encoder``: train the inversion encoder on generator samples.

Samples x = G(z) with z ~ N(0, I); the encoder learns z from x with a loss on z,
on the semantic-layer features G_h(E(x)) vs. G_h(z) (normalised MSE) and on the
pixels G(E(x)) vs. x (L1).  Half the inputs are degraded (blur, colour, noise)
so that the encoder also copes with photos.  Resumable (``OUT/ckpt.pt``);
reports the PSNR of G(E(x)) on held-out samples (z from the held-out seed
range) in ``OUT/metrics.json``.  Runs on the CPU or a CUDA GPU (``--device``).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
from torch.nn import functional as F
from tqdm import tqdm

from ganpaint_core import precision
from ganpaint_core.networks.encoder import Encoder
from ganpaint_core.precision import autocast, use_bf16
from ganpaint_core.scenes import HELDOUT_SEED_START
from ganpaint_core.training.augment import degrade
from ganpaint_core.training.checkpoint import resume, save_checkpoint


def add_arguments(p):
    p.add_argument("--generator", default="models/default/generator.safetensors", help="generator checkpoint")
    p.add_argument("--layer", default="layer4")
    p.add_argument("--out", default="runs/encoder")
    p.add_argument("--widths", default="", help="encoder stage widths, e.g. 16,32,64,128,256 (default: Encoder's)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--minutes", type=float, default=15.0, help="training time budget (cosine schedule)")
    p.add_argument("--z-weight", type=float, default=1.0, help="weight of the MSE on z")
    p.add_argument("--feature-weight", type=float, default=1.0, help="weight of the normalised MSE on layer features")
    p.add_argument("--pixel-weight", type=float, default=1.0, help="weight of the L1 between G(E(x)) and x")
    p.add_argument("--eval-samples", type=int, default=200)
    p.add_argument("--threads", type=int, default=0)
    precision.add_argument(p, device=True)
    p.add_argument("--export", default="", help="write the encoder as safetensors here")
    p.add_argument("--init", default="", help="start from these encoder weights (.safetensors), e.g. one trained "
                   "on an earlier generator snapshot")


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of images in [-1, 1], per image."""
    mse = ((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse.clamp_min(1e-10))


@torch.inference_mode()
def evaluate(encoder, generator, n: int, seed: int = HELDOUT_SEED_START) -> dict:
    device = next(generator.parameters()).device
    z = torch.randn(n, generator.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    scores = []
    for chunk in z.split(25):
        x = generator(chunk)
        scores.append(psnr(generator(encoder(x)), x))
    scores = torch.cat(scores)
    return {"psnr_mean": float(scores.mean()), "psnr_median": float(scores.median()), "samples": n,
            "z_seed": seed}


def run(args):
    from ganpaint_core.models import load_generator, load_part, save_part

    if args.threads:
        torch.set_num_threads(args.threads)
    device = precision.resolve_device(args.device)
    bf16 = use_bf16(args.precision, device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    g = load_generator(args.generator)
    if args.init:
        enc = load_part(args.init, "encoder", g).train().requires_grad_(True)
    else:
        enc = Encoder(g.resolution, g.z_dim, [int(w) for w in args.widths.split(",")] if args.widths else None)
    g, enc = g.to(device), enc.to(device)
    opt = torch.optim.Adam(enc.parameters(), lr=args.lr)
    state = {"step": 0, "seconds": 0.0}
    ckpt_path = out / "ckpt.pt"
    parts = {"encoder": enc, "opt": opt}
    if ckpt_path.exists():
        state = resume(ckpt_path, parts, state)
        print(f"resumed at step {state['step']}")
    budget = args.minutes * 60
    gen = torch.Generator().manual_seed(state["step"])
    t0, seconds0 = time.time(), state["seconds"]

    def save():
        state["seconds"] = seconds0 + time.time() - t0
        save_checkpoint(ckpt_path, parts, state)

    bar = tqdm(total=int(budget), initial=int(seconds0), unit="s", desc="train encoder")
    while (elapsed := seconds0 + time.time() - t0) < budget:
        for group in opt.param_groups:
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
        z = torch.randn(args.batch, g.z_dim, generator=gen).to(device)
        with torch.no_grad():
            feats = g.features(z, args.layer)
            clean = g.render_from(feats, args.layer)
            x = degrade(clean, gen) if state["step"] % 2 else clean
        with autocast(bf16, device):
            z_hat = enc(x)
            feats_hat = g.features(z_hat, args.layer)
            x_hat = g.render_from(feats_hat, args.layer) if args.pixel_weight else None
        loss_z = F.mse_loss(z_hat.float(), z)
        loss_f = F.mse_loss(feats_hat.float(), feats) / feats.pow(2).mean()
        loss_x = F.l1_loss(x_hat.float(), clean) if x_hat is not None else torch.zeros((), device=device)
        loss = args.z_weight * loss_z + args.feature_weight * loss_f + args.pixel_weight * loss_x
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["step"] += 1
        bar.n = int(seconds0 + time.time() - t0)
        bar.set_postfix(z=f"{float(loss_z):.3f}", feat=f"{float(loss_f):.3f}", pix=f"{float(loss_x):.3f}",
                        step=state["step"])
        if state["step"] % 100 == 0:
            save()
    bar.close()
    save()
    enc.eval()
    metrics = evaluate(enc, g, args.eval_samples)
    enc = enc.cpu()
    metrics.update(steps=state["step"], batch=args.batch, train_minutes=round(state["seconds"] / 60, 1),
                   generator=str(args.generator), widths=enc.widths, init=args.init or None,
                   loss_weights={"z": args.z_weight, "feature": args.feature_weight, "pixel": args.pixel_weight})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))
    if args.export:
        save_part(enc, args.export, meta={"psnr": f"{metrics['psnr_mean']:.2f}", "steps": state["step"]})
        print(f"wrote {args.export}")
