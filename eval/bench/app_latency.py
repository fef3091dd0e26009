"""``python -m eval app-latency``: how long the demo takes to answer an edit, as a user and as an API client.

Starts ``app.py`` on a free 127.0.0.1 port with the chosen model, then
- in Debian's chromium (Playwright, never a downloaded browser): loads an
  example photo, waits for the fit, paints a stroke with the mouse, picks a
  concept and presses Apply ``--edits`` times, timing each click until the
  status line reports the edit (the whole round trip: export and upload of the
  canvas layers by the browser, queue, edit, PNG encoding, download and
  display), and also from the page's queue request on (server, network, display);
- with ``gradio_client``: ``/fit`` once, then ``/edit`` ``--edits`` times.
Writes medians, every sample and the machine's load average before and after to ``--out`` (JSON).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ganpaint_core.machine import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
EXAMPLE = "scene_10000003"          # the browser's photo
CLIENT_EXAMPLE = "scene_10000005"   # the API client's (another photo, so that its fit is not a cache hit)


def add_arguments(p):
    p.add_argument("--out", default="app_latency.json", help="JSON file to write")
    p.add_argument("--model", default="default", help="the model the app serves ('default', a folder or checkpoint)")
    p.add_argument("--edits", type=int, default=5, help="edits timed in the browser and through the API")
    p.add_argument("--concept", default="tree")


def serve(model: str, port: int, log, timeout: float = 180, env: dict | None = None):
    """``python app.py`` serving ``model`` on 127.0.0.1:``port`` (output to ``log``, extra ``env``); returns once
    it listens."""
    env = {**os.environ, "GANPAINT_MODEL": model, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited with status {proc.returncode}; see its log {log.name}") from None
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"app.py did not start listening within {timeout:.0f} s")


def wait_status(page, text: str, timeout_ms: int = 120_000) -> None:
    page.wait_for_function("t => document.querySelector('#status').innerText.includes(t)", arg=text,
                           timeout=timeout_ms)


def paint_example(page, example: str, concept: str) -> float:
    """In the open demo page: pick ``example``, wait for its fit, paint a stroke across the canvas centre and
    choose ``concept``; the seconds from the click on the example to 'Ready'."""
    start = time.perf_counter()
    page.locator(f'img[src*="{example}"]').first.click()
    wait_status(page, "Ready", 300_000)
    fit = time.perf_counter() - start
    page.evaluate("window.scrollTo(0, 0)")
    page.locator('#editor button[aria-label="Brush"]').click()
    box = page.locator("#editor canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 40, cy)
    page.mouse.down()
    page.mouse.move(cx + 40, cy + 10, steps=4)
    page.mouse.up()
    page.locator("#concept input").click()
    page.get_by_role("option", name=concept).click()
    return fit


def browser_round_trips(url: str, edits: int, concept: str) -> dict:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.set_default_timeout(120_000)
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#editor", timeout=180_000)
        fit = paint_example(page, EXAMPLE, concept)
        joins: list[float] = []
        page.on("request", lambda r: joins.append(time.perf_counter()) if "/queue/join" in r.url else None)
        times, after_join = [], []
        for i in range(edits):
            start = time.perf_counter()
            del joins[:]
            page.locator("#apply").click()
            wait_status(page, f"({i + 1} edit(s))")
            page.wait_for_function("() => { const i = document.querySelector('#result img'); "
                                   "return i && i.complete && i.naturalWidth > 0; }")
            times.append(time.perf_counter() - start)
            after_join.append(time.perf_counter() - joins[0] if joins else float("nan"))
        browser.close()
    # after_join: from the page's request to run the edit (the canvas layers already uploaded) to the result shown
    return {"fit_seconds": fit, "edit_seconds": times, "from_request_seconds": after_join}


def client_round_trips(url: str, edits: int, concept: str) -> dict:
    from gradio_client import Client, handle_file

    photo = np.asarray(Image.open(ROOT / "examples" / f"{CLIENT_EXAMPLE}.png").convert("RGB"))
    strokes = np.zeros((*photo.shape[:2], 4), np.uint8)
    h, w = photo.shape[:2]
    strokes[h // 3:h // 2, w // 3:2 * w // 3] = (255, 0, 0, 255)
    with tempfile.TemporaryDirectory() as tmp:
        Image.fromarray(photo).save(Path(tmp) / "photo.png")
        Image.fromarray(strokes).save(Path(tmp) / "strokes.png")
        client = Client(url, verbose=False)
        value = {"background": handle_file(str(Path(tmp) / "photo.png")),
                 "layers": [handle_file(str(Path(tmp) / "strokes.png"))], "composite": None}
        start = time.perf_counter()
        client.predict(value, api_name="/fit")
        fit = time.perf_counter() - start
        times = []
        for _ in range(edits):
            start = time.perf_counter()
            client.predict(value, concept, "add", 0.7, api_name="/edit")
            times.append(time.perf_counter() - start)
    return {"fit_seconds": fit, "edit_seconds": times}


def run(args):
    if args.edits < 1:
        raise ValueError("--edits must be at least 1")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False) as log:
        proc = serve(args.model, port, log)
        try:
            result = {"model": args.model, "machine": platform.processor() or platform.machine(),
                      "cpus": os.cpu_count(), "edits": args.edits, "concept": args.concept,
                      "load_average_before": os.getloadavg()}   # other work on the machine skews every figure
            for name, measure in (("browser", browser_round_trips), ("client", client_round_trips)):
                print(f"timing {name} round trips …", flush=True)
                found = measure(url, args.edits, args.concept)
                found["median_edit_seconds"] = statistics.median(found["edit_seconds"])
                if "from_request_seconds" in found:
                    found["median_from_request_seconds"] = statistics.median(found["from_request_seconds"])
                result[name] = found
                print(f"{name}: fit {found['fit_seconds']:.1f} s, median edit {found['median_edit_seconds']:.3f} s",
                      flush=True)
            result["load_average_after"] = os.getloadavg()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")
    return 0
