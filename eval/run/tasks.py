"""Edit tasks: what to paint where, on which photo.

A task is one row ``(photo, mask, concept, action[, reference_mask])``; scene
world tasks also carry the ground-truth ``target`` picture and
``target_labels``.  Tasks come from a CSV file, from random blob masks on a
folder of photos, or from paired scene-world renders.  Photos and masks are read
by the library's loaders (``ganpaint_core.photo``, ``ganpaint_core.editing.masks``)
and kept at the photo's own size; the model's square is the editor's ``Crop``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy.ndimage import gaussian_filter

from ganpaint_core import photo as photos
from ganpaint_core.concepts import concept_id
from ganpaint_core.editing import masks
from ganpaint_core.photo import Crop

ACTIONS = ("add", "remove", "appearance")
PHOTO_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
SCENE_KINDS = ("remove_tree", "add_dome", "remove_door", "add_tree", "remove_cloud", "remove_dome")
SCENE_SEED_STEP = 100_003          # run seeds start this far apart in the held-out scene range
MIN_CHANGED_LABELS = 24            # scene pairs changing fewer labels (an occluded door) are passed over


@dataclass
class Task:
    task_id: str
    photo: str
    mask: str
    concept: str
    action: str
    reference_mask: str = ""
    target: str = ""
    target_labels: str = ""

    @property
    def photo_id(self) -> str:
        return safe_id(Path(self.photo).stem)


TASK_COLUMNS = tuple(f.name for f in fields(Task))


def safe_id(text: str) -> str:
    """A file-name-safe identifier (letters, digits, ``-`` and ``_``)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "x"


def validate(task: Task, concepts: list[str] | None = None) -> Task:
    """``task`` with a normalised concept and action; ValueError naming the task when it is malformed.

    ``concepts``: the model's own vocabulary (default: the scene world's).
    """
    action = task.action.strip().lower()
    if action not in ACTIONS:
        raise ValueError(f"task {task.task_id}: action {task.action!r} is not one of {', '.join(ACTIONS)}")
    if concepts is None:
        concept_id(task.concept)
    elif task.concept.strip().lower() not in concepts and action != "appearance":
        raise ValueError(f"task {task.task_id}: unknown concept {task.concept!r} for this model; it can paint: "
                         f"{', '.join(concepts) or 'none'}")
    if action == "appearance" and not task.reference_mask:
        raise ValueError(f"task {task.task_id}: an appearance task needs a reference_mask")
    task.action, task.concept = action, task.concept.strip().lower()
    return task


# ---- pictures -------------------------------------------------------------------------------------------

def read_image(path: str | Path, mode: str, what: str = "picture") -> Image.Image:
    """The picture at ``path`` in PIL ``mode``, fully read; ValueError naming ``what`` if missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {path} does not exist")
    try:
        with Image.open(path) as img:
            img = img.convert(mode)
            img.load()
            return img
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{what} {path} is not a readable image ({err})") from err


def load_masks(path: str | Path, crop: Crop, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A task's mask through the library's loader, as (bool at the photo's size, bool ``size`` x ``size``).

    A mask drawn at the photo's size is cut to the model's square as the editor cuts it
    (``masks.to_model_mask``) and kept, at the photo's size, to the part the model sees; a mask at
    the model's size is scaled up into that square.  Any other size is a ValueError.
    """
    mask = masks.load_mask(path)
    model = masks.to_model_mask(mask, size, crop, allow_empty=True)
    inside = np.zeros((crop.height, crop.width), bool)
    if mask.shape == inside.shape:
        inside[crop.top:crop.top + crop.side, crop.left:crop.left + crop.side] = True
        return mask & inside, model
    return crop.to_photo(model, inside, Image.Resampling.NEAREST), model


def save_mask(mask: np.ndarray, path: str | Path) -> None:
    Image.fromarray(np.asarray(mask, bool).astype(np.uint8) * 255).save(path)


def photo_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) of a readable photo as the loader turns it upright, else None."""
    try:
        return photos.upright_size(path)
    except (ValueError, OSError):
        return None


def list_photos(folder: str | Path) -> list[Path]:
    """The picture files in ``folder`` (by suffix, sorted); FileNotFoundError when it is not a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"photo folder {folder} does not exist")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)


# ---- tasks files ----------------------------------------------------------------------------------------

def _resolve(value: str, bases: list[Path]) -> str:
    if not value:
        return ""
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    for base in bases:
        if (base / path).exists():
            return str(base / path)
    return str(bases[0] / path)


def read_tasks(path: str | Path, photo_dir: str | Path | None = None, concepts: list[str] | None = None) -> list[Task]:
    """Tasks from a CSV with columns photo, mask, concept, action[, reference_mask, task_id, …].

    Relative paths are looked up next to the CSV, then in ``photo_dir``; ``concepts`` as in ``validate``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tasks file {path} does not exist")
    bases = [path.parent] + ([Path(photo_dir)] if photo_dir else [])
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"photo", "mask", "concept", "action"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"tasks file {path} lacks the column(s) {', '.join(sorted(missing))}")
        tasks, seen = [], set()
        for i, row in enumerate(reader):
            task = Task(task_id=safe_id(row.get("task_id") or f"t{i:04d}_{Path(row['photo']).stem}"),
                        photo=_resolve(row["photo"], bases), mask=_resolve(row["mask"], bases),
                        concept=row["concept"], action=row["action"],
                        **{k: _resolve(row.get(k) or "", bases) for k in ("reference_mask", "target", "target_labels")})
            if task.task_id in seen:
                raise ValueError(f"tasks file {path}: task_id {task.task_id} appears twice")
            seen.add(task.task_id)
            tasks.append(validate(task, concepts))
    if not tasks:
        raise ValueError(f"tasks file {path} has no rows")
    return tasks


def check_tasks(tasks: list[Task], concepts: list[str]) -> list[Task]:
    """``tasks`` if every file they name exists and every add/remove concept is one the model paints; else one
    clear error naming the first task that does not fit."""
    for task in tasks:
        for key in ("photo", "mask", "reference_mask"):
            path = getattr(task, key)
            if path and not Path(path).is_file():
                raise FileNotFoundError(f"task {task.task_id}: {key} {path} does not exist")
        if task.action != "appearance" and task.concept not in concepts:
            raise ValueError(f"task {task.task_id}: the model does not paint {task.concept!r}; it paints "
                             f"{', '.join(concepts) or 'nothing'}")
    return tasks


def write_tasks(tasks: list[Task], path: str | Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=TASK_COLUMNS)
        writer.writeheader()
        writer.writerows(asdict(t) for t in tasks)


# ---- generated tasks ------------------------------------------------------------------------------------

def random_blob(size: int, rng: np.random.Generator, area: tuple[float, float] = (0.04, 0.12)) -> np.ndarray:
    """A smooth random blob covering a share of the picture drawn from ``area``, away from the border."""
    field = gaussian_filter(rng.normal(size=(size, size)), sigma=size / 16)
    yy, xx = np.mgrid[0:size, 0:size] / size
    cy, cx = rng.uniform(0.3, 0.7, 2)
    field = field / (field.std() + 1e-12) - 6 * ((yy - cy) ** 2 + (xx - cx) ** 2) / 0.1
    share = rng.uniform(*area)
    return field >= np.quantile(field, 1 - share)


def blob_tasks(photos: list[Path], size: int, concepts: list[str], folder: Path, seed: int = 0) -> list[Task]:
    """One task per photo with a random blob mask (saved to ``folder`` at the photo's size, inside the model's
    square), concept and add/remove action."""
    if not concepts:
        raise ValueError("no paintable concepts to draw blob tasks with")
    folder.mkdir(parents=True, exist_ok=True)
    tasks = []
    for i, photo in enumerate(photos):
        rng = np.random.default_rng([seed, i])
        mask_path = folder / f"{safe_id(photo.stem)}_blob.png"
        blob = random_blob(size, rng)
        shape = photo_size(photo)
        if shape is not None:         # drawn at the photo's size, inside the square the model sees
            crop = Crop.centred(*shape, size)
            blob = crop.to_photo(blob, np.zeros((crop.height, crop.width), bool), Image.Resampling.NEAREST)
        save_mask(blob, mask_path)
        action = ("add", "remove")[int(rng.integers(2))]
        tasks.append(Task(task_id=f"{safe_id(photo.stem)}_{action}", photo=str(photo), mask=str(mask_path),
                          concept=concepts[int(rng.integers(len(concepts)))], action=action))
    return tasks


def scene_tasks(n: int, size: int, folder: Path, seed: int = 0, concepts: list[str] | None = None) -> list[Task]:
    """``n`` scene-world tasks, one per held-out scene, cycling through ``SCENE_KINDS``.

    Each saves the before picture (the photo), the edit's mask, and the after
    picture and labels (the ground truth) under ``folder``.  Kinds whose
    concept is not in ``concepts`` (the editor's paintable ones) are left out.
    """
    from ganpaint_core.scenes import HELDOUT_SEED_START
    from ganpaint_core.scenes.pairs import KIND_CONCEPT

    if n < 1:
        raise ValueError(f"scenes:N needs N >= 1, got {n}")
    kinds = [k for k in SCENE_KINDS if concepts is None or KIND_CONCEPT[k] in concepts]
    if not kinds:
        raise ValueError(f"the editor paints none of the scene-world edit concepts ({', '.join(SCENE_KINDS)})")
    folder.mkdir(parents=True, exist_ok=True)
    scene_seed = HELDOUT_SEED_START + seed * SCENE_SEED_STEP
    tasks = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        pair, scene_seed = next_scene_pair(scene_seed, size, kind)
        stem = folder / f"scene{scene_seed}"
        Image.fromarray(pair.before_rgb).save(f"{stem}.png")
        Image.fromarray(pair.after_rgb).save(f"{stem}_{kind}_after.png")
        Image.fromarray(pair.after_labels).save(f"{stem}_{kind}_labels.png")
        save_mask(pair.mask, f"{stem}_{kind}_mask.png")
        tasks.append(Task(task_id=f"scene{scene_seed}_{kind}", photo=f"{stem}.png", mask=f"{stem}_{kind}_mask.png",
                          concept=pair.concept, action=pair.action, target=f"{stem}_{kind}_after.png",
                          target_labels=f"{stem}_{kind}_labels.png"))
    return tasks


def next_scene_pair(seed: int, size: int, kind: str):
    """The first scene after ``seed`` where a ``kind`` edit applies and changes at least ``MIN_CHANGED_LABELS``
    labels: (its ``ScenePair``, its seed); ValueError when none of the next 1000 scenes has one."""
    from ganpaint_core.scenes.pairs import render_pair

    for _ in range(1000):
        seed += 1
        try:
            pair = render_pair(seed, size, kind)
        except ValueError:
            continue
        if (pair.before_labels != pair.after_labels).sum() >= MIN_CHANGED_LABELS:
            return pair, seed
    raise ValueError(f"no applicable {kind} scene found near seed {seed}")


def parse_photos(spec: str) -> tuple[str, int | str]:
    """``scenes:N`` -> ("scenes", N); a folder -> ("folder", path)."""
    if spec.startswith("scenes:"):
        count = spec.split(":", 1)[1]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--photos scenes:N needs a positive whole N, got {spec!r}")
        return "scenes", int(count)
    return "folder", spec
