"""Removals on real photographs that ship with scikit-image (``skimage.data``): before and after pictures.

The default model draws its scene world, not photographic textures; on a real photo a removal has to continue
the photo's own surroundings and tones into the painted region (``ganpaint_core.editing.removal``).  Each entry
names the file, the concept painted and the mask: polygons in the model's square crop of the photo, in pixels at
128 px.  ``python -m eval.studies.removal_photos --out docs/edits/real`` fits each photo once, removes, and
writes ``<name>_before.jpg`` (mask outlined), ``<name>_after.jpg`` at 256 px and ``sheet.jpg``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import binary_erosion

MODEL_SIZE = 128


@dataclass(frozen=True)
class RealRemoval:
    name: str
    file: str                                   # a file of skimage.data's folder
    concept: str                                # the concept painted (the nearest the model knows)
    polygons: tuple[tuple[tuple[int, int], ...], ...]   # the mask at 128 px in the centred square crop


REAL_REMOVALS = (
    RealRemoval("camera_tripod", "camera.png", "tree",
                (((66, 60), (81, 60), (104, 123), (54, 123)),)),
    RealRemoval("camera_tower", "camera.png", "building", (((101, 25), (111, 25), (111, 52), (101, 52)),)),
    RealRemoval("rocket", "rocket.jpg", "building", (((56, 34), (72, 34), (73, 111), (55, 111)),)),
    RealRemoval("astronaut_shuttle", "astronaut.png", "building",
                (((91, 0), (110, 0), (114, 30), (116, 62), (86, 62), (87, 30)),)),
    RealRemoval("coffee_spoon", "coffee.png", "door", (((67, 72), (88, 69), (95, 84), (93, 104), (72, 106),
                                                         (65, 88)),)),
)


def sample_path(file: str) -> Path:
    """The path of a picture in scikit-image's data folder; ValueError when it is not there."""
    import skimage

    path = Path(skimage.__file__).parent / "data" / file
    if not path.is_file():
        raise ValueError(f"scikit-image ships no {file} in {path.parent}")
    return path


def polygon_mask(polygons, size: int = MODEL_SIZE) -> np.ndarray:
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    for poly in polygons:
        draw.polygon([tuple(p) for p in poly], fill=255)
    return np.asarray(img) > 127


def outlined(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` with the boundary of ``mask`` drawn in yellow."""
    edge = mask & ~binary_erosion(mask, iterations=1)
    out = image.copy()
    out[edge] = (255, 220, 0)
    return out


def remove_on_photo(editor, spec: RealRemoval, strength="medium", session=None) -> tuple[np.ndarray, np.ndarray,
                                                                                           np.ndarray]:
    """(photo, mask, edited): the model-sized crop of ``spec``'s photo, its mask and the removal (uint8/bool)."""
    session = session or editor.fit(sample_path(spec.file))
    mask = polygon_mask(spec.polygons, editor.size)
    edited = session.fork().edit(mask, spec.concept, "remove", strength).image
    return session.photo, mask, edited


def write_gallery(editor, out: Path, specs=REAL_REMOVALS, side: int = 256, quality: int = 85) -> list[Path]:
    """Before (mask outlined) and after JPEGs of every ``specs`` removal at ``side`` px, and ``sheet.jpg``."""
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    sessions, written, rows = {}, [], []
    for spec in tqdm(specs, desc="real photos"):
        if spec.file not in sessions:
            sessions[spec.file] = editor.fit(sample_path(spec.file))
        photo, mask, edited = remove_on_photo(editor, spec, session=sessions[spec.file])
        pair = []
        for tag, img in (("before", outlined(photo, mask)), ("after", edited)):
            pic = Image.fromarray(img).resize((side, side), Image.Resampling.LANCZOS)
            path = out / f"{spec.name}_{tag}.jpg"
            pic.save(path, quality=quality)
            written.append(path)
            pair.append(pic)
        rows.append(pair)
    sheet = Image.new("RGB", (2 * side, side * len(rows)), "white")
    for i, (before, after) in enumerate(rows):
        sheet.paste(before, (0, i * side))
        sheet.paste(after, (side, i * side))
    sheet.save(out / "sheet.jpg", quality=quality)
    return [*written, out / "sheet.jpg"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval.studies.removal_photos", description=__doc__)
    parser.add_argument("--out", default="docs/edits/real")
    parser.add_argument("--model", default="default")
    args = parser.parse_args(argv)
    from ganpaint_core.editing.editor import Editor

    editor = Editor.from_pretrained(args.model)
    for path in write_gallery(editor, Path(args.out)):
        print(path)


if __name__ == "__main__":
    main()
