"""Re-rendering only what an edit changes: the generator's blocks run on a window around the change.

An edit changes the edit layer's features r on a few grid cells, and G''s factors and the finer-layer edits
inside the painted region.  Each later block is pixel-norm, (nearest x2 upsample), a k x k convolution and
per-pixel operations, so a change at one layer reaches ``k // 2`` pixels further at the next; beyond that every
activation is the unedited render's.  ``record`` keeps the unedited render's output of every block after the
edit layer (``Activations``), and ``render_window`` recomputes each block on the window that can differ
(the change's bounding box grown by each block's reach, plus the region where the factors or the edits differ)
from the recorded activations around it, then writes the window into the recorded output.  The result is the
full render's to float rounding (the convolutions run on other shapes; tests/test_window_render.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class Window:
    """Rows [top, bottom) and columns [left, right) of a square grid of side ``size``."""

    top: int
    bottom: int
    left: int
    right: int
    size: int

    @property
    def empty(self) -> bool:
        return self.bottom <= self.top or self.right <= self.left

    @property
    def full(self) -> bool:
        return (self.top, self.left, self.bottom, self.right) == (0, 0, self.size, self.size)

    @property
    def area(self) -> int:
        return 0 if self.empty else (self.bottom - self.top) * (self.right - self.left)

    def of(self, x: torch.Tensor) -> torch.Tensor:
        """The window's part of an (N, C, size, size) tensor (a view)."""
        return x[..., self.top:self.bottom, self.left:self.right]

    def grown(self, by: int) -> Window:
        return Window(max(0, self.top - by), min(self.size, self.bottom + by), max(0, self.left - by),
                      min(self.size, self.right + by), self.size)

    def at(self, size: int) -> Window:
        """The cells of a ``size`` grid that overlap this window (a grid of a multiple or a divisor of the side)."""
        if self.empty:
            return Window(0, 0, 0, 0, size)
        if size >= self.size:
            f = size // self.size
            return Window(self.top * f, self.bottom * f, self.left * f, self.right * f, size)
        f = self.size // size
        return Window(self.top // f, -(-self.bottom // f), self.left // f, -(-self.right // f), size)

    def union(self, other: Window) -> Window:
        if other.size != self.size:
            other = other.at(self.size)
        if self.empty:
            return other
        if other.empty:
            return self
        return Window(min(self.top, other.top), max(self.bottom, other.bottom), min(self.left, other.left),
                      max(self.right, other.right), self.size)

    @classmethod
    def around(cls, mask) -> Window:
        """The bounding box of a bool (size x size) array or tensor; empty where nothing is set."""
        m = np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask, dtype=bool)
        rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        if not len(rows):
            return cls(0, 0, 0, 0, m.shape[0])
        return cls(int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1, m.shape[0])


@dataclass
class Activations:
    """The unedited render: the edit layer's features and every later block's output (factors applied); ``raw``:
    the first block with factors, its output before them (a render that changes only factors starts there)."""

    layer: str
    r: torch.Tensor
    outputs: dict[str, torch.Tensor]
    raw: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def image(self) -> torch.Tensor:
        return next(reversed(self.outputs.values()))


Scale = Callable[[str, Window], "torch.Tensor | None"]     # the factor of a layer on a window (None: no factor)


def record(generator, r: torch.Tensor, layer: str, scale: dict | None = None) -> Activations:
    """Render ``r`` from ``layer`` (factors ``scale`` as in ``render_from``), keeping every block's output (and the
    first scaled block's before its factors)."""
    outputs: dict[str, torch.Tensor] = {}
    raw: dict[str, torch.Tensor] = {}
    generator.render_from(r, layer, scale=scale, record=outputs, raw=raw)
    return Activations(layer, r, outputs, raw)


def recorded_prefix(base: Activations | None, r: torch.Tensor, names: list[str], scaled,
                    stop) -> tuple[int, torch.Tensor]:
    """(k, x): a full render of ``r`` through the blocks ``names`` whose first ``k`` blocks give what ``base``
    recorded, and ``x``, the k-th block's output before its factors (``r`` where k is 0).  The blocks are the
    record's while ``r`` is ``base.r`` and no earlier block has factors in the render (``scaled``) or in the
    record, or is in ``stop`` (blocks whose output the render changes otherwise: an edit, a fill).  The same
    tensors as a render would compute (the record ran the same blocks on the same input); not copies."""
    if base is None or r.shape != base.r.shape or not torch.equal(r, base.r):
        return 0, r
    k, x = 0, r
    for name in names:
        if name in stop or name not in base.outputs:
            break
        k, x = k + 1, base.raw.get(name, base.outputs[name])
        if name in base.raw or name in scaled:
            break
    return k, x


def _reach(block) -> int:
    k = block.conv.kernel_size[0]
    if block.conv.kernel_size != (k, k) or k % 2 == 0 or block.conv.padding != (k // 2, k // 2):
        raise ValueError("a windowed render needs odd square kernels with 'same' padding")
    return k // 2


def _block_on_window(block, source: Callable[[Window], torch.Tensor], size_in: int, out: Window) -> torch.Tensor:
    """``block``'s output on the window ``out``, its input read from ``source`` (a window of the input grid)."""
    p = _reach(block)
    need = out.grown(p)                                   # input rows and columns (after the upsample) it reads
    up = 2 if block.upsample else 1
    src = Window(need.top // up, -(-need.bottom // up), need.left // up, -(-need.right // up), size_in)
    x = block.norm(source(src))
    if up > 1 and block.fast_upsample(x):      # zeros only where the window meets the picture's border, as the
        pads = tuple(int(v) for v in (src.left == 0, src.right == size_in, src.top == 0, src.bottom == size_in))
        if any(pads):                         # full conv pads (here one unsampled row: two upsampled rows)
            x = F.pad(x, pads)
        x = block.upconvolve(x)
        top, left = 2 * (src.top - pads[2]) + 1, 2 * (src.left - pads[0]) + 1     # the grid row, column of x[0, 0]
    else:
        if up > 1:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        have = Window(src.top * up, src.bottom * up, src.left * up, src.right * up, out.size)
        pads = (p if have.left == 0 else 0, p if have.right == out.size else 0,
                p if have.top == 0 else 0, p if have.bottom == out.size else 0)
        if any(pads):
            x = F.pad(x, pads)
        x = block.convolve(x, padding=0)
        top, left = have.top + p - pads[2], have.left + p - pads[0]
    x = x[..., out.top - top:out.bottom - top, out.left - left:out.right - left]
    return x if block.output else F.leaky_relu(x, 0.2)


def render_window(generator, r: torch.Tensor, base: Activations, changed: np.ndarray | None = None,
                  scale: Scale | None = None, edit: dict | None = None) -> torch.Tensor:
    """The render of ``r`` from ``base.layer`` as ``render_from`` gives it, computed only where it can differ
    from ``base`` (the render of ``base.r``).

    ``changed`` (bool SxS pixels) holds every pixel where the factors or the ``edit`` functions differ from the
    base render's (None: nowhere); where ``r`` differs from ``base.r`` is found here.  ``scale(name, window)`` gives
    a layer's factors on a window; each ``edit`` function takes ``(x, window)``.
    """
    if r.shape != base.r.shape:
        raise ValueError(f"features of shape {tuple(r.shape)}; the recorded render's are {tuple(base.r.shape)}")
    names = generator.layer_names
    after = names[names.index(base.layer) + 1:]
    pixels = Window.around(changed) if changed is not None else Window(0, 0, 0, 0, generator.resolution)
    window = Window.around((r != base.r).any(1).any(0))
    values, size_in = r, r.shape[-1]

    def source_of(values, window, prev):
        def source(w: Window) -> torch.Tensor:
            if window.full:          # the first block reads the edited features themselves
                return w.of(values)
            part = w.of(prev).clone()
            overlap = Window(max(w.top, window.top), min(w.bottom, window.bottom), max(w.left, window.left),
                             min(w.right, window.right), w.size)
            if not overlap.empty:
                part[..., overlap.top - w.top:overlap.bottom - w.top, overlap.left - w.left:overlap.right - w.left] \
                    = values[..., overlap.top - window.top:overlap.bottom - window.top,
                             overlap.left - window.left:overlap.right - window.left]
            return part
        return source

    source = source_of(values, Window(0, size_in, 0, size_in, size_in), r)
    prev_window = window
    for name in after:
        block = generator._modules[name]
        size = generator.resolution_of(name) if name.startswith("layer") else generator.resolution
        grown = prev_window.at(size).grown(_reach(block)) if not prev_window.empty else prev_window.at(size)
        out_window = grown.union(pixels.at(size))
        if out_window.empty:
            return base.image.clone()
        x = _block_on_window(block, source, size_in, out_window)
        if scale is not None:
            factor = scale(name, out_window)
            if factor is not None:
                x = x * factor.to(x.dtype)
        if edit is not None and name in edit:
            x = edit[name](x, out_window)
        source = source_of(x, out_window, base.outputs[name])
        prev_window, size_in, values = out_window, size, x
    image = base.image.clone()
    prev_window.of(image).copy_(values)
    return image
