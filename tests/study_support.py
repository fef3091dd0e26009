"""Helpers for the study server tests: one HTTP request, its status, JSON and headers."""

from __future__ import annotations

import http.client
import json


def call(port: int, method: str, path: str, body=None, headers=None, timeout: float = 30, token: str = ""):
    """(status, parsed JSON or raw bytes, headers: case-insensitive) of one request; the path is sent as given."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json"} if data is not None else {}
        hdrs.update({"X-Study-Token": token} if token else {})
        hdrs.update(headers or {})
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        kind = resp.getheader("Content-Type", "")
        return resp.status, json.loads(raw) if kind.startswith("application/json") else raw, resp.headers
    finally:
        conn.close()
