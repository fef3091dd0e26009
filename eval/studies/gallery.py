"""``python -m eval gallery``: the editor's edits as pictures, on fixed scene tasks and on real photos.

Writes into ``--out`` (default ``docs/edits``):

- ``scenes.jpg``: fixed held-out scene tasks (two of each scene-world edit kind by default), one row each: the photo
  with the painted mask outlined, ours (the editor's output with its current defaults), the ground-truth edit,
  and G's render pasted by Poisson blending and by a Laplacian pyramid over the same region (``eval run``'s
  baselines, ``eval.run.methods``);
- ``photos.jpg``: real photos from public sample images that installed packages ship, each with a painted mask,
  before and after, edited through the library's one path: the photo loader, the centred crop, the fit, the edit
  and the paste-back at the photo's own size (``Session.to_photo``, as ``python -m ganpaint_core edit`` does);
- ``README.md``: the captions (each real photo's package and file, each scene task's seed and kind) and the command.

Everything is seeded, so a rerun with the same code and model writes the same files.  The scene seeds start at
``HELDOUT_SEED_START + GALLERY_SEED_OFFSET``, away from the other studies' scenes and from ``eval run``'s seeds.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

GALLERY_SEED_OFFSET = 450_000
SCENE_KINDS = ("remove_tree", "add_dome", "remove_door", "add_tree", "remove_cloud", "remove_dome")
SCENE_COLUMNS = (("photo + mask", None), ("ours", "ours"), ("ground truth", None), ("Poisson", "poisson"),
                 ("pyramid", "pyramid"))
TILE = 128              # scene tiles, px
PHOTO_HEIGHT = 192      # real photos are shown at this height
LABEL = 14              # px of caption above a tile
QUALITY = 80            # JPEG quality
OUTLINE = (255, 40, 40)


@dataclass(frozen=True)
class RealPhoto:
    """A sample picture an installed package ships, and the edit painted on it.

    ``shapes``: ellipses and polygons in fractions of the photo's centred square (the part the model sees),
    ``("ellipse", (x0, y0, x1, y1))`` or ``("polygon", ((x, y), ...))``.
    """

    name: str
    package: str          # the import name
    distribution: str     # the name it is installed by
    file: str             # relative to the package's folder
    concept: str
    action: str
    shapes: tuple

    def path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"{self.distribution} is not installed, so {self.package}/{self.file} is missing")
        path = Path(next(iter(spec.submodule_search_locations))) / self.file
        if not path.is_file():
            raise FileNotFoundError(f"{self.distribution} does not ship {self.package}/{self.file}")
        return path


REAL_PHOTOS = (
    RealPhoto("cameraman", "skimage", "scikit-image", "data/camera.png", "tree", "add",
              (("ellipse", (0.70, 0.38, 0.98, 0.78)),)),
    RealPhoto("rocket", "skimage", "scikit-image", "data/rocket.jpg", "cloud", "add",
              (("ellipse", (0.05, 0.10, 0.45, 0.35)),)),
    RealPhoto("eiffel", "gradio", "gradio", "media_assets/images/tower.jpg", "tree", "remove",
              (("polygon", ((0.62, 0.0), (1.0, 0.0), (1.0, 0.50), (0.85, 0.55), (0.72, 0.30), (0.62, 0.15))),)),
    RealPhoto("lion", "gradio", "gradio", "media_assets/images/lion.jpg", "grass", "add",
              (("polygon", ((0.55, 0.86), (1.0, 0.80), (1.0, 1.0), (0.55, 1.0))),)),
    RealPhoto("motorcycle", "skimage", "scikit-image", "data/motorcycle_left.png", "window", "add",
              (("polygon", ((0.02, 0.05), (0.22, 0.05), (0.22, 0.30), (0.02, 0.30))),)),
)


def add_arguments(p):
    from ganpaint_core.models.registry import model_help

    p.add_argument("--out", default="docs/edits", help="folder for scenes.jpg, photos.jpg and README.md")
    p.add_argument("--model", default="default", help=model_help())
    p.add_argument("--scenes", type=int, default=12, help="scene tasks (cycling through the scene-world edit kinds)")
    p.add_argument("--photos", default="", help="comma-separated real photos (default: all of "
                   f"{', '.join(r.name for r in REAL_PHOTOS)})")
    p.add_argument("--fit", default="", help="fit options, e.g. 'z_steps=2,r_steps=2,adapt_steps=3' for a quick "
                   "look (default: the editor's own)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")


# ---- pictures -------------------------------------------------------------------------------------------

def painted_mask(photo: RealPhoto, width: int, height: int) -> np.ndarray:
    """``photo``'s painted mask at the photo's own size (bool HxW), drawn inside its centred square."""
    from ganpaint_core.photo import Crop

    crop = Crop.centred(width, height, 1)
    canvas = Image.new("L", (width, height), 0)
    pen = ImageDraw.Draw(canvas)
    for kind, points in photo.shapes:
        if kind == "ellipse":
            x0, y0, x1, y1 = points
            pen.ellipse([crop.left + x0 * crop.side, crop.top + y0 * crop.side,
                         crop.left + x1 * crop.side, crop.top + y1 * crop.side], fill=255)
        elif kind == "polygon":
            pen.polygon([(crop.left + x * crop.side, crop.top + y * crop.side) for x, y in points], fill=255)
        else:
            raise ValueError(f"{photo.name}: unknown mask shape {kind!r} (ellipse or polygon)")
    return np.asarray(canvas) > 127


def outlined(photo: np.ndarray, mask: np.ndarray, width: int = 1) -> np.ndarray:
    """The photo with the mask's boundary drawn in red, ``width`` px wide, just outside the mask."""
    from ganpaint_core.editing.masks import dilate

    out = photo.copy()
    out[dilate(mask, width) & ~mask] = OUTLINE
    return out


def _resize(image: np.ndarray, height: int) -> Image.Image:
    img = Image.fromarray(image)
    return img.resize((max(1, round(img.width * height / img.height)), height), Image.Resampling.LANCZOS)


def grid(rows: list[tuple[str, list[np.ndarray]]], titles: list[str], height: int) -> Image.Image:
    """A labelled grid: a title row, then one row per (caption, pictures), every picture ``height`` px high."""
    rows = [(caption, [_resize(p, height) for p in pictures]) for caption, pictures in rows]
    widths = [max(r[1][i].width for r in rows) for i in range(len(titles))]
    canvas = Image.new("RGB", (sum(widths) + 2 * len(widths), LABEL + len(rows) * (LABEL + height + 2)), "white")
    pen = ImageDraw.Draw(canvas)
    xs = np.cumsum([0] + [w + 2 for w in widths])
    for x, title in zip(xs, titles, strict=False):
        pen.text((x + 3, 1), title, fill="black")
    for j, (caption, pictures) in enumerate(rows):
        y = LABEL + j * (LABEL + height + 2)
        pen.text((3, y + 1), caption, fill=(90, 90, 90))
        for x, picture in zip(xs, pictures, strict=False):
            canvas.paste(picture, (int(x), y + LABEL))
    return canvas


def save_jpeg(image: Image.Image, path: Path) -> None:
    """A small deterministic JPEG (no EXIF, fixed quality and subsampling)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=QUALITY, optimize=True, subsampling=2)


# ---- the two galleries ----------------------------------------------------------------------------------

def scene_pairs(n: int, size: int) -> list:
    """``n`` held-out scene pairs, one scene each, cycling through ``SCENE_KINDS``: for each, the next scene of
    the gallery's seed range where that edit applies and changes enough labels (as ``eval run``'s scene tasks are
    chosen), so the same every time."""
    from eval.run.tasks import next_scene_pair
    from ganpaint_core.scenes import HELDOUT_SEED_START

    if n < 0:
        raise ValueError(f"--scenes must not be negative, got {n}")
    seed, pairs = HELDOUT_SEED_START + GALLERY_SEED_OFFSET, []
    for i in range(n):
        kind = SCENE_KINDS[i % len(SCENE_KINDS)]
        pair, seed = next_scene_pair(seed, size, kind)
        pairs.append(pair)
    return pairs


def scene_row(editor, pair, fit: dict) -> list[np.ndarray]:
    """Photo + mask, ours, ground truth, Poisson, pyramid for one scene pair (one fit serves every method)."""
    from eval.run import tasks as T
    from eval.run.methods import METHODS, render

    session = editor.fit(pair.before_rgb, **fit)
    task = T.Task(task_id=f"scene{pair.seed}_{pair.kind}", photo="", mask="", concept=pair.concept,
                  action=pair.action)
    pictures = {name: render(METHODS[name], session, task, pair.mask) for _, name in SCENE_COLUMNS if name}
    return [outlined(session.photo, pair.mask), pictures["ours"], pair.after_rgb, pictures["poisson"],
            pictures["pyramid"]]


def photo_row(editor, photo: RealPhoto, fit: dict) -> tuple[list[np.ndarray], dict]:
    """Before (mask outlined) and after at the photo's own size, through the editor's one path; and the facts
    for its caption."""
    from ganpaint_core.photo import load_photo

    path = photo.path()
    image = load_photo(path)
    mask = painted_mask(photo, image.shape[1], image.shape[0])
    session = editor.fit(image, **fit)
    session.edit(mask, photo.concept, photo.action)
    after = session.to_photo()
    return [outlined(image, mask, width=max(1, image.shape[0] // 150)), after], {"size": image.shape[1::-1]}


def select_photos(names: str) -> list[RealPhoto]:
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    known = {r.name: r for r in REAL_PHOTOS}
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise ValueError(f"unknown photo(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    return [known[n] for n in chosen] if chosen else list(REAL_PHOTOS)


def caption_file(args, pairs, photos: list[RealPhoto], sizes: dict, model_size: int) -> str:
    """``README.md``'s text: the command, then what each row of each picture shows (no timings, so that a rerun
    with the same code writes the same file)."""
    fit = f" --fit {args.fit}" if args.fit else ""
    lines = ["# Edits: a gallery", "",
             f"`python -m eval gallery --out {args.out}{fit}` (model `{args.model}`, the editor's default options"
             + (f" but `{args.fit}`" if args.fit else "") + "). "
             "Rerun it after changing the editor: it uses whatever the editor's defaults are.", ""]
    if pairs:
        lines += ["## Scene tasks (`scenes.jpg`)", "",
                  "![scene tasks](scenes.jpg)", "",
                  "Held-out scenes of the scene world with their paired ground-truth edits "
                  "(`ganpaint_core/scenes/pairs.py`). Columns: the photo with the painted mask outlined in red, ours "
                  "(the editor's output), the ground-truth edit, and G's render of the same edit pasted over the "
                  "same region by Poisson blending and by a Laplacian pyramid (the baselines of `eval run`). "
                  "Rows, top to bottom:", ""]
        lines += [f"{i + 1}. {p.action} {p.concept} — scene seed {p.seed}" for i, p in enumerate(pairs)]
        lines.append("")
    if photos:
        lines += ["## Real photos (`photos.jpg`)", "", "![real photos](photos.jpg)", "",
                  "Public sample images that installed packages ship, before (the painted mask outlined in red) "
                  f"and after, edited at {model_size} px on the photo's centred square and pasted back at the "
                  "photo's own size. The default model draws its scene world, not photographs: these show the best "
                  "it does on a photo. Rows, top to bottom:", ""]
        lines += [f"{i + 1}. {r.action} {r.concept} — `{r.package}/{r.file}` from the `{r.distribution}` package "
                  f"({sizes[r.name][0]} x {sizes[r.name][1]} px)" for i, r in enumerate(photos)]
        lines.append("")
    return "\n".join(lines)


def run(args):
    import torch
    from tqdm import tqdm

    from eval.run.runner import parse_fit_options
    from eval.run.worker import seed_everything
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.machine import cpu_model

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    fit = parse_fit_options(args.fit)
    photos = select_photos(args.photos)
    for photo in photos:
        photo.path()                       # a missing package or file fails before any fit
    editor = Editor.from_pretrained(args.model)
    missing = {r.concept for r in photos} - set(editor.concepts)
    if missing:
        raise ValueError(f"model {args.model!r} does not paint {', '.join(sorted(missing))}")
    pairs = scene_pairs(args.scenes, editor.size)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    scene_rows, photo_rows, sizes = [], [], {}
    with tqdm(total=len(pairs) + len(photos), desc="gallery", unit="edit") as bar:
        for pair in pairs:
            seed_everything(0, f"scene{pair.seed}_{pair.kind}")
            scene_rows.append((f"{pair.action} {pair.concept} (seed {pair.seed})", scene_row(editor, pair, fit)))
            bar.update()
        for photo in photos:
            seed_everything(0, photo.name)
            pictures, facts = photo_row(editor, photo, fit)
            photo_rows.append((f"{photo.action} {photo.concept}: {photo.package}/{photo.file}", pictures))
            sizes[photo.name] = facts["size"]
            bar.update()
    written = []
    if scene_rows:
        save_jpeg(grid(scene_rows, [t for t, _ in SCENE_COLUMNS], TILE), out / "scenes.jpg")
        written.append(out / "scenes.jpg")
    if photo_rows:
        save_jpeg(grid(photo_rows, ["before (painted mask in red)", "after"], PHOTO_HEIGHT), out / "photos.jpg")
        written.append(out / "photos.jpg")
    (out / "README.md").write_text(caption_file(args, pairs, photos, sizes, editor.size))
    written.append(out / "README.md")
    for path in written:
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    print(f"{len(pairs)} scene tasks and {len(photos)} photos in {time.perf_counter() - start:.0f} s on {cpu_model()}")
    return 0
