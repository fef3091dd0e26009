"""``python -m human_study simulate``: synthetic participants with known preferences, for tests and demos.

Each worker takes the least-used session (as the server would hand it out).  Attentive workers prefer ours with
the planted probability (``--prefer ours=P``, or ``--prefer BASELINE=P`` for one baseline), pass every catch
trial and get 90% of practice trials right; a ``--catch-fail`` share of careless workers answer everything at
random; an ``--unfinished`` share stop halfway (no finish time) and a ``--fast`` share click through (every
answer within 50-150 ms, at random).  Each worker's consent and finish times are written (``consented_at``,
``finished_at``).  Optional per-worker spread (``--worker-sd``, on the logit scale) and a pull towards the left photo
(``--left-bias``, logit) make the data less ideal.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from human_study.common import ANSWER_COLUMNS, REFERENCE, assign_sessions, read_manifest, write_frame
from human_study.judge import JUDGES, check_arguments, realism_judge
from human_study.mturk import to_results
from human_study.responses import with_key, write_export

PRACTICE_ACCURACY = 0.9


def add_arguments(p):
    p.add_argument("study", help="a folder written by `build`")
    p.add_argument("--workers", type=int, required=True)
    p.add_argument("--prefer", action="append", default=[], metavar="METHOD=P",
                   help="P(choose ours): ours=P for every baseline, BASELINE=P for one (repeatable; default 0.5)")
    p.add_argument("--catch-fail", type=float, default=0.1, help="share of careless workers answering at random")
    p.add_argument("--unfinished", type=float, default=0.0, help="share of workers who stop halfway")
    p.add_argument("--fast", type=float, default=0.0, help="share of workers clicking through at random, fast")
    p.add_argument("--worker-sd", type=float, default=0.0, help="spread of worker preferences (logit scale)")
    p.add_argument("--left-bias", type=float, default=0.0, help="pull towards the left photo (logit scale)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", choices=("local", "mturk"), default="local",
                   help="local export (responses.csv layout) or MTurk batch results")
    p.add_argument("--out", required=True, help="CSV to write")
    p.add_argument("--judge", choices=JUDGES, default="",
                   help="answer by a machine judge instead of planted preferences: 'realism' (human_study/judge.py; "
                        "--prefer, --catch-fail, --worker-sd and --left-bias are then unused)")
    p.add_argument("--noise", type=float, default=0.0, help="the judge's score noise, in units of the score spread")
    p.add_argument("--model", default="default", help="the judge's model (its discriminator gives the features)")
    p.add_argument("--references", type=int, default=256, help="real scenes and generator samples behind the judge")


def parse_prefer(items: list[str]) -> dict[str, float]:
    prefs = {REFERENCE: 0.5}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            p = float(value)
        except ValueError:
            p = -1.0
        if not sep or not name or not 0 <= p <= 1:
            raise ValueError(f"--prefer expects METHOD=P with P in [0, 1], got {item!r}")
        prefs[name] = p
    return prefs


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return float(np.log(p / (1 - p)))


WORKER_TIMES = ("consented_at", "finished_at")


def simulate(study: Path, workers: int, prefs: dict[str, float], catch_fail: float = 0.1, seed: int = 0,
             worker_sd: float = 0.0, left_bias: float = 0.0, unfinished: float = 0.0,
             fast: float = 0.0) -> pd.DataFrame:
    """Answers (ANSWER_COLUMNS plus ``consented_at``, ``finished_at``) of ``workers`` synthetic participants."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    for name, share in (("--catch-fail", catch_fail), ("--unfinished", unfinished), ("--fast", fast)):
        if not 0 <= share <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {share}")
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    rows = []
    for w, session, trials in assign_sessions(read_manifest(study), workers):
        careless = rng.random() < catch_fail
        offset = rng.normal(0, worker_sd) if worker_sd > 0 else 0.0
        quits = unfinished > 0 and rng.random() < unfinished       # drawn only when asked: seeds keep
        clicks = fast > 0 and rng.random() < fast                  # their answers
        careless = careless or clicks
        clock = start + timedelta(hours=w)
        consented = clock.isoformat(timespec="milliseconds")
        first = len(rows)
        for row in (trials[:len(trials) // 2] if quits else trials):
            trial_id = row["trial_id"]
            if careless:
                p_left = 0.5
            elif row["phase"] == "scored":
                p_ours = prefs.get(row["baseline"], prefs[REFERENCE])
                if offset or left_bias:
                    toward_left = left_bias if row["ours_side"] == "left" else -left_bias
                    p_ours = 1 / (1 + np.exp(-(_logit(p_ours) + offset + toward_left)))
                p_left = p_ours if row["ours_side"] == "left" else 1 - p_ours
            else:
                accuracy = 1.0 if row["phase"] == "catch" else PRACTICE_ACCURACY
                p_left = accuracy if row["correct_side"] == "left" else 1 - accuracy
            if not careless and row["phase"] != "scored" and left_bias:
                p_left = 1 / (1 + np.exp(-(_logit(p_left) + left_bias)))
            rt = int(rng.integers(50, 150)) if clicks else int(rng.lognormal(np.log(1400), 0.4))
            clock += timedelta(milliseconds=rt + 500)
            stamp = clock.isoformat(timespec="milliseconds")
            rows.append({"worker_id": f"W{w:04d}", "session": session, "trial_id": trial_id,
                         "choice": "left" if rng.random() < p_left else "right", "rt_ms": rt, "client_time": stamp,
                         "server_time": stamp, "assignment_id": f"A{w:04d}", "study_id": "", "session_id": "",
                         "source": "simulated", "comments": "", "consented_at": consented})
        finished = "" if quits else (clock + timedelta(seconds=5)).isoformat(timespec="milliseconds")
        for r in rows[first:]:
            r["finished_at"] = finished
    return pd.DataFrame(rows, columns=list(dict.fromkeys([*ANSWER_COLUMNS, *WORKER_TIMES])))


def run(args):
    study = Path(args.study)
    if args.judge:
        from ganpaint_core.models import load_model
        from ganpaint_core.realism import RealismModel

        if args.references < 8:
            raise ValueError(f"--references must be at least 8, got {args.references}")
        check_arguments(args.workers, args.noise)            # before the model and its references are built
        bundle = load_model(args.model)
        model = RealismModel.from_model(bundle, n=args.references)
        answers = realism_judge(study, model, args.workers, args.noise, args.seed, bundle.generator.resolution)
    else:
        answers = simulate(study, args.workers, parse_prefer(args.prefer), args.catch_fail, args.seed,
                           args.worker_sd, args.left_bias, args.unfinished, args.fast)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.format == "mturk":
        write_frame(to_results(answers), out)
    else:
        write_export(with_key(answers, read_manifest(study)), out)
    print(f"wrote {len(answers)} answers of {args.workers} {'judge passes' if args.judge else 'simulated workers'} "
          f"to {out}")
