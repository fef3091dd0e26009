"""``python -m eval sharing-bench``: a fit's time alone and beside one busy core, per thread count and wait policy.

Each configuration (torch threads x OpenMP wait, ``ganpaint_core.cpu``) fits ``--fits`` scene photos of
``--model`` in a fresh process (OpenMP reads its wait policy once), once alone and once beside a process that
keeps one core busy (``while True: pass``); the runs are interleaved over ``--reps`` rounds, so that load that
comes and goes falls on all alike.  Writes each run's fit times, the medians and the ratios: beside / alone for
the same configuration, and beside / the fastest configuration alone.  Run it on an otherwise idle machine.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def add_arguments(p):
    p.add_argument("--out", default="sharing.json", help="JSON file to write")
    p.add_argument("--model", default="default", help="model to fit (default: the shipped 128 px one)")
    p.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    p.add_argument("--waits", default="default,passive,10000",
                   help="comma-separated OpenMP waits: default, passive, active or a GOMP spin count")
    p.add_argument("--fits", type=int, default=3, help="fits timed per run (after one short warm-up fit)")
    p.add_argument("--reps", type=int, default=2, help="interleaved rounds")
    p.add_argument("--fit", default="", help="fit options, as for `eval run`")


def _one_run(model: str, threads: int, fits: int, fit: str) -> dict:
    """In the fresh process: fit ``fits`` photos, return the times."""
    from ganpaint_core.cpu import set_threads

    set_threads(threads)
    from eval.run.runner import parse_fit_options
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.scenes import HELDOUT_SEED_START, render, sample_scene

    editor = Editor.from_pretrained(model, device="cpu")
    overrides = parse_fit_options(fit)
    photos = [render(sample_scene(HELDOUT_SEED_START + 500 + i), editor.size)[0] for i in range(fits)]
    editor.fit(photos[0], z_steps=2, r_steps=2, adapt_steps=2)
    times = []
    for photo in photos:
        start = time.perf_counter()
        editor.fit(photo, **overrides)
        times.append(time.perf_counter() - start)
    return {"fit_seconds": times}


def _in_process(spec: dict, busy: bool) -> dict:
    from ganpaint_core.cpu import wait_setting

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(wait_setting(spec["wait"]))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                      os.environ.get("PYTHONPATH", "")]))
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        done = subprocess.run([sys.executable, "-m", "eval.bench.sharing", json.dumps(spec)], capture_output=True,
                              text=True, env=env, timeout=1800)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    if done.returncode != 0:
        raise RuntimeError(f"sharing run {spec} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(args):
    from tqdm import tqdm

    from eval.bench.editor import cpu_model
    from eval.run.runner import parse_fit_options
    from ganpaint_core.cpu import wait_setting

    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    waits = [w.strip() for w in args.waits.split(",") if w.strip()]
    for w in waits:
        wait_setting(w)
    parse_fit_options(args.fit)
    if min(threads, default=0) < 1 or args.fits < 1 or args.reps < 1:
        raise ValueError("--threads, --fits and --reps must be at least 1")
    configs = [{"model": args.model, "threads": t, "wait": w, "fits": args.fits, "fit": args.fit}
               for t in threads for w in waits]
    samples: dict[tuple, list[float]] = {}
    load_before = os.getloadavg()
    with tqdm(total=len(configs) * 2 * args.reps, desc="sharing", unit="run") as bar:
        for _ in range(args.reps):
            for spec in configs:
                for busy in (False, True):
                    times = _in_process(spec, busy)["fit_seconds"]
                    samples.setdefault((spec["threads"], spec["wait"], busy), []).extend(times)
                    bar.update()
    rows = []
    for spec in configs:
        alone = statistics.median(samples[(spec["threads"], spec["wait"], False)])
        beside = statistics.median(samples[(spec["threads"], spec["wait"], True)])
        rows.append({"threads": spec["threads"], "wait": spec["wait"], "alone_seconds": alone,
                     "beside_busy_seconds": beside, "ratio": beside / alone,
                     "alone_samples": samples[(spec["threads"], spec["wait"], False)],
                     "beside_samples": samples[(spec["threads"], spec["wait"], True)]})
    fastest = min(r["alone_seconds"] for r in rows)
    for r in rows:
        r["ratio_to_fastest_alone"] = r["beside_busy_seconds"] / fastest
        tqdm.write(f"threads {r['threads']}, wait {r['wait']}: alone {r['alone_seconds']:.2f} s, beside a busy core "
                   f"{r['beside_busy_seconds']:.2f} s ({r['ratio']:.2f}x; {r['ratio_to_fastest_alone']:.2f}x the "
                   f"fastest alone)")
    report = {"machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "load_average_before": load_before,
                          "load_average_after": os.getloadavg()},
              "model": args.model, "fit": args.fit, "fits": args.fits, "reps": args.reps, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":   # one run in a fresh process: JSON spec in, JSON times out
    spec = json.loads(sys.argv[1])
    print(json.dumps(_one_run(spec["model"], spec["threads"], spec["fits"], spec["fit"])))
