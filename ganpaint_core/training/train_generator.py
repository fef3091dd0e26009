"""``python -m ganpaint_core train generator``: train the default Progressive GAN on the scene world.

Progressive growing (8 px up to the final size) with fade-ins, non-saturating
loss, lazy R1 on reals, an EMA of the generator, bf16 autocast (where the
hardware has native bf16; ``--precision``) and channels_last.  Runs on the CPU
or a CUDA GPU (``--device``; on a GPU the scenes live in GPU memory).  Resumable:
everything needed to continue lives in ``OUT/ckpt.pt`` (written atomically
every few minutes); losses go to ``OUT/log.csv`` and sample grids of the EMA
generator to ``OUT/samples/``.  ``--compact`` also writes a small resume file
(fp16 weights, no optimiser state) of the kind the repo keeps in ``checkpoints/``.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import signal
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F
from tqdm import tqdm

from ganpaint_core import precision
from ganpaint_core.imaging import image_grid, to_uint8
from ganpaint_core.networks.discriminator import Discriminator
from ganpaint_core.networks.proggan import ProgressiveGenerator
from ganpaint_core.precision import autocast, use_bf16
from ganpaint_core.training.checkpoint import resume, save_atomic
from ganpaint_core.training.growing import GrowingDiscriminator, GrowingGenerator
from ganpaint_core.training.scene_cache import load_scenes

DEFAULT_SIZES = "128,256,128,64,32,16,8"


def add_arguments(p):
    p.add_argument("--out", default="runs/generator", help="run folder (checkpoint, log, samples)")
    p.add_argument("--sizes", default=DEFAULT_SIZES, help="z_dim then one width per resolution from 4x4 up")
    p.add_argument("--data", type=int, default=20000, help="number of training scenes (seeds 0..N-1)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--r1", type=float, default=0.2, help="R1 gamma (applied lazily every 16 steps)")
    p.add_argument("--ema-kimg", type=float, default=5.0, help="EMA half-life in thousands of images")
    p.add_argument("--schedule", default="8:20,16:40,32:60,64:100",
                   help="res:kimg phases before the final resolution; each fades in over half its length")
    p.add_argument("--final-fade-kimg", type=float, default=40.0)
    p.add_argument("--kimg", type=float, default=1000.0, help="stop after this many thousand images in total")
    p.add_argument("--minutes", type=float, default=0.0, help="stop after this much wall time in this run (0: none)")
    p.add_argument("--snapshot-minutes", type=float, default=5.0, help="checkpoint and sample grid interval")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument("--seed", type=int, default=0)
    precision.add_argument(p, device=True)
    p.add_argument("--export", default="", help="also write the EMA generator as safetensors here at the end")
    p.add_argument("--compact", default="", help="also write a compact resume checkpoint (fp16, no optimiser "
                   "state) here at every snapshot")


def _phases(schedule: str, final_res: int, final_fade: float):
    """[(res, start_kimg, end_kimg, fade_kimg)], the last phase open-ended."""
    phases, start = [], 0.0
    for item in schedule.split(","):
        res, kimg = item.split(":")
        res, kimg = int(res), float(kimg)
        fade = 0.0 if not phases else kimg / 2
        phases.append((res, start, start + kimg, fade))
        start += kimg
    phases.append((final_res, start, math.inf, final_fade if phases else 0.0))
    return phases


def _phase_at(phases, kimg: float):
    for res, start, end, fade in phases:
        if kimg < end:
            alpha = 1.0 if fade <= 0 else min(1.0, (kimg - start) / fade)
            return res, alpha
    raise AssertionError("unreachable")


def _reals(images: np.ndarray | torch.Tensor, idx: np.ndarray, res: int, alpha: float,
           flip: torch.Tensor) -> torch.Tensor:
    """A batch of real scenes in [-1, 1] at ``res`` (faded from res/2 while alpha < 1), on the images' device."""
    if isinstance(images, torch.Tensor):
        x = images[torch.from_numpy(idx).to(images.device)]
    else:
        x = torch.from_numpy(np.stack([images[i] for i in idx]))
    x = x.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    flip = flip.to(x.device)
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    full = x.shape[-1]
    if res < full:
        x = F.avg_pool2d(x, full // res)
    if alpha < 1:
        x = torch.lerp(F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest"), x, alpha)
    return x.contiguous(memory_format=torch.channels_last)


def compact_checkpoint(ckpt: dict) -> dict:
    """The resume essentials of a training checkpoint: fp16 G, D and EMA weights on the CPU, state and sizes."""
    def half(sd):
        return {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in sd.items()}

    return {"g": half(ckpt["g"]), "d": half(ckpt["d"]), "g_ema": half(ckpt["g_ema"]), "state": dict(ckpt["state"]),
            "sizes": list(ckpt["sizes"])}


def export_generator(g: ProgressiveGenerator, path: Path | str, meta: dict | None = None):
    """Write a generator's weights as fp16 safetensors, with its sizes in the metadata."""
    from safetensors.torch import save_file

    state = {k: v.detach().to(torch.float16).contiguous() for k, v in g.state_dict().items()}
    info = {"sizes": json.dumps(g.sizes), **{k: str(v) for k, v in (meta or {}).items()}}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=info)


def run(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = precision.resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    out = Path(args.out)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    g = ProgressiveGenerator(sizes)
    final_res = g.resolution
    d = Discriminator(list(reversed(sizes[1:])), final_res)
    gg, gd = GrowingGenerator(g).to(device), GrowingDiscriminator(d).to(device)
    g_ema = copy.deepcopy(gg).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(gg.parameters(), lr=args.lr, betas=(0.0, 0.99), eps=1e-8)
    opt_d = torch.optim.Adam(gd.parameters(), lr=args.lr, betas=(0.0, 0.99), eps=1e-8)
    state = {"step": 0, "kimg": 0.0, "seconds": 0.0}
    ckpt_path = out / "ckpt.pt"
    parts = {"g": gg, "d": gd, "g_ema": g_ema, "opt_g": opt_g, "opt_d": opt_d}
    if ckpt_path.exists():      # a compact resume file has no optimiser state
        state = resume(ckpt_path, parts, state, optional=("opt_g", "opt_d"))
        print(f"resumed from {ckpt_path} at {state['kimg']:.1f} kimg, step {state['step']}")
    for m in (gg, gd, g_ema):
        m.to(memory_format=torch.channels_last)

    images, _ = load_scenes(args.data, final_res, 0)
    if device.type == "cuda":   # uint8 scenes in GPU memory: batches without host copies
        images = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    print(f"training on {len(images)} scenes of {final_res} px on {device}; "
          f"G {sum(p.numel() for p in g.parameters())/1e6:.2f} M params, "
          f"D {sum(p.numel() for p in d.parameters())/1e6:.2f} M params")
    phases = _phases(args.schedule, final_res, args.final_fade_kimg)
    rng = np.random.default_rng(args.seed + state["step"])
    fixed_z = torch.randn(64, sizes[0], generator=torch.Generator().manual_seed(1234)).to(device)
    ema_beta = 0.5 ** (args.batch / (args.ema_kimg * 1000))
    ema_params, params = list(g_ema.parameters()), list(gg.parameters())   # once, not per step
    log = open(out / "log.csv", "a", newline="")
    writer = csv.writer(log)
    if log.tell() == 0:
        writer.writerow(["step", "kimg", "res", "alpha", "loss_d", "loss_g", "r1", "sec_per_step", "wall_min"])
    bf16 = use_bf16(args.precision, device)
    print(f"precision: {'bf16 autocast' if bf16 else 'fp32'}")
    t_start = time.time()
    t_snap = t_start
    seconds0 = state["seconds"]
    bar = tqdm(total=int(args.kimg * 1000), initial=int(state["kimg"] * 1000), unit="img", unit_scale=True,
               desc="train G")

    def snapshot():
        state["seconds"] = seconds0 + time.time() - t_start
        ckpt = {"g": gg.state_dict(), "d": gd.state_dict(), "g_ema": g_ema.state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "state": dict(state), "sizes": sizes}
        save_atomic(ckpt, ckpt_path)
        if args.compact:
            save_atomic(compact_checkpoint(ckpt), Path(args.compact))
        res, alpha = _phase_at(phases, state["kimg"])
        with torch.no_grad():
            imgs = torch.cat([g_ema(z, res, alpha) for z in fixed_z.split(16)])
        imgs = F.interpolate(imgs, size=final_res, mode="nearest")
        Image.fromarray(image_grid(to_uint8(imgs), 8)).save(out / "samples" / f"{int(state['kimg']):05d}kimg.png")
        Image.fromarray(image_grid(to_uint8(imgs), 8)).save(out / "samples" / "latest.png")

    r1_every = 16

    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)  # `kill` checkpoints before exiting (background jobs ignore SIGINT)
    try:
        while state["kimg"] < args.kimg:
            if args.minutes and time.time() - t_start > args.minutes * 60:
                break
            t0 = time.time()
            res, alpha = _phase_at(phases, state["kimg"])
            idx = rng.integers(0, len(images), args.batch)
            flip = torch.from_numpy(rng.random(args.batch) < 0.5)
            real = _reals(images, idx, res, alpha, flip)
            # Discriminator step.
            z = torch.randn(args.batch, sizes[0], device=device)
            with autocast(bf16, device):
                with torch.no_grad():
                    fake = gg(z, res, alpha)
                loss_d = F.softplus(gd(fake, res, alpha)).mean() + F.softplus(-gd(real, res, alpha)).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            r1_val = 0.0
            if state["step"] % r1_every == 0 and args.r1 > 0:
                real_r = real.detach().requires_grad_(True)
                score = gd(real_r, res, alpha).sum()
                (grad,) = torch.autograd.grad(score, real_r, create_graph=True)
                penalty = grad.pow(2).sum(dim=(1, 2, 3)).mean()
                (penalty * args.r1 / 2 * r1_every).backward()
                r1_val = float(penalty.detach())
            opt_d.step()
            # Generator step.
            z = torch.randn(args.batch, sizes[0], device=device)
            with autocast(bf16, device):
                loss_g = F.softplus(-gd(gg(z, res, alpha), res, alpha)).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            with torch.no_grad():
                beta = min(ema_beta, (1 + state["step"]) / (10 + state["step"]))
                torch._foreach_lerp_(ema_params, params, 1 - beta)
            state["step"] += 1
            state["kimg"] += args.batch / 1000
            dt = time.time() - t0
            bar.update(args.batch)
            if state["step"] % 20 == 0:
                writer.writerow([state["step"], f"{state['kimg']:.2f}", res, f"{alpha:.3f}", f"{float(loss_d):.4f}",
                                 f"{float(loss_g):.4f}", f"{r1_val:.4f}", f"{dt:.3f}",
                                 f"{(seconds0 + time.time() - t_start) / 60:.1f}"])
                log.flush()
                bar.set_postfix(res=res, alpha=f"{alpha:.2f}", d=f"{float(loss_d):.3f}", g=f"{float(loss_g):.3f}")
            if time.time() - t_snap > args.snapshot_minutes * 60:
                snapshot()
                t_snap = time.time()
    finally:
        snapshot()
        bar.close()
        log.close()
    if args.export:
        export_generator(g_ema.g.cpu(), args.export, {"kimg": f"{state['kimg']:.1f}", "steps": state["step"],
                                                "train_minutes": f"{state['seconds'] / 60:.1f}"})
        print(f"wrote {args.export}")
