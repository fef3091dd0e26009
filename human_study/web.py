"""The study's HTTP face: a Starlette app serving the page, its files and the JSON API of :mod:`human_study.api`.

Limits: request heads over MAX_HEAD get 431, bodies over MAX_BODY 413, JSON nested deeper than MAX_DEPTH 400, a
body not received within the read timeout 408 (and the connection is closed).  Every refusal is a 4xx JSON
``{"error": "<a sentence>"}``; every response carries the security headers (CSP ``frame-ancestors`` lets MTurk's
worker sites frame the page, ``form-action`` lets it submit to MTurk's externalSubmit; no other site may).
Only the study page, its script, style, data and images are served; the manifest, config and database never are.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

from human_study.api import TOKEN_HEADER, BadRequest, Study

MAX_BODY = 256 * 1024
MAX_DRAIN = 16 * MAX_BODY      # an oversized body up to this is read and dropped, so the client sees the 413
MAX_DEPTH = 16                 # the API's payloads are 3 deep
MAX_HEAD = 16 * 1024           # request line and headers
READ_TIMEOUT = 10.0
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".png": "image/png"}
# The page may be framed only by itself and MTurk's worker sites (an ExternalQuestion HIT shows it in an iframe
# there) and may submit a form only to itself and MTurk's externalSubmit endpoints (production, sandbox).
MTURK_FRAMERS = ("https://worker.mturk.com", "https://www.mturk.com", "https://workersandbox.mturk.com")
MTURK_SUBMIT_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "Content-Security-Policy": "default-src 'self'; img-src 'self'; object-src 'none'; "
                                               f"base-uri 'none'; form-action 'self' {' '.join(MTURK_SUBMIT_HOSTS)}; "
                                               f"frame-ancestors 'self' {' '.join(MTURK_FRAMERS)}"}
DEEP = object()                # stands for JSON too deep for the parser
_RAW_HEADERS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


def too_deep(value, limit: int = MAX_DEPTH) -> bool:
    if limit < 0 or value is DEEP:
        return True
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return any(too_deep(v, limit - 1) for v in children)


async def read_body(request: Request, length: int, timeout: float) -> bytes:
    """The body of ``length`` bytes, or BadRequest: 408 past ``timeout``, 413 over MAX_BODY, 400 if cut short."""
    if length > MAX_DRAIN:
        raise BadRequest(413, f"The body is over {MAX_BODY} bytes.")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size <= MAX_BODY:
                    chunks.append(chunk)
    except TimeoutError:
        raise BadRequest(408, f"The request body did not arrive within {timeout:g} s.") from None
    except ClientDisconnect:
        raise BadRequest(400, "The client went away before sending its body.") from None
    if size > MAX_BODY:
        raise BadRequest(413, f"The body is over {MAX_BODY} bytes.")
    if size != length:
        raise BadRequest(400, "The body is shorter than its Content-Length.")
    request.state.body_read = True
    return b"".join(chunks)


async def read_json(request: Request, timeout: float) -> dict:
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise BadRequest(411, "Send a Content-Length header.")
    body = await read_body(request, int(length), timeout)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest(415, "Send the body as application/json.")
    try:
        payload = json.loads(body.decode("utf-8"))
    except ValueError:                                 # bad UTF-8, bad JSON, an integer of over 4300 digits
        raise BadRequest(400, "The body is not valid JSON.") from None
    except RecursionError:
        payload = [DEEP]
    if too_deep(payload):
        raise BadRequest(400, f"The JSON is nested more than {MAX_DEPTH} levels deep.")
    if not isinstance(payload, dict):
        raise BadRequest(400, "Expected a JSON object.")
    return payload


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status, headers={"Cache-Control": "no-store", **(headers or {})})


async def _refused(request: Request, err: BadRequest) -> JSONResponse:
    # A client whose body was refused unread (or did not arrive) gets the connection closed after the answer.
    unread = request.method == "POST" and not getattr(request.state, "body_read", False)
    return _error(err.status, str(err), {"Connection": "close"} if unread else None)


async def _http_error(request: Request, err: HTTPException) -> JSONResponse:
    message = f"{request.method} is not allowed here." if err.status_code == 405 else f"{err.detail}."
    return _error(err.status_code, message, dict(err.headers or {}))


async def _crash(request: Request, err: Exception) -> JSONResponse:
    return _error(500, "The server failed; please try again.")


def make_app(study: Study, read_timeout: float = READ_TIMEOUT):
    """The ASGI app; its lifespan opens and closes the study's database writer."""

    def ok(payload: dict) -> JSONResponse:
        return JSONResponse(payload, headers={"Cache-Control": "no-store"})

    def token(request: Request) -> str:
        return request.headers.get(TOKEN_HEADER, "")

    async def about(request: Request):
        return ok(study.about())

    async def consent(request: Request):
        return ok(await study.consent(await read_json(request, read_timeout), token(request)))

    async def session(request: Request):
        return ok(await study.session(dict(request.query_params), token(request)))

    async def answers(request: Request):
        return ok(await study.answers(await read_json(request, read_timeout), token(request)))

    async def finish(request: Request):
        return ok(await study.finish(await read_json(request, read_timeout), token(request)))

    async def no_endpoint(request: Request):
        raise BadRequest(404, "No such endpoint.")

    async def static(request: Request):
        path = study.static_path(request.scope["path"])
        if path is None:
            raise BadRequest(404, "Not found.")
        cache = "public, max-age=3600" if path.suffix == ".png" else "no-cache"
        return FileResponse(path, media_type=CONTENT_TYPES[path.suffix], headers={"Cache-Control": cache})

    @asynccontextmanager
    async def lifespan(app):
        study.open()
        try:
            yield
        finally:
            study.close()

    routes = [Route("/api/study", about, methods=["GET"]), Route("/api/consent", consent, methods=["POST"]),
              Route("/api/session", session, methods=["GET"]), Route("/api/answers", answers, methods=["POST"]),
              Route("/api/finish", finish, methods=["POST"]),
              Route("/api/{rest:path}", no_endpoint, methods=["GET", "POST"]),
              Route("/{rest:path}", static, methods=["GET"])]
    app = Starlette(routes=routes,
                    exception_handlers={BadRequest: _refused, HTTPException: _http_error, Exception: _crash},
                    lifespan=lifespan)
    return with_security_headers(with_head_limit(app))


def with_head_limit(app):
    """ASGI middleware refusing request heads over MAX_HEAD (h11 only limits heads that arrive in pieces)."""

    async def wrapped(scope, receive, send):
        if scope["type"] == "http" and len(scope.get("raw_path", b"")) + len(scope.get("query_string", b"")) + sum(
                len(k) + len(v) for k, v in scope["headers"]) > MAX_HEAD:
            refusal = _error(431, f"The request head is over {MAX_HEAD} bytes.", {"Connection": "close"})
            return await refusal(scope, receive, send)
        await app(scope, receive, send)

    return wrapped


def with_security_headers(app):
    """ASGI middleware adding SECURITY_HEADERS to every HTTP response, errors included."""

    async def wrapped(scope, receive, send):
        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *_RAW_HEADERS]}
            await send(message)

        await app(scope, receive, send_with_headers if scope["type"] == "http" else send)

    return wrapped
