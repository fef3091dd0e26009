"""``python -m eval placement-bench``: time where an add puts its object (``placement.object_region``); JSON.

The add's own share of an edit: the exemplar search over the painted region.  Its
masks are held-out scene-world add masks (trees and domes) at the default model's
size and scaled up to 256 px.  Each size is timed four ways: ``cold`` (nothing
kept: each concept's resampled templates made on the way), ``prepared`` (as after
a model's load: the coarse kernels made by ``placement.prepare``, nothing else;
``prepare_ms``: what that costs the load, every concept), ``new_mask`` (templates
kept from the other adds, masks the search has not seen: the adds mirrored; one
pass) and ``again`` (the same masks again, as when a user changes the strength or
undoes: the kept placement).  Beside it, one forward render of the default model from the edit
layer, timed in the same run, so the figures read as a share of the edit's
unavoidable cost on any machine.  Times are the process's CPU time per add
(single-threaded torch) and wall time, medians over ``--repeats`` passes.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import numpy as np

from ganpaint_core.machine import cpu_model

KINDS = ("add_tree", "add_dome")
SEED_START = 10_700_000         # scene seeds of the masks (held out; not the eval's tuning or checking seeds)


def add_arguments(p):
    p.add_argument("--out", default="docs/bench_placement.json", help="JSON file to write")
    p.add_argument("--masks", type=int, default=8, help="masks per add kind")
    p.add_argument("--repeats", type=int, default=5, help="timed passes over the masks (median)")
    p.add_argument("--sizes", default="128,256", help="mask sizes in px, comma-separated")


def _masks(n: int, sizes: list[int]) -> dict[int, list[tuple[np.ndarray, str]]]:
    from PIL import Image

    from ganpaint_core.scenes.pairs import find_pairs

    base = [(pair.mask, pair.concept) for kind in KINDS for pair in find_pairs(kind, n, SEED_START, 128)]
    return {size: [(m if size == 128 else np.asarray(Image.fromarray(m).resize((size, size), Image.NEAREST)), c)
                   for m, c in base] for size in sizes}


def _timed(work, repeats: int, count: int, setup=lambda: None) -> dict:
    """``work(setup())``'s CPU and wall time per item (of ``count``), medians over ``repeats``; setup untimed."""
    cpu, wall = [], []
    for _ in range(repeats):
        made = setup()
        c, w = time.process_time(), time.perf_counter()
        work(made)
        cpu.append((time.process_time() - c) / count * 1000)
        wall.append((time.perf_counter() - w) / count * 1000)
    return {"cpu_ms": round(statistics.median(cpu), 3), "wall_ms": round(statistics.median(wall), 3)}


def _fresh(exemplars: dict) -> dict:
    """The exemplars with nothing kept (no templates made yet)."""
    return {k: {"shapes": v["shapes"], "sizes": v["sizes"]} for k, v in exemplars.items()}


def _place_all(placement, items, exemplars: dict, mirrored: bool = False) -> None:
    for m, c in items:
        placement.object_region(np.ascontiguousarray(m[:, ::-1]) if mirrored else m, c, exemplars)


def measure(masks: int = 8, repeats: int = 5, sizes: tuple[int, ...] = (128, 256)) -> dict:
    import torch

    from ganpaint_core.dissection.exemplars import load_exemplars
    from ganpaint_core.editing import placement
    from ganpaint_core.models import MODELS_DIR, load_model

    torch.set_num_threads(1)
    bundle = load_model("default")
    generator, layer = bundle.generator.eval(), bundle.layer
    by_size = _masks(masks, list(sizes))
    r = generator.features(torch.randn(1, generator.z_dim, generator=torch.Generator().manual_seed(0)), layer)

    def render():
        with torch.inference_mode():
            generator.render_from(r, layer)

    render()
    out = {"cpu_model": cpu_model(), "threads": 1, "masks": len(next(iter(by_size.values()))),
           "forward_render_128": _timed(lambda _: [render() for _ in range(10)], repeats, 10), "sizes": {}}
    shipped = load_exemplars(MODELS_DIR / "default" / "exemplars.safetensors")
    for size, items in by_size.items():
        kept = _fresh(shipped)
        _place_all(placement, items, kept)
        n = len(items)

        def prepared(size=size):
            made = _fresh(shipped)
            placement.prepare(made, size)
            return made

        out["sizes"][str(size)] = {
            "cold": _timed(lambda made, items=items: _place_all(placement, items, made), repeats, n,
                           lambda: _fresh(shipped)),
            "prepared": _timed(lambda made, items=items: _place_all(placement, items, made), repeats, n, prepared),
            "prepare_ms": _timed(lambda made, size=size: placement.prepare(made, size), repeats, 1,
                                 lambda: _fresh(shipped)),
            "new_mask": _timed(lambda _, items=items, kept=kept: _place_all(placement, items, kept, True), 1, n),
            "again": _timed(lambda _, items=items, kept=kept: _place_all(placement, items, kept), repeats, n)}
    return out


def run(args):
    sizes = tuple(int(s) for s in str(args.sizes).split(",") if s.strip())
    if not sizes or min(sizes) < 16:
        raise ValueError(f"--sizes needs sizes of 16 px or more, got {args.sizes!r}")
    if args.masks < 1 or args.repeats < 1:
        raise ValueError("--masks and --repeats must be at least 1")
    result = measure(args.masks, args.repeats, sizes)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0
