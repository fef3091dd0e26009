"""The harmonic fill of a hole in a grid of features (docs/edits.md, "Remove"): each hole cell the weighted mean of
its neighbours, the cells around it fixed.  ``FillPlan`` plans one hole's fill (a pyramid of grids, the coarsest
solved exactly) and applies it to any tensor on that grid; ``harmonic_fill`` plans and fills once."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import torch
import torch.nn.functional as F
from scipy.linalg import cho_solve_banded, cholesky_banded
from threadpoolctl import ThreadpoolController

DIRECT_CELLS = 1024     # holes of up to this many cells (a whole 32x32 grid) are solved exactly; larger coarse to fine
DIRECT_WORK = 32768     # ... and of up to this many cells x channels (the exact solve's cost grows with both)
SWEEPS = 6              # red-black Gauss-Seidel sweeps on each finer level of a coarse-to-fine fill
BOX_MARGIN = 8          # cells of the surroundings a fill works on around the hole's bounding box
PULL = 1e-6             # every hole cell's weak link to the sources' mean: a part that touches no source takes it


def harmonic_fill(x: torch.Tensor, hole: np.ndarray, vertical: float = 1.0, sources: np.ndarray | None = None,
                  groups: np.ndarray | None = None) -> torch.Tensor:
    """``x`` (B, C, H, W) with the cells in ``hole`` (bool H x W) replaced by the harmonic continuation of the others.

    Every channel inside the hole solves the discrete Laplace equation with the cells outside the hole fixed:
    each cell is the weighted mean of its 4-neighbours, the vertical ones weighted ``vertical`` (below 1 the
    fill runs along rows, continuing a horizon or a wall sideways).  The grid's border has no neighbour there (zero
    normal derivative).  ``sources`` (bool H x W, default: every cell outside the hole) are the cells whose values
    the fill continues; the others (an occluder in front of the removed object) are left out like the border.
    ``groups`` (int H x W): a cell continues only cells of its own group (a hole cell that should show sky
    continues the sky beside it, not the grass below).  A part of the hole that reaches no source of its group
    takes the sources' mean.  ``FillPlan`` does the work; plan once to fill several tensors on the same hole.
    """
    return FillPlan(hole, vertical, sources, groups, x.shape[0] * x.shape[1])(x)


def any_of_pairs(cells: np.ndarray) -> np.ndarray:
    """bool ceil(h/2) x ceil(w/2): whether any cell of each 2x2 block of ``cells`` (h x w, padded with False to
    even sides) is set; by strided slices (numpy's ``any`` over two axes costs ~10x more)."""
    half_h, half_w = cells.shape[0] // 2, cells.shape[1] // 2
    out = cells[0::2, 0::2].copy()
    out[:, :half_w] |= cells[0::2, 1::2]
    out[:half_h] |= cells[1::2, 0::2]
    out[:half_h, :half_w] |= cells[1::2, 1::2]
    return out


@dataclass
class _Level:
    """One grid of a coarse-to-fine fill: its hole, the known cells and each cell's links to its neighbours."""

    hole: np.ndarray            # bool h x w
    known: torch.Tensor         # float h x w: 1 on the cells whose values are given
    links: torch.Tensor         # (4, h, w): weights on the upper, lower, left and right neighbour

    @cached_property
    def colours(self) -> tuple:
        """Per colour of a checkerboard, its hole cells as a relaxation sweep reads them: (flat cells (k,), their
        4 neighbours' flat cells (4, k), links (4, k), total (k,)).  Made on a finer grid's first sweep (the
        coarsest grid, solved directly, never sweeps)."""
        hole, links = self.hole, self.links
        total = (links.sum(0) + PULL).flatten()
        height, width = hole.shape
        parity = np.add.outer(np.arange(height), np.arange(width)) % 2
        colours = []
        for colour in (0, 1):                     # a colour's cells neighbour only the other's: each sweep is exact
            ys, xs = np.nonzero(hole & (parity == colour))
            around = np.stack([np.maximum(ys - 1, 0) * width + xs, np.minimum(ys + 1, height - 1) * width + xs,
                               ys * width + np.maximum(xs - 1, 0), ys * width + np.minimum(xs + 1, width - 1)])
            cells = torch.from_numpy(ys * width + xs)
            colours.append((cells, torch.from_numpy(around), links.reshape(4, -1).index_select(1, cells),
                            total.index_select(0, cells)))
        return tuple(colours)


def _level(hole: np.ndarray, sources: np.ndarray, vertical: float, groups: np.ndarray | None) -> _Level:
    usable = (hole | sources).astype(np.float32)
    w = np.zeros((4, *hole.shape), np.float32)
    w[0, 1:] = vertical * usable[:-1]
    w[1, :-1] = vertical * usable[1:]
    w[2, :, 1:] = usable[:, :-1]
    w[3, :, :-1] = usable[:, 1:]
    if groups is not None:                    # no link across a group's border
        w[0, 1:] *= groups[1:] == groups[:-1]
        w[1, :-1] *= groups[:-1] == groups[1:]
        w[2, :, 1:] *= groups[:, 1:] == groups[:, :-1]
        w[3, :, :-1] *= groups[:, :-1] == groups[:, 1:]
    w *= hole
    return _Level(hole, torch.from_numpy(sources.astype(np.float32)), torch.from_numpy(w))


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


_inside = threading.local()     # how deep this thread is in ``one_blas_thread`` contexts


@contextmanager
def one_blas_thread():
    """A context in which numpy's and scipy's BLAS run on one thread: the fill's sparse solves are small, and
    OpenBLAS's threads, waiting for a core on a shared machine, made one solve cost up to 80 ms instead of 0.3 ms
    (docs/edits.md, "Remove": speed).  Nested in another it costs nothing (setting the limit costs ~16 µs: an
    edit enters it once, ``Session.edit``, and its fills' own contexts are then free)."""
    depth = getattr(_inside, "depth", 0)
    if depth:
        _inside.depth = depth + 1
        try:
            yield
        finally:
            _inside.depth = depth
        return
    with _blas().limit(limits=1, user_api="blas"):
        _inside.depth = 1
        try:
            yield
        finally:
            _inside.depth = 0


class FillPlan:
    """The geometry of one harmonic fill (see ``harmonic_fill``), worked out once and applied to any tensor on
    that grid: the hole's bounding box, a pyramid of grids halved until the hole has at most ``DIRECT_CELLS``
    cells, and the sparse factorisation of the coarsest one.  The coarsest grid is solved exactly; each finer one
    starts from the coarser solution and relaxes by ``SWEEPS`` red-black Gauss-Seidel sweeps.  All channels at
    once; a hole that small is solved exactly."""

    def __init__(self, hole: np.ndarray, vertical: float = 1.0, sources: np.ndarray | None = None,
                 groups: np.ndarray | None = None, channels: int | None = None):
        hole = np.asarray(hole, dtype=bool)
        if not vertical > 0:
            raise ValueError(f"vertical must be > 0, got {vertical}")
        if groups is not None and np.shape(groups) != hole.shape:
            raise ValueError(f"groups are {np.shape(groups)}; the hole is {hole.shape}")
        self.shape = hole.shape
        sources = ~hole if sources is None else np.asarray(sources, dtype=bool) & ~hole
        self.empty = not hole.any() or not sources.any()
        if self.empty:
            self.hole_cells = torch.from_numpy(np.flatnonzero(hole))
            return
        self.sources = torch.from_numpy(sources)
        self.source_count = int(np.count_nonzero(sources))      # the sources' mean reads the fewer of the sources
        self.by_others = sources.size - self.source_count < self.source_count    # and the other cells (a gather
        self.mean_cells = torch.from_numpy(np.flatnonzero(~sources if self.by_others else sources))  # costs by cell)
        ys, xs = np.nonzero(hole)
        m = BOX_MARGIN               # known cells around the hole, enough to stay known on the coarser grids
        self.box = (slice(max(ys.min() - m, 0), ys.max() + m + 1), slice(max(xs.min() - m, 0), xs.max() + m + 1))
        hole, sources = hole[self.box], sources[self.box]
        groups = None if groups is None else np.asarray(groups)[self.box]
        self.hole = torch.from_numpy(hole)
        self.levels = [_level(hole, sources, vertical, groups)]
        direct = DIRECT_CELLS if channels is None else min(DIRECT_CELLS, max(64, DIRECT_WORK // channels))
        while hole.sum() > direct and min(hole.shape) >= 4:
            hole = any_of_pairs(hole)
            sources = any_of_pairs(sources) & ~hole
            groups = None if groups is None else groups[::2, ::2]     # an odd grid's edge repeated: the same
            self.levels.append(_level(hole, sources, vertical, groups))
        self._factor(self.levels[-1], channels)
        if len(self.levels) == 1:           # solved directly: the cells it reads and writes, on the whole grid
            on_grid = np.arange(self.shape[0] * self.shape[1]).reshape(self.shape)[self.box].ravel()
            self.hole_cells = torch.from_numpy(on_grid[self.cells.numpy()])
            self.border_cells = torch.from_numpy(on_grid[self.border.numpy()])

    def _factor(self, level: _Level, channels: int | None) -> None:
        """The coarsest grid's system: (L + PULL) u = K x_border + PULL mean, factorised once.  For a fill of at
        least as many ``channels`` as the hole has border cells (K's columns), it is also solved for each border
        cell and the pull, so that a fill is the product u = x_border @ operator + mean pull (the same solution to
        float rounding; a plan reused by later renders then costs no solve).

        L + PULL is symmetric positive definite (each link between two hole cells is weighted alike from both
        sides), and with the hole's cells numbered along the grid's longer side each cell's neighbours lie within
        the shorter side's length of it: a banded Cholesky factorisation (LAPACK's, ``cholesky_banded``), built
        straight from the links.  It solves as the sparse LU did to float rounding (tests/test_fill_solver.py), in
        a fraction of the time: the sparse matrices' construction cost more than their factorisation."""
        height, width = level.hole.shape
        if width > height:      # numbered column by column: a neighbour lies at most ``height`` cells away
            xs, ys = np.nonzero(level.hole.T)
            cells = ys * width + xs
        else:
            cells = np.flatnonzero(level.hole)
        n = len(cells)
        index = np.full(height * width, -1)
        index[cells] = np.arange(n)
        links = level.links.numpy().reshape(4, -1)[:, cells].astype(np.float64)
        pairs, known = [], []
        for k, step in enumerate((-width, width, -1, 1)):
            i = np.flatnonzero(links[k] > 0)
            j = cells[i] + step
            unknown = index[j] >= 0
            if k in (1, 3):     # the lower and the right neighbour come later in either numbering: A's lower half
                pairs.append((i[unknown], index[j[unknown]], links[k][i[unknown]]))
            known.append((i[~unknown], j[~unknown], links[k][i[~unknown]]))
        width_of_band = max([int((b - a).max()) for a, b, _ in pairs if len(a)] or [0])
        band = np.zeros((width_of_band + 1, n), order="F")      # LAPACK's layout: factorised in place
        band[0] = links.sum(0) + PULL
        for a, b, w in pairs:
            band[b - a, a] = -w
        near = np.concatenate([j for _, j, _ in known])           # the known cells next to the hole, each once, in
        marked = np.zeros(height * width, bool)                   # order (``np.unique``'s, without its sort)
        marked[near] = True
        border, at = np.flatnonzero(marked), (np.cumsum(marked) - 1)[near]
        self.known, start = [], 0                      # per direction: (hole cell, its border cell, link weight)
        for i, _, w in known:
            self.known.append((i, at[start:start + len(i)], w))
            start += len(i)
        self.border, self.cells = torch.from_numpy(border), torch.from_numpy(cells)
        with one_blas_thread():
            self.factor = cholesky_banded(band, lower=True, overwrite_ab=True, check_finite=False)
            self.operator = None
            if len(border) <= (channels or 0):   # a fill of more channels than border cells: solve for the border
                k = np.zeros((n, len(border) + 1), order="F")     # and the pull, in one call (each column is
                for i, b, w in self.known:                          # solved on its own: the same numbers)
                    k[i, b] = w
                k[:, -1] = PULL
                both = cho_solve_banded((self.factor, True), k, overwrite_b=True, check_finite=False)
                self.operator = torch.from_numpy(both[:, :-1])           # (hole cells, border cells)
                self.pull = torch.from_numpy(both[:, -1])

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """(L + PULL)^-1 ``rhs`` (float64, n or n x k) by the banded factor."""
        return cho_solve_banded((self.factor, True), rhs, check_finite=False)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.shape:
            raise ValueError(f"the hole is {self.shape}; the features' grid is {tuple(x.shape[-2:])}")
        if self.empty:
            return x.clone()
        return self._fill_directly(x) if len(self.levels) == 1 else self._fill_by_levels(x)

    def hole_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cells, values): the hole's cells (flat indices on the grid, (k,)) and what the fill of ``x`` (B, C, H, W)
        writes there, float32 (B*C, k): bit for bit ``self(x)`` at those cells, without writing the whole grid (a
        reader of the hole alone, ``predicted_labels``, skips the copy)."""
        if tuple(x.shape[-2:]) != self.shape:
            raise ValueError(f"the hole is {self.shape}; the features' grid is {tuple(x.shape[-2:])}")
        if self.empty:          # nothing to continue: the hole keeps its values
            return self.hole_cells, self._rows(x)[1].index_select(0, self.hole_cells).t()
        if len(self.levels) == 1:
            rows = self._rows(x)[1]
            solved = self._solved(rows.index_select(0, self.border_cells), self._mean(rows))
            return self.hole_cells, solved.to(torch.float32).t()
        flat = x.detach().reshape(-1, *self.shape).float()
        ys, xs = torch.nonzero(self.hole, as_tuple=True)
        cells = (ys + self.box[0].start) * self.shape[1] + xs + self.box[1].start
        return cells, self._solved_box(flat)[:, ys, xs]

    def _fill_by_levels(self, x: torch.Tensor) -> torch.Tensor:
        """The coarsest grid solved, each finer one relaxed from it (any plan; one of one grid solves directly)."""
        flat = x.detach().reshape(-1, *self.shape).float()
        u = flat[:, self.box[0], self.box[1]]
        out = flat.clone()
        out[:, self.box[0], self.box[1]] = torch.where(self.hole, self._solved_box(flat), u)
        out = out.reshape(x.shape).to(x.dtype)
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            out = out.contiguous(memory_format=torch.channels_last)   # as the features came: the next conv's format
        return out

    def _solved_box(self, flat: torch.Tensor) -> torch.Tensor:
        """(N, box): the box of ``flat`` (N, H, W) float32 with its hole cells filled level by level."""
        mean = self._mean(flat.reshape(flat.shape[0], -1).t())                       # (N,)
        u = flat[:, self.box[0], self.box[1]]
        values = [u]
        for finer in self.levels[:-1]:               # the known values, pooled over each coarser grid's known cells
            prev = values[-1]
            known = F.pad(prev, (0, prev.shape[2] % 2, 0, prev.shape[1] % 2))
            weight = F.pad(finer.known, (0, prev.shape[2] % 2, 0, prev.shape[1] % 2))
            total = F.avg_pool2d((known * weight)[None], 2)[0]
            share = F.avg_pool2d(weight[None, None], 2)[0]
            values.append(torch.where(share > 0, total / share.clamp_min(1e-12), torch.zeros_like(total)))
        solved = self._direct(values[-1], mean)
        for depth in range(len(self.levels) - 2, -1, -1):
            level, known = self.levels[depth], values[depth]
            start = solved.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)[:, :known.shape[1], :known.shape[2]]
            solved = self._relax(torch.where(torch.from_numpy(level.hole), start, known), level, mean)
        return solved

    def _fill_directly(self, x: torch.Tensor) -> torch.Tensor:
        """A plan of one grid: the border cells gathered, the hole's cells solved and written back, in the
        features' own memory format (a channels-last picture is read as rows of pixels without a copy)."""
        height, width = self.shape
        pixels, rows = self._rows(x)
        solved = self._solved(rows.index_select(0, self.border_cells), self._mean(rows))
        out = rows.clone()
        out.index_copy_(0, self.hole_cells, solved.to(out.dtype))
        out = out.reshape(height, width, -1).permute(2, 0, 1)[None] if pixels else out.t().reshape(x.shape)
        return out.to(x.dtype)

    def _rows(self, x: torch.Tensor) -> tuple[bool, torch.Tensor]:
        """(pixels, rows): ``x`` as float32 (cells, N), a channels-last picture read as rows of pixels (``pixels``)
        without a copy."""
        cells = self.shape[0] * self.shape[1]
        pixels = x.dim() == 4 and x.shape[0] == 1 and x.is_contiguous(memory_format=torch.channels_last) and \
            not x.is_contiguous()
        rows = x.detach()[0].permute(1, 2, 0).reshape(cells, -1) if pixels else x.detach().reshape(-1, cells).t()
        return pixels, rows.float()

    def _mean(self, rows: torch.Tensor) -> torch.Tensor:
        """(N,): the mean over the source cells of ``rows`` (cells, N), from whichever of the sources and the
        other cells are fewer (the sum over all cells less the others': the same to float rounding)."""
        if self.by_others:
            return (rows.sum(0) - rows.index_select(0, self.mean_cells).sum(0)) / self.source_count
        return rows.index_select(0, self.mean_cells).mean(0)

    def _solved(self, border: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """float64 (hole cells, N): the solution from the border cells' values (border cells, N) and the
        sources' mean (N,)."""
        border, mean = border.double(), mean.double()
        if self.operator is not None:       # the dense solution operator: one small product
            return self.operator @ border + self.pull[:, None] * mean[None]
        values = border.numpy()
        rhs = np.empty((len(self.cells), values.shape[1]))
        rhs[:] = PULL * mean.numpy()[None]
        for i, b, w in self.known:                      # K x_border: a hole cell meets each border cell once per side
            rhs[i] += w[:, None] * values[b]
        with one_blas_thread():
            return torch.from_numpy(self.solve(rhs))

    def _direct(self, u: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        flat = u.reshape(u.shape[0], -1)
        solved = self._solved(flat[:, self.border].t(), mean)
        out = flat.clone()
        out[:, self.cells] = solved.t().to(out.dtype)
        return out.reshape(u.shape)

    @staticmethod
    def _relax(u: torch.Tensor, level: _Level, mean: torch.Tensor) -> torch.Tensor:
        """``SWEEPS`` red-black Gauss-Seidel sweeps over the hole's cells of ``u`` (C, h, w); the rest stays."""
        flat = u.reshape(u.shape[0], -1).clone()
        pull = PULL * mean[:, None]
        colours = [(cells, around.reshape(-1), w, total) for cells, around, w, total in level.colours]
        for _ in range(SWEEPS):
            for cells, around, w, total in colours:     # the 4 neighbours in one gather, summed in the same order
                near = flat.index_select(1, around).view(flat.shape[0], 4, -1).mul_(w)
                value = near[:, 0] + near[:, 1]
                value += near[:, 2]
                value += near[:, 3]
                value += pull
                flat.index_copy_(1, cells, value.div_(total))
        return flat.reshape(u.shape)
