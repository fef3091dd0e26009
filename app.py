"""GANPaint demo: paint on a photo, say what to add or remove, get the edited photo.

    python app.py [--model default|church|FOLDER|CHECKPOINT|URL] [--device auto|cpu|cuda] [--host H] [--port P]

Environment: ``GANPAINT_MODEL`` (the model the page starts with), ``GANPAINT_DEVICE``,
``GANPAINT_FITS`` (fits at once), ``GANPAINT_CACHE`` (downloaded model files), ``GANPAINT_CACHE_MB`` (memory
for fitted photos),
``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``.  The page's model picker offers the start
model, the shipped ones, the registered models with unit lists (church: downloaded once, with
progress) and any other registered model whose files are in the cache; each model is loaded
once per process.  A photo is fitted once per model (inversion + adaptation, cached by
content); every edit after that is one forward pass of the adapted generator.  Each user
works on a session of their own (``gr.State``) that belongs to the model it was fitted with,
so users never see each other's edits.  Fits run ``FITS_AT_ONCE`` at a time; edits have
a queue of their own and never wait behind a fit.  Named API endpoints: ``/fit``,
``/edit``, ``/undo``, ``/reset``, ``/model`` (see README).

Large photos: the page's canvas holds a working copy of the photo, ``CANVAS_SIDE`` pixels on its longer side (a
browser turning a 24-megapixel photo into a canvas and back into PNG took minutes; one size for every photo
makes the brush a fixed share of any photo); the photo itself stays on the server, and results at the photo's
own size are JPEG beyond ``LOSSLESS_PIXELS`` (PNG-encoding 24 megapixels took 25 s).  Strokes of any size with
the photo's proportions are read as masks at ``MASK_SIDE`` pixels.
"""

from __future__ import annotations

# --- CPU sharing (branch speed, docs/speed.md "Sharing the machine"): first, before torch loads OpenMP ----------
import ganpaint_core.shared_cpu  # noqa: F401  (OpenMP waits passively; $GANPAINT_THREADS, $GANPAINT_OMP_WAIT)

# isort: split
# --- end of CPU sharing block -----------------------------------------------------------------------------------

import argparse
import functools
import logging
import os
import tempfile
import threading
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
from PIL import Image

from ganpaint_core.editing.edits import strength_units
from ganpaint_core.editing.session_cache import SessionCache, photo_key
from ganpaint_core.editing.strokes import EDIT_COLOR, REFERENCE_COLOR, hex_color, stroke_masks
from ganpaint_core.photo import MAX_SIDE, MIN_SIDE, Crop, PhotoError, load_photo

log = logging.getLogger("ganpaint.app")

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


def default_strength(dissection: dict | None) -> float:
    """Where the strength slider starts: the model's "medium" strength as a share of its "high" one."""
    units = strength_units(dissection)
    return round(units["medium"] / units["high"], 2)


MAX_UPLOAD = "50mb"
ACTIONS = ["add", "remove", "copy appearance"]
CANVAS_SIDE = 512           # the page's canvas holds a working copy of the photo this many pixels on its longer side
MASK_SIDE = 1024            # strokes are read as masks at most this size (the model sees 128 or 256 pixels)
LOSSLESS_PIXELS = 4_000_000  # results up to this size are PNG, larger ones JPEG (quality JPEG_QUALITY)
JPEG_QUALITY = 95
PREVIEW_SIDE = 1024         # the before/after slider's pictures
BRUSH_SIZE = CANVAS_SIDE // 12   # the brush: a twelfth of the photo's longer side, whatever the photo's size


def session_bytes(session) -> int:
    """The memory a fitted session holds: the photo at its own size, the model-sized crop and the fit's tensors."""
    import torch

    arrays = [getattr(session, name, None) for name in ("original", "photo")]
    total = sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))
    tensors = [getattr(session, "r", None), getattr(session, "z", None)]
    deltas = getattr(getattr(session, "adapted", None), "deltas", None)
    tensors += list(deltas.values()) if isinstance(deltas, dict) else []
    return total + sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


class MemoryBoundedCache(SessionCache):
    """The fit cache, bounded by the memory its sessions hold (``megabytes``) as well as by their number."""

    def __init__(self, megabytes: float, capacity: int = 64):
        super().__init__(capacity)
        self.budget = int(megabytes * 2**20)

    def nbytes(self) -> int:
        with self._lock:
            return sum(session_bytes(s) for s in self._items.values())

    def put(self, key: str, session) -> None:
        with self._lock:
            self._items[key] = session
            self._items.move_to_end(key)
            sizes = {k: session_bytes(s) for k, s in self._items.items()}
            while len(self._items) > 1 and (len(self._items) > self.capacity or sum(sizes.values()) > self.budget):
                gone, _ = self._items.popitem(last=False)
                sizes.pop(gone)


CACHE = MemoryBoundedCache(float(os.environ.get("GANPAINT_CACHE_MB", "1024")),
                           int(os.environ.get("GANPAINT_CACHE_SIZE", "64")))
# A fit keeps every core busy (torch's intra-op threads), so two fits at once on a small machine only make both
# slower; one fit per four cores by default.  Edits (one forward pass) run EDITS_AT_ONCE at a time beside them.
FITS_AT_ONCE = int(os.environ.get("GANPAINT_FITS", max(1, (os.cpu_count() or 1) // 4)))
EDITS_AT_ONCE = 4
_FIT_SLOTS = threading.BoundedSemaphore(FITS_AT_ONCE)
OUTPUT_DIR = Path(tempfile.mkdtemp(prefix="ganpaint-results-"))

MODEL = os.environ.get("GANPAINT_MODEL", "default")
DEVICE = os.environ.get("GANPAINT_DEVICE", "auto")
_editors: dict = {}                         # model name -> Editor, each loaded once per process
_loading: dict[str, threading.Lock] = {}    # one lock per model: loading church never blocks default's users
_loading_lock = threading.Lock()


def get_editor(model: str | None = None):
    """The editor of ``model`` (default: the start model), loaded (and its files downloaded) once per process."""
    model = model or MODEL
    with _loading_lock:
        gate = _loading.setdefault(model, threading.Lock())
    with gate:
        if model not in _editors:
            from ganpaint_core.editing.editor import Editor

            _editors[model] = Editor.from_pretrained(model, device=DEVICE)
        return _editors[model]


def model_choices() -> list[tuple[str, str]]:
    """(label, name) for the picker: the start model, shipped models, registered models with unit lists, and the
    other registered models whose files are already in the cache."""
    from ganpaint_core.models import shipped_models
    from ganpaint_core.models.hub import cache_dir
    from ganpaint_core.models.registry import registry

    labels = {name: f"{name} (shipped: the scene world)" for name in shipped_models()}
    for name, entry in registry().items():
        cached = all((cache_dir() / f.file).is_file() for f in entry.files)
        if cached or entry.folder:
            labels[name] = f"{name} ({entry.description.split(',')[0]}{'' if cached else '; downloads once'})"
    names = dict.fromkeys([MODEL, *labels])
    return [(labels.get(name, name), name) for name in names]


MODEL_LINE = ("**default** draws its own 128 px cartoon scene world (houses, trees, domes, doors, sky, grass…): "
              "start with the examples. Real photos need a model of their own, e.g. **church** (downloaded once).")


def model_note(editor) -> str:
    concepts = ", ".join(editor.concepts) or "none (copy appearance only)"
    return (f"Model: `{editor.name}` ({editor.size} px, {editor.device.type}; concepts: {concepts}). Photos are "
            "cropped to a centred square for the model; outside your strokes the photo is kept.")


# ---- messages in the person's words ------------------------------------------------------------------------
def photo_problem(err: PhotoError) -> str:
    """What is wrong with an uploaded file, without server paths or Python's words."""
    width, height = err.size or (0, 0)
    return {
        "empty": "This file is empty (0 bytes): it is not a readable image. Choose a photo (JPEG, PNG or WebP).",
        "not an image": "This file is not a readable image. Choose a photo (JPEG, PNG or WebP).",
        "truncated": "This photo is cut off: the file ends before the picture does (an unfinished download or "
                     "copy?), so it is not a readable image. Choose the complete file.",
        "too small": f"This photo is {width}x{height} pixels; both sides must be at least {MIN_SIDE} pixels.",
        "too large": f"This photo is too large{f' ({width}x{height} pixels)' if err.size else ''}: photos above "
                     f"{MAX_SIDE} pixels a side are not accepted. Downscale it first.",
    }.get(err.reason, "This file is not a readable image.")


def user_error(message: str, where: str) -> gr.Error:
    """A message for the page and the API; the log gets one line (bugs, not the person's mistakes, get tracebacks)."""
    log.info("%s: %s", where, message)
    return gr.Error(message, print_exception=False)


def friendly_errors(fn):
    """Show bad input as a readable message in the page and through the API, never a stack trace or a path."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except PhotoError as err:
            raise user_error(photo_problem(err), fn.__name__) from err
        except FileNotFoundError as err:
            raise user_error("The photo is no longer on the server (uploads expire): upload it again.",
                             fn.__name__) from err
        except ValueError as err:
            raise user_error(str(err), fn.__name__) from err
        except MemoryError as err:
            raise user_error("Out of memory: try a smaller photo.", fn.__name__) from err

    return wrapper


def read_photo(source) -> np.ndarray:
    """An uploaded file (path or bytes) as an RGB photo; a ``gr.Error`` in the person's words if it is none."""
    try:
        return load_photo(source)
    except PhotoError as err:
        raise user_error(photo_problem(err), "upload") from err
    except FileNotFoundError as err:
        raise user_error("The upload did not arrive: try again.", "upload") from err


def photo_editor(**kwargs) -> gr.ImageEditor:
    """An ImageEditor whose photo is read by the editor's own loader (``ganpaint_core.photo``).

    Gradio's own conversion ignores EXIF orientation (so strokes painted on the upright photo would not fit it),
    clips 16-bit pictures to white and fails on non-images with a generic error; here the background comes out
    upright RGB, a file that is no usable photo is a sentence in the person's words, and the flattened
    composite (which no handler reads) is not decoded.  (The conversion is replaced on the instance: a subclass
    would make Gradio write a type stub next to this file at every start.)
    """
    editor = gr.ImageEditor(**kwargs)
    gradio_conversion, gradio_preprocess = editor.convert_and_format_image, editor.preprocess

    def convert(file, flatten_on_white: bool = False):
        if file is None or not flatten_on_white:          # stroke layers: Gradio's RGBA conversion is right
            return gradio_conversion(file, flatten_on_white)
        return read_photo(file if isinstance(file, (bytes, bytearray, memoryview)) else file.path)

    def preprocess(payload):
        if payload is not None and getattr(payload, "composite", None) is not None:
            payload = payload.model_copy(update={"composite": None})
        return gradio_preprocess(payload)

    editor.convert_and_format_image, editor.preprocess = convert, preprocess
    return editor


# ---- the photo, its working copy on the canvas, and the user's session -----------------------------------
def working_copy(photo: np.ndarray) -> np.ndarray:
    """The photo for the page's canvas: scaled to ``CANVAS_SIDE`` pixels on its longer side."""
    height, width = photo.shape[:2]
    if max(width, height) == CANVAS_SIDE:
        return photo
    scale = CANVAS_SIDE / max(width, height)
    return resized(photo, (max(1, round(width * scale)), max(1, round(height * scale))))


def resized(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``picture`` at ``size`` (width, height): area averaging when it shrinks (OpenCV: 24 MP in tens of ms where
    PIL's Lanczos took over a second), Lanczos when it grows."""
    shrinks = size[0] < picture.shape[1]
    return cv2.resize(picture, size, interpolation=cv2.INTER_AREA if shrinks else cv2.INTER_LANCZOS4)


def save_picture(picture: np.ndarray, stem: str) -> str:
    """``picture`` saved under OUTPUT_DIR: PNG up to LOSSLESS_PIXELS, else JPEG (seconds instead of tens)."""
    if picture.shape[0] * picture.shape[1] <= LOSSLESS_PIXELS:
        path = OUTPUT_DIR / f"{stem}.png"
        Image.fromarray(picture).save(path, compress_level=1)
    else:
        path = OUTPUT_DIR / f"{stem}.jpg"
        Image.fromarray(picture).save(path, quality=JPEG_QUALITY)
    return str(path)


def preview(picture: np.ndarray, stem: str) -> str:
    """``picture`` at most PREVIEW_SIDE pixels a side, saved (for the before/after slider)."""
    height, width = picture.shape[:2]
    if max(width, height) > PREVIEW_SIDE:
        scale = PREVIEW_SIDE / max(width, height)
        picture = resized(picture, (round(width * scale), round(height * scale)))
    return save_picture(picture, stem)


def _photo(value) -> np.ndarray:
    if not value or value.get("background") is None:
        raise gr.Error("Upload a photo (or pick an example) first.", print_exception=False)
    return load_photo(value["background"])


def _identify(value, state) -> dict:
    """The state for the photo the user works on.  In the page the canvas only ever shows the working copy of the
    photo last opened (``open_photo``), so the state says which photo it is; an API client's photo is the one in
    ``value`` (its own session if it is the photo it sent before, else a fresh state, no session yet)."""
    if state and state.get("canvas"):
        return state
    photo = _photo(value)
    key = photo_key(photo)
    if state and state.get("key") == key:
        return state
    return {"key": key, "original": photo, "canvas": None}


def _session(value, state, progress, model: str | None = None, any_model: bool = False):
    """The user's session for the photo in ``value`` and ``model``: fitted once per model, then cached.

    A session belongs to the model it was fitted with; ``any_model`` (undo, reset) keeps the user's session for
    this photo whatever the picker now says.
    """
    state, model = _identify(value, state), model or MODEL
    if state.get("session") is not None and (any_model or state.get("model", MODEL) == model):
        return state["session"], state
    progress(0, desc=f"loading model {model}")
    editor = get_editor(model)
    progress(0, desc="fitting the photo")

    def fit(image):
        with _FIT_SLOTS:
            return editor.fit(image, progress=lambda f, msg: progress(f, desc=msg))

    session, _ = CACHE.get_or_fit(state["original"], fit, namespace=model)
    return session, {**state, "model": model, "session": session, "before": None}


def _outputs(session, state, message: str):
    """(result file at the photo's own size, before/after previews, status, state, download button)."""
    result = session.to_photo()
    stem = f"ganpaint-{state['key'][:12]}-{len(session.operations)}-{os.urandom(3).hex()}"
    path = save_picture(result, stem)
    if state.get("before") is None:
        state = {**state, "before": preview(session.original, f"{stem}-before")}
    after = preview(result, f"{stem}-after") if session.operations else state["before"]
    return path, (state["before"], after), message, state, gr.DownloadButton(value=path, interactive=True)


def stroke_masks_for(session, layers) -> tuple[np.ndarray, np.ndarray]:
    """(edit mask, reference mask) on the model's grid from stroke layers of any size with the photo's proportions.

    Layers larger than MASK_SIDE are averaged down first (a stroke pixel there: more than half covered; a half-covered
    pixel's colour is still nearer its brush's than the other's), so a 24-megapixel layer costs a resize, not
    seconds of per-pixel work.
    """
    layers = [np.asarray(layer) for layer in layers or [] if layer is not None]
    size = session.editor.size
    if not layers:
        return np.zeros((size, size), bool), np.zeros((size, size), bool)
    height, width = session.original.shape[:2]
    lh, lw = layers[0].shape[:2]
    if abs(lw * height - lh * width) > max(lw, lh, width, height):       # more than a pixel out of proportion
        raise ValueError(f"the strokes are {lw}x{lh} pixels but the photo is {width}x{height}: paint on this photo")
    if max(lw, lh) > MASK_SIDE:
        scale = MASK_SIDE / max(lw, lh)
        shape = (max(1, round(lw * scale)), max(1, round(lh * scale)))
        small = []
        for layer in layers:
            reduced = resized(np.ascontiguousarray(layer), shape)
            if reduced.ndim == 3 and reduced.shape[-1] == 4:
                reduced[..., 3] = np.where(reduced[..., 3] > 127, 255, 0)
            small.append(reduced)
        layers, (lw, lh) = small, shape
    edit, reference = stroke_masks(layers, (lh, lw))
    crop = Crop.centred(lw, lh, size)
    return tuple(crop.to_model(m.astype(np.uint8) * 255, Image.Resampling.BILINEAR) > 127 for m in (edit, reference))


# ---- events ---------------------------------------------------------------------------------------------------
def missing_files(model: str) -> list[str]:
    """'role: file, from URL' for each file of a registered model that is not in the cache."""
    from ganpaint_core.models.hub import cache_dir
    from ganpaint_core.models.registry import registry

    entry = registry().get(model.strip().lower())
    if entry is None:
        return []
    roles = [("generator", entry.generator), ("encoder", entry.encoder)]
    return [f"{role}: `{f.file}` from {f.url}" for role, f in roles if f is not None
            and not (cache_dir() / f.file).is_file()]


def load_failure(model: str, in_use: str, err: Exception) -> str:
    """Why ``model`` could not be loaded, every missing file with its URL, and where to copy it."""
    from ganpaint_core.models.hub import cache_dir

    missing = missing_files(model)
    if not missing:
        return f"Could not load the model `{model}`: {err}. Still using `{in_use}`."
    files = "; ".join(missing)
    return (f"Could not load the model `{model}`: its files could not be downloaded. Still using `{in_use}`. "
            f"Missing: {files}. Download them elsewhere and copy them into the cache folder `{cache_dir()}` "
            f"(set by GANPAINT_CACHE), then pick `{model}` again.")


def choose_model(model, in_use=None, progress=gr.Progress(track_tqdm=True)):
    """Load the picked model (downloading its files once); the concept list, strength and notes follow it.

    On a failed download or load the picker goes back to the model in use and the status says what is missing.
    """
    in_use = in_use or MODEL
    try:
        editor = get_editor(model)
    except (ValueError, OSError, RuntimeError) as err:     # a download, a file or a checkpoint that is no model
        message = load_failure(model, in_use, err)
        log.info("model %s: %s", model, message)
        gr.Warning(message)
        return gr.update(), gr.update(), gr.update(), message, gr.Dropdown(value=in_use), in_use
    concepts = editor.concepts
    value = ("tree" if "tree" in concepts else concepts[0]) if concepts else None
    return (gr.Dropdown(choices=concepts, value=value, interactive=bool(concepts)),
            gr.Slider(value=default_strength(editor.dissection)), model_note(editor),
            f"Model `{model}` ready ({editor.size} px). Your next Apply fits the photo with it.", gr.update(), model)


def open_photo(source, state=None, keep_edits: bool = False, name: str = "photo"):
    """Load an uploaded photo or an example: the canvas shows a working copy of it, the handlers' state holds
    the photo itself.  The photo starts unedited unless ``keep_edits`` and it is the photo already open."""
    if source is None:
        raise gr.Error("Choose a photo to upload.", print_exception=False)
    photo = read_photo(source)
    key = photo_key(photo)
    canvas_picture = working_copy(photo)
    background = str(OUTPUT_DIR / f"canvas-{key[:12]}.png")
    if not Path(background).exists():
        Image.fromarray(canvas_picture).save(background, compress_level=1)
    canvas = {"shape": canvas_picture.shape, "path": background}
    kept = keep_edits and state and state.get("key") == key and state.get("session") is not None
    if kept:
        state = {**state, "canvas": canvas}
        edits = len(state["session"].operations)
        message = f"Same photo again: your {edits} edit(s) are kept (untick “keep my edits” to start afresh)."
    else:
        state = {"key": key, "original": photo, "canvas": canvas}
        message = f"Loaded {name} ({photo.shape[1]}x{photo.shape[0]}): fitting it…"
    return background, state, message


def upload_photo(file, state=None, keep_edits=False):
    """The upload button's photo on the canvas (see ``open_photo``)."""
    return open_photo(file, state, keep_edits, "your photo")


def pick_example(index: int, state=None, keep_edits=False):
    """The example photo at ``index`` of the gallery on the canvas (see ``open_photo``)."""
    path = example_photos()[index]
    return open_photo(path, state, keep_edits, f"example {Path(path).stem}")


@friendly_errors
def fit_photo(value, state=None, progress=gr.Progress(track_tqdm=True), model=None):
    """Fit the uploaded photo with ``model`` (default: the start model); returns the reconstruction."""
    session, state = _session(value, state, progress, model)
    if session.operations:
        return _outputs(session, state, f"Ready, with your {len(session.operations)} edit(s) kept.")
    q = session.quality()
    msg = (f"Ready: fitted in {session.fit_seconds:.1f} s; reconstruction {q['reconstruction_psnr']:.1f} dB PSNR "
           f"(plain GAN inversion {q['inversion_psnr']:.1f} dB). "
           "Paint with the red brush, pick a concept, press Apply.")
    return _outputs(session, state, msg)


@friendly_errors
def edit_photo(value, concept, action, strength, state=None, progress=gr.Progress(track_tqdm=True), model=None):
    """Apply one painted edit with ``model`` (default: the start model); returns the edited photo."""
    session, state = _session(value, state, progress, model)
    edit_mask, reference_mask = stroke_masks_for(session, (value or {}).get("layers"))   # None: a cleared canvas
    if not edit_mask.any():
        gr.Warning("Paint the region to edit with the red brush first.")
        return _outputs(session, state, "Nothing painted yet: paint the region to edit with the red brush.")
    if action == "copy appearance":
        if not reference_mask.any():
            gr.Warning("For copy appearance, also paint the reference region with the blue brush.")
            return _outputs(session, state, "Paint the reference region with the blue brush.")
        session.copy_appearance(edit_mask, reference_mask)
        msg = "Copied the appearance of the blue region into the red one"
    else:
        if action not in ("add", "remove"):
            raise gr.Error(f"Unknown action “{action}”; choose one of {', '.join(ACTIONS)}.", print_exception=False)
        concept = session.editor.check_request(concept or "", action, float(strength))   # the session's model
        session.edit(edit_mask, concept, action, float(strength))
        msg = f"{action.capitalize()} {concept}: done"
    return _outputs(session, state, f"{msg} ({len(session.operations)} edit(s)). Strokes cleared: paint the next "
                                    "edit, or Undo.")


@friendly_errors
def undo_edit(value, state=None, progress=gr.Progress(track_tqdm=True), model=None):
    session, state = _session(value, state, progress, model, any_model=True)
    if not session.operations:
        return _outputs(session, state, "Nothing to undo: the photo has no edits.")
    session.undo()
    return _outputs(session, state, f"Undone: {len(session.operations)} edit(s) left.")


@friendly_errors
def reset_edits(value, state=None, progress=gr.Progress(track_tqdm=True), model=None):
    session, state = _session(value, state, progress, model, any_model=True)
    if not session.operations:
        return _outputs(session, state, "Nothing to reset: the photo has no edits.")
    session.reset()
    return _outputs(session, state, "All edits removed.")


def example_photos() -> list[str]:
    return sorted(str(p) for p in EXAMPLES_DIR.glob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg"})


SHOW_PHOTO = "(picture) => picture ? {background: picture, layers: [], composite: null} : null"   # on the canvas
EMPTY = "() => null"
# After Apply the canvas is emptied and the photo put back on it (its strokes gone) once the edited photo is on
# screen: emptying and reloading the canvas are long tasks on the page's one thread (0.5-1.8 s together under
# software WebGL) that would otherwise run between the status line and the result's display.  Until they are done,
# the strokes already sent are not sent again: another Apply sends no canvas ("nothing painted"), so an edit is
# never stacked twice.  A failed edit keeps its strokes and frees the canvas at once.
STROKES_SENT = "window.ganpaintStrokesSent"       # when the last Apply sent strokes that are not yet cleared (ms)
SEND_STROKES_ONCE = f"""(value) => {{
  if ({STROKES_SENT} && performance.now() - {STROKES_SENT} < 10000) {{ return null; }}
  {STROKES_SENT} = performance.now();
  return value;
}}"""
EMPTY_AFTER_RESULT = """async (shown) => {
  const want = shown && (shown.url || shown.path || "");
  const name = want ? want.split("/").pop() : "";
  const ready = () => { const img = document.querySelector("#result img");
    return img && img.complete && img.naturalWidth > 0 && (!name || img.src.includes(name)); };
  const start = performance.now();
  while (!ready() && performance.now() - start < 3000) { await new Promise(r => setTimeout(r, 25)); }
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));   /* painted, not just decoded */
  return null;
}"""
SHOW_PHOTO_SENT_CLEARED = f"""(picture) => {{
  {STROKES_SENT} = 0;
  return picture ? {{background: picture, layers: [], composite: null}} : null;
}}"""
STROKES_KEPT = f"() => {{ {STROKES_SENT} = 0; }}"


CSS = """
#result img, #editor canvas {image-rendering: auto;}
.gp-help {font-size: 0.9em; opacity: 0.85;}
#editor button[aria-label="Clear canvas"] {display: none;}
#editor .pixi-target, #editor .pixi-target-crop {position: absolute; top: 30px !important; left: 48px !important;
    width: calc(100% - 48px) !important; height: calc(100% - 30px) !important;}
"""


def build_demo() -> gr.Blocks:
    editor = get_editor()
    concepts = editor.concepts or ["tree"]
    with gr.Blocks(title="GANPaint", delete_cache=(3600, 3600)) as demo:
        state = gr.State(None, time_to_live=3600)
        in_use = gr.State(MODEL)
        gr.Markdown("# GANPaint\nPaint a region of a photo and say what should be there: *add trees*, "
                    "*remove the door*, *make this wall look like that one*. Only the painted region changes.")
        picker = gr.Dropdown(model_choices(), value=MODEL, label="Model", elem_id="model", info=MODEL_LINE)
        photos = example_photos()
        gallery = gr.Dataset(components=[gr.Image(visible=False)], samples=[[p] for p in photos], type="index",
                             samples_per_page=12, elem_id="examples",
                             label="1. Pick an example (held-out scenes and real photographs) — or upload a photo",
                             visible=bool(photos))
        with gr.Row():
            upload = gr.UploadButton("Upload a photo", elem_id="upload", size="sm")
            keep = gr.Checkbox(False, label="keep my edits when I open the same photo again", elem_id="keep")
        with gr.Row():
            with gr.Column(scale=1):
                gr.Markdown("2. **Paint** with the red brush where the edit goes (blue: the reference region for "
                            "copy appearance).", elem_classes=["gp-help"])
                canvas = photo_editor(
                    label="Your photo", show_label=False, type="numpy", image_mode="RGBA", elem_id="editor",
                    sources=(), brush=gr.Brush(colors=[hex_color(EDIT_COLOR), hex_color(REFERENCE_COLOR)],
                                               color_mode="fixed", default_size=BRUSH_SIZE),
                    transforms=(), layers=False, height=420)
                with gr.Row():
                    concept = gr.Dropdown(concepts, value="tree" if "tree" in concepts else concepts[0],
                                          label="Concept", elem_id="concept")
                    action = gr.Radio(ACTIONS, value="add", label="Action", elem_id="action")
                strength = gr.Slider(0.0, 1.0, value=default_strength(editor.dissection), step=0.01, label="Strength",
                                     elem_id="strength",
                                     info="share of the concept's most effective units that the edit sets")
                with gr.Row():
                    apply = gr.Button("Apply", variant="primary", elem_id="apply")
                    clear = gr.Button("Clear strokes", elem_id="clear")
                    undo = gr.Button("Undo", elem_id="undo")
                    reset = gr.Button("Reset", elem_id="reset")
            with gr.Column(scale=1):
                result = gr.Image(label="Edited photo", type="filepath", interactive=False, elem_id="result",
                                  height=420)
                status = gr.Markdown("Pick an example or upload a photo.", elem_id="status")
                download = gr.DownloadButton("Download", interactive=False, elem_id="download")
        with gr.Accordion("Before / after", open=True):
            compare = gr.ImageSlider(label="before | after", type="filepath", elem_id="compare")
        sent = photo_editor(type="numpy", image_mode="RGBA", visible=False)
        opened = gr.Image(type="filepath", visible=False)      # the working copy of the photo just opened
        note = gr.Markdown(model_note(editor), elem_classes=["gp-help"])
        outs = [result, compare, status, state, download]
        # At every status message of every event, Gradio's page reads again each component that has been an output
        # of a server event or an input of a finished queued one, and reading an ImageEditor exports its layers to
        # PNG and uploads them.  So only browser-side steps read the canvas (SEND_STROKES_ONCE copies it into the hidden
        # ``sent``, which the handlers take): one export per click instead of four or more.  For the same reason the
        # canvas is never a server event's output: opening a photo sets the hidden ``opened`` and a browser-side step
        # puts it on the canvas (SHOW_PHOTO).  Opening is queued so that a bad file's message shows in the page.
        # Edits show progress on the status line alone.
        fits = dict(concurrency_id="fit", concurrency_limit=FITS_AT_ONCE)
        for opener, handler, inputs in ((gallery.click, pick_example, gallery), (upload.upload, upload_photo, upload)):
            shown = opener(handler, [inputs, state, keep], [opened, state, status], concurrency_id="open",
                           concurrency_limit=EDITS_AT_ONCE, show_progress_on=[status], api_visibility="private"
                           ).success(None, opened, canvas, js=SHOW_PHOTO)
            shown.success(fit_photo, [sent, state, picker], outs, **fits,
                          **({"api_name": "fit"} if handler is upload_photo else {"api_visibility": "private"}))
        edits = dict(concurrency_id="edit", concurrency_limit=EDITS_AT_ONCE, show_progress_on=[status])
        picker.input(choose_model, [picker, in_use], [concept, strength, note, status, picker, in_use],
                     api_name="model", concurrency_id="load", show_progress_on=[status])
        applied = apply.click(None, canvas, sent, js=SEND_STROKES_ONCE).then(
            edit_photo, [sent, concept, action, strength, state, picker], outs, api_name="edit", **edits)
        applied.success(None, result, canvas, js=EMPTY_AFTER_RESULT).then(None, opened, canvas,
                                                                          js=SHOW_PHOTO_SENT_CLEARED)
        applied.failure(None, None, None, js=STROKES_KEPT)
        clear.click(None, None, canvas, js=EMPTY).then(None, opened, canvas, js=SHOW_PHOTO)
        undo.click(undo_edit, [sent, state, picker], outs, api_name="undo", **edits)
        reset.click(reset_edits, [sent, state, picker], outs, api_name="reset", **edits)
    demo.queue(max_size=32, default_concurrency_limit=1)
    return demo


def main(argv=None) -> None:
    global MODEL, DEVICE
    from ganpaint_core.models.registry import model_help
    from ganpaint_core.precision import add_device_argument, resolve_device

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=MODEL, help=model_help() + " (also GANPAINT_MODEL)")
    add_device_argument(parser, default=DEVICE)
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args(argv)
    try:
        resolve_device(args.device)
    except ValueError as err:
        parser.exit(2, f"app.py: error: {err}\n")
    MODEL, DEVICE = args.model, args.device
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    demo = build_demo()
    demo.launch(server_name=args.host, server_port=args.port, max_file_size=MAX_UPLOAD, css=CSS,
                theme=gr.themes.Soft(), ssr_mode=False)


if __name__ == "__main__":
    main()
