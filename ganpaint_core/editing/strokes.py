"""Masks from painted strokes: the layers of a Gradio ImageEditor value.

The demo paints the edit region with one brush colour and, for "copy
appearance", the reference region with another; a stroke pixel is one whose
layer alpha is set, and its colour says which region it belongs to.
"""

from __future__ import annotations

import numpy as np

EDIT_COLOR = (255, 64, 64)        # the edit region's brush
REFERENCE_COLOR = (64, 128, 255)  # the reference region's brush (copy appearance)


def hex_color(rgb: tuple[int, int, int]) -> str:
    """``(255, 64, 64)`` -> ``"#ff4040"``."""
    return "#" + "".join(f"{int(c):02x}" for c in rgb)


def _rgba(layer) -> np.ndarray:
    arr = np.asarray(layer)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3 + [np.full_like(arr, 255)], axis=-1)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise ValueError(f"a painted layer must be an RGBA picture, got shape {arr.shape}")
    if arr.shape[-1] == 3:
        alpha = np.any(arr > 0, axis=-1, keepdims=True).astype(arr.dtype) * 255
        arr = np.concatenate([arr, alpha], axis=-1)
    return arr


def stroke_masks(layers, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(edit mask, reference mask) as bool arrays of ``shape`` from the editor's stroke layers."""
    edit = np.zeros(shape, bool)
    reference = np.zeros(shape, bool)
    for layer in layers or []:
        if layer is None:
            continue
        arr = _rgba(layer)
        if arr.shape[:2] != tuple(shape):
            raise ValueError(f"a painted layer is {arr.shape[1]}x{arr.shape[0]}, the photo {shape[1]}x{shape[0]}")
        painted = arr[..., 3] > 0
        rgb = arr[..., :3].astype(np.int32)
        d_edit = np.abs(rgb - EDIT_COLOR).sum(-1)
        d_ref = np.abs(rgb - REFERENCE_COLOR).sum(-1)
        edit |= painted & (d_edit <= d_ref)
        reference |= painted & (d_ref < d_edit)
    return edit, reference
