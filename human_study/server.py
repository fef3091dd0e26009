"""``python -m human_study serve``: serve a built study and record every answer to ``STUDY/study.sqlite``.

API (JSON in and out): ``GET /api/session?worker_id=…`` hands out a session (the worker's own, else the least
used one, so methods stay balanced); ``POST /api/answers`` stores answers (idempotent); ``POST /api/finish`` stores
the comments and, once every trial of the session is stored, returns the completion code.  Only the study page,
its script, style, data and images are served; the manifest, config and database never are.
"""

from __future__ import annotations

import json
import re
import signal
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

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
from human_study.store import Store

MAX_BODY = 256 * 1024
MAX_COMMENTS = 5000
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
IMAGE_PATTERN = re.compile(rf"^{IMAGE_DIR}/[0-9a-f]{{20}}\.png$")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".png": "image/png"}
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "X-Frame-Options": "DENY",
                    "Content-Security-Policy": "default-src 'self'; img-src 'self'; object-src 'none'; "
                                               "base-uri 'none'; form-action 'self'"}
PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete?cc="


class BadRequest(Exception):
    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


def add_arguments(p):
    p.add_argument("study", help="a folder written by `build`")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument("--export", action="store_true", help=f"write STUDY/{RESPONSES} from the database and exit")


class Study:
    """What the handlers share: the folder, its key, its design and the store."""

    def __init__(self, folder: Path):
        self.folder = folder.resolve()
        self.config = read_study_config(folder)
        self.manifest = read_manifest(folder)
        self.trials = {s: set(ids) for s, ids in session_trials(self.manifest).items()}
        self.store = Store(folder / DATABASE)

    def export(self, path: Path | None = None) -> Path:
        from human_study.responses import with_key, write_export  # pandas: only when exporting

        path = path or self.folder / RESPONSES
        write_export(with_key(self.store.answers(), self.manifest), path)
        return path

    def static_path(self, url_path: str) -> Path | None:
        """The file a URL path names if it is one the study may serve, else None."""
        rel = unquote(url_path).lstrip("/") or "index.html"
        if rel not in STATIC_FILES and not IMAGE_PATTERN.match(rel):
            return None
        path = (self.folder / rel).resolve()
        return path if path.is_relative_to(self.folder) and path.is_file() else None


def _text(payload: dict, key: str, limit: int, required: bool = False) -> str:
    value = payload.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"{key} must be a string of at most {limit} characters")
    if required and not value:
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"{key} is required")
    return value


def _worker(value: str) -> str:
    if not ID_PATTERN.match(value or ""):
        raise BadRequest(HTTPStatus.BAD_REQUEST, "worker_id must be 1-128 letters, digits or _.:@-")
    return value


def check_answers(items, allowed: set[str]) -> list[dict]:
    if not isinstance(items, list) or not 1 <= len(items) <= len(allowed):
        raise BadRequest(HTTPStatus.BAD_REQUEST, "answers must be a non-empty list no longer than the session")
    out = []
    for a in items:
        if not isinstance(a, dict) or a.get("trial_id") not in allowed or a.get("choice") not in CHOICES:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "each answer needs a trial_id of this session and a choice "
                                                     "of left/right")
        rt = a.get("rt_ms")
        if rt is not None and (isinstance(rt, bool) or not isinstance(rt, int | float) or not 0 <= rt <= 1e8):
            raise BadRequest(HTTPStatus.BAD_REQUEST, "rt_ms must be a number of milliseconds")
        out.append({"trial_id": a["trial_id"], "choice": a["choice"], "rt_ms": None if rt is None else int(rt),
                    "client_time": _text(a, "client_time", 64)})
    return out


class Handler(BaseHTTPRequestHandler):
    study: Study  # set on the subclass made by make_server
    server_version = "human-study"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - quiet; errors still reach stderr via send_error paths
        pass

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, cache: str = "no-store") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: HTTPStatus, payload: dict) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _fail(self, err: BadRequest) -> None:
        self._json(err.status, {"error": str(err)})

    def do_GET(self):  # noqa: N802 - http.server's naming
        url = urlsplit(self.path)
        try:
            if url.path == "/api/session":
                return self._json(HTTPStatus.OK, self.api_session(parse_qs(url.query)))
            if url.path.startswith("/api/"):
                raise BadRequest(HTTPStatus.NOT_FOUND, "no such endpoint")
            path = self.study.static_path(url.path)
            if path is None:
                raise BadRequest(HTTPStatus.NOT_FOUND, "not found")
            cache = "public, max-age=3600" if path.suffix == ".png" else "no-cache"
            self._send(HTTPStatus.OK, path.read_bytes(), CONTENT_TYPES[path.suffix], cache)
        except BadRequest as err:
            self._fail(err)

    do_HEAD = do_GET

    def do_POST(self):  # noqa: N802
        try:
            payload = self._read_json()
            path = urlsplit(self.path).path
            if path == "/api/answers":
                return self._json(HTTPStatus.OK, self.api_answers(payload))
            if path == "/api/finish":
                return self._json(HTTPStatus.OK, self.api_finish(payload))
            raise BadRequest(HTTPStatus.NOT_FOUND, "no such endpoint")
        except BadRequest as err:
            self.close_connection = True
            self._fail(err)

    def _read_json(self) -> dict:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise BadRequest(HTTPStatus.LENGTH_REQUIRED, "Content-Length required")
        if int(length) > MAX_BODY:
            self._discard(int(length))
            raise BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY} bytes")
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            raise BadRequest(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
        try:
            payload = json.loads(self.rfile.read(int(length)).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "malformed JSON") from err
        if not isinstance(payload, dict):
            raise BadRequest(HTTPStatus.BAD_REQUEST, "expected a JSON object")
        return payload

    def _discard(self, length: int) -> None:
        """Read and drop a moderately oversized body so the client gets the 413 rather than a reset."""
        if length <= 16 * MAX_BODY:
            while length > 0:
                chunk = self.rfile.read(min(length, 65536))
                if not chunk:
                    break
                length -= len(chunk)

    def _participant(self, payload: dict) -> tuple[str, dict]:
        worker = _worker(_text(payload, "worker_id", 128, required=True))
        row = self.study.store.participant(worker)
        if row is None:
            raise BadRequest(HTTPStatus.CONFLICT, "unknown worker: ask /api/session first")
        return worker, row

    def api_session(self, query: dict) -> dict:
        params = {k: v[-1] for k, v in query.items()}
        worker = _worker(params.get("worker_id", ""))
        extra = {k: _text(params, k, 128) for k in ("assignment_id", "study_id", "session_id")}
        source = _text(params, "source", 16) or "local"
        session = self.study.store.assign(worker, len(self.study.trials), source=source, **extra)
        return {"worker_id": worker, "session": session, "answered": sorted(self.study.store.answered(worker))}

    def api_answers(self, payload: dict) -> dict:
        worker, row = self._participant(payload)
        allowed = self.study.trials[row["session"]]
        stored = self.study.store.add_answers(worker, row["session"], check_answers(payload.get("answers"), allowed))
        return {"stored": stored, "total": len(allowed)}

    def api_finish(self, payload: dict) -> dict:
        worker, row = self._participant(payload)
        comments = _text(payload, "comments", MAX_COMMENTS)
        missing = len(self.study.trials[row["session"]] - self.study.store.answered(worker))
        if missing:
            raise BadRequest(HTTPStatus.CONFLICT, f"{missing} answers are not stored yet")
        self.study.store.finish(worker, comments)
        code = self.study.config["completion_code"]
        out = {"completion_code": code}
        if row["source"] == "prolific":
            out["redirect"] = PROLIFIC_COMPLETE + code
        return out


def make_server(folder: Path, host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, Study]:
    study = Study(Path(folder))
    handler = type("StudyHandler", (Handler,), {"study": study})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server, study


def run(args):
    folder = Path(args.study)
    if args.export:
        path = Study(folder).export()
        print(f"wrote {path}")
        return 0
    server, study = make_server(folder, args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    host, port = server.server_address[:2]
    print(f"serving {folder} at http://{host}:{port}/ (answers in {folder / DATABASE}; Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        print(f"wrote {study.export()}", flush=True)
    return 0
