"""Remove edits that continue the surroundings into the object (ganpaint_core.editing.removal)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from editor_support import blob, tiny_editor

from ganpaint_core.concepts import NAMES, concept_id
from ganpaint_core.editing import harmonic_fill as fill
from ganpaint_core.editing import removal
from ganpaint_core.editing.edits import Operation
from ganpaint_core.editing.masks import dilate
from ganpaint_core.editing.removal import Removal, harmonic_fill, removal_operation

# ---- the fill --------------------------------------------------------------------------------------------

def test_harmonic_fill_continues_a_smooth_field_and_keeps_the_rest():
    yy, xx = np.mgrid[0:12, 0:12].astype(np.float32)
    x = torch.from_numpy(np.stack([2 * xx + yy, 5 - xx])).unsqueeze(0)      # linear fields are harmonic
    hole = blob(12, 3, 4, 5)
    noisy = x.clone()
    noisy[:, :, torch.from_numpy(hole)] = 100.0                          # the "object"
    filled = harmonic_fill(noisy, hole)
    torch.testing.assert_close(filled, x, atol=1e-4, rtol=0)
    assert torch.equal(filled[:, :, torch.from_numpy(~hole)], noisy[:, :, torch.from_numpy(~hole)])


def test_fill_runs_along_rows_and_leaves_out_cells_that_are_not_sources():
    x = torch.zeros(1, 1, 9, 9)
    x[..., :4, :] = 1.0                                  # "sky" above, "ground" below row 4
    hole = blob(9, 2, 3, 4)                              # straddles the horizon
    x[:, :, torch.from_numpy(hole)] = 7.0
    rows = harmonic_fill(x, hole, vertical=0.05)[0, 0]
    assert (rows[2:4, 3:7] > 0.85).all() and (rows[4:6, 3:7] < 0.15).all()  # the horizon goes on through the hole
    iso = harmonic_fill(x, hole, vertical=1.0)[0, 0]
    assert (iso[3, 3:7] < rows[3, 3:7]).all()
    sources = np.ones((9, 9), bool)
    sources[:, 7:] = False                               # an occluder right of the hole
    x[:, :, :, 7:] = 50.0
    masked = harmonic_fill(x, hole, vertical=0.05, sources=sources)[0, 0]
    assert masked[2:6, 3:7].max() <= 1.0 + 1e-6         # nothing of the occluder comes in


def test_fill_of_a_hole_without_sources_is_no_change():
    x = torch.randn(1, 3, 6, 6)
    assert torch.equal(harmonic_fill(x, np.ones((6, 6), bool)), x)
    with pytest.raises(ValueError, match="grid"):
        harmonic_fill(x, np.ones((5, 5), bool))


# ---- the operation ---------------------------------------------------------------------------------------

def _labels(size=32):
    labels = np.full((size, size), concept_id("sky"), np.uint8)
    labels[20:, :] = concept_id("grass")
    labels[8:16, 8:14] = concept_id("cloud")
    labels[8:16, 14:20] = concept_id("roof")             # a roof in front of the cloud's right half
    return labels


def test_remove_takes_the_object_part_keeps_occluders_and_strength_sets_how_much():
    editor = tiny_editor()
    labels, mask = _labels(), blob(32, 6, 6, 16)          # painted over the cloud, part of the roof and sky
    op = removal_operation(mask, "cloud", "medium", labels, list(NAMES), editor.dissection)
    assert isinstance(op, Removal) and op.blend == 1.0 and np.array_equal(op.mask, mask)
    cloud = labels == concept_id("cloud")
    assert op.hole[cloud].all() and not op.hole[labels == concept_id("roof")].any()
    assert op.hole.sum() < mask.sum() and op.keep.any() and not (op.keep & op.hole).any()
    assert op.sources[labels == concept_id("sky")].all() and not op.sources[labels == concept_id("roof")].any()
    low = removal_operation(mask, "cloud", "low", labels, list(NAMES), editor.dissection)
    high = removal_operation(mask, "cloud", "high", labels, list(NAMES), editor.dissection)
    assert low.blend == 0.5 and np.array_equal(low.hole, op.hole)
    assert high.blend == 1.0 and np.array_equal(high.hole, mask) and high.keep is None
    unseen = removal_operation(mask, "door", "medium", labels, list(NAMES), editor.dissection)   # no door there
    assert np.array_equal(unseen.hole, mask) and unseen.sources is None and unseen.keep is None
    r = torch.randn(1, 4, 8, 8)
    assert torch.equal(op.apply(r), r)                   # the edit layer is left alone: the fill is at render


@pytest.fixture(scope="module")
def session():
    from conftest import make_photo

    editor = tiny_editor()
    return editor.fit(make_photo(64, 64, seed=3))


def test_remove_changes_the_hole_keeps_occluders_and_nothing_beyond_the_dilated_mask(session):
    s = session.fork()
    labels = np.full((64, 64), concept_id("sky"), np.uint8)
    labels[16:32, 16:28] = concept_id("cloud")
    labels[16:32, 28:36] = concept_id("roof")
    s._cache_labels.update(labels=labels, trust=1.0)        # a photo of the model's world
    mask = blob(64, 14, 14, 24)
    out = s.edit(mask, "cloud", "remove").image
    raw = s.render(paste_back=False)
    recon = s.reconstruction()
    hole = s.operations[-1].hole
    assert np.abs(raw.astype(int) - recon.astype(int))[hole].mean() > 2
    keep = s.operations[-1].keep
    np.testing.assert_array_equal(raw[keep], recon[keep])        # the roof in front stays as it was
    outside = ~dilate(mask, 2 + 4)                               # paste radius + the feather (as the editor tests)
    np.testing.assert_array_equal(out[outside], s.photo[outside])
    s.undo()
    low = s.edit(mask, "cloud", "remove", "low").image

    def change(picture):      # the colours' change (a whole removal carries the photo's own fine texture)
        return np.abs(cv2.GaussianBlur(picture.astype(np.float32) - s.photo, (0, 0), 2.0))[hole].mean()

    assert 0 < change(low) < change(out)


def test_where_the_generator_cannot_draw_the_photo_its_surroundings_fill_the_hole():
    from conftest import make_photo

    # the iterative fit: with the closed-form last layer G' reproduces even this random model's photo, and its
    # continued (capped) factors alone then carry the surroundings' tones into the hole
    s = tiny_editor().fit(make_photo(64, 64, seed=3), solve_last=False)
    assert s.generator_trust() < 0.5 and s.photo_labels() is None      # random weights draw nothing like it
    s._cache_labels.update(labels=None, trust=1.0)
    mask = blob(64, 24, 24, 12)                          # on the photo's wall, sky a few px above it
    s.edit(mask, "tree", "remove")
    generated = s.render(paste_back=False)
    s.undo()
    s._cache_labels["trust"] = 0.0
    s.edit(mask, "tree", "remove")
    filled = s.render(paste_back=False)
    wall = s.photo[dilate(mask, 3) & ~mask].astype(float).mean(axis=0)
    inside = [np.abs(img[mask].astype(float).mean(axis=0) - wall).sum() for img in (generated, filled)]
    assert inside[1] < min(inside[0], 24)               # the hole takes the photo's own tones (8 per channel)


def test_continued_perturbations_do_not_redraw_the_old_object():
    from conftest import make_photo

    editor = tiny_editor()
    photo = make_photo(64, 64, seed=5)
    mask = blob(64, 22, 22, 16)
    photo[mask] = (250, 0, 250)                              # a magenta object
    session = editor.fit(photo)
    session._cache_labels.update(labels=None, trust=1.0)
    ring = dilate(mask, 6) & ~dilate(mask, 2)
    around = session.photo[ring].astype(float).mean(axis=0)
    gaps = []
    for options in ({}, {"clear_perturbations": False}):
        out = session.fork(**options).edit(mask, "tree", "remove").image
        gaps.append(np.abs(out[mask].astype(float).mean(axis=0) - around).sum())
    assert gaps[0] < gaps[1]                                  # kept, G''s perturbations draw the magenta again


def test_a_later_add_over_a_removal_is_not_filled_away(session):
    s = session.fork()
    s._cache_labels.update(labels=None, trust=1.0)
    mask = blob(64, 16, 16, 24)
    s.edit(mask, "tree", "remove")
    removed = s.render(paste_back=False)
    s.edit(blob(64, 20, 20, 8), "tree", "add", "high")
    both = s.render(paste_back=False)
    added = blob(64, 22, 22, 4)
    assert np.abs(both.astype(int) - removed.astype(int))[added].mean() > 1
    assert s._hole(0).sum() < mask.sum()


def test_units_removal_is_still_there_as_an_option(session):
    s = session.fork(remove="units")
    s.edit(blob(64, 16, 16, 16), "tree", "remove")
    assert not isinstance(s.operations[-1], Removal) and s.operations[-1].channels


def test_fill_layer_is_four_times_the_edit_layer():
    editor = tiny_editor()
    assert removal.fill_layer(editor.generator, "layer4") == "layer8"
    assert editor.generator.resolution_of("layer8") == 4 * editor.generator.resolution_of("layer4")


def test_fill_photo_fills_from_the_surroundings():
    photo = np.zeros((32, 32, 3), np.uint8)
    photo[:, :] = (40, 160, 60)
    photo[10:20, 10:20] = (250, 0, 250)                 # an object on grass
    out = removal.fill_photo(photo, blob(32, 10, 10, 10), radius=1)
    assert np.abs(out[12:18, 12:18].astype(int) - (40, 160, 60)).max() < 20
    np.testing.assert_array_equal(out[:8], photo[:8])


# ---- on the shipped model, held-out scenes (slow) ---------------------------------------------------------

@pytest.mark.slow
def test_removing_doors_and_trees_on_held_out_scenes_shows_what_is_behind():
    """Doors give way to wall and trees to what stands behind them: label accuracy against the true edit beats the
    unedited photo and the old units removal, the door's pixels are labelled building, nothing changes beyond the
    dilated mask."""
    from ganpaint_core import metrics as M
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.editing.masks import paste_alpha
    from ganpaint_core.models import MODELS_DIR
    from ganpaint_core.scenes import HELDOUT_SEED_START
    from ganpaint_core.scenes.pairs import find_pairs

    if not (MODELS_DIR / "default" / "dissection.json").is_file():
        pytest.skip("the default model is not shipped")
    editor = Editor.from_pretrained("default")
    seeds = HELDOUT_SEED_START + 750_000          # away from eval run's, add-study's and the acceptance tests' scenes
    scores = {"photo": [], "units": [], "fill": []}
    wall, behind = [], {"sky": [], "grass": []}
    for kind in ("remove_door", "remove_tree"):
        for pair in find_pairs(kind, 3, seeds, editor.size):
            session = editor.fit(pair.before_rgb)
            fill = session.fork().edit(pair.mask, pair.concept, "remove").image
            units = session.fork(remove="units").edit(pair.mask, pair.concept, "remove").image
            for name, img in (("photo", session.photo), ("units", units), ("fill", fill)):
                scores[name].append(M.label_accuracy(editor.segment(img), pair.after_labels, pair.mask))
            outside = paste_alpha(pair.mask, session.options) == 0        # beyond the feathered, dilated mask
            np.testing.assert_array_equal(fill[outside], session.photo[outside])
            if kind == "remove_door":
                door = pair.before_labels == concept_id("door")
                wall.append(float((editor.segment(fill)[door] == concept_id("building")).mean()))
            if kind == "remove_tree":                   # the tree's pixels show sky above the horizon, grass below
                tree, labels = pair.mask & (pair.before_labels == concept_id("tree")), editor.segment(fill)
                for name in behind:
                    where = tree & (pair.after_labels == concept_id(name))
                    if where.sum() >= 20:
                        behind[name].append(float((labels[where] == concept_id(name)).mean()))
    means = {k: float(np.mean(v)) for k, v in scores.items()}
    print("label accuracy:", means, "door pixels labelled building:", wall, "tree pixels shown as:", behind)
    # measured (AMD EPYC): photo 0.617, units 0.685, fill 0.765; door pixels labelled building 0.94, 0.52, 0.53
    # (the facade's windows repeated where the truth has them); the trees' pixels where the truth shows grass shown
    # as grass 0.67, 1.0, 0.72 (sky: one tree with 94 px of sky behind it, in front of other trees, which the
    # fill continues: 0.0)
    assert means["fill"] > means["photo"] + 0.08 and means["fill"] > means["units"] + 0.03
    assert np.mean(wall) >= 0.6
    assert len(behind["grass"]) == 3 and np.mean(behind["grass"]) >= 0.65


@pytest.mark.parametrize("shared", [True, False])
def test_extreme_factors_around_a_hole_are_continued_capped(monkeypatch, shared):
    """The closed-form last layer can leave factors far from 1 where an activation is near 0; a removal continues
    the factors around its hole into it capped at ``DELTA_CAP``, so those extremes are not painted into the hole
    (each layer on its own grid, or the fine ones together on the fill layer's, ``SHARED_DELTA_GRID``)."""
    monkeypatch.setattr(removal, "SHARED_DELTA_GRID", shared)
    editor = tiny_editor()
    session = editor.fit(np.full((64, 64, 3), 120, np.uint8))
    adapted = session._states[-1].adapted
    name = list(adapted.deltas)[-1]
    hole = blob(64, 32, 32, 10)
    adapted.deltas[name] = torch.full_like(adapted.deltas[name], 1000.0)
    op = removal_operation(hole, "tree", "high", None, list(NAMES), editor.dissection)
    grid = editor.generator.resolution_of(removal.fill_layer(editor.generator, editor.layer)) if shared else None
    assert not shared or adapted.deltas[name].shape[-1] > grid          # the last layer is finer than the fill's
    filled = removal.continued_deltas(adapted.deltas, [(op, hole)], None, True, grid)[name]
    zone = torch.from_numpy(removal.hole_cells(op.zone(hole), filled.shape[-1]))
    assert zone.any() and float(filled[..., zone].abs().max()) <= removal.DELTA_CAP


def _removal(hole: np.ndarray) -> Removal:
    return Removal("remove", hole, torch.zeros(1, 1, 1, 1), [], torch.zeros(1, 0, 1, 1), "tree", "high", hole=hole)


def test_perturbations_finer_than_the_fill_layer_are_continued_on_its_grid():
    """``continued_deltas`` with a shared grid: on linear fields (harmonic whatever the rows' weight) at 16, 32, 64
    and 128 cells, every layer's zone takes the field, the rest stays (capped), and the layers at the grid
    or finer are solved by one plan."""
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float32) / 128
    deltas = {}
    for name, size in (("a", 16), ("b", 32), ("c", 64), ("d", 128)):
        y, x = yy[::128 // size, ::128 // size], xx[::128 // size, ::128 // size]
        deltas[name] = torch.from_numpy(np.stack([0.6 * x - 0.3 * y, 0.2 + 0.4 * y, 0.5 - x])).unsqueeze(0)
    hole = np.zeros((128, 128), bool)
    hole[40:80, 50:90] = True
    op = _removal(hole)
    noisy = {k: v.clone() for k, v in deltas.items()}
    for d in noisy.values():
        d[..., torch.from_numpy(removal.hole_cells(op.zone(hole), d.shape[-1]))] = 0.9
    filled = removal.continued_deltas(noisy, [(op, hole)], None, True, 32)
    assert {key[:2] for key in op.plans} == {("deltas", 16), ("deltas", 32)}       # 64 and 128 solved at 32
    for name, d in filled.items():
        zone = torch.from_numpy(removal.hole_cells(op.zone(hole), d.shape[-1]))
        error = (d - deltas[name])[..., zone].abs()
        assert float(error.max()) < 1e-3, name              # pooled, solved and upsampled bilinearly: exact
        torch.testing.assert_close(d[..., ~zone], deltas[name][..., ~zone])


# ---- the fill's plan, the labels a hole continues, a dome's roof, a facade's offset, a photo's surroundings ---

def test_coarse_to_fine_fill_continues_a_linear_field_as_the_exact_solve_does(monkeypatch):
    yy, xx = np.mgrid[0:96, 0:96].astype(np.float32)
    x = torch.from_numpy(np.stack([0.5 * xx - yy, 3 + 0.2 * yy])).unsqueeze(0)   # harmonic for any row weight
    hole = np.zeros((96, 96), bool)
    hole[20:70, 30:80] = True
    noisy = x.clone()
    noisy[:, :, torch.from_numpy(hole)] = 100.0
    monkeypatch.setattr(fill, "DIRECT_CELLS", 10 ** 6)
    exact = harmonic_fill(noisy, hole, vertical=0.2)
    monkeypatch.setattr(fill, "DIRECT_CELLS", 64)
    plan = fill.FillPlan(hole, 0.2)
    assert len(plan.levels) >= 3                         # 2500 cells, halved until at most 64
    torch.testing.assert_close(exact, x, atol=2e-2, rtol=0)                  # up to the weak pull to the mean
    h = torch.from_numpy(hole)
    error = (plan(noisy) - x)[..., h].abs()
    assert float(error.mean()) < 0.02 * float(x[..., h].std()) and float(error.max()) < 1.0
    assert torch.equal(plan(noisy)[..., ~h], noisy[..., ~h])


def test_groups_keep_each_side_of_a_horizon_to_itself():
    x = torch.zeros(1, 2, 12, 12)
    x[:, :, :6] = 1.0                                    # "sky" above row 6, "grass" below
    groups = np.zeros((12, 12), int)
    groups[6:] = 1
    hole = blob(12, 3, 3, 6)                             # straddles the horizon
    x[:, :, torch.from_numpy(hole)] = 9.0
    mixed = harmonic_fill(x, hole, vertical=1.0)[0, 0]
    kept = harmonic_fill(x, hole, vertical=1.0, groups=groups)[0, 0]
    assert mixed[5, 5] < 0.9 and mixed[6, 5] > 0.1       # without groups the two sides blur into each other
    torch.testing.assert_close(kept[3:6, 3:9], torch.ones(3, 6), atol=1e-4, rtol=0)
    torch.testing.assert_close(kept[6:9, 3:9], torch.zeros(3, 6), atol=1e-4, rtol=0)


def test_a_removed_tree_continues_sky_above_and_grass_below_the_horizon():
    sky, grass, tree, window = (concept_id(c) for c in ("sky", "grass", "tree", "window"))
    labels = np.full((48, 48), sky, np.uint8)
    labels[30:] = grass
    labels[30:34, 4:8] = window                          # an object beside the hole: not a backdrop
    labels[18:40, 18:30] = tree
    hole = dilate(labels == tree, 2)
    predicted = removal.predicted_labels(labels, hole, None, np.array([sky, grass, tree]))
    assert (predicted[18:29, 18:30] == sky).all() and (predicted[31:40, 18:30] == grass).all()
    assert not (predicted[hole] == window).any()
    np.testing.assert_array_equal(predicted[~hole], labels[~hole])


def test_a_removed_dome_leaves_a_pitched_roof_as_wide_as_its_wall():
    editor = tiny_editor()
    building, dome, sky = (concept_id(c) for c in ("building", "dome", "sky"))
    labels = np.full((64, 64), sky, np.uint8)
    labels[36:56, 16:48] = building                      # a wall 32 px wide
    yy, xx = np.mgrid[0:64, 0:64]
    labels[((yy - 36) / 14.0) ** 2 + ((xx - 32) / 11.5) ** 2 <= 1] = dome
    labels[36:, :][labels[36:, :] == dome] = building
    mask = dilate(labels != sky, 3)
    drawn = []

    def draw(region, concept):
        drawn.append(concept)
        return Operation("add", region, torch.ones(1, 1, 8, 8), None, torch.zeros(1, 4, 1, 1), concept)

    op = removal_operation(mask, "dome", "medium", labels, list(NAMES), editor.dissection, draw)
    assert drawn == ["roof"] and op.drawn is not None
    roof = op.drawn.mask
    rows = np.flatnonzero(roof.any(axis=1))
    widths = roof.sum(axis=1)[rows]
    assert rows.max() == 35 and abs(widths[-1] - 32) <= 3 and widths[0] < widths[-1] / 3   # a triangle on the wall
    assert not (op.hole & roof).any() and (op.groups[roof] == concept_id("roof")).all()
    assert torch.equal(op.apply(torch.full((1, 4, 8, 8), 5.0)), torch.zeros(1, 4, 8, 8))    # the roof is drawn


def test_a_doors_features_are_continued_over_the_perturbations_zone_by_their_plan():
    """A removed door's features at the fill layer are continued over the hole grown by ``DELTA_RADIUS`` (its frame
    goes too), by the plan that continues the perturbations there: one plan for both.  A tree's keep the ring (a
    tree beside it stays), and so do those of an object with something drawn in its place (a dome's roof)."""
    editor = tiny_editor()
    session = editor.fit(np.full((64, 64, 3), 120, np.uint8))
    adapted = session._states[-1].adapted
    target = removal.fill_layer(editor.generator, editor.layer)
    size = editor.generator.resolution_of(target)
    hole = blob(64, 30, 30, 12)
    plain, tree, drawn = _removal(hole), _removal(hole), _removal(hole)
    plain.concept = drawn.concept = "door"
    roof = np.zeros((64, 64), bool)
    roof[10:16, 24:36] = True
    drawn.drawn = Operation("add", roof, torch.zeros(1, 1, 8, 8), None, torch.zeros(1, 4, 1, 1), "roof")
    for name, op in (("plain", plain), ("tree", tree), ("drawn", drawn)):
        removal.render_removed(adapted, session.features(), editor.layer, [(op, hole)])
        kinds = {key[0] for key in op.plans if key[1] == size}
        assert kinds == ({"deltas"} if name == "plain" else {"deltas", "features"}), name
    ring = removal.hole_cells(plain.zone(hole), size) & ~removal.hole_cells(hole, size)
    assert ring.any()
    for name, op in (("plain", plain), ("tree", tree), ("drawn", drawn)):      # the cells the features' fill takes
        plan = next(p for key, p in op.plans.items() if key[:2] == ("deltas" if name == "plain" else "features", size))
        filled = np.zeros((size, size), bool)
        filled[plan.box] = plan.hole.numpy()
        assert filled[ring].all() if name == "plain" else not filled[ring].any(), name


def test_a_removed_door_repeats_the_facade_from_the_matching_offset():
    building, window, door, grass = (concept_id(c) for c in ("building", "window", "door", "grass"))
    labels = np.full((64, 64), building, np.uint8)
    labels[50:] = grass
    photo = np.zeros((64, 64, 3), np.uint8)
    photo[:] = (180, 120, 100)
    for left in (4, 16, 28, 40, 52):                     # a row of windows every 12 px
        labels[38:46, left:left + 6] = window
        photo[38:46, left:left + 6] = (30, 40, 80)
    labels[38:50, 28:34] = door
    photo[38:50, 28:34] = (120, 60, 20)
    hole = dilate(labels == door, 1)
    dx = removal.copy_offset(labels, hole, None, door)
    assert dx is not None and abs(dx) >= 6
    out = removal.offset_fill(photo, photo, hole, dx)
    assert (out[40:44, 29:33] == (30, 40, 80)).all()      # a window where the door was
    assert removal.copy_offset(labels, np.zeros_like(hole), None, door) is None


def test_a_removed_doors_offset_copy_covers_the_facade_in_the_mask(monkeypatch):
    """The scene world leaves out the windows of a door's column; a removed door's offset copy covers the facade
    in the painted mask (those windows' place too), not only the door, and a session pastes it there."""
    building, window, door, grass = (concept_id(c) for c in ("building", "window", "door", "grass"))
    labels = np.full((64, 64), building, np.uint8)
    labels[54:] = grass
    photo = np.zeros((64, 64, 3), np.uint8)
    photo[:] = (180, 120, 100)
    for left in (4, 16, 40, 52):                         # windows every 12 px in two rows, none in the door's column
        for top in (14, 30):
            labels[top:top + 8, left:left + 6] = window
            photo[top:top + 8, left:left + 6] = (30, 40, 80)
    labels[40:54, 28:34] = door
    photo[40:54, 28:34] = (120, 60, 20)
    mask = np.zeros((64, 64), bool)
    mask[10:56, 25:37] = True                            # the door's column, up to the roof
    editor = tiny_editor()
    op = removal_operation(mask, "door", "medium", labels, list(NAMES), editor.dissection)
    assert op.offset is not None and abs(op.offset) == 12
    assert op.copied[mask & (labels != grass)].all() and not op.copied[~mask].any()
    assert not op.hole[14:22, 28:34].any()               # the fill's hole is the door's, as before
    session = editor.fit(photo)
    session._cache_labels.update(labels=labels, trust=1.0)
    out = session.edit(mask, "door", "remove").image
    for top in (14, 30):                                 # the upper windows repeated into the door's column
        assert np.abs(out[top + 2:top + 6, 29:33].astype(int) - (30, 40, 80)).max() <= 40
    monkeypatch.setattr(removal, "OFFSET_FACADE", False)         # as before: the door's hole only
    assert removal_operation(mask, "door", "medium", labels, list(NAMES), editor.dissection).copied is None


def test_a_photo_removal_takes_the_surroundings_colour_not_the_lit_tower_beside_it():
    photo = np.zeros((64, 64, 3), np.uint8)
    photo[:] = (90, 150, 200)                            # sky
    photo[:, :20] = (240, 170, 40)                       # a lit tower left of the hole
    photo[20:40, 22:40] = (20, 20, 20)                   # the dark branches removed
    mask = np.zeros((64, 64), bool)
    mask[18:42, 20:42] = True                            # painted up against the tower
    out = removal.fill_photo(photo, mask, radius=1)
    inside = out[20:40, 22:40].astype(float)
    assert np.abs(inside - (90, 150, 200)).max() < 12     # sky, not orange
    np.testing.assert_array_equal(out[:, :18], photo[:, :18])
