"""``python -m eval cluster-bench``: wall time of one ``eval run`` on two executors, by default the local pool and a
local Dask cluster (``--executors``; ``one_process,one_process_all_threads`` gives the cost of the fixed threads
per task: one process at ``--threads 1`` against one at as many threads as the machine has, as runs had before).

Both runs are whole ``python -m eval run`` processes (model loading and cluster
start-up included) on the same tasks, one right after the other; the JSON gets
their wall times, their ratio, the load average around each, the CPU model and
whether the two runs' tables agree.  CPU seconds (the run with its workers) are the figure
that other work on a shared machine disturbs least.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from ganpaint_core.machine import cpu_count, cpu_model

TIMINGS = ("seconds", "fit_seconds")
EXECUTORS = {   # name -> the `eval run` arguments, given --workers
    "local_pool": lambda workers: ["--workers", str(workers)],
    "dask_local_cluster": lambda workers: ["--scheduler", f"local:{workers}"],
    "one_process": lambda workers: ["--workers", "1", "--threads", "1"],
    "one_process_all_threads": lambda workers: ["--workers", "1", "--threads", str(cpu_count())],
}


def add_arguments(p):
    p.add_argument("--photos", default="scenes:12", help="as for `eval run`")
    p.add_argument("--workers", type=int, default=2, help="local pool processes = Dask LocalCluster workers")
    p.add_argument("--model", default="default")
    p.add_argument("--methods", default="", help="as for `eval run` (default: all)")
    p.add_argument("--fit", default="", help="as for `eval run`")
    p.add_argument("--repeats", type=int, default=1, help="rounds; every other round runs the second first (ABBA)")
    p.add_argument("--executors", default="local_pool,dask_local_cluster",
                   help=f"the two executors compared, A,B (ratio B over A): two of {', '.join(EXECUTORS)}")
    p.add_argument("--out", default="docs/eval/cluster_bench.json")


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    frames = {}
    for name in ("edits.csv", "reconstruction.csv"):
        frame = pd.read_csv(out / name, na_values=["n/a"])
        frames[name] = frame.drop(columns=[c for c in TIMINGS if c in frame])
    return frames


def _same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> bool:
    try:
        for name in a:
            pd.testing.assert_frame_equal(a[name], b[name], rtol=1e-12, atol=0)
    except AssertionError:
        return False
    return True


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)     # finished children and every process they waited for
    return usage.ru_utime + usage.ru_stime


def _timed_run(argv: list[str]) -> dict:
    """Wall time and CPU time (the run, its workers and its scheduler) of one ``eval run`` process."""
    load, cpu = os.getloadavg()[0], _cpu_seconds()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "eval", "run", *argv], check=True)
    return {"wall_seconds": round(time.perf_counter() - start, 1), "cpu_seconds": round(_cpu_seconds() - cpu, 1),
            "load_1min_before": round(load, 2), "load_1min_after": round(os.getloadavg()[0], 2)}


def run(args):
    if args.workers < 1 or args.repeats < 1:
        raise ValueError("--workers and --repeats must be at least 1")
    common = ["--photos", args.photos, "--model", args.model]
    common += ["--methods", args.methods] if args.methods else []
    common += ["--fit", args.fit] if args.fit else []
    names = [n.strip() for n in args.executors.split(",") if n.strip()]
    if len(names) != 2 or len(set(names)) != 2 or not set(names) <= set(EXECUTORS):
        raise ValueError(f"--executors {args.executors!r}: name two different ones of {', '.join(EXECUTORS)}")
    executors = {name: EXECUTORS[name](args.workers) for name in names}
    result = {"executors": names, "photos": args.photos, "workers": args.workers, "model": args.model,
              "methods": args.methods or "all",
              "fit": args.fit or "defaults", "cpu": cpu_model(), "cores": os.cpu_count(),
              "python": platform.python_version(), "uptime_before": _uptime()}
    runs, tables = {name: [] for name in executors}, {}
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
        for i in range(args.repeats):
            for name in list(executors)[::1 if i % 2 == 0 else -1]:
                out = Path(tmp) / f"{name}-{i}"
                runs[name].append(_timed_run([*common, "--out", str(out), *executors[name]]))
                tables[name] = _tables(out)
    result.update(runs, uptime_after=_uptime())
    a, b = names
    label = "dask_over_pool" if names == ["local_pool", "dask_local_cluster"] else f"{b}_over_{a}"
    for key in ("wall_seconds", "cpu_seconds"):
        total = {name: sum(r[key] for r in rs) for name, rs in runs.items()}
        result[f"ratio_{label}_{key}"] = round(total[b] / total[a], 3)
    result["tables_equal"] = _same(*tables.values())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"load average {os.getloadavg()}"
