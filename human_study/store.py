"""The study's SQLite store: participants and one row per answered trial (WAL, idempotent inserts).

A participant row is written only at consent; it holds the session, the platform ids (verbatim: SQL parameters,
never spliced into SQL), the SHA-256 of the participant's token and the consent and finish times.  The ``meta``
table names the study build (``study_version``) the answers belong to.  Commits use ``synchronous=FULL`` and the
server acknowledges a write only after its commit, so a killed server loses nothing it acknowledged.
Re-submitting an answer keeps the first row (and its server timestamp).
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path

from human_study.common import ANSWER_COLUMNS, least_used

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS participants (
    worker_id TEXT PRIMARY KEY, session INTEGER NOT NULL, assignment_id TEXT, study_id TEXT, session_id TEXT,
    source TEXT, token_hash TEXT NOT NULL, consented_at TEXT NOT NULL, finished_at TEXT, comments TEXT,
    study_version TEXT);
CREATE TABLE IF NOT EXISTS answers (
    worker_id TEXT NOT NULL, trial_id TEXT NOT NULL, session INTEGER NOT NULL, choice TEXT NOT NULL,
    rt_ms INTEGER, client_time TEXT, server_time TEXT NOT NULL, PRIMARY KEY (worker_id, trial_id));
"""


def answers_frame(db: sqlite3.Connection):
    """All answers joined with their participant as a DataFrame in the local export layout (ANSWER_COLUMNS)."""
    import pandas as pd  # only for exports: keeps the server's start light

    return pd.read_sql_query(
        "SELECT a.worker_id, a.session, a.trial_id, a.choice, a.rt_ms, a.client_time, a.server_time, "
        "p.assignment_id, p.study_id, p.session_id, p.source, p.comments, p.consented_at, p.finished_at, "
        "p.study_version FROM answers a LEFT JOIN participants p USING (worker_id) ORDER BY a.worker_id, a.trial_id",
        db)[list(ANSWER_COLUMNS)].fillna({"consented_at": "", "finished_at": "", "study_version": ""})


def token_hash(token: str) -> str:
    """What the database keeps of a participant's token (so a copy of the database cannot answer as them)."""
    return hashlib.sha256(token.encode()).hexdigest()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) that fsyncs every commit."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=30000")
    return db


class Store:
    """The database file: created with its schema in WAL mode; :meth:`transaction` for one-off synchronous use
    (exports, scripts).  The server writes through :class:`human_study.writer.Writer` instead.

    ``version`` (the build's ``study_version``) is recorded in a new database; a database of another build, or
    one written before tokens and consent times existed, is refused with a ValueError."""

    def __init__(self, path: Path, version: str = ""):
        self.path = Path(path)
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
            db.execute("PRAGMA journal_mode=WAL")   # persistent: set once, outside any transaction
            db.executescript(SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(participants)")}
            if "token_hash" not in columns:
                raise ValueError(f"{self.path} was written by an older version of human_study (no participant "
                                 "tokens); build the study into a new folder")
            db.execute("INSERT INTO meta (key, value) VALUES ('study_version', ?) ON CONFLICT DO NOTHING",
                       (version,))
            stored = db.execute("SELECT value FROM meta WHERE key = 'study_version'").fetchone()[0]
        if version and stored != version:
            raise ValueError(f"{self.path} holds answers to study version {stored!r}, but the study folder is "
                             f"version {version!r} (rebuilt?): serve the folder the answers belong to")
        self.version = stored

    @contextmanager
    def transaction(self):
        """A fresh connection in one transaction, committed on success."""
        with closing(connect(self.path)) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def answers(self):
        with self.transaction() as db:
            return answers_frame(db)


# The queries: each runs on a connection inside a transaction the caller owns.

def participant(db: sqlite3.Connection, worker_id: str) -> dict | None:
    cursor = db.execute("SELECT * FROM participants WHERE worker_id = ?", (worker_id,))
    row = cursor.fetchone()
    return dict(zip([c[0] for c in cursor.description], row, strict=True)) if row else None


def assign(db: sqlite3.Connection, worker_id: str, n_sessions: int, assignment_id: str = "", study_id: str = "",
           session_id: str = "", source: str = "local", token: str = "") -> int:
    """The worker's session: the one they already have, else the least-used one among consented participants
    (whom this call records: call it at consent, with the participant's ``token``)."""
    row = db.execute("SELECT session FROM participants WHERE worker_id = ?", (worker_id,)).fetchone()
    if row:
        return int(row[0])
    counts = dict.fromkeys(range(n_sessions), 0)
    for s, n in db.execute("SELECT session, COUNT(*) FROM participants GROUP BY session"):
        if s in counts:
            counts[s] = n
    session = least_used(counts)
    version = db.execute("SELECT value FROM meta WHERE key = 'study_version'").fetchone()
    db.execute("INSERT INTO participants (worker_id, session, assignment_id, study_id, session_id, source, "
               "token_hash, consented_at, study_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (worker_id, session, assignment_id, study_id, session_id, source, token_hash(token), now(),
                version[0] if version else ""))
    return session


def add_answers(db: sqlite3.Connection, worker_id: str, session: int, answers: list[dict]) -> int:
    """Insert answers, ignoring ones already stored; return how many of the worker's answers are stored."""
    stamp = now()
    db.executemany("INSERT INTO answers (worker_id, trial_id, session, choice, rt_ms, client_time, server_time)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (worker_id, trial_id) DO NOTHING",
                   [(worker_id, a["trial_id"], session, a["choice"], a.get("rt_ms"), a.get("client_time"), stamp)
                    for a in answers])
    return db.execute("SELECT COUNT(*) FROM answers WHERE worker_id = ?", (worker_id,)).fetchone()[0]


def answered(db: sqlite3.Connection, worker_id: str) -> set[str]:
    return {r[0] for r in db.execute("SELECT trial_id FROM answers WHERE worker_id = ?", (worker_id,))}


def finish(db: sqlite3.Connection, worker_id: str, comments: str) -> None:
    db.execute("UPDATE participants SET comments = ?, finished_at = COALESCE(finished_at, ?) WHERE worker_id = ?",
               (comments, now(), worker_id))


def recorded(path: Path) -> tuple[int, int]:
    """(participants, answers) in an existing study database, read without changing it; (0, 0) if there is none."""
    if not Path(path).is_file():
        return 0, 0
    uri = f"file:{Path(path).resolve()}?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as db:
            return tuple(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]   # noqa: S608 - fixed names
                         for table in ("participants", "answers"))
    except sqlite3.DatabaseError as err:
        raise ValueError(f"{path} is not a study database: {err}") from err


def read_answers(path: Path):
    """Answers from a study database, opened read-only (refuses a file that is not a study database)."""
    import pandas as pd

    uri = f"file:{Path(path).resolve()}?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as db:
            return answers_frame(db)
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as err:
        raise ValueError(f"{path} is not a study database: {err}") from err
