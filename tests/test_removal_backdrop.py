"""What a removal shows behind the object, round 4: the backdrop's own texture, a facade's missing windows, a dome's
walls as shot (ganpaint_core.editing.removal: texture_fill, window_lattice, wall_region)."""

from __future__ import annotations

import numpy as np
import torch
from editor_support import tiny_editor

from ganpaint_core.concepts import NAMES, concept_id
from ganpaint_core.editing import removal
from ganpaint_core.editing.edits import Operation
from ganpaint_core.editing.masks import dilate
from ganpaint_core.editing.removal import removal_operation

# ---- texture ---------------------------------------------------------------------------------------------


def _striped_scene():
    """64 px: flat sky above row 24, grass below in horizontal stripes (one row light, one dark), and a smooth
    patch where a removed tree was filled (the hole)."""
    sky, grass = concept_id("sky"), concept_id("grass")
    labels = np.full((64, 64), sky, np.uint8)
    labels[24:] = grass
    photo = np.zeros((64, 64, 3), np.uint8)
    photo[:24] = (120, 160, 220)
    photo[24:] = np.where((np.arange(24, 64) % 2 == 0)[:, None, None], (60, 140, 50), (100, 180, 80))
    hole = np.zeros((64, 64), bool)
    hole[34:52, 22:40] = True
    smooth = photo.copy()
    smooth[hole] = (80, 160, 65)                          # the mean grass colour, no texture: what a fill draws
    return labels, photo, hole, smooth


def test_a_filled_hole_takes_the_backdrops_texture_along_its_row():
    labels, photo, hole, smooth = _striped_scene()
    out = removal.texture_fill(smooth, photo, hole, labels, hole, list(NAMES))
    np.testing.assert_array_equal(out[~dilate(hole, 4)], smooth[~dilate(hole, 4)])   # nothing far away changes
    rows = out[34:52, 24:38, 1].astype(float).mean(axis=1)
    stripes = photo[34:52, 0, 1].astype(float)
    assert np.corrcoef(rows, stripes)[0, 1] > 0.9          # the photo's stripes, each on its own row
    assert rows.std() > 0.5 * stripes.std()
    assert smooth[34:52, 24:38, 1].std() == 0


def test_texture_comes_only_for_backdrops_and_only_from_outside_the_mask():
    labels, photo, hole, smooth = _striped_scene()
    building = labels.copy()
    building[24:] = concept_id("building")                  # a wall is not a backdrop whose texture is copied
    np.testing.assert_array_equal(removal.texture_fill(smooth, photo, hole, building, hole, list(NAMES)), smooth)
    everywhere = np.zeros_like(hole)
    everywhere[24:] = True                                  # the painted mask covers all the grass: no source
    out = removal.texture_fill(smooth, photo, hole, labels, everywhere, list(NAMES))
    assert out[36:50, 24:38, 1].astype(float).std() < 2


def test_a_session_removal_takes_the_texture_unless_switched_off(monkeypatch):
    labels, photo, hole, _ = _striped_scene()
    tree = labels.copy()
    tree[hole] = concept_id("tree")
    editor = tiny_editor()
    session = editor.fit(photo)
    session._cache_labels.update(labels=tree, trust=1.0)
    op = removal_operation(hole, "tree", "medium", tree, list(NAMES), editor.dissection)
    assert op.textured and (op.groups[hole] == concept_id("grass")).all()
    textured = session.edit(hole, "tree", "remove").image
    session.reset()
    monkeypatch.setattr(removal, "TEXTURE", False)
    plain = session.edit(hole, "tree", "remove").image
    inner = (slice(36, 50), slice(24, 38), 1)
    stripes = photo[36:50, 0, 1].astype(float)
    assert np.corrcoef(textured[inner].astype(float).mean(axis=1), stripes)[0, 1] > 0.8
    assert abs(np.corrcoef(plain[inner].astype(float).mean(axis=1), stripes)[0, 1]) < 0.8


# ---- a facade's windows ----------------------------------------------------------------------------------


def _facade(columns=(7, 19, 31, 43)):
    """64 px: a wall with windows (6 px wide) in two rows at ``columns`` (left edges), the lower one of column 31
    left out, where a door stands below it."""
    building, window, door, grass = (concept_id(c) for c in ("building", "window", "door", "grass"))
    labels = np.full((64, 64), building, np.uint8)
    labels[56:] = grass
    photo = np.zeros((64, 64, 3), np.uint8)
    photo[:] = (180, 120, 100)
    for left in columns:
        for top in (12, 26):
            if (left, top) != (31, 26):
                labels[top:top + 8, left:left + 6] = window
                photo[top:top + 8, left:left + 6] = (30, 40, 80)
    labels[40:56, 30:38] = door
    photo[40:56, 30:38] = (120, 60, 20)
    mask = np.zeros((64, 64), bool)
    mask[24:57, 27:41] = True                               # the door and the window's place above it
    return labels, photo, mask


def test_a_removed_door_brings_back_the_windows_of_its_column():
    labels, photo, mask = _facade()
    shifts = removal.window_lattice(labels, mask, concept_id("door"), concept_id("window"))
    assert shifts is not None and set(np.unique(shifts)) <= {-12, 0, 12}
    assert not shifts[~mask].any() and not shifts[40:56].any()       # inside the mask, above the door only
    out = removal.lattice_fill(photo, photo, shifts)
    assert (out[27:33, 32:36] == (30, 40, 80)).all()                 # the window where the column has one
    np.testing.assert_array_equal(out[shifts == 0], photo[shifts == 0])


def test_no_window_is_drawn_where_the_windows_keep_no_lattice_or_no_door_is_removed():
    labels, _, mask = _facade(columns=(5, 19, 31, 40))              # gaps of 14, 12 and 9 px: no lattice
    assert removal.window_lattice(labels, mask, concept_id("door"), concept_id("window")) is None
    labels, _, mask = _facade()
    assert removal.window_lattice(labels, mask, concept_id("tree"), concept_id("window")) is None


def test_a_session_removing_a_door_draws_the_missing_window(monkeypatch):
    monkeypatch.setattr(removal, "OFFSET_CONCEPTS", ())     # the offset copy could bring the window back too
    labels, photo, mask = _facade()
    editor = tiny_editor()
    op = removal_operation(mask, "door", "medium", labels, list(NAMES), editor.dissection)
    assert op.windows is not None and op.offset is None
    session = editor.fit(photo)
    session._cache_labels.update(labels=labels, trust=1.0)
    out = session.edit(mask, "door", "remove").image
    assert np.abs(out[28:32, 33:35].astype(int) - (30, 40, 80)).max() <= 40
    monkeypatch.setattr(removal, "LATTICE", False)
    assert removal_operation(mask, "door", "medium", labels, list(NAMES), editor.dissection).windows is None


# ---- a dome's walls --------------------------------------------------------------------------------------


def _domed_house():
    building, dome, sky = (concept_id(c) for c in ("building", "dome", "sky"))
    labels = np.full((64, 64), sky, np.uint8)
    labels[36:56, 16:48] = building
    yy, xx = np.mgrid[0:64, 0:64]
    labels[((yy - 36) / 14.0) ** 2 + ((xx - 32) / 11.5) ** 2 <= 1] = dome
    labels[36:, :][labels[36:, :] == dome] = building
    labels[42:48, 20:26] = concept_id("window")
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (64, 64, 3)).astype(np.uint8)   # walls with a pattern no generator redraws
    return labels, photo, dilate(labels != sky, 3)


def _draw(region, concept):
    return Operation("add", region, torch.ones(1, 1, 8, 8), None, torch.zeros(1, 32, 1, 1), concept)   # tiny: 32 units


def test_a_removed_domes_walls_are_the_facade_below_it_away_from_the_roof():
    labels, _, mask = _domed_house()
    op = removal_operation(mask, "dome", "medium", labels, list(NAMES), tiny_editor().dissection, _draw)
    walls = op.walls
    assert walls is not None and walls[44, 22] and walls[50, 40]     # the wall and its window
    assert not walls[:37].any() and not (walls & dilate(op.drawn.mask, 1)).any()
    assert not walls[~mask].any()


def test_a_session_keeps_a_removed_domes_walls_as_shot(monkeypatch):
    labels, photo, mask = _domed_house()
    editor = tiny_editor()
    session = editor.fit(photo)
    session._cache_labels.update(labels=labels, trust=1.0)
    inner = (slice(42, 52), slice(20, 44))
    for keep in (True, False):
        monkeypatch.setattr(removal, "KEEP_WALLS", keep)
        session.reset()
        session._apply(removal_operation(mask, "dome", "medium", labels, list(NAMES), editor.dissection, _draw))
        out = session.render()     # before the paste-back's multiband blend
        gap = np.abs(out[inner].astype(int) - photo[inner]).max()
        assert gap <= 2 if keep else gap > 20


# ---- a crisp roof where a dome was ----------------------------------------------------------------------


def _smeared_roof():
    """64 px: flat sky, a roof triangle (apex row 24, base row 36) over a wall; the render smears the roof's red
    over the sky around it, as the edit layer's coarse cells draw it."""
    sky = np.array((120, 160, 220), np.uint8)
    photo = np.zeros((64, 64, 3), np.uint8)
    photo[:] = sky
    photo[36:56, 16:48] = (200, 190, 170)
    yy, xx = np.mgrid[0:64, 0:64]
    roof = (yy <= 36) & (yy >= 24) & (np.abs(xx + 0.5 - 32) <= 16 * (yy - 23.5) / 12.5)
    mask = np.zeros((64, 64), bool)
    mask[18:37, 12:52] = True                       # the dome's painted mask over the sky and the roof
    render = photo.copy()
    render[dilate(roof, 4) & mask] = (150, 60, 50)  # the roof's colour runs over the sky beside it
    groups = np.full((64, 64), concept_id("sky"), np.int64)
    groups[36:56, 16:48] = concept_id("building")
    groups[roof] = concept_id("roof")
    return photo, render, roof, mask, groups


def test_a_drawn_roof_is_redrawn_crisp_and_the_sky_beside_it_continues_the_photos():
    photo, render, roof, mask, groups = _smeared_roof()
    out = removal.roof_fill(render, photo, roof, mask & ~roof, groups, mask)
    assert np.abs(out[roof].astype(int) - (150, 60, 50)).max() <= 3      # the render's roof colour, to its edges
    beside = mask & ~roof
    assert np.abs(out[beside].astype(int) - photo[beside]).max() <= 1          # the sky, no red smear left
    assert np.abs(render[beside].astype(int) - photo[beside]).max() > 50
    edge = dilate(mask, removal.ROOF_EDGE) & ~mask
    np.testing.assert_array_equal(out[edge], photo[edge])
    far = ~dilate(mask, removal.ROOF_EDGE)
    np.testing.assert_array_equal(out[far], render[far])


def test_a_session_removing_a_dome_draws_its_roof_crisp_unless_switched_off(monkeypatch):
    labels, photo, mask = _domed_house()
    photo[labels == concept_id("sky")] = (120, 160, 220)    # a flat sky: its continuation is its colour
    editor = tiny_editor()
    session = editor.fit(photo)
    session._cache_labels.update(labels=labels, trust=1.0)
    for crisp in (True, False):
        monkeypatch.setattr(removal, "CRISP_ROOF", crisp)
        session.reset()
        op = removal_operation(mask, "dome", "medium", labels, list(NAMES), editor.dissection, _draw)
        session._apply(op)
        out = session.render()     # before the paste-back's multiband blend
        beside = op.backdrop & (labels == concept_id("sky"))     # sky in the mask, beside the roof
        assert beside.sum() > 50
        gap = np.abs(out[beside].astype(int) - (120, 160, 220)).max()
        assert gap <= 2 if crisp else gap > 20


def test_row_fill_interpolates_along_the_row_between_sources_of_the_same_label():
    sky, cloud = concept_id("sky"), concept_id("cloud")
    photo = np.zeros((8, 16, 3), np.uint8)
    photo[:, :4] = 40
    photo[:, 12:] = 200
    groups = np.full((8, 16), sky, np.int64)
    groups[6:, 12:] = cloud                     # on the lowest rows the right side is cloud, not sky
    region = np.zeros((8, 16), bool)
    region[:, 4:12] = True
    sources = ~region
    values = removal.row_fill(photo, region, sources, groups).reshape(8, 8, 3)
    np.testing.assert_allclose(values[0, :, 0], 40 + 160 * np.arange(1, 9) / 9, atol=1e-3)   # linear in the row
    np.testing.assert_allclose(values[7, :, 0], 40)       # only the sky on the left continues into sky


# ---- what is behind a removed tree (round 5) ---------------------------------------------------------------


def _tree_before_a_wall():
    """64 px: sky, grass from row 40, a wall (rows 10-39, columns 10-30) and a tree in front of its right corner
    reaching far to the right (rows 18-45, columns 28-56), painted with a margin."""
    sky, grass, building, tree = (concept_id(c) for c in ("sky", "grass", "building", "tree"))
    labels = np.full((64, 64), sky, np.uint8)
    labels[40:] = grass
    labels[10:40, 10:31] = building
    labels[18:46, 28:57] = tree
    mask = np.zeros((64, 64), bool)
    mask[16:48, 26:59] = True
    return labels, mask


def test_a_walls_corner_behind_a_removed_tree_ends_where_its_edge_above_the_tree_does(monkeypatch):
    labels, mask = _tree_before_a_wall()
    building, sky = concept_id("building"), concept_id("sky")
    dissection = tiny_editor().dissection
    groups = removal_operation(mask, "tree", "medium", labels, list(NAMES), dissection).groups
    assert not (groups[:, 31:] == building).any()                 # no wall beyond the columns it shows
    assert (groups[20:30, 28:31] == building).all()               # the hidden corner itself stays wall
    assert (groups[20:30, 31:57] == sky).all()                    # the sky runs on beside it
    monkeypatch.setattr(removal, "BOXED_BEHIND", ())
    unboxed = removal_operation(mask, "tree", "medium", labels, list(NAMES), dissection).groups
    assert (unboxed[20:30, 31:37] == building).all()              # the fill alone runs the wall on sideways


def test_a_removed_trees_shadow_on_the_backdrop_joins_the_hole_with_the_photos_labels(monkeypatch):
    sky, grass, ground, tree, building = (concept_id(c) for c in ("sky", "grass", "ground", "tree", "building"))
    labels = np.full((64, 64), sky, np.uint8)
    labels[30:] = grass
    labels[30:, 20:29] = ground                                  # a path
    labels[12:30, 44:60] = building
    labels[14:44, 30:42] = tree
    mask = dilate(labels == tree, 2)
    mask[42:52, 22:50] = True                                    # the shadow, on the grass and the path
    mask[12:30, 42:46] = True                                    # the painting reaches the wall beside the tree
    op = removal_operation(mask, "tree", "medium", labels, list(NAMES), tiny_editor().dissection)
    shadow = mask & np.isin(labels, [grass, ground]) & ~dilate(labels == tree, 3)
    assert shadow.sum() > 100 and op.hole[shadow].all()             # the shadow goes
    assert (op.groups[shadow] == labels[shadow]).all()               # the path stays a path, the grass grass
    beside = (labels == building) & mask & ~dilate(labels == tree, removal.OBJECT_GROW)
    assert beside.any() and not op.hole[beside].any()                # what the photo shows beside it stays
    monkeypatch.setattr(removal, "BACKDROP_HOLE", ())
    plain = removal_operation(mask, "tree", "medium", labels, list(NAMES), tiny_editor().dissection)
    assert not plain.hole[shadow].any()


def test_a_removed_clouds_fringe_in_the_sky_joins_the_hole_and_a_roof_in_front_stays():
    sky, cloud, roof = (concept_id(c) for c in ("sky", "cloud", "roof"))
    labels = np.full((64, 64), sky, np.uint8)
    labels[10:22, 12:40] = cloud
    labels[20:40, 30:50] = roof                                  # a roof in front of the cloud's corner
    mask = dilate(labels == cloud, 4)                            # the cloud, its faint fringe and the blur's reach
    op = removal_operation(mask, "cloud", "medium", labels, list(NAMES), tiny_editor().dissection)
    fringe = mask & (labels == sky) & ~dilate(labels == cloud, removal.OBJECT_GROW)
    assert fringe.sum() > 50 and op.hole[fringe].all() and (op.groups[fringe] == sky).all()
    assert not op.hole[mask & (labels == roof)].any() and op.keep[mask & (labels == roof)].any()
