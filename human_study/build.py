"""``python -m human_study build``: turn the evaluation's pairs into a self-contained static 2AFC study.

Each session holds scored trials (ours vs. one baseline, methods interleaved so every session sees each baseline
about equally often, left/right drawn per trial), about ``--catch`` catch trials (the unedited photo vs. an
obviously broken composite) and, first, ``--practice`` practice trials with feedback.  Images are copied under
content-hashed names so nothing a participant sees names a method, upscaled with Lanczos to ``--display-px`` when
smaller so they fill their frame; ``manifest.csv`` and ``server.json`` hold the key and are never served.  Every
build gets a new ``study_version``; a folder that already holds answers is refused.
"""

from __future__ import annotations

import json
import math
import secrets
import shutil
import sys
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ganpaint_core.commands.cli import check_out_dir
from human_study.common import (
    CHOICES,
    DATABASE,
    DISPLAY_PX,
    EXPOSURE_MS,
    IMAGE_DIR,
    MANIFEST,
    MANIFEST_COLUMNS,
    MIN_RT_MS,
    REFERENCE,
    RESPONSES,
    SERVER_CONFIG,
    STUDY_DATA,
    read_csv,
    write_csv,
)
from human_study.images import UPSCALE_FILTER, broken_composite, load_mask, load_rgb, png_bytes, store_image, upscaled
from human_study.mturk import check_image_base_url, write_mturk
from human_study.pairs import PAIR_COLUMNS
from human_study.store import recorded

QUESTION = "Which photo looks more real (less edited)?"


def add_arguments(p):
    p.add_argument("--pairs", required=True, help="the evaluation's pairs folder (with manifest.csv)")
    p.add_argument("--out", required=True, help="study folder to write")
    p.add_argument("--trials-per-session", type=int, default=40, help="scored + catch trials per session")
    p.add_argument("--practice", type=int, default=5, help="practice trials with feedback at the start")
    p.add_argument("--catch", type=float, default=0.1, help="share of catch trials per session (0 to 0.5)")
    p.add_argument("--exposure-ms", type=int, default=EXPOSURE_MS,
                   help="show the photos this long, then hide them (0: no limit); answer time is unlimited "
                        "(default 1000: the 1 s of the pix2pix and colourisation AMT studies)")
    p.add_argument("--min-rt-ms", type=int, default=MIN_RT_MS,
                   help="answers faster than this after the photos appear are ignored by the page and refused by "
                        "the server (0: no minimum)")
    p.add_argument("--display-px", type=int, default=DISPLAY_PX,
                   help=f"upscale smaller pictures ({UPSCALE_FILTER}) so their longer side has this many pixels "
                        "(0: keep their size)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--completion-code", default="", help="code shown after the answers are saved (default: random)")
    p.add_argument("--image-base-url", default="",
                   help="public https URL of the study folder (where img/ is hosted), for the MTurk HTMLQuestion "
                        "template; without it no template is written")
    p.add_argument("--title", default="Which photo looks real?")


def read_pairs(pairs: Path) -> list[dict]:
    path = pairs / "manifest.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no manifest.csv in {str(pairs)!r} (expected the evaluation's pairs folder)")
    rows = read_csv(path)
    missing = [c for c in PAIR_COLUMNS if rows and c not in rows[0]]
    if missing:
        raise ValueError(f"{path} lacks columns: {', '.join(missing)}")
    if not rows:
        raise ValueError(f"{path} lists no pairs")
    for row in rows:
        if row["method_a"] != REFERENCE:
            raise ValueError(f"pair {row['pair_id']}: method_a is {row['method_a']!r}, expected {REFERENCE!r}")
        for key in ("image_a", "image_b", "original"):
            if not (pairs / row[key]).is_file():
                raise FileNotFoundError(f"pair {row['pair_id']}: missing image {row[key]!r} under {str(pairs)!r}")
    return rows


def interleave(pairs: list[dict], rng: np.random.Generator) -> list[dict]:
    """Pairs in round-robin order over baselines (each shuffled), so any contiguous run is balanced."""
    groups: dict[str, list[dict]] = {}
    for row in pairs:
        groups.setdefault(row["method_b"], []).append(row)
    queues = [[g[i] for i in rng.permutation(len(g))] for g in groups.values()]
    out = []
    while any(queues):
        for q in [queues[i] for i in rng.permutation(len(queues))]:
            if q:
                out.append(q.pop())
    return out


def plan_sessions(pairs: list[dict], trials_per_session: int, catch: float,
                  rng: np.random.Generator) -> list[tuple[list[dict], int]]:
    """[(scored pairs, number of catch trials)] per session; every pair is shown in exactly one session."""
    n_catch = round(trials_per_session * catch)
    n_scored = trials_per_session - n_catch
    n_sessions = math.ceil(len(pairs) / n_scored)
    out = []
    for chunk in np.array_split(np.arange(len(pairs)), n_sessions):
        k = len(chunk)
        catches = max(1, round(k * catch / (1 - catch))) if catch > 0 else 0
        out.append((chunk, catches))
    ordered = interleave(pairs, rng)
    return [([ordered[i] for i in chunk], catches) for chunk, catches in out]


def sides(n: int, rng: np.random.Generator) -> list[bool]:
    """Random sides for ``n`` trials, balanced: half (rounded at random) put ours/the original on the left."""
    half = n // 2 + int(n % 2 and rng.random() < 0.5)
    return list(rng.permutation([True] * half + [False] * (n - half)))


class Builder:
    """Copies images into the study and assembles trials."""

    def __init__(self, pairs_dir: Path, study: Path, rng: np.random.Generator, display_px: int = DISPLAY_PX):
        self.pairs_dir, self.study, self.rng, self.display_px = pairs_dir, study, rng, display_px
        self._copied: dict[str, str] = {}
        self._broken: dict[tuple[str, str], str] = {}

    def store(self, rgb: np.ndarray) -> str:
        return store_image(png_bytes(upscaled(rgb, self.display_px)), self.study)

    def copy(self, rel: str) -> str:
        if rel not in self._copied:
            self._copied[rel] = self.store(load_rgb(self.pairs_dir / rel))
        return self._copied[rel]

    def broken(self, pair: dict, style: str) -> str:
        key = (pair["task_id"], style)
        if key not in self._broken:
            original = load_rgb(self.pairs_dir / pair["original"])
            mask_rel = pair.get("mask") or ""
            mask = load_mask(self.pairs_dir / mask_rel if mask_rel else None, original.shape[:2])
            self._broken[key] = self.store(broken_composite(original, mask, self.rng, style))
        return self._broken[key]

    def trial(self, pair: dict, phase: str, first_left: bool, style: str = "scramble") -> dict:
        """Ours vs. baseline (scored) or original vs. broken (catch/practice); ``first_left``: ours/original left."""
        if phase == "scored":
            a, b = (REFERENCE, self.copy(pair["image_a"])), (pair["method_b"], self.copy(pair["image_b"]))
        else:
            a, b = ("original", self.copy(pair["original"])), ("broken", self.broken(pair, style))
        left, right = (a, b) if first_left else (b, a)
        ours_side = CHOICES[0] if left is a else CHOICES[1]
        return {"phase": phase, "catch": int(phase == "catch"), "pair_id": pair["pair_id"] if phase == "scored" else "",
                "task_id": pair["task_id"], "action": pair["action"], "concept": pair["concept"],
                "left": left[1], "right": right[1], "method_left": left[0], "method_right": right[0],
                "methods": f"{a[0]}|{b[0]}", "baseline": b[0] if phase == "scored" else "",
                "ours_side": ours_side if phase == "scored" else "",
                "correct_side": "" if phase == "scored" else ours_side}


def check_no_answers(study: Path) -> None:
    """Refuse a folder that already holds answers: a new manifest would be paired with the old answers."""
    participants, answers = recorded(study / DATABASE)
    exported = (study / RESPONSES).is_file() and len(read_csv(study / RESPONSES)) > 0
    if participants or answers or exported:
        held = f"{participants} participants and {answers} answers in {DATABASE}" if participants or answers \
            else f"answers in {RESPONSES}"
        raise ValueError(f"{str(study)!r} already holds {held}: building into it would pair them with a new "
                         "design. Build into a new folder (each build is a new study version), or move "
                         f"{DATABASE}* and {RESPONSES} out first")
    for suffix in ("", "-wal", "-shm"):                 # an empty database of an earlier build: nothing to keep
        (study / (DATABASE + suffix)).unlink(missing_ok=True)


def new_version() -> str:
    """A build id: UTC time and a random part, e.g. 20261206T2301Z-9f3a1c2b."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%MZ") + "-" + secrets.token_hex(4)


def build(pairs_dir: Path, study: Path, trials_per_session: int = 40, practice: int = 5, catch: float = 0.1,
          exposure_ms: int = EXPOSURE_MS, seed: int = 0, completion_code: str = "", image_base_url: str = "",
          title: str = "Which photo looks real?", min_rt_ms: int = MIN_RT_MS, display_px: int = DISPLAY_PX) -> dict:
    """Write the study folder; return the server config (also written to ``server.json``)."""
    if trials_per_session < 2:
        raise ValueError(f"--trials-per-session must be at least 2, got {trials_per_session}")
    if not 0 <= catch <= 0.5:
        raise ValueError(f"--catch must be between 0 and 0.5, got {catch}")
    if practice < 0 or exposure_ms < 0 or min_rt_ms < 0 or display_px < 0:
        raise ValueError("--practice, --exposure-ms, --min-rt-ms and --display-px must not be negative")
    if image_base_url:
        check_image_base_url(image_base_url)
    study = Path(study)
    if study.is_dir():
        check_no_answers(study)
    pairs = read_pairs(pairs_dir)
    check_out_dir(study)
    (study / IMAGE_DIR).mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    builder = Builder(pairs_dir, study, rng, display_px)
    tasks = list({p["task_id"]: p for p in pairs}.values())
    practice_tasks = [tasks[i % len(tasks)] for i in rng.permutation(max(practice, len(tasks)))[:practice]]
    rows = []
    plan = plan_sessions(pairs, trials_per_session, catch, rng)
    for s, (scored, n_catch) in enumerate(tqdm(plan, desc="building sessions", unit="session", leave=False,
                                               disable=None)):     # upscaling and writing pictures takes a while
        session_tasks = list({p["task_id"]: p for p in scored}.values())
        catches = [session_tasks[i % len(session_tasks)] for i in rng.permutation(max(n_catch, len(session_tasks)))]
        body = [builder.trial(p, "scored", left) for p, left in zip(scored, sides(len(scored), rng), strict=True)]
        body += [builder.trial(p, "catch", left) for p, left in zip(catches[:n_catch], sides(n_catch, rng),
                                                                     strict=True)]
        body = [body[i] for i in rng.permutation(len(body))]
        trials = [builder.trial(p, "practice", left, style="block")
                  for p, left in zip(practice_tasks, sides(practice, rng), strict=True)] + body
        for position, trial in enumerate(trials):
            rows.append({"trial_id": f"s{s:03d}-{position:02d}", "session": s, "position": position, **trial})
    write_csv(study / MANIFEST, MANIFEST_COLUMNS, rows)
    sessions = client_sessions(rows)
    version = new_version()
    config = {"title": title, "question": QUESTION, "exposure_ms": exposure_ms, "min_rt_ms": min_rt_ms,
              "study_version": version}
    (study / STUDY_DATA).write_text("window.STUDY = " + json.dumps({**config, "sessions": sessions}) + ";\n")
    copy_static(study)
    server = {**config, "completion_code": completion_code or secrets.token_hex(4).upper(), "seed": seed,
              "sessions": len(sessions), "trials_per_session": trials_per_session, "practice": practice,
              "catch": catch, "pairs": len(pairs), "trials": len(rows),
              "display_px": display_px, "upscale_filter": UPSCALE_FILTER if display_px else ""}
    (study / SERVER_CONFIG).write_text(json.dumps(server, indent=2))
    write_mturk(study, config, sessions, image_base_url, version)
    return server


def client_sessions(rows: list[dict]) -> list[list[dict]]:
    """What the browser sees per trial: id, phase (practice or trial), the two image paths and, for practice
    only, the correct side.  Catch trials look like any other trial."""
    sessions: list[list[dict]] = []
    for row in rows:
        if row["session"] == len(sessions):
            sessions.append([])
        item = {"id": row["trial_id"], "phase": "practice" if row["phase"] == "practice" else "trial",
                "left": row["left"], "right": row["right"]}
        if row["phase"] == "practice":
            item["correct"] = row["correct_side"]
        sessions[-1].append(item)
    return sessions


def static_text(name: str) -> str:
    return resources.files("human_study").joinpath("static", name).read_text(encoding="utf-8")


def copy_static(study: Path) -> None:
    page = static_text("index.html").replace("<!--BODY-->", static_text("body.html"))
    (study / "index.html").write_text(page, encoding="utf-8")
    for name in ("study.js", "study.css"):
        shutil.copyfile(str(resources.files("human_study").joinpath("static", name)), study / name)


def run(args):
    study = Path(args.out)
    info = build(Path(args.pairs), study, args.trials_per_session, args.practice, args.catch, args.exposure_ms,
                 args.seed, args.completion_code, args.image_base_url, args.title, args.min_rt_ms, args.display_px)
    print(f"wrote {info['sessions']} sessions ({info['trials']} trials from {info['pairs']} pairs) to {study} "
          f"(study version {info['study_version']}); open {study / 'index.html'} or run "
          f"`python -m human_study serve {study}`")
    if not args.image_base_url:
        print(f"NOTE: no MTurk HTMLQuestion template was written: pass --image-base-url https://HOST/PATH/ (where "
              f"{study / IMAGE_DIR} is hosted) to get one, or serve the study and use it as an ExternalQuestion "
              f"(see {study / 'mturk' / 'README.md'})", file=sys.stderr)
