"""The study API, apart from HTTP: input checks and the calls, each one database job.

``study`` tells the page it is served (and the minimum reaction time); nothing is stored before ``consent``,
which records the participant, hands out a session (the least used one among consented participants, so methods
stay balanced) and a token; ``session`` (resume after a reload), ``answers`` (idempotent) and ``finish`` (the
completion code, once every trial of the session is stored) need that token, so knowing a worker id is not
enough to read or answer as them.  Answers faster than the study's ``min_rt_ms`` are refused, both as reported
by the page and as seen by the server (since consent, at least ``min_rt_ms`` per stored answer).
"""

from __future__ import annotations

import hmac
import re
import secrets
import unicodedata
from datetime import datetime, timezone
from pathlib import Path

from human_study import store
from human_study.common import (
    CHOICES,
    DATABASE,
    IMAGE_DIR,
    MIN_RT_MS,
    RESPONSES,
    STATIC_FILES,
    read_manifest,
    read_study_config,
    session_trials,
)
from human_study.writer import Writer

MAX_COMMENTS = 5000
MAX_ID = 128
TOKEN_HEADER = "x-study-token"
IMAGE_PATTERN = re.compile(rf"^{IMAGE_DIR}/[0-9a-f]{{20}}\.png$")
PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete?cc="
ID_SOURCES = ("local", "prolific", "mturk")


class BadRequest(Exception):
    """A request the study refuses: an HTTP status and a sentence for the participant's browser."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def text(payload: dict, key: str, limit: int, required: bool = False) -> str:
    """A string field of at most ``limit`` characters that SQLite can store (no lone surrogates)."""
    value = payload.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(400, f"{key} must be a string of at most {limit} characters.")
    if required and not value:
        raise BadRequest(400, f"{key} is required.")
    if any(unicodedata.category(c) == "Cs" for c in value):
        raise BadRequest(400, f"{key} is not valid Unicode text.")
    return value


def worker_id(value: str) -> str:
    """A platform's participant id, kept verbatim: any printable characters (spaces, ``<``, any script), 1-128 of
    them; control characters are refused.  It is only ever stored through SQL parameters, written to CSV
    spreadsheet-safe and shown as text, so no character needs escaping on the way in."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID or any(
            unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise BadRequest(400, f"worker_id must be 1-{MAX_ID} characters without control characters.")
    return value


def check_answers(items, allowed: set[str], min_rt_ms: int) -> list[dict]:
    if not isinstance(items, list) or not 1 <= len(items) <= len(allowed):
        raise BadRequest(400, "answers must be a non-empty list no longer than the session.")
    out = []
    for a in items:
        if not isinstance(a, dict) or a.get("trial_id") not in allowed or a.get("choice") not in CHOICES:
            raise BadRequest(400, "Each answer needs a trial_id of this session and a choice of left/right.")
        rt = a.get("rt_ms")
        if isinstance(rt, bool) or not isinstance(rt, int | float) or not 0 <= rt <= 1e8:
            raise BadRequest(400, "rt_ms must be a number of milliseconds.")
        if rt < min_rt_ms:
            raise BadRequest(422, f"An answer came {int(rt)} ms after the photos appeared, faster than the "
                                  f"{min_rt_ms} ms a judgement takes; it was not stored.")
        out.append({"trial_id": a["trial_id"], "choice": a["choice"], "rt_ms": int(rt),
                    "client_time": text(a, "client_time", 64)})
    return out


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _holds(row: dict, token: str) -> bool:
    """Whether ``token`` is the one handed to the participant ``row`` at consent (compared in constant time)."""
    return bool(token) and hmac.compare_digest(row["token_hash"], store.token_hash(token))


def _owned(db, worker: str, token: str) -> dict:
    """The participant ``worker`` if ``token`` is theirs; one refusal for an unknown id and a wrong token alike,
    so the API does not tell who has taken part."""
    row = store.participant(db, worker)
    if row is None or not _holds(row, token):
        raise BadRequest(403, "This browser holds no valid token for this participant: reload the study page "
                              "you started in.")
    return row


def seconds_since(iso: str) -> float:
    return (datetime.now(timezone.utc) - datetime.fromisoformat(iso)).total_seconds()


class Study:
    """A built study folder: its config, its design (trial ids per session) and, while serving, its writer;
    ``min_rt_ms`` overrides the study's minimum reaction time."""

    def __init__(self, folder: Path, min_rt_ms: int | None = None):
        self.folder = Path(folder).resolve()
        self.config = read_study_config(self.folder)
        self.manifest = read_manifest(self.folder)
        self.trials = {s: set(ids) for s, ids in session_trials(self.manifest).items()}
        self.version = self.config.get("study_version", "")
        self.min_rt_ms = int(self.config.get("min_rt_ms", MIN_RT_MS) if min_rt_ms is None else min_rt_ms)
        self.store = store.Store(self.folder / DATABASE, self.version)
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

    def about(self) -> dict:
        """What the page needs to know before consent: that it is served, and the minimum reaction time."""
        return {"served": True, "min_rt_ms": self.min_rt_ms, "study_version": self.version}

    async def consent(self, payload: dict, token: str) -> dict:
        """Record a consenting participant and hand out their session and token; the same again (idempotent)
        for the holder of the token, a refusal for anyone else using that id."""
        worker = worker_id(payload.get("worker_id", ""))
        extra = {k: text(payload, k, MAX_ID) for k in ("assignment_id", "study_id", "session_id")}
        source = text(payload, "source", 16) or "local"
        if source not in ID_SOURCES:
            raise BadRequest(400, f"source must be one of {', '.join(ID_SOURCES)}.")
        fresh = new_token()

        def job(db):
            row = store.participant(db, worker)
            if row is not None:
                if not _holds(row, token):
                    raise BadRequest(409, "This participant id has already started the study in another browser: "
                                          "please continue there (or contact the researcher).")
                return row["session"], token, store.answered(db, worker)
            session = store.assign(db, worker, len(self.trials), source=source, token=fresh, **extra)
            return session, fresh, set()

        session, held, done = await self.writer.run(job)
        return {"session": session, "token": held, "answered": sorted(done), "min_rt_ms": self.min_rt_ms}

    async def session(self, params: dict, token: str) -> dict:
        """The token holder's session and progress (after a reload, Back/Forward or in a second tab)."""
        worker = worker_id(params.get("worker_id", ""))

        def job(db):
            row = _owned(db, worker, token)
            return row, store.answered(db, worker)

        row, done = await self.writer.run(job)
        return {"session": row["session"], "answered": sorted(done), "finished": bool(row["finished_at"]),
                "min_rt_ms": self.min_rt_ms}

    async def answers(self, payload: dict, token: str) -> dict:
        worker = worker_id(text(payload, "worker_id", MAX_ID, required=True))

        def job(db):
            row = _owned(db, worker, token)
            allowed = self.trials[row["session"]]
            checked = check_answers(payload.get("answers"), allowed, self.min_rt_ms)
            before = store.answered(db, worker)
            new = {a["trial_id"] for a in checked} - before
            if new and self.min_rt_ms and seconds_since(row["consented_at"]) * 1000 < (
                    len(before) + len(new)) * self.min_rt_ms:
                raise BadRequest(422, f"Answers are arriving faster than one per {self.min_rt_ms} ms since "
                                      "consent; they were not stored.")
            stored = store.add_answers(db, worker, row["session"], checked)
            return {"stored": stored, "total": len(allowed)}

        return await self.writer.run(job)

    async def finish(self, payload: dict, token: str) -> dict:
        worker = worker_id(text(payload, "worker_id", MAX_ID, required=True))
        comments = text(payload, "comments", MAX_COMMENTS)

        def job(db):
            row = _owned(db, worker, token)
            missing = len(self.trials[row["session"]] - store.answered(db, worker))
            if missing:
                raise BadRequest(409, f"{missing} answers are not stored yet.")
            store.finish(db, worker, comments)
            return row["source"]

        source = await self.writer.run(job)
        code = self.config["completion_code"]
        return {"completion_code": code, **({"redirect": PROLIFIC_COMPLETE + code} if source == "prolific" else {})}
