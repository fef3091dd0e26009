"""The per-photo work of an evaluation run: fit a photo once, render each of its tasks with every method, score them.

Runs in a worker process of the local pool or of a Dask cluster (``init_worker`` loads the editor and the LPIPS
scorer once per process) or in the calling process.
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from eval.measures.seams import seam_score
from eval.run import tasks as T
from eval.run.methods import FITS, REFERENCE, fits_needed, render, select, shared_region
from ganpaint_core import metrics

PLAIN_STAGE, OURS_STAGE = "layer-wise r (plain G)", "adapted G' (ours)"

_EDITOR = None
_LPIPS = None


def init_worker(model: str, threads: int, device: str = "cpu") -> None:
    global _EDITOR, _LPIPS
    import torch

    torch.set_num_threads(max(1, threads))
    from ganpaint_core.editing.editor import Editor

    _EDITOR = Editor.from_pretrained(model, device=device)
    _LPIPS = metrics.LPIPS()


def seed_everything(seed: int, key: str) -> None:
    import torch

    value = (seed * 1_000_003 + zlib.crc32(key.encode())) % 2**31
    torch.manual_seed(value)
    np.random.seed(value)


def recon_stages(editor, fit: str, session) -> list[tuple[str, np.ndarray]]:
    """The reconstructions of the photo a fitted session gives, stage by stage, as (stage, picture)."""
    if fit != REFERENCE:
        return [(f"adapted G' ({fit})", session.reconstruction())]
    import torch

    from ganpaint_core.editing.inversion import initial_z
    from ganpaint_core.imaging import to_tensor, to_uint8

    g = editor.generator
    with torch.inference_mode():
        z0 = initial_z(g, to_tensor(session.photo), editor.encoder, session.options.candidates, session.options.seed)
        first = to_uint8(g(z0))[0]
        optimised = to_uint8(g(session.z))[0]
    return [("encoder z" if editor.encoder is not None else "best random z", first), ("optimised z", optimised),
            (PLAIN_STAGE, session.inversion()), (OURS_STAGE, session.reconstruction())]


def load_labels(path: str, size: int) -> np.ndarray:
    img = T.read_image(path, "L", "label map")
    return np.asarray(img.resize((size, size), Image.Resampling.NEAREST))


def edit_success(editor, img, task, mask) -> float:
    """The segmenter's share of the concept inside the mask for add, one minus it for remove; NaN without a
    segmenter or for appearance edits."""
    if editor.segmenter is None:
        return float("nan")
    return _success(metrics.concept_share(editor.segment(img), task.concept, mask), task.action)


def _success(share: float, action: str) -> float:
    return {"add": share, "remove": 1 - share}.get(action, float("nan"))


def reference_label_accuracy(editor, photo, target, target_labels, mask) -> dict:
    """Label accuracy inside the mask of the two reference pictures, scored as every method is (the segmenter's
    labels of the picture against the ground-truth labels): the unedited photo (``label_acc_photo``: what doing
    nothing scores) and the ground-truth edit itself (``label_acc_truth``: what a perfect edit scores); NaN
    without a segmenter or a ground truth."""
    if editor.segmenter is None or target is None or target_labels is None:
        return {"label_acc_photo": float("nan"), "label_acc_truth": float("nan")}
    return {"label_acc_photo": metrics.label_accuracy(editor.segment(photo), target_labels, mask),
            "label_acc_truth": metrics.label_accuracy(editor.segment(target), target_labels, mask)}


def score(editor, scorer, img, photo, task, mask, target, target_labels, margin: int, region,
          truth_success: float = float("nan")) -> dict:
    """Metrics of one rendered edit; ``region``: the shared edited region (``eval.run.methods.Region``);
    ``truth_success``: the ground-truth edit's own success on the same mask (the measure's ceiling)."""
    outside = metrics.outside_region(mask, margin)
    band = ~outside & ~mask                      # the ring just outside the mask, where seams show
    inside = ~outside                            # the mask dilated by the margin
    reference = target if target is not None else photo
    labels = editor.segment(img) if editor.segmenter is not None else None    # no segmenter: no concept metrics
    share = metrics.concept_share(labels, task.concept, mask) if labels is not None else float("nan")
    success = _success(share, task.action)
    row = {
        "psnr": metrics.psnr(img, reference), "ssim": metrics.ssim(img, reference), "l1": metrics.l1(img, reference),
        "lpips": scorer(img, reference), "psnr_out": metrics.psnr(img, photo, outside),
        "ssim_out": metrics.ssim(img, photo, outside), "l1_out": metrics.l1(img, photo, outside),
        "lpips_out": scorer(img, photo, outside), "psnr_band": metrics.psnr(img, photo, band),
        "seam": seam_score(img, photo, region.hard),
        "psnr_truth_in": metrics.psnr(img, target, inside) if target is not None else float("nan"),
        "l1_truth_in": metrics.l1(img, target, inside) if target is not None else float("nan"),
        "concept_share": share, "edit_success": success, "truth_success": truth_success,
        "label_acc": float("nan"), "reference": "truth" if target is not None else "photo",
    }
    if target_labels is not None and labels is not None:
        row["label_acc"] = metrics.label_accuracy(labels, target_labels, mask)
    return row


def _save(img: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


def evaluate_photo(photo_path: str, tasks: list[T.Task], method_names: list[str], out: str, seed: int,
                   margin: int, need_recon: bool, fit_options: dict, editor=None, scorer=None) -> dict:
    """Fit ``photo_path`` once (plus the ablations' adaptations) and render each task with every method."""
    editor, scorer = editor or _EDITOR, scorer or _LPIPS
    out = Path(out)
    result = {"edits": [], "recon": [], "failures": [], "tasks": [t.task_id for t in tasks]}
    methods = select(method_names)
    photo_id = tasks[0].photo_id
    size = editor.size
    try:
        photo = T.load_photo(photo_path, size)
        seed_everything(seed, photo_id)
        adapt, regularize = FITS[REFERENCE]
        sessions = {REFERENCE: editor.fit(photo, adapt=adapt, regularize=regularize, **fit_options)}
        for fit in fits_needed(methods):
            if fit not in sessions:
                seed_everything(seed, f"{photo_id}/{fit}")
                sessions[fit] = sessions[REFERENCE].readapt(*FITS[fit])
    except Exception as err:  # an unreadable photo or a failed fit skips this photo's tasks only
        result["failures"].append({"item": photo_path, "error": f"{type(err).__name__}: {err}"})
        return result
    photo = sessions[REFERENCE].photo
    if need_recon:
        for name, session in sessions.items():
            for stage, img in recon_stages(editor, name, session):
                result["recon"].append({"photo_id": photo_id, "stage": stage, "method": name,
                                        "psnr": metrics.psnr(img, photo), "ssim": metrics.ssim(img, photo),
                                        "l1": metrics.l1(img, photo), "lpips": scorer(img, photo),
                                        "fit_seconds": getattr(session, "fit_seconds", float("nan"))})
    for task in tasks:
        try:
            result["edits"] += _evaluate_task(editor, scorer, sessions, methods, photo, task, out, margin)
        except Exception as err:
            result["failures"].append({"item": task.task_id, "error": f"{type(err).__name__}: {err}"})
    return result


def _evaluate_task(editor, scorer, sessions, methods, photo, task, out: Path, margin: int) -> list[dict]:
    size = editor.size
    mask = T.load_mask(task.mask, size, T.photo_size(task.photo))
    if not mask.any():
        raise ValueError(f"mask {task.mask} is empty at {size} px")
    reference_mask = T.load_mask(task.reference_mask, size, T.photo_size(task.photo)) if task.reference_mask else None
    target = T.load_photo(task.target, size) if task.target else None
    target_labels = load_labels(task.target_labels, size) if task.target_labels else None
    images = out / "pairs" / "images" / task.task_id
    region = shared_region(mask, sessions[REFERENCE].options)
    rendered = {}
    for m in methods:
        start = time.perf_counter()
        img = render(m, sessions[m.fit], task, mask, reference_mask)
        rendered[m.name] = (img, time.perf_counter() - start)
    rows = []
    truth_success = edit_success(editor, target, task, mask) if target is not None else float("nan")
    references = reference_label_accuracy(editor, photo, target, target_labels, mask)
    for m in methods:
        img, seconds = rendered[m.name]
        row = {"task_id": task.task_id, "photo_id": task.photo_id, "action": task.action, "concept": task.concept,
               "method": m.name, "seconds": seconds}
        row.update(score(editor, scorer, img, photo, task, mask, target, target_labels, margin, region,
                         truth_success))
        row.update(references)
        rows.append(row)
    # Pictures only once every method has rendered, so a half-done task leaves no half-made pairs folder.
    for m in methods:
        _save(rendered[m.name][0], images / f"{m.name}.png")
    _save(photo, images / "original.png")
    _save((mask * 255).astype(np.uint8).repeat(3).reshape(*mask.shape, 3), images / "mask.png")
    if target is not None:
        _save(target, out / "truth" / f"{task.task_id}.png")
    return rows
