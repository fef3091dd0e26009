"""GANPaint demo: paint on a photo, say what to add or remove, get the edited photo.

    python app.py [--model default|FOLDER|CHECKPOINT|URL] [--host 127.0.0.1] [--port 7860]

Environment: ``GANPAINT_MODEL`` (the model), ``GANPAINT_FITS`` (fits at once),
``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``.  A photo is fitted once (inversion +
adaptation, cached by content); every edit after that is one forward pass of the
adapted generator.  Each user works on a session of their own (``gr.State``), so
users never see each other's edits.  Fits run ``FITS_AT_ONCE`` at a time; edits have
a queue of their own and never wait behind a fit.  Named API endpoints: ``/fit``,
``/edit``, ``/undo``, ``/reset`` (see README).
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import threading
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from ganpaint_core.editing.edits import STRENGTH_UNITS
from ganpaint_core.editing.session_cache import SessionCache, photo_key
from ganpaint_core.editing.strokes import EDIT_COLOR, REFERENCE_COLOR, hex_color, stroke_masks
from ganpaint_core.photo import load_photo

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
# The slider starts at the editor's "medium" strength (24 of the 36 units of "high").
DEFAULT_STRENGTH = round(STRENGTH_UNITS["medium"] / STRENGTH_UNITS["high"], 2)
MAX_UPLOAD = "25mb"
ACTIONS = ["add", "remove", "copy appearance"]
CACHE = SessionCache(capacity=int(os.environ.get("GANPAINT_CACHE_SIZE", "8")))
# A fit keeps every core busy (torch's intra-op threads), so two fits at once on a small machine only make both
# slower; one fit per four cores by default.  Edits (one forward pass) run EDITS_AT_ONCE at a time beside them.
FITS_AT_ONCE = int(os.environ.get("GANPAINT_FITS", max(1, (os.cpu_count() or 1) // 4)))
EDITS_AT_ONCE = 4
_FIT_SLOTS = threading.BoundedSemaphore(FITS_AT_ONCE)
OUTPUT_DIR = Path(tempfile.mkdtemp(prefix="ganpaint-results-"))

_editor = None
_editor_lock = threading.Lock()
MODEL = os.environ.get("GANPAINT_MODEL", "default")


def get_editor():
    """The editor, loaded once per process."""
    global _editor
    with _editor_lock:
        if _editor is None:
            from ganpaint_core.editing.editor import Editor

            _editor = Editor.from_pretrained(MODEL)
        return _editor


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


class PhotoEditor(gr.ImageEditor):
    """An ImageEditor whose uploaded photo is read by the editor's own loader (``ganpaint_core.photo``).

    Gradio's own conversion ignores EXIF orientation (so strokes painted on the upright photo would not fit it),
    clips 16-bit pictures to white and fails on non-images with a generic error; here the background comes out
    upright RGB, and a file that is no usable photo is a sentence in the page.
    """

    def convert_and_format_image(self, file, flatten_on_white: bool = False):
        if file is None or not flatten_on_white:          # stroke layers: Gradio's RGBA conversion is right
            return super().convert_and_format_image(file, flatten_on_white)
        source = file if isinstance(file, (bytes, bytearray, memoryview)) else file.path
        try:
            return load_photo(source)
        except (ValueError, FileNotFoundError) as err:
            raise gr.Error(f"This file cannot be used as a photo: {err}") from err
    from collections.abc import Callable, Sequence
    from typing import TYPE_CHECKING, Any, Literal

    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


def _photo(value) -> np.ndarray:
    if not value or value.get("background") is None:
        raise gr.Error("Upload a photo (or pick an example) first.")
    return load_photo(value["background"])


def _session(value, state, progress):
    """The user's session for the photo in ``value``: fitted once, then cached."""
    photo = _photo(value)
    key = photo_key(photo)
    if state and state.get("key") == key:
        return state["session"], state
    editor = get_editor()
    progress(0, desc="fitting the photo")

    def fit(image):
        with _FIT_SLOTS:
            return editor.fit(image, progress=lambda f, msg: progress(f, desc=msg))

    session, _ = CACHE.get_or_fit(photo, fit)
    return session, {"key": key, "session": session}


def _outputs(session, state, message: str):
    result = session.to_photo()
    path = OUTPUT_DIR / f"ganpaint-{state['key'][:12]}-{len(session.operations)}.png"
    Image.fromarray(result).save(path)
    return result, (session.original, result), message, state, gr.DownloadButton(value=str(path), interactive=True)


@friendly_errors
def fit_photo(value, state=None, progress=gr.Progress()):
    """Fit the uploaded photo; returns the reconstruction."""
    session, state = _session(value, state, progress)
    q = session.quality()
    msg = (f"Ready: fitted in {session.fit_seconds:.1f} s; reconstruction {q['reconstruction_psnr']:.1f} dB PSNR "
           f"(plain GAN inversion {q['inversion_psnr']:.1f} dB). "
           "Paint with the red brush, pick a concept, press Apply.")
    return _outputs(session, state, msg)


@friendly_errors
def edit_photo(value, concept, action, strength, state=None, progress=gr.Progress()):
    """Apply one painted edit; returns the edited photo."""
    session, state = _session(value, state, progress)
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
        if concept not in get_editor().concepts:
            raise gr.Error(f"Unknown concept {concept!r}; choose one of {', '.join(get_editor().concepts)}.")
        session.edit(edit_mask, concept, action, float(strength))
        msg = f"{action.capitalize()} {concept}: done ({len(session.operations)} edit(s)). Undo or keep painting."
    return _outputs(session, state, msg)


@friendly_errors
def undo_edit(value, state=None, progress=gr.Progress()):
    session, state = _session(value, state, progress)
    session.undo()
    return _outputs(session, state, f"Undone: {len(session.operations)} edit(s) left.")


@friendly_errors
def reset_edits(value, state=None, progress=gr.Progress()):
    session, state = _session(value, state, progress)
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
        with gr.Row():
            with gr.Column(scale=1):
                canvas = PhotoEditor(
                    label="Your photo — paint with the red brush (blue: reference region for copy appearance)",
                    type="numpy", image_mode="RGBA", elem_id="editor", sources=["upload", "clipboard"],
                    brush=gr.Brush(colors=[hex_color(EDIT_COLOR), hex_color(REFERENCE_COLOR)],
                                   color_mode="fixed", default_size=12),
                    transforms=(), layers=False, height=420)
                with gr.Row():
                    concept = gr.Dropdown(concepts, value="tree" if "tree" in concepts else concepts[0],
                                          label="Concept", elem_id="concept")
                    action = gr.Radio(ACTIONS, value="add", label="Action", elem_id="action")
                strength = gr.Slider(0.0, 1.0, value=DEFAULT_STRENGTH, step=0.01, label="Strength", elem_id="strength",
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
        sent = PhotoEditor(type="numpy", image_mode="RGBA", visible=False)
        gr.Markdown(f"Model: `{MODEL}` ({editor.size} px, concepts: {', '.join(concepts)}). Photos are "
                    "cropped to a centred square for the model; outside your strokes the photo is kept.",
                    elem_classes=["gp-help"])
        outs = [result, compare, status, state, download]
        # At every status message of every event, Gradio's page reads again each component that has been an output
        # of a server event or an input of a finished queued one, and reading an ImageEditor exports its layers to
        # PNG and uploads them.  So only browser-side steps read the canvas (SEND_CANVAS copies it into the hidden
        # ``sent``, which the handlers take) and example picks report on the status line: one export per click
        # instead of four or more.  Edits show progress on the status line alone: with overlays on all five outputs
        # a click took 0.56 s instead of 0.46 s (median, `python -m eval app-latency`, software-rendered chromium).
        gallery.click(pick_example, gallery, canvas, queue=False, show_progress="hidden", show_progress_on=[status],
                      api_visibility="private")
        fits = dict(concurrency_id="fit", concurrency_limit=FITS_AT_ONCE)
        edits = dict(concurrency_id="edit", concurrency_limit=EDITS_AT_ONCE, show_progress_on=[status])
        canvas.upload(None, canvas, sent, js=SEND_CANVAS).then(fit_photo, [sent, state], outs, api_name="fit", **fits)
        apply.click(None, canvas, sent, js=SEND_CANVAS).then(
            edit_photo, [sent, concept, action, strength, state], outs, api_name="edit", **edits)
        undo.click(undo_edit, [sent, state], outs, api_name="undo", **edits)
        reset.click(reset_edits, [sent, state], outs, api_name="reset", **edits)
    demo.queue(max_size=32, default_concurrency_limit=1)
    return demo


def main(argv=None) -> None:
    global MODEL
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=MODEL, help="'default', a model folder, a checkpoint or a URL")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args(argv)
    MODEL = args.model
    demo = build_demo()
    demo.launch(server_name=args.host, server_port=args.port, max_file_size=MAX_UPLOAD, css=CSS,
                theme=gr.themes.Soft(), ssr_mode=False)


if __name__ == "__main__":
    main()
