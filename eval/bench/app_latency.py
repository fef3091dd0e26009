"""``python -m eval app-latency``: how long the demo takes to answer an edit, as a user and as an API client.

Starts ``app.py`` on a free 127.0.0.1 port with the chosen model, then
- in Debian's chromium (Playwright, never a downloaded browser): loads an
  example photo, waits for the fit, paints a stroke with the mouse, picks a
  concept and presses Apply ``--edits`` times, timing each click until the
  status line reports the edit (the whole round trip: export and upload of the
  canvas layers by the browser, queue, edit, PNG encoding, download and
  display), and in parts: click -> the page's queue request (the canvas's export and upload), click -> the
  status line's report, and from the queue request on (server, network, display);
- with ``gradio_client``: ``/fit`` once, then ``/edit`` ``--edits`` times;
- a large photo (``--large-size``, default 6000x4000, a JPEG made from an example scene): where the seconds of
  one fit and one edit go inside the server (decode, hash, working copy, fit, strokes, edit, paste-back, PNG /
  JPEG / WebP encoding), measured in this process one after another; in the page, upload -> fitted ("ready") and
  the edit round trip; through the API the fit and edit round trips; then the server's memory after
  ``--sessions`` such photos are fitted by as many clients.
Writes medians, every sample, the CPU model and the machine's load average before and after to ``--out`` (JSON).
"""

from __future__ import annotations

import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from ganpaint_core.machine import cpu_model, free_port

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
    p.add_argument("--large-size", default="6000x4000", help="WIDTHxHEIGHT of the large photo ('0' skips it)")
    p.add_argument("--sessions", type=int, default=8, help="large photos fitted at once for the memory figure")


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


RESULT_SHOWN = ("() => { const i = document.querySelector('#result img'); "
                "return i && i.complete && i.naturalWidth > 0; }")


# Resolves once the page has cleared the last Apply's strokes (app.STROKES_SENT, if the app has it) and its one
# thread is free again (three frames in a row less than 100 ms apart, at most 10 s): a person paints and clicks
# after looking at the result, not while the canvas is still reloading.
PAGE_IDLE = """async () => {
  const start = performance.now();
  while (window.ganpaintStrokesSent && performance.now() - start < 10000) { await new Promise(r => setTimeout(r, 25)); }
  let last = performance.now(), calm = 0;
  while (calm < 3 && performance.now() - start < 10000) {
    await new Promise(r => requestAnimationFrame(r));
    const now = performance.now();
    calm = now - last < 100 ? calm + 1 : 0;
    last = now;
  }
  return performance.now() - start;
}"""


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
    paint_stroke(page)
    page.locator("#concept input").click()
    page.get_by_role("option", name=concept).click()
    return fit


def paint_stroke(page, dy: float = 0.0) -> None:
    """A short red stroke across the canvas centre, ``dy`` pixels lower (the page clears strokes after Apply)."""
    page.evaluate("window.scrollTo(0, 0)")
    page.locator('#editor button[aria-label="Brush"]').click()
    box = page.locator("#editor canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2 + dy
    page.mouse.move(cx - 40, cy)
    page.mouse.down()
    page.mouse.move(cx + 40, cy + 10, steps=4)
    page.mouse.up()


@contextmanager
def demo_page(url: str, timeout_ms: int):
    """A headless chromium page on the demo at ``url``, its editor loaded; the browser closes after."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.set_default_timeout(timeout_ms)
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("#editor", timeout=180_000)
            yield page
        finally:
            browser.close()


def browser_round_trips(url: str, edits: int, concept: str) -> dict:
    """Apply ``edits`` times in the page: per click the seconds to the page's request to run the edit (the canvas's
    layers exported and uploaded by the browser), to the status line's report and to the result shown."""
    with demo_page(url, 120_000) as page:
        fit = paint_example(page, EXAMPLE, concept)
        joins: list[float] = []
        page.on("request", lambda r: joins.append(time.perf_counter()) if "/queue/join" in r.url else None)
        times, after_join, to_request, to_status = [], [], [], []
        for i in range(edits):
            if i:
                paint_stroke(page, 12.0 * (i % 3) - 12.0)
            page.evaluate(PAGE_IDLE)
            start = time.perf_counter()
            del joins[:]
            page.locator("#apply").click()
            wait_status(page, f"({i + 1} edit(s))")
            to_status.append(time.perf_counter() - start)
            page.wait_for_function(RESULT_SHOWN)
            times.append(time.perf_counter() - start)
            after_join.append(time.perf_counter() - joins[0] if joins else float("nan"))
            to_request.append(joins[0] - start if joins else float("nan"))
            page.evaluate(PAGE_IDLE)           # the strokes are cleared after the result shows: not timed
    # after_join: from the page's request to run the edit (the canvas layers already uploaded) to the result shown
    return {"fit_seconds": fit, "edit_seconds": times, "from_request_seconds": after_join,
            "to_request_seconds": to_request, "to_status_seconds": to_status}


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


def large_photo(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """A camera-like JPEG of ``width`` x ``height``: an example scene scaled up, with sensor-like noise."""
    scene = Image.open(ROOT / "examples" / f"{EXAMPLE}.png").convert("RGB").resize((width, height),
                                                                                   Image.Resampling.BICUBIC)
    noise = np.random.default_rng(seed).normal(0, 6, (height, width, 3))
    Image.fromarray(np.clip(np.asarray(scene) + noise, 0, 255).astype(np.uint8)).save(path, quality=92)
    return path


def stroke_layer(width: int, height: int) -> np.ndarray:
    """An RGBA stroke layer of the photo's size: one red box in the middle third."""
    layer = np.zeros((height, width, 4), np.uint8)
    layer[height // 3:height // 2, width // 3:2 * width // 3] = (255, 64, 64, 255)
    return layer


def timed(parts: dict, name: str, fn):
    start = time.perf_counter()
    out = fn()
    parts[name] = time.perf_counter() - start
    print(f"  {name}: {parts[name]:.3f} s", flush=True)
    return out


def server_parts(path: Path, model: str, concept: str) -> dict:
    """Seconds of each step the server takes for one large photo (fit, then one edit), in this process."""
    import app
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.editing.session_cache import photo_key
    from ganpaint_core.photo import load_photo

    parts: dict = {}
    editor = Editor.from_pretrained(model)
    timed(parts, "decode_draft_eighth", lambda: _draft(path))
    photo = timed(parts, "decode", lambda: load_photo(path))
    timed(parts, "hash", lambda: photo_key(photo))
    canvas = timed(parts, "working_copy", lambda: app.working_copy(photo))
    timed(parts, "working_copy_png", lambda: Image.fromarray(canvas).save(io.BytesIO(), "PNG", compress_level=1))
    session = timed(parts, "fit", lambda: editor.fit(photo))
    layer = stroke_layer(photo.shape[1], photo.shape[0])
    edit_mask, _ = timed(parts, "strokes_full_size", lambda: app.stroke_masks_for(session, [layer]))
    timed(parts, "edit", lambda: session.edit(edit_mask, concept, "add", 0.7))
    result = timed(parts, "paste_back", session.to_photo)
    timed(parts, "encode_png_level6", lambda: Image.fromarray(result).save(io.BytesIO(), "PNG"))
    timed(parts, "encode_png_level1", lambda: Image.fromarray(result).save(io.BytesIO(), "PNG", compress_level=1))
    timed(parts, "encode_jpeg_q95", lambda: Image.fromarray(result).save(io.BytesIO(), "JPEG", quality=95))
    timed(parts, "encode_webp_q90", lambda: Image.fromarray(result).save(io.BytesIO(), "WEBP", quality=90))
    timed(parts, "previews", lambda: app.preview(result, "bench-after"))
    return parts


def _draft(path: Path):
    with Image.open(path) as img:
        img.draft("RGB", (img.width // 8, img.height // 8))
        img.load()
        return img.size


def browser_large(url: str, path: Path, edits: int, concept: str) -> dict:
    """In the page: upload the large photo, seconds to 'Ready' and to the result shown; then edit round trips."""
    shown = RESULT_SHOWN
    with demo_page(url, 300_000) as page:
        start = time.perf_counter()
        page.locator("input[type=file]:not(#editor input)").first.set_input_files(str(path))
        wait_status(page, "Ready", 300_000)
        ready = time.perf_counter() - start
        page.wait_for_function(shown)
        ready_shown = time.perf_counter() - start
        times = []
        for i in range(edits):
            paint_stroke(page, 12.0 * (i % 3) - 12.0)
            if i == 0:
                page.locator("#concept input").click()
                page.get_by_role("option", name=concept).click()
            page.evaluate(PAGE_IDLE)
            start = time.perf_counter()
            page.locator("#apply").click()
            wait_status(page, f"({i + 1} edit(s))", 300_000)
            page.wait_for_function(shown)
            times.append(time.perf_counter() - start)
            page.evaluate(PAGE_IDLE)           # the strokes are cleared after the result shows: not timed
    return {"ready_seconds": ready, "ready_shown_seconds": ready_shown, "edit_seconds": times}


def client_large(url: str, size: tuple[int, int], edits: int, concept: str, folder: Path) -> dict:
    """Through gradio_client: /fit of a large photo of its own (not a cache hit), then /edit with strokes at its
    own size; the result's size."""
    from gradio_client import Client, handle_file

    width, height = size
    path = large_photo(folder / "client.jpg", width, height, seed=1)
    Image.fromarray(stroke_layer(width, height)).save(folder / "strokes.png")
    value = {"background": handle_file(str(path)), "layers": [handle_file(str(folder / "strokes.png"))],
             "composite": None}
    client = Client(url, verbose=False)
    start = time.perf_counter()
    client.predict(value, api_name="/fit")
    fit = time.perf_counter() - start
    times, result = [], None
    for _ in range(edits):
        start = time.perf_counter()
        result = client.predict(value, concept, "add", 0.7, api_name="/edit")
        times.append(time.perf_counter() - start)
    return {"fit_seconds": fit, "edit_seconds": times, "result_size": list(Image.open(result[0]).size),
            "photo_size": [width, height]}


def rss_mib(pid: int) -> dict:
    """The process's resident memory now and at its peak (MiB), from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[name].split()[0]) / 1024 for key, name in (("rss_mib", "VmRSS"), ("peak_mib", "VmHWM"))}


def memory_of_sessions(url: str, pid: int, n: int, width: int, height: int, folder: Path) -> dict:
    """The server's memory after ``n`` clients each fitted a large photo of their own (one after another)."""
    from gradio_client import Client, handle_file

    before = rss_mib(pid)
    for k in range(n):
        path = large_photo(folder / f"session{k}.jpg", width, height, seed=100 + k)
        Client(url, verbose=False).predict({"background": handle_file(str(path)), "layers": [], "composite": None},
                                           api_name="/fit")
        print(f"  session {k + 1}/{n}: {rss_mib(pid)['rss_mib']:.0f} MiB", flush=True)
    return {"sessions": n, "before": before, "after": rss_mib(pid)}


def run(args):
    if args.edits < 1:
        raise ValueError("--edits must be at least 1")
    large = None if args.large_size in ("0", "") else tuple(int(v) for v in args.large_size.lower().split("x"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False) as log, \
            tempfile.TemporaryDirectory() as tmp:
        result = {"model": args.model, "cpu_model": cpu_model(), "machine": platform.machine(),
                  "cpus": os.cpu_count(), "edits": args.edits, "concept": args.concept,
                  "load_average_before": os.getloadavg()}   # other work on the machine skews every figure
        if large:
            photo = large_photo(Path(tmp) / "large.jpg", *large)
            print(f"server-side parts for a {large[0]}x{large[1]} JPEG …", flush=True)
            result["large_photo"] = {"size": list(large), "jpeg_mb": photo.stat().st_size / 1e6,
                                     "server_parts_seconds": server_parts(photo, args.model, args.concept)}
        proc = serve(args.model, port, log)
        try:
            for name, measure in (("browser", browser_round_trips), ("client", client_round_trips)):
                print(f"timing {name} round trips …", flush=True)
                found = measure(url, args.edits, args.concept)
                found["median_edit_seconds"] = statistics.median(found["edit_seconds"])
                for part in ("from_request", "to_request", "to_status"):
                    if f"{part}_seconds" in found:
                        found[f"median_{part}_seconds"] = statistics.median(found[f"{part}_seconds"])
                result[name] = found
                print(f"{name}: fit {found['fit_seconds']:.1f} s, median edit {found['median_edit_seconds']:.3f} s",
                      flush=True)
            if large:
                entry = result["large_photo"]
                print("large photo in the page …", flush=True)
                entry["browser"] = browser_large(url, photo, args.edits, args.concept)
                print("large photo through the API …", flush=True)
                entry["client"] = client_large(url, large, args.edits, args.concept, Path(tmp))
                for where in ("browser", "client"):
                    entry[where]["median_edit_seconds"] = statistics.median(entry[where]["edit_seconds"])
                    print(f"{where}: {entry[where]}", flush=True)
                if args.sessions > 0:
                    print(f"memory of {args.sessions} large photos …", flush=True)
                    entry["memory"] = memory_of_sessions(url, proc.pid, args.sessions, *large, Path(tmp))
            result["load_average_after"] = os.getloadavg()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")
    return 0
