"""A machine judge for a built 2AFC study: answers every trial by a realism model, not by people.

Each judge "worker" takes the least-used session (as the server hands them out) and, in every trial, picks the
picture the realism model scores higher (``eval.measures.realism``: the shipped discriminator's verdict plus the
typicality of its patches).
``noise`` adds independent Gaussian noise to each picture's score on every answer, in units of the spread
(standard deviation) of the scores over the study's pictures: 0 is a deterministic judge, large values approach
coin flips.  Ties (identical pictures) are broken by a fair coin, so the judge has no left/right preference; the
study itself balances which side ours is on.  The answers have the participants' CSV layout
(``source`` = ``machine-judge``), so ``analyze`` reads them like any other.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from human_study.common import ANSWER_COLUMNS, assign_sessions, read_manifest, with_worker_times

JUDGES = ("realism",)
SOURCE = "machine-judge"


def _picture(path: Path, size: int | None) -> np.ndarray:
    """A study picture; at ``size`` x ``size`` (Lanczos) when given: ``build`` upscales pictures for people."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        return np.asarray(im if size is None or im.size == (size, size) else im.resize((size, size), Image.LANCZOS))


def picture_scores(study: Path, model, size: int | None = None) -> dict[str, float]:
    """The realism score of every picture a study shows, by its path relative to the study; ``size``: the
    model's picture size, to which the study's (upscaled) pictures are brought back."""
    manifest = read_manifest(study)
    names = sorted({row[side] for row in manifest for side in ("left", "right")})
    pictures = [_picture(Path(study) / name, size) for name in names]
    sizes = {p.shape for p in pictures}
    if len(sizes) != 1:
        raise ValueError(f"the study's pictures differ in size ({sorted(sizes)}); the judge needs one size")
    return dict(zip(names, (float(s) for s in model.score(np.stack(pictures))), strict=True))


def check_arguments(workers: int, noise: float) -> None:
    """The judge's ``--workers`` and ``--noise``, checked before any model is loaded."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if noise < 0:
        raise ValueError(f"--noise must not be negative, got {noise}")


def judge(study: Path, scores: dict[str, float], workers: int, noise: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Answers (ANSWER_COLUMNS) of ``workers`` judge passes over the study, by ``scores`` plus noise."""
    check_arguments(workers, noise)
    spread = float(np.std(list(scores.values()))) or 1.0
    rng = np.random.default_rng(seed)
    clock = datetime(2024, 1, 1, tzinfo=timezone.utc)
    rows = []
    for w, session, trials in assign_sessions(read_manifest(study), workers):
        for row in trials:
            left, right = scores[row["left"]], scores[row["right"]]
            if noise > 0:
                left, right = left + rng.normal(0, noise * spread), right + rng.normal(0, noise * spread)
            choice = ("left" if left > right else "right") if left != right else ("left", "right")[rng.integers(2)]
            clock += timedelta(seconds=1)
            stamp = clock.isoformat(timespec="milliseconds")
            rows.append({"worker_id": f"J{w:04d}", "session": session, "trial_id": row["trial_id"], "choice": choice,
                         "rt_ms": 0, "client_time": stamp, "server_time": stamp, "assignment_id": f"J{w:04d}",
                         "study_id": "", "session_id": "", "source": SOURCE, "comments": ""})
    return with_worker_times(pd.DataFrame(rows, columns=list(ANSWER_COLUMNS)))


def realism_judge(study: Path, model, workers: int, noise: float = 0.0, seed: int = 0,
                  size: int | None = None) -> pd.DataFrame:
    """The realism judge's answers to ``study``, by ``model`` (a RealismModel: its caller builds it); ``size``: the
    model's resolution, at which the study's (upscaled) pictures are scored."""
    check_arguments(workers, noise)
    read_manifest(study)
    return judge(study, picture_scores(study, model, size), workers, noise, seed)


def judge_pairs(pairs: Path, out: Path, model, noise: float = 0.0, seed: int = 0, samples: int = 2000) -> dict:
    """Build a study from an evaluation's ``pairs`` folder into ``out/study``, answer it with the realism judge
    (one pass per session), write ``out/answers.csv`` and the analysis to ``out/report``; ``analyze``'s tables."""
    from human_study.analyze import analyse, write_report
    from human_study.build import build
    from human_study.responses import tidy, with_key, write_export

    out = Path(out)
    study = out / "study"
    if study.exists():
        import shutil

        shutil.rmtree(study)
    info = build(Path(pairs), study, practice=0, seed=seed, display_px=0)   # the judge sees the pictures' own pixels
    answers = judge(study, picture_scores(study, model), info["sessions"], noise, seed)
    frame = with_key(answers, read_manifest(study))
    write_export(frame, out / "answers.csv")
    tables = analyse(tidy(frame), samples=samples, seed=seed)
    write_report(tables, out / "report", str(out / "answers.csv"))
    return tables
