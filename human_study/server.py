"""``python -m human_study serve``: serve a built study with uvicorn and record every answer to ``STUDY/study.sqlite``.

API (JSON in and out, see :mod:`human_study.api`): ``GET /api/study``, ``POST /api/consent`` (returns the
participant's token), then with header ``X-Study-Token``: ``GET /api/session?worker_id=…``, ``POST /api/answers``,
``POST /api/finish``.  One process, one event loop, one database thread (:mod:`human_study.writer`).  Limits
beyond those of :mod:`human_study.web`: a listen backlog of BACKLOG, at most MAX_CONNECTIONS open connections
(then 503), a request head must arrive within the read timeout of connecting or of the previous response (else
the connection is closed), idle keep-alive connections are closed after KEEP_ALIVE seconds.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from human_study.api import Study
from human_study.common import DATABASE, RESPONSES
from human_study.web import MAX_HEAD, READ_TIMEOUT, make_app

BACKLOG = 1024
MAX_CONNECTIONS = 2000
KEEP_ALIVE = 5


def add_arguments(p):
    p.add_argument("study", help="a folder written by `build`")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument("--read-timeout", type=float, default=READ_TIMEOUT,
                   help="seconds a client has to send a request head, and then its body")
    p.add_argument("--min-rt-ms", type=int, default=None,
                   help="refuse answers faster than this (default: the study's, from build --min-rt-ms); the page "
                        "learns it from the server")
    p.add_argument("--export", action="store_true", help=f"write STUDY/{RESPONSES} from the database and exit")


class HeadTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol plus a deadline on the request head, which uvicorn lacks (slow-loris clients): a
    connection without a complete head ``read_timeout`` s after connecting, or after its last response, is closed."""

    read_timeout = READ_TIMEOUT
    _timer = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc) -> None:
        if self._timer:
            self._timer.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._timer:
            self._timer.cancel()
        self._timer = self.loop.call_later(self.read_timeout, self._head_overdue)

    def _head_overdue(self) -> None:
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()


def listen(host: str, port: int) -> socket.socket:
    return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                                backlog=BACKLOG)


def make_server(folder: Path, read_timeout: float = READ_TIMEOUT,
                min_rt_ms: int | None = None) -> tuple[uvicorn.Server, Study]:
    """A uvicorn server for the study (run it with ``server.run(sockets=[listen(host, port)])``)."""
    study = Study(Path(folder), min_rt_ms)
    protocol = type("StudyH11", (HeadTimeoutH11,), {"read_timeout": read_timeout})
    config = uvicorn.Config(make_app(study, read_timeout), http=protocol, ws="none", lifespan="on", backlog=BACKLOG,
                            limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=KEEP_ALIVE,
                            h11_max_incomplete_event_size=MAX_HEAD, timeout_graceful_shutdown=10,
                            log_level="warning", access_log=False, server_header=False)
    return uvicorn.Server(config), study


@contextmanager
def running(folder: Path, host: str = "127.0.0.1", port: int = 0, read_timeout: float = READ_TIMEOUT,
            min_rt_ms: int | None = None):
    """Serve ``folder`` from a background thread (tests, notebooks); yields the port."""
    server, _ = make_server(folder, read_timeout, min_rt_ms)
    sock = listen(host, port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)
    if not server.started:
        raise RuntimeError(f"the study server for {folder} did not start")
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def run(args):
    folder = Path(args.study)
    if args.export:
        print(f"wrote {Study(folder).export()}")
        return 0
    if args.min_rt_ms is not None and args.min_rt_ms < 0:
        raise ValueError(f"--min-rt-ms must not be negative, got {args.min_rt_ms}")
    server, study = make_server(folder, args.read_timeout, args.min_rt_ms)
    sock = listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: exit through `finally` to write the export.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"serving {folder} at http://{host}:{port}/ (answers in {folder / DATABASE}; Ctrl-C to stop)", flush=True)
    try:
        server.run(sockets=[sock])
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        sock.close()
        print(f"wrote {study.export()}", flush=True)
    return 0
