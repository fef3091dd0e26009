"""``python -m eval edit-stages``: an edit's render and paste-back against their plain forms, interleaved.

The edit path re-renders only the window of G''s output that an edit changes
(``networks/window_render.py``), runs the upsampling blocks as four 2x2 convs
(``GenBlock.upconvolve``) and pastes back with one Laplacian pyramid, of the render
minus the photo (``compose.multiband_blend``).  Their plain forms: the full render
with upsample-then-conv (``FitOptions(window_render=False)``, ``fold_scales(phases=False)``)
and the two-pyramid blend (``two_pyramid_blend``).  Each pair runs alternately on the
same fitted photo and the same edits (``Session.edit``, then ``undo``), so a busy
machine slows both alike: the ratios hold under load where absolute times do not.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from ganpaint_core.commands.fit_option import add_fit_argument, parse_fit_options
from ganpaint_core.machine import cpu_model


def add_arguments(p):
    p.add_argument("--out", default="edit_stages.json", help="JSON file to write")
    p.add_argument("--model", action="append", default=None,
                   help="a model to time (repeatable; default: the default model); 'random256' writes the "
                        "random-weight 256 px model of `eval bench` to a temporary folder")
    p.add_argument("--edits", type=int, default=6, help="edits (alternately add and remove) per model")
    p.add_argument("--reps", type=int, default=3, help="times each edit is made per form")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall time, or this process's CPU time (steadier on a busy machine, with --threads 1)")
    add_fit_argument(p)


def two_pyramid_blend(photo: np.ndarray, source: np.ndarray, alpha: np.ndarray,
                      levels: int | None = None) -> np.ndarray:
    """The textbook multiband blend (the plain form of ``compose.multiband_blend``): both pictures' Laplacian
    pyramids, each band mixed by the alpha's Gaussian pyramid."""
    most = max(1, int(np.log2(max(min(alpha.shape), 1))) - 2)
    n = most if levels is None else max(1, min(levels, most))
    gp = [[photo.astype(np.float64)], [source.astype(np.float64)], [alpha.astype(np.float64)]]
    for _ in range(n - 1):
        for pyramid in gp:
            pyramid.append(cv2.pyrDown(pyramid[-1]))

    def up(x, like):
        return cv2.pyrUp(x, dstsize=(like.shape[1], like.shape[0]))

    out = None
    for level in reversed(range(n)):
        a, b, m = gp[0][level], gp[1][level], gp[2][level][..., None]
        if level < n - 1:
            a, b = a - up(gp[0][level + 1], a), b - up(gp[1][level + 1], b)
        band = m * b + (1 - m) * a
        out = band if out is None else band + up(out, band)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _median_ms(values) -> float:
    return round(statistics.median(values) * 1000, 3)


def measure(model: str, edits: int, reps: int, fit: str = "", clock=time.perf_counter) -> dict:
    """Fit one scene photo with ``model`` and time each edit's stages in both forms, alternately."""
    from eval.run.tasks import random_blob
    from ganpaint_core.editing.compose import multiband_blend
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.editing.masks import paste_alpha
    from ganpaint_core.scenes import HELDOUT_SEED_START, render, sample_scene

    editor = Editor.from_pretrained(model)
    photo = render(sample_scene(HELDOUT_SEED_START + 500), editor.size)[0]
    session = editor.fit(photo, **parse_fit_options(fit))
    session.clock = clock
    forms = {"today": (session, True), "plain": (session.fork(window_render=False), False)}
    concepts = list(editor.concepts) or ["tree"]
    rng = np.random.default_rng(0)
    times: dict = {(form, action, stage): [] for form in forms for action in ("add", "remove")
                   for stage in ("render", "blend")}
    for j in range(edits):
        mask, action = random_blob(editor.size, rng), ("add", "remove")[j % 2]
        concept = concepts[j % len(concepts)]
        for rep in range(reps):
            for form in (("today", "plain") if (j + rep) % 2 == 0 else ("plain", "today")):
                s, phases = forms[form]
                editor.generator.fold_scales(phases=phases)
                s.edit(mask, concept, action)
                times[form, action, "render"].append(s.stage_seconds["render"])
                s.undo()
            s.edit(mask, concept, action)
            image, alpha = s.render(paste_back=False), paste_alpha(s.edited_region(), session.options)
            s.undo()
            for form in (("today", "plain") if rep % 2 == 0 else ("plain", "today")):
                blend = multiband_blend if form == "today" else two_pyramid_blend
                start = clock()
                blend(photo, image, alpha)
                times[form, action, "blend"].append(clock() - start)
    editor.generator.fold_scales()
    out: dict = {"model": model, "size": editor.size, "edits": edits, "reps": reps}
    for action in ("add", "remove"):
        for stage in ("render", "blend"):
            today, plain = _median_ms(times["today", action, stage]), _median_ms(times["plain", action, stage])
            out[f"{action}_{stage}_ms"] = {"today": today, "plain": plain, "ratio": round(today / plain, 3)}
    return out


def run(args):
    import tempfile

    import torch

    from eval.bench.editor import write_random_model

    if args.edits < 1 or args.reps < 1:
        raise ValueError("--edits and --reps must be at least 1")
    parse_fit_options(args.fit)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    load_before, results = os.getloadavg(), []
    with tempfile.TemporaryDirectory(prefix="ganpaint-stages-") as tmp:
        for model in args.model or ["default"]:
            path = str(write_random_model(Path(tmp) / "random256")) if model == "random256" else model
            clock = time.process_time if args.clock == "cpu" else time.perf_counter
            result = {**measure(path, args.edits, args.reps, args.fit, clock), "model": model, "clock": args.clock}
            print(json.dumps(result))
            results.append(result)
    report = {"machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                          "load_average_before": load_before, "load_average_after": os.getloadavg()},
              "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0
