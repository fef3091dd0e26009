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
