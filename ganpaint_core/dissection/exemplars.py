"""Object exemplars: the shapes of the generator's own instances of each concept, kept with the model.

An add edit's painted region says where an object goes, not what shape it has: a
scene-world mask holds the object, its shadow and the photographic blur's reach,
and a user's stroke is rough.  At dissection time this module samples the
generator, segments each sample and keeps the concept's instances (connected
components of its label, not cut by the picture's border, at least
``MIN_PIXELS`` pixels; concepts with less than ``OBJECT_SHARE`` of their area in
such instances are stuff, not objects, and get none): each one's pixel shape resampled to its bounding box at
``SHAPE`` x ``SHAPE``, and its size in pixels.  ``ganpaint_core.editing.placement``
fits them into a painted region (canopy and trunk of a tree, a dome's cap).

Stored small in the model folder (``exemplars.safetensors``: per concept a uint8
``<concept>.shapes`` (n, SHAPE, SHAPE) and a float ``<concept>.sizes`` (n, 2)
height and width in pixels at the model's size; a few hundred KB).  Rebuilt by
``python -m ganpaint_core dissect`` (or ``--exemplars-only``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import find_objects
from scipy.ndimage import label as connected
from torch.nn import functional as F
from tqdm import tqdm

from ganpaint_core.concepts import NAMES
from ganpaint_core.imaging import to_uint8

FILENAME = "exemplars.safetensors"
SHAPE = 24              # each instance's shape is kept at this size over its bounding box
MIN_PIXELS = 40         # smaller instances (at the model's size) are too coarse to give a shape
PER_CONCEPT = 64        # instances kept per concept (a random subset)
MIN_INSTANCES = 8       # a concept with fewer instances gets none (its adds fall back to the levels)
OBJECT_SHARE = 0.5      # ... and so does one with less of its area in whole instances (stuff: sky, grass)
SAMPLES = 400


def instances(labels: np.ndarray, concept_id: int, min_pixels: int = MIN_PIXELS) -> list[np.ndarray]:
    """The concept's instances in a label map: bool crops of their bounding boxes, border-cut ones left out."""
    size_y, size_x = labels.shape
    found, _ = connected(labels == concept_id)
    out = []
    for k, box in enumerate(find_objects(found)):
        if box is None:
            continue
        ys, xs = box
        crop = found[box] == k + 1
        if crop.sum() < min_pixels or ys.start == 0 or xs.start == 0 or ys.stop == size_y or xs.stop == size_x:
            continue
        out.append(crop)
    return out


def shape_of(crop: np.ndarray, size: int = SHAPE) -> np.ndarray:
    """A bool crop resampled (bilinear) to ``size`` x ``size``: uint8 0..255."""
    t = torch.from_numpy(crop.astype(np.float32))[None, None]
    small = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)[0, 0]
    return (small.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def collect_exemplars(generator, segmenter, layer: str = "layer4", samples: int = SAMPLES, batch: int = 25,
                      seed: int = 2, per_concept: int = PER_CONCEPT, progress: bool = True) -> dict:
    """{concept: {"shapes": uint8 (n, SHAPE, SHAPE), "sizes": float32 (n, 2)}} from ``samples`` generated samples."""
    if samples < 1:
        raise ValueError("samples must be at least 1")
    g = torch.Generator().manual_seed(seed)
    found: dict[int, list[np.ndarray]] = {c: [] for c in range(len(NAMES))}
    area = np.zeros(len(NAMES))
    for start in tqdm(range(0, samples, batch), desc="exemplars", disable=not progress):
        z = torch.randn(min(batch, samples - start), generator.z_dim, generator=g)
        with torch.inference_mode():
            images = to_uint8(generator.render_from(generator.features(z, layer), layer))
        for labels in segmenter.predict(images):
            area += np.bincount(labels.ravel(), minlength=len(NAMES))[:len(NAMES)]
            for c in found:
                found[c].extend(instances(labels, c))
    pick = np.random.default_rng(seed)
    out = {}
    for c, crops in found.items():
        if len(crops) < MIN_INSTANCES or sum(int(c_.sum()) for c_ in crops) < OBJECT_SHARE * area[c]:
            continue
        keep = sorted(pick.choice(len(crops), min(per_concept, len(crops)), replace=False))
        out[NAMES[c]] = {"shapes": np.stack([shape_of(crops[i]) for i in keep]),
                         "sizes": np.array([crops[i].shape for i in keep], dtype=np.float32)}
    return out


def save_exemplars(path: Path | str, exemplars: dict, meta: dict | None = None) -> Path:
    from safetensors.torch import save_file

    tensors = {}
    for name, entry in exemplars.items():
        tensors[f"{name}.shapes"] = torch.from_numpy(np.ascontiguousarray(entry["shapes"], dtype=np.uint8))
        tensors[f"{name}.sizes"] = torch.from_numpy(np.ascontiguousarray(entry["sizes"], dtype=np.float32))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={k: json.dumps(v) for k, v in (meta or {}).items()})
    return path


def load_exemplars(path: Path | str) -> dict:
    """The exemplars saved by ``save_exemplars``; a clear ValueError for a file that is not one."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable exemplars file: {err}") from err
    out = {}
    for key in tensors:
        name, _, part = key.rpartition(".")
        if part not in ("shapes", "sizes") or f"{name}.shapes" not in tensors or f"{name}.sizes" not in tensors:
            raise ValueError(f"{path}: unexpected entry {key!r} (want <concept>.shapes and <concept>.sizes)")
        shapes, sizes = tensors[f"{name}.shapes"].numpy(), tensors[f"{name}.sizes"].float().numpy()
        if shapes.ndim != 3 or sizes.shape != (len(shapes), 2):
            raise ValueError(f"{path}: {name}'s shapes {tuple(shapes.shape)} and sizes {tuple(sizes.shape)} "
                             f"do not match")
        out[name] = {"shapes": shapes.astype(np.uint8), "sizes": sizes}
    return out
