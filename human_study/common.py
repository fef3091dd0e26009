"""Names shared by the study builder, server, simulator and analysis: files, columns, the study design."""

from __future__ import annotations

import csv
import json
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
ANSWER_COLUMNS = ("worker_id", "session", "trial_id", "choice", "rt_ms", "client_time", "server_time",
                  "assignment_id", "study_id", "session_id", "source", "comments")


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
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
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


def spreadsheet_safe(value):
    """Neutralise text a spreadsheet would run as a formula (CSV injection); other values unchanged."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
