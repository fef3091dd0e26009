"""Answer tables: read any supported layout (local export, MTurk batch results, study.sqlite) and join the key.

The local export (``responses.csv``) is self-contained: each answer row carries the manifest's columns for its
trial, and that key is used even when a study folder is given (``analyze`` checks it against the folder's).
MTurk results and the database hold only trial ids, so they are joined with ``manifest.csv`` of the study.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from human_study.common import (
    ANSWER_COLUMNS,
    CHOICES,
    MANIFEST,
    MANIFEST_COLUMNS,
    read_manifest,
    spreadsheet_text,
    write_frame,
)

KEY_COLUMNS = tuple(c for c in MANIFEST_COLUMNS if c not in ("trial_id", "session"))
# Per-worker columns newer exports carry (consent and finish times, the build's version); kept when present,
# whether or not ANSWER_COLUMNS lists them yet.
OPTIONAL_COLUMNS = ("consented_at", "finished_at", "study_version")


def answer_columns(frame: pd.DataFrame) -> list[str]:
    """ANSWER_COLUMNS plus whichever optional columns ``frame`` has."""
    return list(dict.fromkeys([*ANSWER_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in frame.columns)]))


def with_key(answers: pd.DataFrame, manifest: list[dict]) -> pd.DataFrame:
    """``answers`` (ANSWER_COLUMNS) joined with the manifest on trial id: the local export layout."""
    key = pd.DataFrame(manifest, columns=list(MANIFEST_COLUMNS)).drop(columns="session")
    frame = answers.reindex(columns=answer_columns(answers), fill_value="")     # older exports: missing ones empty
    frame = frame.merge(key, on="trial_id", how="left", validate="many_to_one")
    unknown = frame["phase"].isna()
    if unknown.any():
        raise ValueError(f"{int(unknown.sum())} answers name trials not in the manifest "
                         f"(e.g. {frame.loc[unknown, 'trial_id'].iloc[0]!r}): wrong --study?")
    return frame


def write_export(frame: pd.DataFrame, path: Path) -> None:
    """Write the local export with participant text made safe for spreadsheets."""
    write_frame(frame, path)


def find_study(path: Path, study: str | None) -> Path:
    if study:
        return Path(study)
    for folder in (path.parent, path.parent.parent):
        if (folder / MANIFEST).is_file():
            return folder
    raise FileNotFoundError(f"cannot find the study's {MANIFEST} next to {str(path)!r}; pass --study STUDY")


def load(path: Path, study: str | None = None) -> pd.DataFrame:
    """Answers with their trial key from a local export, MTurk batch results or a study database."""
    from human_study.mturk import from_results
    from human_study.store import read_answers

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    with open(path, "rb") as f:
        is_sqlite = f.read(16) == b"SQLite format 3\x00"
    if is_sqlite:
        return with_key(read_answers(path), read_manifest(find_study(path, study)))
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read {path} as CSV: {err}") from err
    raw = raw.map(spreadsheet_text)
    if any(c.startswith("Answer.") for c in raw.columns):
        return with_key(from_results(raw), read_manifest(find_study(path, study)))
    missing = [c for c in ("worker_id", "session", "trial_id", "choice") if c not in raw]
    if missing:
        raise ValueError(f"{path} is neither a local export nor MTurk results (missing {', '.join(missing)})")
    answers = raw.reindex(columns=answer_columns(raw), fill_value="")
    if not set(MANIFEST_COLUMNS) <= set(raw.columns):
        return with_key(answers, read_manifest(find_study(path, study)))
    # self-contained: its own key is what the participants saw (``analyze`` checks it against the study's);
    # exports written before consent times and study versions lack those columns: they read as empty
    frame = raw.reindex(columns=answer_columns(raw) + list(KEY_COLUMNS), fill_value="")
    frame["catch"] = frame["catch"].astype(int)
    frame["position"] = frame["position"].astype(int)
    return frame


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed columns plus ``chose_left``, ``chose_ours`` (scored) and ``correct`` (catch/practice)."""
    frame = frame.copy()
    frame["session"] = frame["session"].astype(int)
    frame["worker_id"] = frame["worker_id"].astype(str)
    frame["rt_ms"] = pd.to_numeric(frame["rt_ms"], errors="coerce")
    frame["comments"] = frame["comments"].fillna("").astype(str)
    bad = ~frame["choice"].isin(CHOICES)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} answers have a choice other than left/right")
    frame["chose_left"] = frame["choice"] == CHOICES[0]
    frame["chose_ours"] = frame["choice"] == frame["ours_side"].fillna("")
    frame["correct"] = frame["choice"] == frame["correct_side"].fillna("")
    return frame.sort_values(["worker_id", "session", "position"]).reset_index(drop=True)
