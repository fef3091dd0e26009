"""The study server's one database thread: jobs from the event loop, committed in groups.

A job is ``job(db, *args)`` on the thread's own connection.  The jobs that queued up while the previous commit
was running share the next transaction, so one fsync acknowledges many requests (group commit), and the event
loop never touches SQLite.  Each job runs in its own savepoint: a job that raises is undone alone and its
exception goes back to its caller.  Results are handed back only after the commit (``synchronous=FULL``), so an
acknowledged answer survives a kill.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from pathlib import Path

from human_study.store import connect

MAX_GROUP = 256


def _settle(future: asyncio.Future, ok: bool, value) -> None:
    if not future.done():                      # the caller may have gone away
        future.set_result(value) if ok else future.set_exception(value)


def run_group(db: sqlite3.Connection, jobs: list) -> list[tuple[bool, object]]:
    """(ok, result or exception) per job, all in one transaction; all fail alike if the commit fails."""
    outcomes = []
    try:
        db.execute("BEGIN IMMEDIATE")
        for job, args in jobs:
            db.execute("SAVEPOINT job")
            try:
                outcomes.append((True, job(db, *args)))
            except Exception as err:  # noqa: BLE001 - the caller's error, handed back to it
                db.execute("ROLLBACK TO job")
                outcomes.append((False, err))
            db.execute("RELEASE job")
        db.execute("COMMIT")
    except sqlite3.Error as err:
        if db.in_transaction:
            db.execute("ROLLBACK")
        return [(False, err)] * len(jobs)
    return outcomes


class Writer:
    """Owns a connection to ``path`` on a daemon thread; :meth:`run` from the event loop, :meth:`close` at exit."""

    def __init__(self, path: Path):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        db = connect(Path(path))                       # here, so that a database that cannot be opened fails now
        self._thread = threading.Thread(target=self._serve, args=(db,), name="study-db", daemon=True)
        self._thread.start()

    async def run(self, job, *args):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((job, args, loop, future))
        return await future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _serve(self, db: sqlite3.Connection) -> None:
        try:
            while True:
                group = [self._queue.get()]
                while group[-1] is not None and len(group) < MAX_GROUP:
                    try:
                        group.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                items = [g for g in group if g is not None]
                for (_, _, loop, future), (ok, value) in zip(items, run_group(db, [g[:2] for g in items]),
                                                             strict=True):
                    try:
                        loop.call_soon_threadsafe(_settle, future, ok, value)
                    except RuntimeError:       # the loop has closed: nobody is waiting
                        pass
                if group[-1] is None:
                    return
        finally:
            db.close()
