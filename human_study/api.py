"""The study API, apart from HTTP: input checks and the three calls, each one database job.

``session`` hands out a session (the worker's own, else the least used one, so methods stay balanced);
``answers`` stores answers (idempotent); ``finish`` stores the comments and, once every trial of the session is
stored, returns the completion code.
"""

from __future__ import annotations

import re
from pathlib import Path

from human_study import store
from human_study.common import (
    CHOICES,
    DATABASE,
    IMAGE_DIR,
    RESPONSES,
    STATIC_FILES,
    read_manifest,
    read_study_config,
    session_trials,
)
from human_study.writer import Writer

MAX_COMMENTS = 5000
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
IMAGE_PATTERN = re.compile(rf"^{IMAGE_DIR}/[0-9a-f]{{20}}\.png$")
PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete?cc="


class BadRequest(Exception):
    """A request the study refuses: an HTTP status and a sentence for the participant's browser."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def text(payload: dict, key: str, limit: int, required: bool = False) -> str:
    value = payload.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(400, f"{key} must be a string of at most {limit} characters.")
    if required and not value:
        raise BadRequest(400, f"{key} is required.")
    return value


def worker_id(value: str) -> str:
    if not ID_PATTERN.match(value or ""):
        raise BadRequest(400, "worker_id must be 1-128 letters, digits or _.:@-")
    return value


def check_answers(items, allowed: set[str]) -> list[dict]:
    if not isinstance(items, list) or not 1 <= len(items) <= len(allowed):
        raise BadRequest(400, "answers must be a non-empty list no longer than the session.")
    out = []
    for a in items:
        if not isinstance(a, dict) or a.get("trial_id") not in allowed or a.get("choice") not in CHOICES:
            raise BadRequest(400, "Each answer needs a trial_id of this session and a choice of left/right.")
        rt = a.get("rt_ms")
        if rt is not None and (isinstance(rt, bool) or not isinstance(rt, int | float) or not 0 <= rt <= 1e8):
            raise BadRequest(400, "rt_ms must be a number of milliseconds.")
        out.append({"trial_id": a["trial_id"], "choice": a["choice"], "rt_ms": None if rt is None else int(rt),
                    "client_time": text(a, "client_time", 64)})
    return out


def _known(db, worker: str) -> dict:
    row = store.participant(db, worker)
    if row is None:
        raise BadRequest(409, "Unknown worker: ask /api/session first.")
    return row


class Study:
    """A built study folder: its config, its design (trial ids per session) and, while serving, its writer."""

    def __init__(self, folder: Path):
        self.folder = Path(folder).resolve()
        self.config = read_study_config(self.folder)
        self.manifest = read_manifest(self.folder)
        self.trials = {s: set(ids) for s, ids in session_trials(self.manifest).items()}
        self.store = store.Store(self.folder / DATABASE)
        self.writer: Writer | None = None

    def open(self) -> None:
        self.writer = Writer(self.store.path)

    def close(self) -> None:
        if self.writer:
            self.writer.close()
            self.writer = None

    def export(self, path: Path | None = None) -> Path:
        from human_study.responses import with_key, write_export  # pandas: only when exporting

        path = path or self.folder / RESPONSES
        write_export(with_key(self.store.answers(), self.manifest), path)
        return path

    def static_path(self, url_path: str) -> Path | None:
        """The file a (decoded) URL path names if it is one the study may serve, else None."""
        rel = url_path.lstrip("/") or "index.html"
        if rel not in STATIC_FILES and not IMAGE_PATTERN.match(rel):
            return None
        path = (self.folder / rel).resolve()
        return path if path.is_relative_to(self.folder) and path.is_file() else None

    async def session(self, params: dict) -> dict:
        worker = worker_id(params.get("worker_id", ""))
        extra = {k: text(params, k, 128) for k in ("assignment_id", "study_id", "session_id")}
        source = text(params, "source", 16) or "local"

        def job(db):
            return store.assign(db, worker, len(self.trials), source=source, **extra), store.answered(db, worker)

        session, done = await self.writer.run(job)
        return {"worker_id": worker, "session": session, "answered": sorted(done)}

    async def answers(self, payload: dict) -> dict:
        worker = worker_id(text(payload, "worker_id", 128, required=True))

        def job(db):
            row = _known(db, worker)
            allowed = self.trials[row["session"]]
            stored = store.add_answers(db, worker, row["session"], check_answers(payload.get("answers"), allowed))
            return {"stored": stored, "total": len(allowed)}

        return await self.writer.run(job)

    async def finish(self, payload: dict) -> dict:
        worker = worker_id(text(payload, "worker_id", 128, required=True))
        comments = text(payload, "comments", MAX_COMMENTS)

        def job(db):
            row = _known(db, worker)
            missing = len(self.trials[row["session"]] - store.answered(db, worker))
            if missing:
                raise BadRequest(409, f"{missing} answers are not stored yet.")
            store.finish(db, worker, comments)
            return row["source"]

        source = await self.writer.run(job)
        code = self.config["completion_code"]
        return {"completion_code": code, **({"redirect": PROLIFIC_COMPLETE + code} if source == "prolific" else {})}
