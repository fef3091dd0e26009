"""GANPaint demo: paint on a photo, say what to add or remove, get the edited photo.

    python app.py [--model default|church|FOLDER|CHECKPOINT|URL] [--device auto|cpu|cuda] [--host H] [--port P]

Environment: ``GANPAINT_MODEL`` (the model the page starts with), ``GANPAINT_DEVICE``,
``GANPAINT_FITS`` (fits at once), ``GANPAINT_CACHE`` (downloaded model files),
``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``.  The page's model picker offers the start
model, the shipped ones, the registered models with unit lists (church: downloaded once, with
progress) and any other registered model whose files are in the cache; each model is loaded
once per process.  A photo is fitted once per model (inversion + adaptation, cached by
content); every edit after that is one forward pass of the adapted generator.  Each user
works on a session of their own (``gr.State``) that belongs to the model it was fitted with,
so users never see each other's edits.  Fits run ``FITS_AT_ONCE`` at a time; edits have
a queue of their own and never wait behind a fit.  Named API endpoints: ``/fit``,
``/edit``, ``/undo``, ``/reset`` (see README).
"""

from __future__ import annotations

# --- CPU sharing (branch speed, docs/speed.md "Sharing the machine"): first, before torch loads OpenMP ----------
import ganpaint_core.shared_cpu  # noqa: F401  (OpenMP waits passively; $GANPAINT_THREADS, $GANPAINT_OMP_WAIT)

# isort: split
# --- end of CPU sharing block -----------------------------------------------------------------------------------

import argparse
import functools
import os
import tempfile
import threading
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from ganpaint_core.editing.edits import strength_units
from ganpaint_core.editing.session_cache import SessionCache, photo_key
from ganpaint_core.editing.strokes import EDIT_COLOR, REFERENCE_COLOR, hex_color, stroke_masks
from ganpaint_core.photo import load_photo

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


def default_strength(dissection: dict | None) -> float:
    """Where the strength slider starts: the model's "medium" strength as a share of its "high" one."""
    units = strength_units(dissection)
    return round(units["medium"] / units["high"], 2)

MAX_UPLOAD = "25mb"
ACTIONS = ["add", "remove", "copy appearance"]
CACHE = SessionCache(capacity=int(os.environ.get("GANPAINT_CACHE_SIZE", "8")))
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


def model_note(editor) -> str:
    concepts = ", ".join(editor.concepts) or "none (copy appearance only)"
    return (f"Model: `{editor.name}` ({editor.size} px, {editor.device.type}; concepts: {concepts}). Photos are "
            "cropped to a centred square for the model; outside your strokes the photo is kept.")


def friendly_errors(fn):
    """Show bad input as a readable message in the page, never a stack trace."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, FileNotFoundError) as err:
            raise gr.Error(str(err)) from err
        except MemoryError as err:
            raise gr.Error("Out of memory: try a smaller photo.") from err

    return wrapper


def photo_editor(**kwargs) -> gr.ImageEditor:
    """An ImageEditor whose uploaded photo is read by the editor's own loader (``ganpaint_core.photo``).

    Gradio's own conversion ignores EXIF orientation (so strokes painted on the upright photo would not fit it),
    clips 16-bit pictures to white and fails on non-images with a generic error; here the background comes out
    upright RGB, and a file that is no usable photo is a sentence in the page.  (The conversion is replaced on
    the instance: a subclass would make Gradio write a type stub next to this file at every start.)
    """
    editor = gr.ImageEditor(**kwargs)
    gradio_conversion = editor.convert_and_format_image

    def convert(file, flatten_on_white: bool = False):
        if file is None or not flatten_on_white:          # stroke layers: Gradio's RGBA conversion is right
            return gradio_conversion(file, flatten_on_white)
        source = file if isinstance(file, (bytes, bytearray, memoryview)) else file.path
        try:
            return load_photo(source)
        except (ValueError, FileNotFoundError) as err:
            raise gr.Error(f"This file cannot be used as a photo: {err}") from err

    editor.convert_and_format_image = convert
    return editor


def _photo(value) -> np.ndarray:
    if not value or value.get("background") is None:
        raise gr.Error("Upload a photo (or pick an example) first.")
    return load_photo(value["background"])


def _session(value, state, progress, model: str | None = None, any_model: bool = False):
    """The user's session for the photo in ``value`` and ``model``: fitted once per model, then cached.

    A session belongs to the model it was fitted with; ``any_model`` (undo, reset) keeps the user's session for
    this photo whatever the picker now says.
    """
    photo = _photo(value)
    key, model = photo_key(photo), model or MODEL
    if state and state.get("key") == key and (any_model or state.get("model", MODEL) == model):
        return state["session"], state
    progress(0, desc=f"loading model {model}")
    editor = get_editor(model)
    progress(0, desc="fitting the photo")

    def fit(image):
        with _FIT_SLOTS:
            return editor.fit(image, progress=lambda f, msg: progress(f, desc=msg))

    session, _ = CACHE.get_or_fit(photo, fit, namespace=model)
    return session, {"key": key, "model": model, "session": session}


def _outputs(session, state, message: str):
    result = session.to_photo()
    path = OUTPUT_DIR / f"ganpaint-{state['key'][:12]}-{len(session.operations)}.png"
    Image.fromarray(result).save(path)
    return result, (session.original, result), message, state, gr.DownloadButton(value=str(path), interactive=True)


@friendly_errors
def choose_model(model, progress=gr.Progress(track_tqdm=True)):
    """Load the picked model (downloading its files once); the concept list, strength and notes follow it."""
    editor = get_editor(model)
    concepts = editor.concepts
    value = ("tree" if "tree" in concepts else concepts[0]) if concepts else None
    return (gr.Dropdown(choices=concepts, value=value, interactive=bool(concepts)),
            gr.Slider(value=default_strength(editor.dissection)), model_note(editor),
            f"Model `{model}` ready ({editor.size} px). Your next Apply fits the photo with it.")


@friendly_errors
def fit_photo(value, state=None, progress=gr.Progress(track_tqdm=True), model=None):
    """Fit the uploaded photo with ``model`` (default: the start model); returns the reconstruction."""
    session, state = _session(value, state, progress, model)
    q = session.quality()
    msg = (f"Ready: fitted in {session.fit_seconds:.1f} s; reconstruction {q['reconstruction_psnr']:.1f} dB PSNR "
           f"(plain GAN inversion {q['inversion_psnr']:.1f} dB). "
           "Paint with the red brush, pick a concept, press Apply.")
    return _outputs(session, state, msg)


@friendly_errors
def edit_photo(value, concept, action, strength, state=None, progress=gr.Progress(track_tqdm=True), model=None):
    """Apply one painted edit with ``model`` (default: the start model); returns the edited photo."""
    session, state = _session(value, state, progress, model)
    edit_mask, reference_mask = stroke_masks(value.get("layers"), session.original.shape[:2])
    if not edit_mask.any():
        gr.Warning("Paint the region to edit with the red brush first.")
        return _outputs(session, state, "Nothing painted yet: paint the region to edit with the red brush.")
    if action == "copy appearance":
        if not reference_mask.any():
            gr.Warning("For copy appearance, also paint the reference region with the blue brush.")
            return _outputs(session, state, "Paint the reference region with the blue brush.")
        session.copy_appearance(edit_mask, reference_mask)
        msg = "Copied the appearance of the blue region into the red one."
    else:
        if action not in ("add", "remove"):
            raise gr.Error(f"Unknown action {action!r}; choose one of {', '.join(ACTIONS)}.")
        concept = session.editor.check_request(concept or "", action, float(strength))   # the session's model
        session.edit(edit_mask, concept, action, float(strength))
        msg = f"{action.capitalize()} {concept}: done ({len(session.operations)} edit(s)). Undo or keep painting."
    return _outputs(session, state, msg)


@friendly_errors
def undo_edit(value, state=None, progress=gr.Progress(track_tqdm=True), model=None):
    session, state = _session(value, state, progress, model, any_model=True)
    session.undo()
    return _outputs(session, state, f"Undone: {len(session.operations)} edit(s) left.")


@friendly_errors
def reset_edits(value, state=None, progress=gr.Progress(track_tqdm=True), model=None):
    session, state = _session(value, state, progress, model, any_model=True)
    session.reset()
    return _outputs(session, state, "All edits removed.")


def example_photos() -> list[str]:
    return sorted(str(p) for p in EXAMPLES_DIR.glob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg"})


def pick_example(index: int) -> str:
    """The example photo at ``index`` of the gallery, for the canvas."""
    return example_photos()[index]


SEND_CANVAS = "(value) => value"   # a browser-side step: pass the canvas's value on as it is


CSS = """
#result img, #editor canvas {image-rendering: auto;}
.gp-help {font-size: 0.9em; opacity: 0.85;}
"""


def build_demo() -> gr.Blocks:
    editor = get_editor()
    concepts = editor.concepts or ["tree"]
    with gr.Blocks(title="GANPaint", delete_cache=(3600, 3600)) as demo:
        state = gr.State(None, time_to_live=3600)
        gr.Markdown("# GANPaint\nPaint a region of a photo and say what should be there: *add trees*, "
                    "*remove the door*, *make this wall look like that one*. Only the painted region changes.")
        picker = gr.Dropdown(model_choices(), value=MODEL, label="Model", elem_id="model",
                             info="church: the paper's LSUN-church GAN (256 px; its files download once)")
        with gr.Row():
            with gr.Column(scale=1):
                canvas = photo_editor(
                    label="Your photo — paint with the red brush (blue: reference region for copy appearance)",
                    type="numpy", image_mode="RGBA", elem_id="editor", sources=["upload", "clipboard"],
                    brush=gr.Brush(colors=[hex_color(EDIT_COLOR), hex_color(REFERENCE_COLOR)],
                                   color_mode="fixed", default_size=12),
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
                    undo = gr.Button("Undo", elem_id="undo")
                    reset = gr.Button("Reset", elem_id="reset")
            with gr.Column(scale=1):
                result = gr.Image(label="Edited photo", type="numpy", format="png", interactive=False,
                                  elem_id="result", height=420)
                status = gr.Markdown("Upload a photo or pick an example below.", elem_id="status")
                download = gr.DownloadButton("Download PNG", interactive=False, elem_id="download")
        with gr.Accordion("Before / after", open=True):
            compare = gr.ImageSlider(label="before | after", type="numpy", elem_id="compare")
        photos = example_photos()
        gallery = gr.Dataset(components=[canvas], samples=[[p] for p in photos], type="index", samples_per_page=12,
                             label="Example photos (held-out scenes and real photographs)", visible=bool(photos))
        sent = photo_editor(type="numpy", image_mode="RGBA", visible=False)
        note = gr.Markdown(model_note(editor), elem_classes=["gp-help"])
        outs = [result, compare, status, state, download]
        # At every status message of every event, Gradio's page reads again each component that has been an output
        # of a server event or an input of a finished queued one, and reading an ImageEditor exports its layers to
        # PNG and uploads them.  So only browser-side steps read the canvas (SEND_CANVAS copies it into the hidden
        # ``sent``, which the handlers take) and example picks report on the status line: one export per click
        # instead of four or more.  Edits show progress on the status line alone (overlays on all five outputs made
        # a click measurably slower: docs/app_latency.json, README).
        gallery.click(pick_example, gallery, canvas, queue=False, show_progress="hidden", show_progress_on=[status],
                      api_visibility="private")
        fits = dict(concurrency_id="fit", concurrency_limit=FITS_AT_ONCE)
        edits = dict(concurrency_id="edit", concurrency_limit=EDITS_AT_ONCE, show_progress_on=[status])
        picker.change(choose_model, picker, [concept, strength, note, status], api_name="model",
                      concurrency_id="load", show_progress_on=[status])
        canvas.upload(None, canvas, sent, js=SEND_CANVAS).then(fit_photo, [sent, state, picker], outs, api_name="fit",
                                                               **fits)
        apply.click(None, canvas, sent, js=SEND_CANVAS).then(
            edit_photo, [sent, concept, action, strength, state, picker], outs, api_name="edit", **edits)
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
    demo = build_demo()
    demo.launch(server_name=args.host, server_port=args.port, max_file_size=MAX_UPLOAD, css=CSS,
                theme=gr.themes.Soft(), ssr_mode=False)


if __name__ == "__main__":
    main()
