"""Names shared by the study builder, server, simulator and analysis: files, columns, the study design."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

REFERENCE = "ours"
CHOICES = ("left", "right")
PHASES = ("practice", "scored", "catch")
ACTIONS = ("add", "remove", "appearance")

# Files inside a built study folder.
STUDY_DATA = "study-data.js"      # window.STUDY = {...}: config, practice and sessions (served, no method names)
SERVER_CONFIG = "server.json"     # completion code and design (never served)
MANIFEST = "manifest.csv"         # one row per trial: which image is which method (never served)
DATABASE = "study.sqlite"
RESPONSES = "responses.csv"
STATIC_FILES = ("index.html", "study.js", "study.css", STUDY_DATA)
IMAGE_DIR = "img"

MANIFEST_COLUMNS = ("trial_id", "session", "position", "phase", "catch", "pair_id", "task_id", "action", "concept",
                    "left", "right", "method_left", "method_right", "methods", "baseline", "ours_side",
                    "correct_side")
# One row per answered trial: the local export, the simulator's output and what MTurk results are turned into.
# Per worker, repeated on each of their rows: the platform ids, comments, consent and finish times (ISO, UTC; empty
# when not reached) and the build id of the study the answers belong to (``study_version`` in server.json).
ANSWER_COLUMNS = ("worker_id", "session", "trial_id", "choice", "rt_ms", "client_time", "server_time",
                  "assignment_id", "study_id", "session_id", "source", "comments", "consented_at", "finished_at",
                  "study_version")

# Defaults of the design, written to server.json by ``build``.
MIN_RT_MS = 200        # faster answers are refused: below simple visual reaction time (~200 ms), i.e. not a judgement
EXPOSURE_MS = 1000     # the pix2pix (Isola et al. 2017) and colourisation (Zhang et al. 2016) AMT protocol: 1 s
DISPLAY_PX = 512       # smaller pictures are upscaled to this (longer side) with Lanczos, so they fill their frame


def with_worker_times(answers):
    """Simulated answers (a DataFrame of ANSWER_COLUMNS) as a study that every worker finished: consent at their
    first answer's server time, finish at their last, where not already set."""
    answers = answers.copy()
    times = answers.groupby("worker_id")["server_time"]
    for column, first_or_last in (("consented_at", "min"), ("finished_at", "max")):
        answers[column] = answers[column].astype(object)
        empty = answers[column].isna() | (answers[column] == "")
        answers.loc[empty, column] = times.transform(first_or_last)[empty]
    return answers


def read_study_config(study: Path) -> dict:
    """The server-side config written by ``build`` (raises FileNotFoundError if ``study`` is not a built study)."""
    path = Path(study) / SERVER_CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{str(study)!r} is not a built study (no {SERVER_CONFIG}); run `build` first")
    return json.loads(path.read_text())


def read_manifest(study: Path) -> list[dict]:
    path = Path(study) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {str(study)!r}; run `build` first")
    rows = read_csv(path)
    for row in rows:
        row["session"] = int(row["session"])
        row["position"] = int(row["position"])
        row["catch"] = int(row["catch"])
    return rows


def session_trials(manifest: list[dict]) -> dict[int, list[str]]:
    """Trial ids per session in presentation order (practice first)."""
    out: dict[int, list[str]] = {}
    for row in sorted(manifest, key=lambda r: (r["session"], r["position"])):
        out.setdefault(row["session"], []).append(row["trial_id"])
    return out


def least_used(counts: dict[int, int]) -> int:
    """The session with the fewest participants so far (lowest index on ties): keeps methods balanced."""
    return min(counts, key=lambda s: (counts[s], s))


def assign_sessions(manifest: list[dict], workers: int):
    """(worker index, session, its trials' manifest rows in order) for ``workers`` participants arriving one after
    another, each given the least-used session as the server would."""
    by_id = {row["trial_id"]: row for row in manifest}
    sessions = session_trials(manifest)
    counts = dict.fromkeys(sessions, 0)
    for w in range(workers):
        session = least_used(counts)
        counts[session] += 1
        yield w, session, [by_id[t] for t in sessions[session]]


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(value):
    """A cell a spreadsheet shows as text and never runs as a formula (CSV injection, OWASP): text starting with
    = + - @ tab or CR gets a leading apostrophe (so does text starting with one, to keep this reversible); numbers,
    and text that is just a number, stay as they are."""
    if isinstance(value, str) and value[:1] in (*FORMULA_START, "'") and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def spreadsheet_text(value):
    """Undo :func:`spreadsheet_safe` on read."""
    if isinstance(value, str) and value[:1] == "'" and value[1:2] in (*FORMULA_START, "'"):
        return value[1:]
    return value


def write_csv(path: Path, columns, rows) -> None:
    """Dict rows as CSV, every cell spreadsheet-safe (the one writer of row lists in this package)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)


def write_frame(frame, path: Path) -> None:
    """A DataFrame as CSV, every cell spreadsheet-safe (the one writer of tables in this package).  CRLF line ends,
    as :func:`write_csv` writes them, so a bare CR inside a cell is quoted rather than read as a line break."""
    frame.map(spreadsheet_safe).to_csv(path, index=False, lineterminator="\r\n")


def read_csv(path: Path) -> list[dict]:
    """Rows written by :func:`write_csv` (or any CSV) with the spreadsheet escapes undone."""
    with open(path, newline="") as f:
        return [{k: spreadsheet_text(v) for k, v in row.items()} for row in csv.DictReader(f)]
