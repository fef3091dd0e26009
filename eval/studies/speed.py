"""``python -m eval speed``: the fit's step counts against quality, and what one step costs.

Quality: held-out scene pairs (one per edit kind, from ``eval.studies.editor_study``'s seeds) of ``--model`` are
fitted with each ``--fit`` setting (its z_steps, r_steps, adapt_steps): PSNR of G'(r) and of G(r), and of the
pair's edit the PSNR outside the dilated mask and the concept-share gain (``eval.studies.editor_study.edit_row``).
Cost: seconds per step of each stage on ``--timing-model`` (default: a random-weight 256 px model in the
GAN-dissection layout, as ``eval bench``), in channels-last and contiguous memory format alternately in one
run, so that each setting's fit time at 256 px can be read off the curve.
Writes ``speed.json``, ``speed.png`` and ``speed.md`` to ``--out``.  A rerun into the same folder keeps what is
already measured there (``step_costs.json``, ``speed_rows.jsonl``); ``--report-only`` measures nothing more.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

DEFAULT_STEPS = "60,60,150;40,40,100;30,30,75;20,20,50;0,60,150;60,20,150;60,60,100;60,60,50"
STAGES = ("z", "r", "adapt")
STEP_FIELDS = tuple(f"{stage}_steps" for stage in STAGES)
DEFAULT_SETTINGS = tuple(",".join(f"{f}={n}" for f, n in zip(STEP_FIELDS, s.split(","), strict=True))
                         for s in DEFAULT_STEPS.split(";"))


def add_arguments(p):
    from ganpaint_core.models.registry import model_help

    p.add_argument("--model", default="default", help=model_help())
    p.add_argument("--fit", action="append", default=None,
                   help="one fit setting to compare, as --fit elsewhere (z_steps, r_steps, adapt_steps; unnamed ones "
                   "are the editor's); repeat it for each setting (default: z,r,adapt = "
                   f"{DEFAULT_STEPS.replace(';', ' ; ')})")
    p.add_argument("--pairs", type=int, default=1, help="held-out scene pairs per edit kind")
    p.add_argument("--timing-model", default="random256",
                   help="model whose step cost is measured: random256 (random weights, 256 px), none, or a model")
    p.add_argument("--timing-steps", type=int, default=6, help="steps per stage in each timing fit")
    p.add_argument("--timing-reps", type=int, default=2, help="timing fits per memory format")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    p.add_argument("--out", default="docs/speed", help="folder for speed.json, speed.png and speed.md")
    p.add_argument("--report-only", action="store_true", help="write the report from what --out already holds")


def parse_settings(specs: list[str] | None) -> tuple[list[tuple[int, int, int]], dict]:
    """The (z, r, adapt) step counts of each ``--fit`` setting (default: ``DEFAULT_SETTINGS``), and the other fit
    options, which every setting must give alike (e.g. ``solve_last=false`` for the iterative adaptation alone)."""
    from ganpaint_core.commands.fit_option import parse_fit_options
    from ganpaint_core.editing.editor import FitOptions

    out, shared = [], None
    for spec in specs or DEFAULT_SETTINGS:
        options = parse_fit_options(spec)
        steps = {k: v for k, v in options.items() if k in STEP_FIELDS}
        rest = {k: v for k, v in options.items() if k not in STEP_FIELDS}
        if not steps:
            raise ValueError(f"--fit {spec!r}: each setting names step counts ({', '.join(STEP_FIELDS)})")
        if shared is not None and rest != shared:
            raise ValueError(f"--fit {spec!r}: options other than step counts must be the same in every setting")
        shared = rest
        out.append(tuple(int(steps.get(f, getattr(FitOptions(), f))) for f in STEP_FIELDS))
    return out, shared or {}


def read_rows(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.is_file() else []


def quality_rows(editor, pairs, settings, log: Path, fit: dict | None = None) -> list[dict]:
    """One row per pair and setting: the fit's quality and its edit's fidelity and concept gain.

    Rows already in ``log`` (JSON lines) are kept; each new row is appended to it as soon as it is measured.
    """
    from tqdm import tqdm

    from eval.studies.editor_study import edit_row

    rows = read_rows(log)
    done = {(row["variant"], row["seed"]) for row in rows}
    todo = [(p, s) for p in pairs for s in settings if (",".join(map(str, s)), p.seed) not in done]
    for pair, (z, r, a) in tqdm(todo, desc="fits", unit="fit"):
        session = editor.fit(pair.before_rgb, **{**(fit or {}), "z_steps": z, "r_steps": r, "adapt_steps": a})
        result = session.edit(pair.mask, pair.concept, pair.action).image
        rows.append({"variant": f"{z},{r},{a}", "fit_seconds": session.fit_seconds, **session.quality(),
                     **edit_row(editor, session, pair, result)})
        with log.open("a") as f:
            f.write(json.dumps(rows[-1]) + "\n")
    return rows


LABELS = {"inverting z": "z", "inverting features": "r", "adapting G'": "adapt"}


def step_costs(model: str, photo, steps: int, reps: int = 2) -> dict:
    """Median seconds per step of each stage, and the rest of a fit, per memory format.

    Each step is timed on its own (the fit's progress callback), and the fits alternate the formats, so that a
    busy machine's load spikes fall on both alike and the medians ignore them.
    """
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.models import load_model

    editors = {"channels_last": Editor.from_bundle(load_model(model), channels_last=True),
               "contiguous": Editor.from_bundle(load_model(model), channels_last=False)}
    samples = {name: {s: [] for s in STAGES} for name in editors}
    totals: dict[str, list[float]] = {name: [] for name in editors}
    for _ in range(reps):
        for name, editor in editors.items():
            marks: list = []
            start = time.perf_counter()
            editor.fit(photo, z_steps=steps, r_steps=steps, adapt_steps=steps,
                       progress=lambda f, msg, marks=marks: marks.append((time.perf_counter(), msg)))
            totals[name].append(time.perf_counter() - start)
            for (t0, _), (t1, msg) in zip(marks, marks[1:], strict=False):
                if msg.endswith(f" 1/{steps}"):     # a stage's first step includes its setup: left to ``fixed``
                    continue
                stage = next((s for label, s in LABELS.items() if msg.startswith(label)), None)
                if stage:
                    samples[name][stage].append(t1 - t0)
    out = {}
    for name, v in samples.items():
        per = {s: statistics.median(v[s]) for s in STAGES}
        out[name] = {"per_step": per, "fixed": statistics.median(totals[name]) - steps * sum(per.values()),
                     "size": editors[name].size, "step_samples": v, "fit_seconds": totals[name]}
    return out


def predicted_seconds(cost: dict, setting: tuple[int, int, int]) -> float:
    return cost["fixed"] + sum(n * cost["per_step"][s] for s, n in zip(STAGES, setting, strict=True))


def plot(summary: list[dict], cost: dict | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    xkey = "fit_seconds_256" if cost else "fit_seconds"
    xlabel = "predicted fit seconds at 256 px (channels-last)" if cost else "fit seconds"
    panels = (("reconstruction_psnr", "G'(r) PSNR dB"), ("outside_psnr", "edit: PSNR outside the mask dB"),
              ("share_gain", "edit: concept-share gain"))
    for ax, (key, title) in zip(axes, panels, strict=True):
        for row in summary:
            ax.scatter(row[xkey], row[key])
            ax.annotate(row["variant"], (row[xkey], row[key]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    fig.suptitle("fit steps z,r,adapt vs. quality (means over held-out scene pairs)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args):
    import os

    import torch

    from eval.bench.editor import write_random_model
    from eval.studies.editor_study import STUDY_SEED_OFFSET, markdown, scene_pairs, summarise
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.machine import cpu_model
    from ganpaint_core.scenes import HELDOUT_SEED_START, render, sample_scene

    settings, fit = parse_settings(args.fit)
    if args.pairs < 1 or args.timing_steps < 3 or args.timing_reps < 1:
        raise ValueError("--pairs and --timing-reps must be at least 1 and --timing-steps at least 3")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    machine = {"cpu": cpu_model(), "threads": torch.get_num_threads(), "load_before": os.getloadavg()}
    costs_file = out / "step_costs.json"
    costs = json.loads(costs_file.read_text()) if costs_file.is_file() else None
    if args.timing_model != "none" and costs is None and not args.report_only:
        with tempfile.TemporaryDirectory(prefix="ganpaint-speed-") as tmp:
            model = str(write_random_model(Path(tmp) / "random256")) if args.timing_model == "random256" \
                else args.timing_model
            size = Editor.from_pretrained(model).size
            costs = step_costs(model, render(sample_scene(HELDOUT_SEED_START + 500), size)[0], args.timing_steps,
                               args.timing_reps)
        costs_file.write_text(json.dumps(costs, indent=1))
    if args.report_only:
        rows = read_rows(out / "speed_rows.jsonl")
        if not rows:
            raise ValueError(f"{out} holds no measured fits (speed_rows.jsonl) to report")
    else:
        editor = Editor.from_pretrained(args.model)
        pairs = scene_pairs(args.pairs, editor.size, HELDOUT_SEED_START + STUDY_SEED_OFFSET)
        rows = quality_rows(editor, pairs, settings, out / "speed_rows.jsonl", fit)
    summary = summarise(rows)
    seeds = len({row["seed"] for row in rows})
    for row in summary:
        setting = tuple(int(v) for v in row["variant"].split(","))
        row["steps"] = sum(setting)
        if costs:
            row["fit_seconds_256"] = predicted_seconds(costs["channels_last"], setting)
            row["fit_seconds_256_contiguous"] = predicted_seconds(costs["contiguous"], setting)
    machine["load_after"] = os.getloadavg()
    result = {"model": args.model, "fit": args.fit, "scenes": seeds, "machine": machine, "step_costs": costs,
              "summary": summary, "rows": rows}
    (out / "speed.json").write_text(json.dumps(result, indent=1))
    plot(summary, costs, out / "speed.png")
    text = [f"# Fit steps vs. quality: model `{args.model}`{f', --fit {args.fit}' if args.fit else ''}, "
            f"{len(rows)} fits of {seeds} held-out scene(s)",
            "", f"CPU: {machine['cpu']}, {machine['threads']} threads, load average {machine['load_before'][0]:.1f} "
            f"before / {machine['load_after'][0]:.1f} after.", ""]
    if costs:
        for name, c in costs.items():
            per = ", ".join(f"{s} {c['per_step'][s]:.2f} s" for s in STAGES)
            text.append(f"- {c['size']} px step cost, {name}: {per}; fixed {c['fixed']:.1f} s")
        text.append("")
    text.append(markdown("Means per setting (z,r,adapt)", summary))
    (out / "speed.md").write_text("\n".join(text))
    print((out / "speed.md").read_text())
