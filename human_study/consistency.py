"""Do the answers belong to this study build?  ``analyze`` refuses answers that cannot (a rebuilt study, the wrong
``--study``) and warns about ones that look out of place.

Refused (``MismatchError``): trial ids the manifest does not know, answers filed under another session than the
manifest's, a local export whose own key (images, sides, methods per trial) differs from the manifest's, and a
``study_version`` in the answers other than ``server.json``'s.  Warned: answers stored before the study was built
(``server.json``'s ``built_at`` when present, else the manifest file's time, which a copy can change; simulated
and machine-judge answers carry made-up times and are not checked) and workers
with the same trial answered twice.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from human_study.common import MANIFEST, MANIFEST_COLUMNS, SERVER_CONFIG, read_manifest, read_study_config

SYNTHETIC_SOURCES = ("simulated", "machine-judge")   # answers with made-up times: not time-checked
# The manifest columns that say what a participant saw and which side was ours.
SEEN_COLUMNS = ("phase", "left", "right", "method_left", "method_right", "ours_side", "correct_side")


class MismatchError(ValueError):
    """The answers cannot belong to this study build."""


def locate_study(answers: Path, study: str | None) -> Path | None:
    """``--study``, else the folder holding ``manifest.csv`` next to (or above) the answers, else None."""
    if study:
        return Path(study)
    for folder in (Path(answers).parent, Path(answers).parent.parent):
        if (folder / MANIFEST).is_file():
            return folder
    return None


def _times(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.where(values.str.strip() != ""), utc=True, errors="coerce", format="ISO8601")


def check(frame: pd.DataFrame, study: Path | None) -> list[str]:
    """Warnings about ``frame`` (answers with their key) against the ``study`` folder; raises MismatchError when
    they cannot belong together.  Without a study folder only the answers' own consistency is checked."""
    warnings = []
    duplicates = frame.duplicated(["worker_id", "trial_id"])
    if duplicates.any():
        warnings.append(f"{int(duplicates.sum())} answers repeat a trial the same worker already answered (the "
                        "first is kept)")
    if study is None:
        warnings.append("no study folder found (pass --study STUDY): the answers were not checked against the "
                        "study's manifest and build")
        return warnings
    manifest = pd.DataFrame(read_manifest(study), columns=list(MANIFEST_COLUMNS)).set_index("trial_id")
    unknown = ~frame["trial_id"].isin(manifest.index)
    if unknown.any():
        raise MismatchError(f"{int(unknown.sum())} answers name trials not in {study / MANIFEST} (e.g. "
                            f"{frame.loc[unknown, 'trial_id'].iloc[0]!r}): the answers belong to another study or "
                            "build")
    key = manifest.loc[frame["trial_id"]]
    moved = frame["session"].astype(int).to_numpy() != key["session"].astype(int).to_numpy()
    if moved.any():
        raise MismatchError(f"{int(moved.sum())} answers are filed under another session than {study / MANIFEST} "
                            f"gives their trial (e.g. {frame.loc[moved, 'trial_id'].iloc[0]!r}): the study was "
                            "rebuilt after these answers were given")
    shown = [c for c in SEEN_COLUMNS if c in frame.columns]
    if shown:
        theirs = frame[shown].fillna("").astype(str).to_numpy()
        ours = key[shown].fillna("").astype(str).to_numpy()
        differ = (theirs != ours).any(axis=1)
        if differ.any():
            raise MismatchError(f"{int(differ.sum())} answers were given to trials that {study / MANIFEST} describes "
                                f"differently (other photos or sides, e.g. "
                                f"{frame.loc[differ, 'trial_id'].iloc[0]!r}): the study was rebuilt after these "
                                "answers were given; analyse them with the study they were given to")
    config = read_study_config(study) if (study / SERVER_CONFIG).is_file() else {}
    version = str(config.get("study_version", "") or "")
    if version and "study_version" in frame.columns:
        theirs = frame["study_version"].fillna("").astype(str)
        other = theirs.ne("") & theirs.ne(version)
        if other.any():
            raise MismatchError(f"{int(other.sum())} answers carry study version {theirs[other].iloc[0]!r}, "
                                f"{study / SERVER_CONFIG} says {version!r}: answers of another build")
    if config.get("built_at"):
        built, origin = pd.Timestamp(config["built_at"]), f"{SERVER_CONFIG}'s built_at"
        built = built.tz_localize(timezone.utc) if built.tzinfo is None else built
    else:
        stamp = (study / MANIFEST).stat().st_mtime
        built, origin = pd.Timestamp(datetime.fromtimestamp(stamp, timezone.utc)), f"{MANIFEST}'s file time"
    if "server_time" in frame.columns:
        made_up = frame["source"].astype(str).isin(SYNTHETIC_SOURCES)
        early = (_times(frame["server_time"].astype(str)) < built) & ~made_up
        if early.any():
            warnings.append(f"{int(early.sum())} answers were stored before the study was built ({origin}: "
                            f"{built.isoformat(timespec='seconds')}): answers of an earlier build? (a copied "
                            "study folder can also move the file time)")
    return warnings
