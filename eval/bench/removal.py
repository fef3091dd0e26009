"""``python -m eval removal-bench``: what a remove edit adds to one forward render of G', at 128 and 256 px; JSON.

On the shipped 128 px model and on a random-weight 256 px generator in the paper's layout, with perturbations on
every adapted layer as a fit leaves them, each hole (a tree-sized and a large blob) is timed four ways: G''s plain
forward render; the removal's edit (``removal_operation``: the hole, the depth order, the labels the hole
continues; then the first ``render_removed``: each fill planned, the features filled at the fill layer and the
perturbations continued at every adapted layer, the blocks a removal leaves unchanged taken from the recorded
render as a session does); a later render of the same edit (the plans reused); the edit
with every fill solved exactly (``DIRECT_CELLS`` unbounded: one sparse solve per layer, as the fill did before);
and the edit re-rendering only the window the removal changes (``render_removed``'s ``base``, as a session does
where edits are windowed, ``FitOptions.window_render``: at 256 px by default), ``window_edit_ms``.
Medians over ``--repeats``; ratios hold across machines better than the absolute times.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

BLOBS = {"tree": (0.30, 0.55, 0.22, 0.30), "large": (0.20, 0.30, 0.50, 0.50)}   # top, left, height, width (shares)


def add_arguments(p):
    p.add_argument("--repeats", type=int, default=15, help="timed renders per case (the median is reported)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--out", default="docs/bench_removal.json")


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 2)


def blob_mask(size: int, spec: tuple[float, float, float, float]) -> np.ndarray:
    """bool size x size: an ellipse in the box ``spec`` (top, left, height, width as shares of the side)."""
    top, left, height, width = (v * size for v in spec)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    return ((yy - top - height / 2) / (height / 2)) ** 2 + ((xx - left - width / 2) / (width / 2)) ** 2 <= 1


def scene_labels(size: int) -> np.ndarray:
    """A label map like a scene's: sky over grass, a building left of centre."""
    from ganpaint_core.concepts import concept_id

    labels = np.full((size, size), concept_id("sky"), np.uint8)
    labels[size * 5 // 8:] = concept_id("grass")
    labels[size * 3 // 8:size * 5 // 8, size // 8:size * 3 // 8] = concept_id("building")
    return labels


def measure(generator, layer: str, dissection, repeats: int) -> dict:
    import torch

    from ganpaint_core.concepts import NAMES, concept_id
    from ganpaint_core.editing import harmonic_fill as fill
    from ganpaint_core.editing import removal
    from ganpaint_core.editing.adaptation import ActivationAdaptation

    torch.manual_seed(0)
    size = generator.resolution
    with torch.inference_mode():
        r = generator.features(torch.randn(1, generator.z_dim), layer)
    adapted = ActivationAdaptation(generator, layer, r)
    adapted.deltas = {k: 0.1 * torch.randn_like(v) for k, v in adapted.deltas.items()}
    with torch.inference_mode():
        base = adapted.record(r)           # the unedited render, every block's output kept (window_render)
    labels = scene_labels(size)
    out = {"size": size, "adapted_layers": {k: list(v.shape[1:]) for k, v in adapted.deltas.items()}}
    for name, spec in BLOBS.items():
        mask = blob_mask(size, spec)
        labels_here = labels.copy()
        labels_here[mask] = concept_id("tree")

        def new_edit(m=mask, lab=labels_here):      # what an edit costs: the operation, its first render
            op = removal.removal_operation(m, "tree", "medium", lab, list(NAMES), dissection)
            with torch.inference_mode():               # as a session renders it: the record's unchanged blocks
                removal.render_removed(adapted, r, layer, [(op, op.hole)], recorded=base)
            return op

        op = new_edit()

        def again(op=op):                            # a later render of the same edit (undo, a further edit)
            with torch.inference_mode():
                removal.render_removed(adapted, r, layer, [(op, op.hole)], recorded=base)

        def plain():
            with torch.inference_mode():
                adapted.render(r)

        def windowed_edit(m=mask, lab=labels_here):
            op = removal.removal_operation(m, "tree", "medium", lab, list(NAMES), dissection)
            with torch.inference_mode():
                removal.render_removed(adapted, r, layer, [(op, op.hole)], base=base)

        render_ms, edit_ms, again_ms, window_ms = (_median_ms(f, repeats) for f in (plain, new_edit, again,
                                                                                    windowed_edit))
        default = fill.DIRECT_CELLS
        fill.DIRECT_CELLS = 10 ** 9
        try:
            exact_ms = _median_ms(new_edit, max(3, repeats // 3))
        finally:
            fill.DIRECT_CELLS = default
        out[name] = {"hole_pixels": int(op.hole.sum()), "render_ms": render_ms, "edit_ms": edit_ms,
                     "removal_share_ms": round(edit_ms - render_ms, 2),
                     "rerender_share_ms": round(again_ms - render_ms, 2),
                     "exact_fill_removal_share_ms": round(exact_ms - render_ms, 2), "window_edit_ms": window_ms}
    return out


def run(args):
    import torch

    from eval.bench.editor import GAN_DISSECTION_SIZES
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.machine import cpu_model
    from ganpaint_core.networks.proggan import ProgressiveGenerator

    if args.repeats < 1 or args.threads < 1:
        raise ValueError("--repeats and --threads must be at least 1")
    torch.set_num_threads(args.threads)
    load_before = round(os.getloadavg()[0], 2)
    editor = Editor.from_pretrained("default")
    results = [measure(editor.generator, editor.layer, editor.dissection, args.repeats)]
    torch.manual_seed(0)
    big = ProgressiveGenerator(GAN_DISSECTION_SIZES).eval()
    results.append(measure(big, "layer4", editor.dissection, args.repeats))
    result = {"cpu": cpu_model(), "threads": args.threads, "repeats": args.repeats,
              "load_average_1min_before": load_before, "load_average_1min_after": round(os.getloadavg()[0], 2),
              "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
