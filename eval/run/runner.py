"""``python -m eval run``: render every task with every method; write metrics, strips, plots and pairs.

Every method changes the photo only over the same region (``eval.run.methods.shared_region``: the editor's
paste-back alpha).  Per edit: fidelity outside the mask (a sanity check), the seam score across the region's
boundary (``eval.measures.seams``), the error against the ground-truth edit inside the dilated mask (scene world), edit
success and label accuracy; after the run, realism per picture and KID per method (``eval.measures.realism``) and the
machine judge's 2AFC preferences (``human_study.judge``) from the saved pictures.

Work is split by photo: each photo is fitted once per session method, then
every task on it is rendered by every method.  Rows are appended to
``edits.csv`` and ``reconstruction.csv`` as photos finish, so a rerun skips
finished tasks; a photo or task that fails is reported in ``failures.csv`` and
the summary, and the rest go on.
"""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from eval.run import report
from eval.run import tasks as T
from eval.run.methods import METHODS, fits_needed, select
from eval.run.threads import TASK_THREADS, check_threads, pool_size, task_threads
from eval.run.worker import OURS_STAGE, PLAIN_STAGE, evaluate_photo, init_worker
from ganpaint_core import metrics
from ganpaint_core.commands.fit_option import parse_fit_options
from ganpaint_core.machine import cpu_model
from ganpaint_core.realism import REFERENCE_IMAGES

EDIT_FIELDS = ("task_id", "photo_id", "action", "concept", "method", "psnr", "ssim", "l1", "lpips", "psnr_out",
               "ssim_out", "l1_out", "lpips_out", "psnr_band", "seam", "psnr_truth_in", "l1_truth_in", "concept_share",
               "edit_success", "truth_success", "label_acc", "label_acc_photo", "label_acc_truth", "reference",
               "seconds", "photo_size", "model_size")
RECON_FIELDS = ("photo_id", "stage", "method", "psnr", "ssim", "l1", "lpips", "fit_seconds")
FAILURE_FIELDS = ("item", "error")


def add_arguments(p):
    from ganpaint_core.commands.fit_option import add_fit_argument
    from ganpaint_core.models.registry import model_help
    from ganpaint_core.precision import add_device_argument

    p.description = (
        "Writes into --out: edits.csv (one row per task and method: outside-mask fidelity, seam, ground-truth "
        "error inside the dilated mask, edit success and the ground-truth edit's own on the same mask, label "
        "accuracy, and that of the unedited photo and of the ground-truth picture on the same mask), realism.csv "
        "(per picture realism score) "
        "and kid.csv (KID per method against held-out real scenes), reconstruction.csv, tasks.csv, failures.csv, "
        "summary.md, plots/, strips/, pairs/ (manifest.csv and images/<task>/<method>.png: ours vs each other "
        "method, the input of `python -m human_study build`), and machine_judge/ (a study built from the pairs, "
        "answered by the realism model: answers.csv and the analysis; a machine judge, not people); on scene tasks "
        "also truth_pairs/ (ours vs the ground-truth edit) and machine_judge_truth/ (the judge's answers to them).")
    p.add_argument("--photos", required=True, help="a folder of photos, or scenes:N for N scene-world tasks "
                   "(held-out scenes with paired ground-truth edits)")
    p.add_argument("--tasks", default="", help="with a folder: a CSV with columns photo, mask, concept, action "
                   "(add | remove | appearance) and optional reference_mask, task_id; paths relative to the CSV or "
                   "the folder; masks at the photo's or the model's size; without it a folder gets one random blob "
                   "task per photo")
    p.add_argument("--out", required=True, help="output folder (a rerun into it skips finished tasks)")
    p.add_argument("--workers", type=int, default=0,
                   help="processes, each with the model loaded once (default 0: as many as the CPU cores hold at "
                   "--threads each)")
    p.add_argument("--threads", type=int, default=TASK_THREADS,
                   help=f"torch threads per task, wherever it runs (default {TASK_THREADS}); the numbers depend on "
                   "it and on nothing else of the machine's setup (workers, back-end)")
    p.add_argument("--model", default="default", help=model_help())
    add_device_argument(p)
    p.add_argument("--methods", default="", help=f"comma-separated subset of {', '.join(METHODS)} (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed for tasks and fitting")
    p.add_argument("--margin", type=int, default=-1, help="outside-mask dilation in the photo's px (default: 1/32 "
                   "of the model's square of the photo, 4 px for a 128 px square)")
    add_fit_argument(p)
    p.add_argument("--scheduler", default="", help="run on a Dask cluster: tcp://HOST:8786 (a running scheduler) "
                   "or local:N (a local cluster of N processes); default: the local pool of --workers")
    p.add_argument("--references", type=int, default=REFERENCE_IMAGES,
                   help=f"held-out real scenes behind the realism model and the machine judge (default "
                   f"{REFERENCE_IMAGES}; at least 8)")


# ---- bookkeeping ----------------------------------------------------------------------------------------

def _cell(value):
    return "n/a" if isinstance(value, float) and np.isnan(value) else value


def _append(path: Path, fields, rows: list[dict]) -> None:
    if not rows:
        return
    rows = [{k: _cell(v) for k, v in row.items()} for row in rows]
    new = not path.exists() or path.stat().st_size == 0
    if not new:   # a run resumed from an older version keeps the columns its file began with
        with open(path, newline="") as f:
            fields = next(csv.reader(f), None) or fields
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerows(rows)


def _read_csv(path: Path, fields) -> pd.DataFrame:
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=list(fields))
    return pd.read_csv(path, keep_default_na=True, na_values=["n/a"])


def completed(out: Path, tasks: list[T.Task], method_names: list[str]) -> tuple[set[str], set[str]]:
    """Finished task ids and reconstructed photo ids; drops partial rows from earlier runs."""
    edits_path, recon_path = out / "edits.csv", out / "reconstruction.csv"
    edits, recon = _read_csv(edits_path, EDIT_FIELDS), _read_csv(recon_path, RECON_FIELDS)
    wanted = set(method_names)
    ids = {t.task_id for t in tasks}
    done = {tid for tid, g in edits.groupby("task_id") if tid in ids and wanted <= set(g["method"])}
    edits = edits[edits["task_id"].isin(done)]
    fits = set(fits_needed(select(method_names)))
    recon_done = {pid for pid, g in recon.groupby("photo_id") if fits <= set(g["method"])}
    recon = recon[recon["photo_id"].isin(recon_done)]
    if edits_path.exists():
        edits.to_csv(edits_path, index=False, na_rep="n/a")
    if recon_path.exists():
        recon.to_csv(recon_path, index=False, na_rep="n/a")
    return done, recon_done


def build_tasks(args, editor, out: Path) -> list[T.Task]:
    kind, value = T.parse_photos(args.photos)
    inputs = out / "inputs"
    if kind == "scenes":
        if args.tasks:
            raise ValueError("--tasks goes with a photo folder; scenes:N makes its own tasks")
        return T.scene_tasks(value, editor.size, inputs, seed=args.seed, concepts=list(editor.concepts))
    if args.tasks:
        return T.check_tasks(T.read_tasks(args.tasks, photo_dir=value, concepts=list(editor.concepts)),
                             list(editor.concepts))
    photos = T.list_photos(value)
    if not photos:
        raise ValueError(f"no photos ({', '.join(sorted(T.PHOTO_SUFFIXES))}) in {value}")
    return T.blob_tasks(photos, editor.size, list(editor.concepts), inputs, seed=args.seed)


def run(args):
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.precision import resolve_device

    device = str(resolve_device(args.device))
    threads = check_threads(args.threads)
    args.workers = pool_size(args.workers, threads)
    if args.references < 8:
        raise ValueError(f"--references must be at least 8, got {args.references}")
    if args.scheduler:
        from eval.run import cluster

        cluster.parse_scheduler(args.scheduler)    # a bad address is an error before any work
    methods = select(args.methods)
    names = [m.name for m in methods]
    fit_options = parse_fit_options(args.fit)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    editor = Editor.from_pretrained(args.model, device=device)
    if editor.segmenter is None:
        print(f"model {args.model!r} has no segmenter: concept share, edit success and label accuracy are skipped")
    tasks = build_tasks(args, editor, out)
    T.write_tasks(tasks, out / "tasks.csv")
    done, recon_done = completed(out, tasks, names)
    by_photo = defaultdict(list)
    for task in tasks:
        if task.task_id not in done:
            by_photo[task.photo].append(task)
    pending = sum(len(v) for v in by_photo.values())
    print(f"{len(tasks)} tasks on {len({t.photo for t in tasks})} photos, {len(done)} already done; "
          f"{len(methods)} methods; output in {out}")
    failures = []
    jobs = [(photo, group, names, str(out), args.seed, args.margin, group[0].photo_id not in recon_done, fit_options,
             threads) for photo, group in by_photo.items()]
    with tqdm(total=pending, desc="eval", unit="task") as bar:
        def collect(result):
            _append(out / "edits.csv", EDIT_FIELDS, result["edits"])
            _append(out / "reconstruction.csv", RECON_FIELDS, result["recon"])
            failures.extend(result["failures"])
            for f in result["failures"]:
                bar.write(f"skipped {f['item']}: {f['error']}")
            bar.update(len(result["tasks"]))

        if args.scheduler and jobs:
            args.workers = cluster.run(args.scheduler, jobs, args.model, collect, bar, args.device)
        elif args.workers == 1 or len(jobs) <= 1:
            scorer = metrics.LPIPS()
            for job in jobs:
                collect(evaluate_photo(*job, editor=editor, scorer=scorer))
        else:
            with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn"), initializer=init_worker,
                                     initargs=(args.model, device)) as pool:
                for future in as_completed([pool.submit(evaluate_photo, *job) for job in jobs]):
                    collect(future.result())
    with open(out / "failures.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FAILURE_FIELDS)
        writer.writeheader()
        writer.writerows(failures)
    elapsed = time.perf_counter() - started
    write_report(out, names, args, editor, failures, elapsed, pending)
    print(f"done in {elapsed:.0f} s: {out / 'summary.md'}")
    return 0


def _sorted(frame: pd.DataFrame, keys: list[str], names: list[str]) -> pd.DataFrame:
    rank = {n: i for i, n in enumerate(names)}
    return frame.sort_values(keys, key=lambda col: col.map(rank) if col.name == "method" else col,
                             kind="stable").reset_index(drop=True)


def machine_measures(out: Path, edits: pd.DataFrame, names: list[str], editor, seed: int,
                     references: int = REFERENCE_IMAGES):
    """Realism (per picture and KID per method, against ``references`` held-out real scenes), the machine judge's
    2AFC tables on the human-study pairs and on the ours-vs-ground-truth pairs (scene tasks); (None, None, None,
    None, note) when the model has no discriminator or nothing was rendered."""
    from eval.measures.realism import RealismModel, SquareView, measure_run
    from human_study.judge import judge_pairs

    if editor.discriminator is None:
        return None, None, None, None, "realism and machine judge: n/a (the model has no discriminator)"
    if not len(edits):
        return None, None, None, None, "realism and machine judge: n/a (no edits)"
    model = RealismModel.from_model(editor, n=references, seed=seed)
    per_picture, kid = measure_run(out, edits, names, model, size=editor.size)
    per_picture.to_csv(out / "realism.csv", index=False)
    kid.to_csv(out / "kid.csv", index=False)
    judged = judged_truth = None
    note = ""
    if "photo_size" in edits and edits["photo_size"].nunique() > 1:
        note = "machine judge: n/a (the photos differ in size; a study page shows pictures of one size)"
    else:
        judge = SquareView(model, editor.size)
        if len(names) > 1 and (out / "pairs" / "manifest.csv").is_file():
            judged = judge_pairs(out / "pairs", out / "machine_judge", judge, seed=seed)
        if report.write_truth_pairs_manifest(out, edits, names[0]):
            judged_truth = judge_pairs(out / "truth_pairs", out / "machine_judge_truth", judge, seed=seed)
    return per_picture, kid, judged, judged_truth, note


def sizes_note(edits: pd.DataFrame) -> str:
    """The photo sizes of a run's edits, e.g. ``128x128 (3 tasks)``."""
    if not len(edits) or "photo_size" not in edits:
        return "n/a"
    counts = edits.drop_duplicates("task_id")["photo_size"].value_counts()
    return ", ".join(f"{size} ({n} task{'s' * (n != 1)})" for size, n in sorted(counts.items()))


def write_report(out: Path, names: list[str], args, editor, failures: list[dict], elapsed: float,
                 processed: int) -> None:
    edits = _sorted(_read_csv(out / "edits.csv", EDIT_FIELDS), ["task_id", "method"], names)
    recon = _sorted(_read_csv(out / "reconstruction.csv", RECON_FIELDS), ["photo_id", "method"], names)
    for frame, name in ((edits, "edits.csv"), (recon, "reconstruction.csv")):
        if len(frame):   # sorted, so that a run gives the same files whatever the order photos finished in
            frame.to_csv(out / name, index=False, na_rep="n/a")
    labels = {n: METHODS[n].label for n in names}
    stages = []
    if len(recon):
        firsts = recon.drop_duplicates("stage")
        stages = list(firsts.sort_values("method", key=lambda col: col.map(names.index), kind="stable")["stage"])
    report.write_pairs_manifest(out, edits, names)
    with task_threads(check_threads(getattr(args, "threads", TASK_THREADS))):
        per_picture, kid, judged, judged_truth, note = machine_measures(out, edits, names, editor, args.seed,
                                                                         getattr(args, "references", REFERENCE_IMAGES))
    if per_picture is not None:
        edits = edits.merge(per_picture, on=["task_id", "method"], how="left")
    scorer = metrics.LPIPS()
    options = editor.options
    notes = [f"photos: `{args.photos}`" + (f", tasks: `{args.tasks}`" if args.tasks else ""),
             f"model: `{args.model}` at {editor.size} px; seed {args.seed}; outside-mask margin "
             + (f"{args.margin} px of the photo" if args.margin >= 0 else
                f"1/32 of the model's square of the photo ({metrics.default_margin(editor.size)} px at "
                f"{editor.size} px)"),
             "sizes: every method's picture is made at the photo's own size (photo sizes: "
             f"{sizes_note(edits)}); PSNR, SSIM, L1, LPIPS, the seam and the ground-truth errors are computed "
             "there (`photo_size` column); concept share, edit success and label accuracy on the model's square "
             "of it as the segmenter sees it, and realism and KID on that square as the discriminator sees it "
             f"(`model_size`, {editor.size}x{editor.size}); reconstructions at the model's size",
             f"{edits['task_id'].nunique() if len(edits) else 0} tasks x {len(names)} methods; this run processed "
             f"{processed} tasks in {elapsed:.0f} s with {args.workers} worker(s) of "
             f"{getattr(args, 'threads', TASK_THREADS)} torch thread(s) per task on {cpu_model()}"
             + (f" on Dask ({args.scheduler})" if getattr(args, "scheduler", "") else ""),
             f"realism, KID and the machine judge against {getattr(args, 'references', REFERENCE_IMAGES)} held-out "
             "real scenes (`--references`)" if per_picture is not None else "",
             "LPIPS: available (photo size; AlexNet backbone)" if scorer.available else f"LPIPS: n/a ({scorer.reason})",
             "one region for every method: the editor's paste-back alpha (the mask dilated by "
             f"{options.paste_radius} px, blurred with sigma {options.paste_sigma}); compositing baselines paste G's "
             "render over it (feathered alpha with that very alpha, the others over its dilated mask), and nothing "
             "beyond its support changes"] + ([note] if note else [])
    notes = [n for n in notes if n]
    report.write_summary(out, edits, recon, names, stages, labels, notes, failures, seed=args.seed,
                         recon_stages=(OURS_STAGE, PLAIN_STAGE), kid=kid, judged=judged, judged_truth=judged_truth)
    report.write_plots(out, edits, recon, names, stages, labels, seed=args.seed)
    report.write_strips(out, edits, names, labels, out / "truth")
