"""The per-photo work of an evaluation run: fit a photo once, render each of its tasks with every method, score them.

Runs in a worker process of the local pool or of a Dask cluster (``init_worker`` loads the editor and the LPIPS
scorer once per process) or in the calling process, always on the same number of torch threads
(``eval.run.threads``).  Photos are fitted and edited through the library's one path (photo loader, mask
loader, crop, fit, paste-back) and every edit is measured at the photo's own size.
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
from eval.run.threads import TASK_THREADS, task_threads
from ganpaint_core import metrics
from ganpaint_core import photo as photos

PLAIN_STAGE, OURS_STAGE = "layer-wise r (plain G)", "adapted G' (ours)"

_EDITOR = None
_LPIPS = None


def init_worker(model: str, device: str = "cpu") -> None:
    global _EDITOR, _LPIPS
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


def load_target(path: str, photo: np.ndarray) -> np.ndarray:
    """A task's ground-truth picture through the library's photo loader; ValueError unless it has the photo's size."""
    target = photos.load_photo(path)
    if target.shape != photo.shape:
        raise ValueError(f"the ground truth {path} is {target.shape[1]}x{target.shape[0]}; it must have the "
                         f"photo's size, {photo.shape[1]}x{photo.shape[0]}")
    return target


def load_labels(path: str, crop) -> np.ndarray:
    """A ground-truth label map at the model's size: cut like the photo when it has the photo's size."""
    img = np.asarray(T.read_image(path, "L", "label map"))
    if img.shape == (crop.height, crop.width):
        return crop.to_model(img, Image.Resampling.NEAREST)
    if img.shape != (crop.size, crop.size):
        raise ValueError(f"label map {path} is {img.shape[1]}x{img.shape[0]}; it must have the photo's or the "
                         f"model's size")
    return img


def edit_success(editor, img, task, mask, crop) -> float:
    """The segmenter's share of the concept inside the model-sized ``mask`` of the photo-sized ``img`` (its model
    square, as the segmenter sees it) for add, one minus it for remove; NaN without a segmenter or for appearance."""
    if editor.segmenter is None:
        return float("nan")
    return _success(metrics.concept_share(editor.segment(crop.to_model(img)), task.concept, mask), task.action)


def _success(share: float, action: str) -> float:
    return {"add": share, "remove": 1 - share}.get(action, float("nan"))


def reference_label_accuracy(editor, photo, target, target_labels, mask, crop) -> dict:
    """Label accuracy inside the model-sized ``mask`` of the two reference pictures, scored as every method is (the
    segmenter's labels of the picture's model square against the ground-truth labels): the unedited photo
    (``label_acc_photo``: what doing nothing scores) and the ground-truth edit itself (``label_acc_truth``: what a
    perfect edit scores); NaN without a segmenter or a ground truth."""
    if editor.segmenter is None or target is None or target_labels is None:
        return {"label_acc_photo": float("nan"), "label_acc_truth": float("nan")}
    return {"label_acc_photo": metrics.label_accuracy(editor.segment(crop.to_model(photo)), target_labels, mask),
            "label_acc_truth": metrics.label_accuracy(editor.segment(crop.to_model(target)), target_labels, mask)}


def score(editor, scorer, img, photo, task, masks, target, target_labels, margin: int, region, crop,
          truth_success: float = float("nan")) -> dict:
    """Metrics of one rendered edit at the photo's size (``img``, ``photo``, ``target``: the original photo's
    size); the concept measures at the model's size, on the square the segmenter sees.

    ``masks``: the task's mask (at the photo's size, at the model's size); ``region``: the shared edited region
    at the photo's size (``eval.run.methods.Region``); ``truth_success``: the ground-truth edit's own success on
    the same mask (the measure's ceiling).
    """
    mask, model_mask = masks
    outside = metrics.outside_region(mask, margin)
    band = ~outside & ~mask                      # the ring just outside the mask, where seams show
    inside = ~outside                            # the mask dilated by the margin
    reference = target if target is not None else photo
    labels = editor.segment(crop.to_model(img)) if editor.segmenter is not None else None   # no segmenter: none
    share = metrics.concept_share(labels, task.concept, model_mask) if labels is not None else float("nan")
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
        "photo_size": f"{photo.shape[1]}x{photo.shape[0]}", "model_size": f"{crop.size}x{crop.size}",
    }
    if target_labels is not None and labels is not None:
        row["label_acc"] = metrics.label_accuracy(labels, target_labels, model_mask)
    return row


def _save(img: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


def photo_margin(margin: int, crop) -> int:
    """The outside-mask margin in the photo's pixels: ``margin`` when given (>= 0), else 1/32 of the model's square
    as the photo has it (``metrics.default_margin`` of its side: 4 px for a 128 px square)."""
    return margin if margin >= 0 else metrics.default_margin(crop.side)


def evaluate_photo(photo_path: str, tasks: list[T.Task], method_names: list[str], out: str, seed: int,
                   margin: int, need_recon: bool, fit_options: dict, threads: int = TASK_THREADS, editor=None,
                   scorer=None) -> dict:
    """Fit ``photo_path`` once (plus the ablations' adaptations) and render each task with every method, with
    torch on ``threads`` threads whatever the process has (so the numbers do not depend on where it runs)."""
    with task_threads(threads):
        return _evaluate_photo(photo_path, tasks, method_names, Path(out), seed, margin, need_recon, fit_options,
                               editor or _EDITOR, scorer or _LPIPS)


def _evaluate_photo(photo_path, tasks, method_names, out: Path, seed, margin, need_recon, fit_options, editor,
                    scorer) -> dict:
    result = {"edits": [], "recon": [], "failures": [], "tasks": [t.task_id for t in tasks]}
    methods = select(method_names)
    photo_id = tasks[0].photo_id
    try:
        original = photos.load_photo(photo_path)
        seed_everything(seed, photo_id)
        adapt, regularize = FITS[REFERENCE]
        sessions = {REFERENCE: editor.fit(original, adapt=adapt, regularize=regularize, **fit_options)}
        for fit in fits_needed(methods):
            if fit not in sessions:
                seed_everything(seed, f"{photo_id}/{fit}")
                sessions[fit] = sessions[REFERENCE].readapt(*FITS[fit])
    except Exception as err:  # an unreadable photo or a failed fit skips this photo's tasks only
        result["failures"].append({"item": photo_path, "error": f"{type(err).__name__}: {err}"})
        return result
    photo = sessions[REFERENCE].photo       # the model's square: what the reconstructions are measured against
    if need_recon:
        for name, session in sessions.items():
            for stage, img in recon_stages(editor, name, session):
                result["recon"].append({"photo_id": photo_id, "stage": stage, "method": name,
                                        "psnr": metrics.psnr(img, photo), "ssim": metrics.ssim(img, photo),
                                        "l1": metrics.l1(img, photo), "lpips": scorer(img, photo),
                                        "fit_seconds": getattr(session, "fit_seconds", float("nan"))})
    margin = photo_margin(margin, sessions[REFERENCE].crop)
    for task in tasks:
        try:
            result["edits"] += _evaluate_task(editor, scorer, sessions, methods, task, out, margin)
        except Exception as err:
            result["failures"].append({"item": task.task_id, "error": f"{type(err).__name__}: {err}"})
    return result


def _evaluate_task(editor, scorer, sessions, methods, task, out: Path, margin: int) -> list[dict]:
    session = sessions[REFERENCE]
    size, crop, photo = editor.size, session.crop, session.original
    masks = T.load_masks(task.mask, crop, size)
    if not masks[1].any():
        raise ValueError(f"mask {task.mask} is empty in the model's square of the photo")
    reference_mask = T.load_masks(task.reference_mask, crop, size)[1] if task.reference_mask else None
    target = load_target(task.target, photo) if task.target else None
    target_labels = load_labels(task.target_labels, crop) if task.target_labels else None
    images = out / "pairs" / "images" / task.task_id
    region = shared_region(masks[1], session.options, crop)
    rendered = {}
    for m in methods:
        start = time.perf_counter()
        img = render(m, sessions[m.fit], task, masks[1], reference_mask)
        rendered[m.name] = (img, time.perf_counter() - start)
    rows = []
    truth_success = edit_success(editor, target, task, masks[1], crop) if target is not None else float("nan")
    references = reference_label_accuracy(editor, photo, target, target_labels, masks[1], crop)
    for m in methods:
        img, seconds = rendered[m.name]
        row = {"task_id": task.task_id, "photo_id": task.photo_id, "action": task.action, "concept": task.concept,
               "method": m.name, "seconds": seconds}
        row.update(score(editor, scorer, img, photo, task, masks, target, target_labels, margin, region, crop,
                         truth_success))
        row.update(references)
        rows.append(row)
    # Pictures only once every method has rendered, so a half-done task leaves no half-made pairs folder.
    for m in methods:
        _save(rendered[m.name][0], images / f"{m.name}.png")
    _save(photo, images / "original.png")
    _save((masks[0] * 255).astype(np.uint8).repeat(3).reshape(*masks[0].shape, 3), images / "mask.png")
    if target is not None:
        _save(target, out / "truth" / f"{task.task_id}.png")
    return rows
