"""``python -m eval bench``: time fitting and editing, and measure peak memory; write JSON.

Each configuration runs in a fresh Python process so that its peak resident
memory (``VmHWM``, else ``ru_maxrss``) is its own: the default model at its size, and a
random-weight Progressive GAN in the GAN-dissection 256 px layout (widths
512 … 32, semantic layer ``layer4``) to show how the cost scales.  Edits alternate add
and remove on random blobs, each ``Session.edit`` on a fitted photo as the demo makes it;
the JSON has their medians overall and per action, and per stage (``Session.stage_seconds``).
``--before PATH`` times another checkout too (e.g. ``git worktree add /tmp/before <commit>``): each
configuration runs there and here alternately, ``--rounds`` times each, and the JSON's ``comparison`` holds
this checkout's medians over the other's, per configuration (before/after in one run).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ganpaint_core.commands.fit_option import add_fit_argument, parse_fit_options
from ganpaint_core.machine import cpu_model

GAN_DISSECTION_SIZES = [512, 512, 512, 512, 256, 128, 64, 32]   # z, then one width per resolution 4..256
ROOT = Path(__file__).resolve().parents[2]
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def add_arguments(p):
    from ganpaint_core.models.registry import model_help
    from ganpaint_core.precision import add_device_argument

    p.add_argument("--out", default="bench.json", help="JSON file to write")
    p.add_argument("--model", default="default", help=model_help())
    p.add_argument("--fits", type=int, default=3, help="photos fitted per configuration")
    p.add_argument("--edits", type=int, default=5, help="edits timed per fitted photo")
    p.add_argument("--scaling", choices=("random256", "none"), default="random256",
                   help="also time a random-weight 256 px GAN-dissection-layout model (default) or not")
    p.add_argument("--scaling-fits", type=int, default=1, help="photos fitted on the 256 px model")
    p.add_argument("--threads", type=int, default=0, help="torch threads in each run (default: all cores)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed per configuration")
    add_device_argument(p)
    p.add_argument("--memory-format", choices=("auto", "channels_last", "contiguous", "both"), default="auto",
                   help="the editor's memory format: auto (channels-last on a CPU), one of the two, or both "
                        "(each configuration timed in each, for a before/after in one run)")
    p.add_argument("--before", default=None,
                   help="another checkout of this repository (e.g. `git worktree add /tmp/before <commit>`): each "
                        "configuration runs there and here alternately; the JSON adds this/before ratios")
    p.add_argument("--rounds", type=int, default=2, help="with --before: runs per checkout and configuration")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="what the edits' and their stages' times read: wall time, or the process's CPU time "
                        "(steadier on a busy machine, with --threads 1; with --before this checkout's bench then "
                        "times the other checkout's library, so that both read the same clock)")
    add_fit_argument(p)


def _peak_rss_mib() -> float:
    """This process's peak resident memory in MiB.

    Linux's ``VmHWM`` where there is one: ``ru_maxrss`` survives ``exec`` and would
    also count the parent's memory at the time it forked this process.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


def write_random_model(folder: Path, sizes: list[int] = GAN_DISSECTION_SIZES, seed: int = 0,
                       dissection_samples: int = 16) -> Path:
    """A complete model folder with random weights: generator, encoder, segmenter and a real dissection."""
    import torch

    from ganpaint_core.dissection.dissect import dissect
    from ganpaint_core.models import ModelBundle, save_model
    from ganpaint_core.networks.encoder import Encoder
    from ganpaint_core.networks.proggan import ProgressiveGenerator
    from ganpaint_core.networks.segmenter import Segmenter

    torch.manual_seed(seed)
    generator = ProgressiveGenerator(sizes).eval()
    segmenter = Segmenter().eval()
    dissection = dissect(generator, segmenter, "layer4", samples=dissection_samples, batch=8, progress=False,
                         causal_samples=0)   # random weights: the IoU ranking is enough to time edits
    bundle = ModelBundle(name=folder.name, generator=generator, segmenter=segmenter, dissection=dissection,
                         encoder=Encoder(generator.resolution, generator.z_dim),
                         config={"note": "random weights, for timing only"})
    return save_model(folder, bundle, half=False)


def measure(model: str, fits: int, edits: int, threads: int, device: str = "cpu", channels_last: bool | None = None,
            fit: str = "", clock: str = "wall") -> dict:
    """Fit ``fits`` scene photos and time ``edits`` edits on each (run this in a fresh process); ``clock``:
    the edits read wall time or this process's CPU time (``Session.clock`` too)."""
    import torch

    from eval.run.tasks import random_blob
    from ganpaint_core.scenes import HELDOUT_SEED_START, render, sample_scene

    if threads > 0:
        torch.set_num_threads(threads)
    from ganpaint_core.editing.editor import Editor, Session

    if clock not in CLOCKS:
        raise ValueError(f"clock is one of {', '.join(CLOCKS)}, not {clock!r}")
    now = CLOCKS[clock]
    Session.clock = staticmethod(now)
    overrides = parse_fit_options(fit)
    start = time.perf_counter()
    editor = Editor.from_pretrained(model, device=device, channels_last=channels_last)
    load_seconds = time.perf_counter() - start
    cuda = editor.device.type == "cuda"
    rss_loaded = _peak_rss_mib()
    concepts = list(editor.concepts) or ["tree"]
    fit_times, edit_times, actions, stages, first = [], [], [], [], []
    for i in range(fits):
        photo = render(sample_scene(HELDOUT_SEED_START + 500 + i), editor.size)[0]
        torch.manual_seed(i)
        start = time.perf_counter()
        session = editor.fit(photo, **overrides)
        if cuda:
            torch.cuda.synchronize(editor.device)
        fit_times.append(time.perf_counter() - start)
        rng = np.random.default_rng(i)
        for j in range(edits):
            mask = random_blob(editor.size, rng)
            action = ("add", "remove")[j % 2]
            start = now()
            session.edit(mask, concepts[j % len(concepts)], action)
            seconds = now() - start
            edit_times.append(seconds)
            actions.append(action)
            stages.append(dict(session.stage_seconds, action=action))
            if j == 0:
                first.append(seconds)       # a session's first edit also takes the photo's labels (stage "labels")
            session.reset()
    by_action = {a: [t for t, b in zip(edit_times, actions, strict=True) if b == a] for a in ("add", "remove")}
    return {
        "model": model, "size": editor.size, "threads": torch.get_num_threads(), "clock": clock,
        "device": str(editor.device),
        "channels_last": editor.channels_last, "steps": [session.options.z_steps, session.options.r_steps,
                                                         session.options.adapt_steps],
        "load_seconds": load_seconds,
        "fit_seconds_median": statistics.median(fit_times), "fit_seconds": fit_times,
        "edit_seconds_median": statistics.median(edit_times), "edit_seconds": edit_times,
        "edit_actions": actions,
        **{f"{a}_seconds_median": statistics.median(t) for a, t in by_action.items() if t},
        "first_edit_seconds": first, "edit_stage_seconds_median": _stage_medians(stages),
        "rss_after_load_mib": rss_loaded, "peak_rss_mib": _peak_rss_mib(),
        **({"peak_cuda_mib": torch.cuda.max_memory_allocated(editor.device) / 2**20} if cuda else {}),
    }


def _stage_medians(stages: list[dict]) -> dict:
    """Per action, the median seconds of each stage of an edit (``Session.stage_seconds``)."""
    out = {}
    for action in ("add", "remove"):
        rows = [s for s in stages if s["action"] == action]
        keys = sorted({k for s in rows for k in s if k != "action"})
        if rows:
            out[action] = {k: statistics.median(s.get(k, 0.0) for s in rows) for k in keys}
    return out


MEDIANS = ("edit_seconds_median", "add_seconds_median", "remove_seconds_median", "fit_seconds_median")


def comparison(results: list[dict]) -> dict:
    """Per configuration (label, memory format): this checkout's median over the runs of each of ``MEDIANS`` and
    of each action's stages, divided by the other checkout's (``checkout``: this | before)."""
    groups: dict = {}
    for r in results:
        if "error" not in r:
            groups.setdefault(f"{r['label']} (channels_last={r['channels_last']})", {}).setdefault(
                r["checkout"], []).append(r)
    out = {}
    for label, by in groups.items():
        if not ("this" in by and "before" in by):
            continue

        def median(rows, get):
            values = [v for v in (get(r) for r in rows) if v]
            return statistics.median(values) if values else None

        getters = {key: (lambda r, key=key: r.get(key)) for key in MEDIANS}
        for action in ("add", "remove"):
            stages = {k for r in by["this"] for k in r["edit_stage_seconds_median"].get(action, {})}
            for stage in sorted(stages):
                getters[f"{action}.{stage}"] = lambda r, a=action, s=stage: \
                    r["edit_stage_seconds_median"].get(a, {}).get(s)
        ratios = {}
        for key, get in getters.items():
            now, then = median(by["this"], get), median(by["before"], get)
            if now is not None and then:
                ratios[key] = round(now / then, 3)
        out[label] = ratios
    return out


def _in_fresh_process(spec: dict, timeout: float, root: Path = ROOT) -> dict:
    """One configuration measured by the checkout at ``root`` (its code, its bench) in a fresh process; on the
    CPU clock by this bench (``--clock``: an older checkout's bench reads wall time only), on ``root``'s code."""
    bench = ["-m", "eval.bench.editor"] if spec.get("clock", "wall") == "wall" else \
        ["-c", "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
         str(Path(__file__).resolve())]          # this file, importing ``root``'s code (cwd and PYTHONPATH)
    cmd = [sys.executable, *bench, json.dumps(spec)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH", "")]))}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=root)
    except subprocess.TimeoutExpired:
        return {"model": spec["model"], "error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"model": spec["model"], "error": f"exit {done.returncode}: {tail}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(args):
    from tqdm import tqdm

    from ganpaint_core.precision import resolve_device

    if min(args.fits, args.edits, args.scaling_fits, args.rounds) < 1:
        raise ValueError("--fits, --scaling-fits, --edits and --rounds must be at least 1")
    before = None
    if args.before is not None:
        before = Path(args.before).resolve()
        if not (before / "eval" / "bench" / "editor.py").is_file():
            raise ValueError(f"--before {args.before}: not a checkout of this repository (no eval/bench/editor.py)")
    parse_fit_options(args.fit)         # a bad --fit is an error before any process starts
    device = str(resolve_device(args.device))
    formats = {"auto": [None], "channels_last": [True], "contiguous": [False], "both": [True, False]}
    specs = [{"model": args.model, "label": f"{args.model} model", "fits": args.fits, "edits": args.edits,
              "threads": args.threads, "device": device, "fit": args.fit, "clock": args.clock}]
    results, load_before = [], os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ganpaint-bench-") as tmp:
        if args.scaling == "random256":
            folder = write_random_model(Path(tmp) / "random256")
            specs.append({**specs[0], "model": str(folder), "fits": args.scaling_fits,
                          "label": "random-weight 256 px Progressive GAN (GAN-dissection layout)"})
        specs = [{**spec, "channels_last": f} for spec in specs for f in formats[args.memory_format]]
        runs = [(spec, "this", ROOT) for spec in specs]
        if before is not None:      # before and this checkout alternately, so that a changing load hits both alike
            runs = [(spec, *where) for spec in specs for n in range(args.rounds)
                    for where in ((("before", before), ("this", ROOT)) if n % 2 == 0 else
                                  (("this", ROOT), ("before", before)))]
        for spec, checkout, root in tqdm(runs, desc="bench", unit="config"):
            result = _in_fresh_process({k: spec[k] for k in ("model", "fits", "edits", "threads", "device",
                                                             "channels_last", "fit", "clock")}, args.timeout, root)
            result["label"] = spec["label"]
            if before is not None:
                result["checkout"] = checkout
            if "error" in result:
                tqdm.write(f"{spec['label']}: {result['error']}")
            else:
                split = ", ".join(f"{a} {result[f'{a}_seconds_median'] * 1000:.0f}" for a in ("add", "remove")
                                  if f"{a}_seconds_median" in result)
                tqdm.write(f"{spec['label']} ({result['size']} px, {result['device']}, "
                           f"channels_last={result['channels_last']}): fit {result['fit_seconds_median']:.2f} s, "
                           f"edit {result['edit_seconds_median'] * 1000:.0f} ms ({split} ms), "
                           f"peak {result['peak_rss_mib']:.0f} MiB")
            results.append(result)
    machine = {"cpu": cpu_model(), "cpus": os.cpu_count(), "platform": platform.platform(),
               "python": platform.python_version(), "load_average_before": load_before,
               "load_average_after": os.getloadavg()}
    report = {"machine": machine, "results": results}
    if before is not None:
        report["before"], report["comparison"] = str(before), comparison(results)
        for label, ratios in report["comparison"].items():
            print(f"{label}: this/before " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":   # the fresh process of one configuration: JSON spec in, JSON result out
    spec = json.loads(sys.argv[1])
    print(json.dumps(measure(spec["model"], spec["fits"], spec["edits"], spec["threads"], spec["device"],
                             spec["channels_last"], spec["fit"], spec.get("clock", "wall"))))
