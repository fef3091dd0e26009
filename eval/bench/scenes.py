"""``python -m eval scenes-bench``: scenes per second, one process and a process pool."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from ganpaint_core.scenes.description import sample_scene
from ganpaint_core.scenes.render import render, render_batch


def add_arguments(p):
    p.add_argument("--n", type=int, default=200, help="scenes per measurement")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--out", default="docs/bench_scenes.json")


def run(args):
    if args.n < 1:
        raise ValueError("--n must be at least 1")
    load_before = round(os.getloadavg()[0], 2)  # other work on the machine slows the figures down
    render(sample_scene(0), args.size)  # warm the texture caches
    t = time.perf_counter()
    for seed in range(args.n):
        render(sample_scene(seed), args.size)
    single = args.n / (time.perf_counter() - t)
    workers = os.cpu_count() or 1
    t = time.perf_counter()
    render_batch(range(args.n), args.size, workers=workers, progress=False)
    pooled = args.n / (time.perf_counter() - t)
    result = {"size": args.size, "n": args.n, "scenes_per_second_one_process": round(single, 1),
              "scenes_per_second_pool": round(pooled, 1), "workers": workers, "cpu": platform.processor() or
              platform.machine(), "python": platform.python_version(),
              "load_average_1min_before": load_before}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
