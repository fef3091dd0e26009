"""The harmonic fill's direct solve (``FillPlan._factor``: a banded Cholesky factor) gives the solution of the
fill's linear system as a dense solve of it does, on holes of any shape, with groups, sources and row weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganpaint_core.editing import harmonic_fill as fill


def _dense_fill(x: torch.Tensor, hole: np.ndarray, vertical: float, sources: np.ndarray | None,
                groups: np.ndarray | None) -> np.ndarray:
    """The fill by its definition: every hole cell the weighted mean of its linked neighbours (``_level``'s links,
    read from every side, no symmetry assumed) plus the weak pull to the sources' mean, solved densely."""
    src = ~hole if sources is None else sources & ~hole
    level = fill._level(hole, src, vertical, groups)
    h, w = hole.shape
    cells = np.flatnonzero(hole)
    index = {c: k for k, c in enumerate(cells)}
    a = np.zeros((len(cells), len(cells)))
    flat = x[0].double().reshape(x.shape[1], -1).numpy()
    mean = flat[:, src.ravel()].mean(axis=1)
    b = np.tile(fill.PULL * mean, (len(cells), 1))
    links = level.links.double().reshape(4, -1).numpy()
    for k, c in enumerate(cells):
        a[k, k] = links[:, c].sum() + fill.PULL
        for d, step in enumerate((-w, w, -1, 1)):
            if links[d, c] > 0:
                if c + step in index:
                    a[k, index[c + step]] -= links[d, c]
                else:
                    b[k] += links[d, c] * flat[:, c + step]
    out = flat.copy()
    out[:, cells] = np.linalg.solve(a, b).T
    return out.reshape(x.shape[1:])


@pytest.mark.parametrize("trial", range(12))
def test_the_banded_solve_is_the_dense_solve_of_the_fill(trial, monkeypatch):
    monkeypatch.setattr(fill, "DIRECT_WORK", 10 ** 9)           # every hole here solved exactly, at any width
    rng = np.random.default_rng(trial)
    h, w = (int(v) for v in rng.integers(10, 30, 2))
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx, ry, rx = rng.uniform(3, h - 3), rng.uniform(3, w - 3), rng.uniform(2, h / 2), rng.uniform(2, w / 2)
    hole = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    hole |= rng.random((h, w)) < 0.05                          # stray cells: parts that touch no source too
    if trial % 4 == 1:
        hole[:, w // 2] = True                                 # a hole that cuts the grid in two
    groups = rng.integers(0, 3, (h, w)) if trial % 3 == 0 else (yy > cy).astype(int) if trial % 3 == 1 else None
    sources = rng.random((h, w)) < 0.8 if trial % 2 else None
    vertical = (0.2, 1.0, 3.0)[trial % 3]
    channels = int(rng.choice([2, 8, 200]))                    # the sparse and the dense-operator solve
    x = torch.from_numpy(rng.standard_normal((1, channels, h, w)).astype(np.float32))
    plan = fill.FillPlan(hole, vertical, sources, groups, channels)
    assert len(plan.levels) == 1                               # solved exactly, no coarse-to-fine
    expected = _dense_fill(x, hole, vertical, sources, groups)
    np.testing.assert_allclose(plan(x)[0].numpy(), expected, rtol=0, atol=2e-4 * max(1.0, np.abs(expected).max()))
    assert torch.equal(plan(x)[0][:, torch.from_numpy(~hole)], x[0][:, torch.from_numpy(~hole)])


def test_the_band_is_as_narrow_as_the_shorter_side():
    """The cells are numbered along the longer side: the factor's band is at most the shorter side wide."""
    hole = np.zeros((20, 60), bool)
    hole[5:15, 4:56] = True
    plan = fill.FillPlan(hole, 0.2, channels=4)
    assert plan.factor.shape[0] - 1 <= 10
    tall = fill.FillPlan(hole.T.copy(), 0.2, channels=4)
    assert tall.factor.shape[0] - 1 <= 10


def test_a_nested_one_thread_context_keeps_one_thread_and_restores_on_the_outer_exit(monkeypatch):
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    limits = []
    real = fill._blas().limit
    monkeypatch.setattr(fill._blas(), "limit", lambda **kw: limits.append(kw) or real(**kw))
    with fill.one_blas_thread():
        with fill.one_blas_thread():
            assert max(blas_threads()) == 1
        assert max(blas_threads()) == 1                  # the inner exit leaves the outer limit in place
    assert len(limits) == 1                              # the limit was set once
    assert blas_threads() == before


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("channels", [3, 64])
def test_a_one_grid_plan_fills_in_place_as_the_coarse_to_fine_path_does(channels_last, channels):
    """A plan of one grid gathers and writes the hole's cells on the whole grid (``_fill_directly``), in the
    features' memory format; the values are those of the general path (``_fill_by_levels``) to float rounding."""
    rng = np.random.default_rng(channels)
    hole = np.zeros((32, 32), bool)
    hole[9:21, 11:19] = True
    hole[3, 3] = True                                           # a second part, near the grid's corner
    groups = (np.arange(32)[:, None] >= 15).repeat(32, 1).astype(int)
    x = torch.from_numpy(rng.standard_normal((1, channels, 32, 32)).astype(np.float32))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    plan = fill.FillPlan(hole, 0.2, None, groups, channels)
    assert len(plan.levels) == 1 and (plan.operator is not None) == (channels == 64)
    out = plan(x)
    torch.testing.assert_close(out, plan._fill_by_levels(x), atol=1e-5, rtol=1e-6)
    assert out.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    assert torch.equal(out[..., torch.from_numpy(~hole)], x[..., torch.from_numpy(~hole)])
    assert not torch.equal(out, x)


@pytest.mark.parametrize("share", [0.1, 0.9])
def test_the_sources_mean_from_the_fewer_cells_is_the_masked_mean(share):
    """Few sources: their own mean; many: the sum over all cells less the others' (to float rounding)."""
    rng = np.random.default_rng(1)
    hole = np.zeros((40, 40), bool)
    hole[10:20, 10:20] = True
    sources = rng.random((40, 40)) < share
    plan = fill.FillPlan(hole, 0.2, sources, None, 5)
    assert plan.by_others == (share > 0.5)
    used = sources & ~hole
    assert len(plan.mean_cells) == int((~used if share > 0.5 else used).sum())
    rows = torch.from_numpy(rng.standard_normal((40 * 40, 5)).astype(np.float32))
    expected = rows[torch.from_numpy((sources & ~hole).ravel())].mean(0)
    torch.testing.assert_close(plan._mean(rows), expected, atol=1e-5, rtol=1e-5)


def _hole_and_sources(seed: int, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hole = np.zeros((side, side), bool)
    top, left = rng.integers(1, side // 3, 2)
    hole[top:top + side // 2, left:left + side // 3] = True
    hole[side - 2, side - 3:] = True                             # a second part, on the grid's edge
    sources = rng.random((side, side)) < 0.8
    groups = (np.arange(side)[:, None] >= side // 2).repeat(side, 1).astype(int)
    return hole, sources, groups


@pytest.mark.parametrize("side,channels,channels_last", [(32, 3, False), (32, 64, True), (96, 2, False),
                                                        (97, 4, False), (96, 5, True)])
def test_hole_values_are_the_fill_at_the_hole_cells_bit_for_bit(side, channels, channels_last):
    """``hole_values`` gives each hole cell once, with what the fill writes there, bit for bit: one grid (solved
    directly, with and without the solution operator) and several (96 px: coarse to fine, odd sides included)."""
    hole, sources, groups = _hole_and_sources(side, side)
    x = torch.from_numpy(np.random.default_rng(side).standard_normal((1, channels, side, side)).astype(np.float32))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    plan = fill.FillPlan(hole, 0.2, sources, groups, channels)
    assert (len(plan.levels) > 1) == (side > 32)
    cells, values = plan.hole_values(x)
    assert sorted(cells.tolist()) == np.flatnonzero(hole).tolist()
    assert values.dtype == torch.float32 and values.shape == (channels, hole.sum())
    assert torch.equal(plan(x).reshape(channels, -1)[:, cells], values)
    assert not torch.equal(x.reshape(channels, -1)[:, cells], values)


def test_hole_values_of_a_hole_without_sources_are_its_own():
    hole = np.zeros((16, 16), bool)
    hole[4:9, 4:9] = True
    x = torch.randn(1, 3, 16, 16)
    plan = fill.FillPlan(hole, 0.2, np.zeros_like(hole), None, 3)
    cells, values = plan.hole_values(x)
    assert plan.empty and torch.equal(values, x.reshape(3, -1)[:, cells])
    assert cells.tolist() == np.flatnonzero(hole).tolist()


@pytest.mark.parametrize("seed", range(4))
def test_the_set_up_is_the_separate_factorisation_and_solves_bit_for_bit(seed):
    """The band built in LAPACK's layout and factorised in place, the operator and the pull solved in one call, the
    border cells marked (not sorted): the same numbers as the band in numpy's layout, one solve each and
    ``np.unique``; the coarser grids' cells (strided ORs) as padding and ``any`` over 2x2 blocks."""
    from scipy.linalg import cho_solve_banded, cholesky_banded

    side = 24 + seed
    hole, sources, groups = _hole_and_sources(seed, side)
    plan = fill.FillPlan(hole, 0.2, sources, groups, 512)
    level, n = plan.levels[-1], len(plan.cells)
    height, width = level.hole.shape
    cells = plan.cells.numpy()
    position = {c: k for k, c in enumerate(cells)}
    links = level.links.numpy().reshape(4, -1).astype(np.float64)
    dense = np.zeros((n, n))
    k_matrix, near = [], []
    for k, c in enumerate(cells):
        dense[k, k] = links[:, c].sum() + fill.PULL
        for d, step in enumerate((-width, width, -1, 1)):
            if links[d, c] > 0 and c + step in position:
                dense[k, position[c + step]] = -links[d, c]
            elif links[d, c] > 0:
                near.append(c + step)
    bandwidth = max(abs(i - j) for i, j in zip(*np.nonzero(dense), strict=True))
    band = np.zeros((bandwidth + 1, n))                        # numpy's layout, as it was built before
    for offset in range(bandwidth + 1):
        band[offset, :n - offset] = np.diagonal(dense, -offset)
    assert np.array_equal(plan.factor, cholesky_banded(band, lower=True, check_finite=False))
    assert plan.border.tolist() == np.unique(near).tolist()
    k_matrix = np.zeros((n, len(plan.border)))
    for i, b, w in plan.known:
        k_matrix[i, b] = w
    assert np.array_equal(plan.operator.numpy(), cho_solve_banded((plan.factor, True), k_matrix))
    assert np.array_equal(plan.pull.numpy(), cho_solve_banded((plan.factor, True), np.full(n, fill.PULL)))
    rng = np.random.default_rng(seed)
    for shape in ((7, 9), (8, 8), (1, 5), (13, 2)):
        cells_set = rng.random(shape) < 0.3
        padded = np.pad(cells_set, ((0, shape[0] % 2), (0, shape[1] % 2)))
        blocks = padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2).any(axis=(1, 3))
        assert np.array_equal(fill.any_of_pairs(cells_set), blocks)
