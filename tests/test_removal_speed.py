"""The removal's speed work leaves its output as it was (ganpaint_core.editing.removal, docs/edits.md "Remove").

``tests/data/removal_reference.npz`` holds the pictures the removal drew before that work (commit bcbb813), made by
running this file as a script there: ``PYTHONPATH=. python tests/test_removal_speed.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganpaint_core.editing import harmonic_fill as fill
from ganpaint_core.editing import removal

REFERENCE = Path(__file__).parent / "data" / "removal_reference.npz"
TOLERANCE = 1          # uint8 levels: the largest difference allowed from the reference pictures (a rounding flip)


def pictures(sizes=(128, 256), window: bool = False) -> dict[str, np.ndarray]:
    """uint8 pictures of remove edits as ``eval removal-bench`` makes them (a tree-sized and a large hole) on the
    shipped 128 px model and a random-weight 256 px generator in the paper's layout, and the labels each hole
    continues; plus a remove edit in a session of the tiny test editor (fit, edit, paste back).  ``window``: the
    renders re-render only the window the removal changes (``render_removed``'s ``base``)."""
    from editor_support import blob, tiny_editor

    from eval.bench import removal as bench
    from eval.bench.editor import GAN_DISSECTION_SIZES
    from ganpaint_core.concepts import NAMES, concept_id
    from ganpaint_core.editing.adaptation import ActivationAdaptation
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.imaging import to_uint8
    from ganpaint_core.networks.proggan import ProgressiveGenerator

    out = {}
    editor = Editor.from_pretrained("default")
    for size in sizes:
        torch.manual_seed(0)
        generator, layer = ((editor.generator, editor.layer) if size == 128 else
                            (ProgressiveGenerator(GAN_DISSECTION_SIZES).eval(), "layer4"))
        torch.manual_seed(0)
        with torch.inference_mode():
            r = generator.features(torch.randn(1, generator.z_dim), layer)
        adapted = ActivationAdaptation(generator, layer, r)
        adapted.deltas = {k: 0.1 * torch.randn_like(v) for k, v in adapted.deltas.items()}
        for name, spec in bench.BLOBS.items():
            labels, mask = bench.scene_labels(size), bench.blob_mask(size, spec)
            labels[mask] = concept_id("tree")
            op = removal.removal_operation(mask, "tree", "medium", labels, list(NAMES), editor.dissection)
            with torch.inference_mode():
                base = adapted.record(r) if window else None
                x = removal.render_removed(adapted, r, layer, [(op, op.hole)], **({"base": base} if window else {}))
                out[f"{size}_{name}"] = to_uint8(x)[0]
            out[f"{size}_{name}_labels"] = op.groups.astype(np.uint8)
    from conftest import make_photo

    session = tiny_editor(**({"window_render": True} if window else {})).fit(make_photo(64, 64, seed=3))
    labels = np.full((64, 64), concept_id("sky"), np.uint8)
    labels[16:32, 16:28] = concept_id("cloud")
    labels[16:32, 28:36] = concept_id("roof")
    session._cache_labels.update(labels=labels, trust=1.0)
    out["session_64"] = session.edit(blob(64, 14, 14, 24), "cloud", "remove").image
    return out


def _needs_models():
    from ganpaint_core.models import MODELS_DIR

    if not (MODELS_DIR / "default" / "dissection.json").is_file():
        pytest.skip("the default model is not shipped")


@pytest.mark.parametrize("window", [False, True])
def test_removal_draws_what_it_drew_before_the_speed_work(window, monkeypatch):
    """The bench's edits at 128 and 256 px and a session's edit differ from the pictures of before by at most
    ``TOLERANCE`` uint8 levels (measured: bit-identical in full, at most 1 level re-rendering only the window the
    removal changes), and every hole continues the same labels.  Each perturbation layer is filled on its own grid
    and the features over the hole alone here, as before; the shared grid and the features' fill over the
    perturbations' zone (``SHARED_DELTA_GRID``, ``FEATURES_ON_ZONE``, the defaults since) change the picture and
    are tested in test_editor_removal.py; so do round 4's backdrop texture, windows, walls and crisp roof
    (``TEXTURE``, ``LATTICE``, ``KEEP_WALLS``, ``CRISP_ROOF``: test_removal_backdrop.py), and round 5's shadow and
    boxed walls behind a removed tree (``BACKDROP_HOLE``, ``BOXED_BEHIND``: test_removal_backdrop.py)."""
    _needs_models()
    monkeypatch.setattr(removal, "SHARED_DELTA_GRID", False)
    monkeypatch.setattr(removal, "FEATURES_ON_ZONE", ())
    for flag in ("TEXTURE", "LATTICE", "KEEP_WALLS", "CRISP_ROOF"):
        monkeypatch.setattr(removal, flag, False)
    for objects in ("BACKDROP_HOLE", "BOXED_BEHIND"):      # round 5's (test_removal_backdrop.py)
        monkeypatch.setattr(removal, objects, ())
    reference = np.load(REFERENCE)
    now = pictures(window=window)
    assert sorted(now) == sorted(reference.files)
    for key, picture in now.items():
        if key.endswith("_labels"):
            np.testing.assert_array_equal(picture, reference[key], err_msg=key)
        else:
            difference = np.abs(picture.astype(int) - reference[key].astype(int)).max()
            assert difference <= TOLERANCE, f"{key}: {difference} uint8 levels from the reference"


def _full_grid_relax(u, level, mean):
    """The red-black sweeps as they were: every cell of the box updated, then the colour's cells kept."""
    w = level.links
    total = w.sum(0) + fill.PULL
    pull = fill.PULL * mean[:, None, None]
    parity = torch.from_numpy(np.add.outer(np.arange(u.shape[1]), np.arange(u.shape[2])) % 2 == 1)
    hole = torch.from_numpy(level.hole)
    for _ in range(fill.SWEEPS):
        for colour in (hole & ~parity, hole & parity):
            p = F.pad(u, (1, 1, 1, 1))
            around = w[0] * p[:, :-2, 1:-1] + w[1] * p[:, 2:, 1:-1] + w[2] * p[:, 1:-1, :-2] + w[3] * p[:, 1:-1, 2:]
            u = torch.where(colour, (around + pull) / total, u)
    return u


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sweeps_over_the_hole_cells_equal_the_sweeps_over_the_whole_grid(seed):
    """A relaxation that reads and writes only the hole's cells gives the whole grid's sweeps bit for bit, hole
    on the grid's border, groups and cells that are no source included."""
    rng = np.random.default_rng(seed)
    hole = rng.random((13, 17)) < 0.4
    hole[0, :5] = hole[:, -1] = True
    sources = rng.random((13, 17)) < 0.8
    groups = rng.integers(0, 3, (13, 17))
    level = fill._level(hole, sources & ~hole, 0.2, groups)
    u = torch.from_numpy(rng.standard_normal((5, 13, 17)).astype(np.float32))
    mean = torch.from_numpy(rng.standard_normal(5).astype(np.float32))
    assert torch.equal(fill.FillPlan._relax(u, level, mean), _full_grid_relax(u, level, mean))
    outside = ~torch.from_numpy(hole)
    assert torch.equal(fill.FillPlan._relax(u, level, mean)[:, outside], u[:, outside])


def test_the_fills_solves_run_on_one_blas_thread(monkeypatch):
    """OpenBLAS's threads cost a small solve up to 80 ms on a shared machine: the factorisation and the solves
    run on one thread."""
    from threadpoolctl import threadpool_info

    seen = []

    def spy(f):
        def run(*args, **kwargs):
            seen.append([lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"])
            return f(*args, **kwargs)
        return run

    monkeypatch.setattr(fill, "cholesky_banded", spy(fill.cholesky_banded))
    monkeypatch.setattr(fill, "cho_solve_banded", spy(fill.cho_solve_banded))
    x = torch.randn(1, 64, 24, 24)
    hole = np.zeros((24, 24), bool)
    hole[6:18, 5:19] = True
    fill.harmonic_fill(x, hole)
    assert len(seen) >= 2 and all(threads and max(threads) == 1 for threads in seen)


def _label_groups_by_shares(groups, size):
    """The cells' most common labels as they were computed: each label's area share per cell, the first largest."""
    from ganpaint_core.editing.masks import to_grid

    present = np.unique(groups)
    shares = torch.cat([to_grid(groups == k, size, "area") for k in present], dim=1)[0]
    return present[shares.argmax(0).numpy()]


@pytest.mark.parametrize("seed", [0, 1])
def test_label_groups_by_counts_equal_the_area_shares(seed):
    """Counting each label's pixels per cell picks the label the area shares picked, ties (2x2 cells split two
    ways) included."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 3, (16, 16)).repeat(8, 0).repeat(8, 1) * 3
    groups[rng.random((128, 128)) < 0.2] = 4
    groups[:2, :2], groups[2:4, :2] = 9, 0          # a tie on the 64-grid's first cell
    for size in (16, 32, 64, 128):
        np.testing.assert_array_equal(removal.label_groups(groups, size), _label_groups_by_shares(groups, size))


def _copy_offset_by_loop(labels, hole, sources, concept):
    """The facade offset as it was found: every shift tried in turn, nearest first."""
    from ganpaint_core.editing.masks import dilate

    width = hole.shape[1]
    ring = dilate(hole, removal.OFFSET_RING) & ~hole
    usable = (np.ones_like(hole) if sources is None else sources) & ~hole & (labels != concept)
    ys, xs = np.nonzero(hole)
    ry, rx = np.nonzero(ring)
    best, best_score = None, removal.OFFSET_MATCH
    for dx in sorted(range(-width + 1, width), key=abs):
        if dx == 0 or xs.min() + dx < 0 or xs.max() + dx >= width or rx.min() + dx < 0 or rx.max() + dx >= width:
            continue
        if not usable[ys, xs + dx].all():
            continue
        score = float((labels[ry, rx + dx] == labels[ry, rx]).mean())
        if score > best_score:
            best, best_score = dx, score
    return best


def test_copy_offset_by_fft_counts_equals_trying_every_shift():
    """On facades with a repeating window column (found, nearest of equal matches) and on random labels (mostly
    none), the counted shifts pick what the loop over shifts picked."""
    rng = np.random.default_rng(0)
    found = 0
    for trial in range(60):
        labels = np.zeros((64, 64), np.int64)
        labels[20:60] = 2                                  # a wall
        period = int(rng.integers(10, 20))
        for x in range(int(rng.integers(0, 6)), 64 - 6, period):
            labels[30:40, x:x + 6] = 3                     # its windows
        if trial % 3 == 0:
            labels = np.where(rng.random((64, 64)) < 0.1, rng.integers(0, 5, (64, 64)), labels)
        hole = np.zeros((64, 64), bool)
        x0 = int(rng.integers(4, 50))
        hole[30:40, x0:x0 + 6] = True
        labels[hole] = 7
        sources = rng.random((64, 64)) < 0.98 if trial % 2 else None
        expected = _copy_offset_by_loop(labels, hole, sources, 7)
        assert removal.copy_offset(labels, hole, sources, 7) == expected, trial
        found += expected is not None
    assert found >= 10                                     # the facades' repeats were found, not only None


def test_the_dense_solution_operator_solves_as_the_sparse_factor_does():
    """A plan for more channels than the hole has border cells solves by its dense operator; the fill is the
    sparse solve's to float rounding."""
    rng = np.random.default_rng(0)
    hole = np.zeros((32, 32), bool)
    hole[9:21, 11:19] = True
    groups = (np.arange(32)[:, None] >= 15).repeat(32, 1).astype(int)
    x = torch.from_numpy(rng.standard_normal((1, 80, 32, 32)).astype(np.float32))
    dense, sparse_solve = fill.FillPlan(hole, 0.2, None, groups, 80), fill.FillPlan(hole, 0.2, None, groups, 4)
    assert dense.operator is not None and sparse_solve.operator is None
    torch.testing.assert_close(dense(x), sparse_solve(x), atol=1e-5, rtol=0)
    assert not torch.equal(dense(x), x)


if __name__ == "__main__":
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(REFERENCE, **pictures())
    print("wrote", REFERENCE)


# ---- issue 24, round 5: a remove's render takes what it does not change from the record and the kept factors ----

def _factors_as_they_were(deltas, removals, clear, fill_deltas, grid, fmt=torch.contiguous_format):
    return {k: (1 + d).contiguous(memory_format=fmt)
            for k, d in removal.continued_deltas(deltas, removals, clear, fill_deltas, grid).items()}


def _hole_removal(hole: np.ndarray, blend: float = 1.0, sources=None, groups=None) -> removal.Removal:
    return removal.Removal("remove", hole, torch.zeros(1, 1, 1, 1), [], torch.zeros(1, 0, 1, 1), "tree", "high",
                           hole=hole, blend=blend, sources=sources, groups=groups)


@pytest.mark.parametrize("channels_last", [False, True])
def test_continued_factors_are_one_plus_the_continued_perturbations_bit_for_bit(channels_last):
    """``continued_factors`` = 1 + ``continued_deltas`` in the activations' format, bit for bit: one whole removal
    (the kept path), half a removal, two removals, a cleared region, an empty hole, no shared grid; extreme
    perturbations are capped alike.  Its kept tensors do not change when later calls use them."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(0)
    deltas = {name: 2 * torch.randn(1, c, s, s) for name, c, s in (("l6", 12, 16), ("l8", 8, 32), ("l10", 6, 64),
                                                                   ("l12", 4, 128))}
    rng = np.random.default_rng(0)
    holes = []
    for top, left, height, width in ((30, 40, 30, 24), (70, 10, 20, 50), (0, 100, 40, 28)):
        hole = np.zeros((128, 128), bool)
        hole[top:top + height, left:left + width] = rng.random((height, width)) < 0.9
        holes.append(hole)
    groups = np.where(np.arange(128)[:, None] < 64, 2, 5) * np.ones((1, 128), int)
    clear = np.zeros((128, 128), bool)
    clear[90:110, 90:120] = True
    cases = [([(_hole_removal(h), h)], None, 32) for h in holes]
    cases += [([(_hole_removal(holes[0], sources=rng.random((128, 128)) < 0.8, groups=groups), holes[0])], None, 32),
              ([(_hole_removal(holes[1], blend=0.5), holes[1])], None, 32),
              ([(_hole_removal(holes[0]), holes[0]), (_hole_removal(holes[1]), holes[1])], None, 32),
              ([(_hole_removal(holes[2]), holes[2])], clear, 32),
              ([(_hole_removal(holes[2]), holes[2])], np.zeros_like(clear), 32),
              ([(_hole_removal(np.zeros_like(clear)), np.zeros_like(clear))], None, 32),
              ([(_hole_removal(holes[1]), holes[1])], None, None)]
    first = None
    for removals, region, grid in cases:
        got = removal.continued_factors(deltas, removals, region, True, grid, fmt)
        want = _factors_as_they_were(deltas, removals, region, True, grid, fmt)
        assert list(got) == list(want)
        for name in want:
            assert torch.equal(got[name], want[name]), name
            assert got[name].is_contiguous(memory_format=fmt)
        if first is None:
            first, kept = {k: v.clone() for k, v in got.items()}, got
    for name in first:                  # the first call's factors were not written into by the later ones
        assert torch.equal(kept[name], first[name])


def test_continued_factors_follow_perturbations_changed_in_place():
    """The kept capped perturbations are made again when a perturbation tensor changes in place (its version) or
    is replaced; inference tensors (no version) are used but not kept."""
    torch.manual_seed(1)
    deltas = {"a": torch.randn(1, 4, 16, 16), "b": torch.randn(1, 3, 32, 32), "c": torch.randn(1, 2, 64, 64)}
    hole = np.zeros((64, 64), bool)
    hole[20:40, 18:30] = True
    removals = [(_hole_removal(hole), hole)]
    before = removal.continued_factors(deltas, removals, None, True, 32)
    deltas["c"].mul_(3)
    deltas["b"] = deltas["b"] + 1
    after = removal.continued_factors(deltas, removals, None, True, 32)
    for name, want in _factors_as_they_were(deltas, removals, None, True, 32).items():
        assert torch.equal(after[name], want), name
    assert not torch.equal(before["c"], after["c"])
    with torch.inference_mode():
        frozen = {k: v.clone() for k, v in deltas.items()}
        got = removal.continued_factors(frozen, removals, None, True, 32)
    for name, want in _factors_as_they_were(frozen, removals, None, True, 32).items():
        assert torch.equal(got[name], want), name


def _edits(session, concept_labels) -> list[np.ndarray]:
    """Pictures of a sequence of edits with removes of several kinds: whole, half, two in a row, after an add (other
    features, a cleared region), undone."""
    from editor_support import blob

    session._cache_labels.update(labels=concept_labels, trust=1.0)
    out = []
    for mask, concept, strength in ((blob(64, 14, 14, 24), "cloud", "medium"), (blob(64, 30, 8, 20), "tree", "medium"),
                                    (blob(64, 20, 30, 16), "cloud", "low"), (blob(64, 36, 36, 20), "tree", "high")):
        out.append(session.edit(mask, concept, "remove", strength).image)
        session.reset()
    out.append(session.edit(blob(64, 14, 14, 24), "cloud", "remove").image)
    out.append(session.edit(blob(64, 30, 8, 20), "tree", "remove").image)
    out.append(session.undo().image)
    session.reset()
    out.append(session.edit(blob(64, 40, 30, 12), "tree", "add").image)
    out.append(session.edit(blob(64, 14, 14, 24), "cloud", "remove").image)
    session.reset()
    return out


def test_a_sessions_removes_draw_what_they_drew_before_the_fifth_round(monkeypatch):
    """The removes of a session (tiny editor, 64 px, an add among them) draw the same pictures, bit for bit, with
    the unchanged blocks taken from the record, the kept factors and the plans' shared set-ups as without them."""
    from conftest import make_photo
    from editor_support import tiny_editor

    from ganpaint_core.concepts import concept_id
    from ganpaint_core.editing.masks import dilate

    labels = np.full((64, 64), concept_id("sky"), np.uint8)
    labels[16:32, 16:28] = concept_id("cloud")
    labels[16:32, 28:36] = concept_id("roof")
    labels[34:, :] = concept_id("grass")
    labels[30:52, 10:26] = concept_id("tree")
    session = tiny_editor().fit(make_photo(64, 64, seed=3))
    now = _edits(session, labels)
    monkeypatch.setattr(removal, "recorded_prefix", lambda base, r, *args: (0, r))
    monkeypatch.setattr(removal, "continued_factors", _factors_as_they_were)
    monkeypatch.setattr(removal.Removal, "_kept", lambda self, key, make: make())
    monkeypatch.setattr(removal.Removal, "zone", lambda self, hole: dilate(hole | self.drawn_region(),
                                                                         removal.DELTA_RADIUS))
    before = _edits(session, labels)
    assert len(now) == len(before) == 9
    for i, (a, b) in enumerate(zip(now, before, strict=True)):
        np.testing.assert_array_equal(a, b, err_msg=f"edit {i}")
    assert any(not np.array_equal(a, now[0]) for a in now[1:])


def _predicted_labels_on_the_whole_grid(labels, hole, sources, candidates):
    """``predicted_labels`` as it was: the indicators filled on the whole grid, then read at the hole's pixels."""
    src = ~hole if sources is None else sources & ~hole
    out = labels.astype(np.int64)
    around = src & removal.dilate(hole, removal.LABEL_REACH)
    present = np.unique(out[around if around.any() else src])
    if candidates is not None and np.isin(present, candidates).any():
        present = present[np.isin(present, candidates)]
    onehot = torch.from_numpy((out[None] == present[:, None, None]).astype(np.float32))[None]
    shares = fill.harmonic_fill(onehot, hole, removal.LABEL_VERTICAL, src)[0]
    out[hole] = present[shares.reshape(len(present), -1)[:, torch.from_numpy(hole.ravel())].argmax(0).numpy()]
    return out


@pytest.mark.parametrize("seed", range(8))
def test_predicted_labels_read_at_the_hole_are_the_whole_grids_bit_for_bit(seed):
    """The hole's labels from the fill's values at its pixels alone (``FillPlan.hole_values``), and a hole with one
    label around taking it without a fill: the labels of the whole grid's fill, on small holes (solved directly)
    and large ones (coarse to fine), with and without sources and candidates."""
    from eval.bench.removal import blob_mask

    rng = np.random.default_rng(seed)
    labels = np.repeat(np.repeat(rng.integers(0, 2 + seed % 4, (8, 8)), 16, 0), 16, 1)
    if seed % 4 == 3:
        labels[:] = 5                                               # one label around the hole
    hole = blob_mask(128, (0.2, 0.25, 0.15 + 0.08 * seed, 0.3))
    sources = None if seed % 2 else rng.random((128, 128)) < 0.9
    candidates = None if seed % 3 else np.array([0, 1, 5])
    expected = _predicted_labels_on_the_whole_grid(labels, hole, sources, candidates)
    assert np.array_equal(removal.predicted_labels(labels, hole, sources, candidates), expected)
    assert seed % 4 == 3 or len(np.unique(expected[hole])) > 1


def test_hole_cells_by_strided_ors_are_the_area_shares_above_zero():
    """At the mask's own size, half and a quarter of it ``hole_cells`` reads the mask by strided ORs: the cells the
    area pooling gives a share above 0; a share above 0.5 still pools."""
    from ganpaint_core.editing.masks import to_grid

    rng = np.random.default_rng(0)
    for side in (64, 128):
        for density in (0.002, 0.05, 0.3):
            mask = removal.dilate(rng.random((side, side)) < density, 1)
            for grid in (side, side // 2, side // 4, side // 8):
                cells = removal.hole_cells(mask, grid)
                assert np.array_equal(cells, to_grid(mask, grid, "area")[0, 0].numpy() > 0)
                assert cells is not mask
            half = removal.hole_cells(mask, side // 2, 0.5)
            assert np.array_equal(half, to_grid(mask, side // 2, "area")[0, 0].numpy() > 0.5)
