"""``python -m ganpaint_core ship``: assemble a model folder in the shipped layout.

Takes the generator (and discriminator) from a training checkpoint
(``runs/generator/ckpt.pt``) or a generator ``.safetensors``, adds the segmenter
and encoder weights, and writes fp16 safetensors plus ``config.json`` into the
folder (``models/default`` by default).  An existing ``dissection.json`` is kept
only while it still fits the generator (run ``dissect`` after a new generator).
"""

from __future__ import annotations

import json
from pathlib import Path

MAX_MEGABYTES = 40.0


def add_arguments(p):
    p.add_argument("--generator", required=True,
                   help="generator: a training checkpoint (ckpt.pt, also gives the discriminator) or a .safetensors")
    p.add_argument("--segmenter", default="", help="segmenter .safetensors (default: keep the folder's)")
    p.add_argument("--encoder", default="", help="encoder .safetensors (default: keep the folder's)")
    p.add_argument("--out", default="", help="model folder (default: models/default)")
    p.add_argument("--layer", default="layer4", help="the semantic layer the editor paints in")


def discriminator_from_checkpoint(path: Path):
    """The full-resolution discriminator inside a ``train generator`` checkpoint, or None."""
    import torch

    from ganpaint_core.models import read_torch_checkpoint
    from ganpaint_core.networks.discriminator import Discriminator

    ckpt = read_torch_checkpoint(path)
    if not isinstance(ckpt.get("d"), dict):
        return None
    state = {k[2:]: v for k, v in ckpt["d"].items() if k.startswith("d.")}
    stages = sum(1 for k in state if k.startswith("stages.") and k.endswith(".1.weight"))
    widths = [int(state["from_rgb.weight"].shape[0])]
    widths += [int(state[f"stages.{i}.1.weight"].shape[0]) for i in range(stages)]
    d = Discriminator(widths, 4 * 2 ** (len(widths) - 1))
    d.load_state_dict(state)
    return d.eval().requires_grad_(False).to(torch.float32)


def folder_megabytes(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 2**20


def run(args):
    from ganpaint_core.models import MODELS_DIR, ModelBundle, check_dissection, load_generator, load_part, save_model

    out = Path(args.out) if args.out else MODELS_DIR / "default"
    source = Path(args.generator)
    generator = load_generator(source)
    bundle = ModelBundle(name=out.name, generator=generator, layer=args.layer)
    if args.layer not in generator.layer_names:
        raise ValueError(f"unknown layer {args.layer!r}; the generator has {', '.join(generator.layer_names)}")
    if source.suffix != ".safetensors":
        bundle.discriminator = discriminator_from_checkpoint(source)
    for part, given in (("segmenter", args.segmenter), ("encoder", args.encoder)):
        path = Path(given) if given else out / f"{part}.safetensors"
        if given or path.is_file():
            setattr(bundle, part, load_part(path, part, generator))
    old = out / "dissection.json"
    if old.is_file():
        try:
            dissection = json.loads(old.read_text())
            check_dissection(dissection, generator)
            bundle.dissection = dissection
        except ValueError as err:
            print(f"dropping {old}: {err}; run `python -m ganpaint_core dissect --model {out}`")
            old.unlink()
    bundle.config = {"generator_source": str(source)}
    save_model(out, bundle, half=True)
    size = folder_megabytes(out)
    parts = [p for p in ("generator", "segmenter", "encoder", "discriminator") if getattr(bundle, p) is not None]
    print(f"wrote {out}: {', '.join(parts)}; {size:.1f} MB")
    if size > MAX_MEGABYTES:
        raise ValueError(f"{out} holds {size:.1f} MB, over the {MAX_MEGABYTES:.0f} MB budget")
