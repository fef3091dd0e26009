"""``python -m human_study loadtest``: many participants at once against ``serve`` in a subprocess.

Builds a demo study (one session of ``--trials`` scored/catch trials plus ``--practice``), starts the server on
a free 127.0.0.1 port, then every participant (a thread with its own keep-alive connection, like a browser tab)
starts at the same moment and sends what the page (``static/study.js``) sends: ``GET /api/study``, ``POST
/api/consent`` (session and token), one ``POST /api/answers`` per trial with ``X-Study-Token``, all answers once
more, ``POST /api/finish``; then an answer without the token, which must be refused.  Writes failures,
exactly-once storage, token refusals, latency percentiles and throughput to ``--out``.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from importlib.metadata import version
from pathlib import Path

from ganpaint_core.machine import cpu_model, free_port
from human_study.common import DATABASE, read_manifest, session_trials

ROOT = Path(__file__).resolve().parent.parent


def add_arguments(p):
    p.add_argument("--participants", type=int, default=200)
    p.add_argument("--trials", type=int, default=40, help="scored and catch trials per session")
    p.add_argument("--practice", type=int, default=5)
    p.add_argument("--out", default="docs/study_server_load.json", help="JSON file to write")


class ServedStudy:
    """``python -m human_study serve STUDY`` in a subprocess on a free port (start, kill, stop)."""

    def __init__(self, study: Path, log: Path, *options: str):
        self.study, self.log, self.options, self.port, self.proc = Path(study), Path(log), options, free_port(), None

    def start(self, wait: float = 90) -> None:
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "human_study", "serve", str(self.study), "--port",
                                          str(self.port), *self.options], cwd=ROOT, stdout=out, stderr=out)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(12).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not answer within {wait:g} s")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def _participant(port: int, worker: str, sessions: dict, start: threading.Barrier, out: dict) -> None:
    """One participant's whole session, request for request as study.js sends it: ``GET /api/study``, ``POST
    /api/consent`` (session and token), one ``POST /api/answers`` per trial with ``X-Study-Token``, every answer
    once more before ``POST /api/finish`` (the page re-sends what it holds), then the completion code.  Appends to
    out["latencies"], out["acked"], out["finished"], out["failures"]; a last request without the token must be
    refused (403), counted in out["refused_without_token"] and not timed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}

    def call(method: str, path: str, payload: dict | None = None, timed: bool = True) -> tuple[int, dict]:
        body = None if payload is None else json.dumps(payload).encode()
        t0 = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if timed:
            out["latencies"].append(time.perf_counter() - t0)
        return resp.status, json.loads(data)

    def ok(method: str, path: str, payload: dict | None = None) -> dict:
        status, data = call(method, path, payload)
        if status != 200:
            raise RuntimeError(f"{method} {path}: {status} {data}")
        return data

    try:
        start.wait()
        ok("GET", "/api/study")
        consent = ok("POST", "/api/consent", {"worker_id": worker, "assignment_id": "", "source": "local"})
        headers["X-Study-Token"] = consent["token"]
        given = []
        for i, trial in enumerate(sessions[consent["session"]]):
            given.append({"trial_id": trial, "choice": "left" if i % 2 else "right", "rt_ms": 800 + i,
                          "client_time": "t"})
            ok("POST", "/api/answers", {"worker_id": worker, "answers": given[-1:]})
            out["acked"].append((worker, trial))
        ok("POST", "/api/answers", {"worker_id": worker, "answers": given})
        if not ok("POST", "/api/finish", {"worker_id": worker, "comments": ""}).get("completion_code"):
            raise RuntimeError("finish gave no completion code")
        out["finished"].append(worker)
        del headers["X-Study-Token"]
        status, _ = call("POST", "/api/answers", {"worker_id": worker, "answers": given[:1]}, timed=False)
        if status == 403:
            out["refused_without_token"].append(worker)
    except Exception as err:  # noqa: BLE001 - every failure is counted, none may stop the others
        out["failures"].append(f"{worker}: {type(err).__name__}: {err}")
    finally:
        conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def participants_at_once(study: Path, port: int, participants: int = 200, prefix: str = "load") -> dict:
    """Run the participants against a served ``study``; the numbers and what the database holds afterwards."""
    sessions = session_trials(read_manifest(study))
    out = {"latencies": [], "acked": [], "failures": [], "finished": [], "refused_without_token": []}
    start = threading.Barrier(participants + 1)
    threads = [threading.Thread(target=_participant, args=(port, f"{prefix}{p:04d}", sessions, start, out))
               for p in range(participants)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    with sqlite3.connect(study / DATABASE) as db:
        stored = db.execute("SELECT worker_id, trial_id FROM answers WHERE worker_id LIKE ?", (prefix + "%",))
        stored = stored.fetchall()
    lat = out["latencies"]
    return {"participants": participants, "answers_per_participant": len(next(iter(sessions.values()))),
            "requests": len(lat), "failures": len(out["failures"]), "failure_examples": out["failures"][:5],
            "finished": len(out["finished"]),
            "refused_without_token": len(out["refused_without_token"]), "acknowledged_answers": len(out["acked"]),
            "stored_answers": len(stored),
            "stored_exactly_once": sorted(stored) == sorted(out["acked"]) and len(set(stored)) == len(stored),
            "wall_seconds": round(wall, 3), "requests_per_second": round(len(lat) / wall, 1),
            "participants_per_second": round(len(out["finished"]) / wall, 2),
            "latency_ms": {f"p{q}": round(1000 * percentile(lat, q), 1) for q in (50, 90, 99, 100)}}


def machine() -> dict:
    return {"cpu_model": cpu_model(), "cpus": len(os.sched_getaffinity(0)), "load_average_before": os.getloadavg(),
            "python": platform.python_version(),
            **{name: version(name) for name in ("uvicorn", "starlette", "h11")}}


def run(args):
    from human_study.build import build
    from human_study.demo import write_demo_pairs

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pairs = write_demo_pairs(tmp / "pairs", tasks=max(1, round(args.trials * 0.9 / 3)))
        # no minimum reaction time: the simulated participants answer as fast as the server lets them
        build(pairs, tmp / "study", trials_per_session=args.trials, practice=args.practice, seed=0, min_rt_ms=0,
              display_px=0)
        served = ServedStudy(tmp / "study", tmp / "server.log")
        served.start()
        try:
            result = participants_at_once(tmp / "study", served.port, args.participants)
        finally:
            served.stop()
    report = {"what": f"{args.participants} participants start at once; each sends what study.js sends: "
                      "GET /api/study, POST /api/consent (session and token), one POST /api/answers per trial "
                      "with the token, all answers once more, POST /api/finish (completion code); then one "
                      "answer without the token, which must get 403 (not timed). Study built with min_rt_ms 0 "
                      "(simulated participants answer at once); client and server on this machine",
              **machine(), **result}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    lat = result["latency_ms"]
    print(f"{result['failures']} failures, {result['requests']} requests in {result['wall_seconds']} s "
          f"({result['requests_per_second']}/s, {result['participants_per_second']} participants/s), "
          f"p50 {lat['p50']} ms, p99 {lat['p99']} ms; wrote {args.out}")
    good = result["refused_without_token"] == result["finished"] == args.participants
    return 0 if good and result["failures"] == 0 and result["stored_exactly_once"] else 1
