"""A removed door, round 5: the facade's window lattice read from what shows (columns closer than two window
widths, a row of one window, a copy from a window with nothing in front of it) and the wall's own colour where the
door was (ganpaint_core.editing.removal: window_lattice, facade_wall, wall_fill)."""

from __future__ import annotations

import numpy as np
from editor_support import tiny_editor

from ganpaint_core.concepts import NAMES, concept_id
from ganpaint_core.editing import removal
from ganpaint_core.editing.removal import removal_operation

BUILDING, WINDOW, DOOR, GRASS, TREE = (concept_id(c) for c in ("building", "window", "door", "grass", "tree"))
WALL, GLASS, WOOD = (180, 120, 100), (30, 40, 80), (60, 30, 10)


def _facade(columns, tops=(12, 26), hidden=(), width=6, door=(30, 38)):
    """64 px: a wall with windows ``width`` px wide and 8 tall at ``columns`` (left edges) in rows at ``tops``, those
    at (left, top) in ``hidden`` left out where a door (columns ``door``, rows 40-55) stands; the painted mask covers
    the door and the windows' places above it."""
    labels = np.full((64, 64), BUILDING, np.uint8)
    labels[56:] = GRASS
    photo = np.zeros((64, 64, 3), np.uint8)
    photo[:] = WALL
    photo[56:] = (60, 140, 50)
    for left in columns:
        for top in tops:
            if (left, top) not in hidden:
                labels[top:top + 8, left:left + width] = WINDOW
                photo[top:top + 8, left:left + width] = GLASS
    labels[40:56, door[0]:door[1]] = DOOR
    photo[40:56, door[0]:door[1]] = WOOD
    mask = np.zeros((64, 64), bool)
    mask[10:57, door[0] - 4:door[1] + 4] = True
    return labels, photo, mask


def _lattice(labels, mask):
    return removal.window_lattice(labels, mask, DOOR, WINDOW)


def test_columns_closer_than_two_window_widths_still_make_a_lattice():
    # four columns 10 px apart, windows 7 px wide (1.4 widths: the scene world's four-column facades); the door
    # hides the third column's lower window
    labels, photo, mask = _facade(columns=(12, 22, 32, 42), hidden={(32, 26)}, width=7, door=(31, 40))
    shifts = _lattice(labels, mask)
    assert shifts is not None
    out = removal.lattice_fill(photo, photo, shifts)
    assert (out[27:33, 33:38] == GLASS).all()                     # the window back where the lattice has one
    assert not shifts[12:20].any()                                 # the upper row is whole: nothing drawn there
    removal.LATTICE_MIN_SPACING, old = 2.0, removal.LATTICE_MIN_SPACING
    try:
        assert _lattice(labels, mask) is None                      # the former guard refused this facade
    finally:
        removal.LATTICE_MIN_SPACING = old


def test_a_row_of_one_window_on_the_lattice_gets_its_missing_windows():
    # the upper row shows the lattice (7, 19, 31, 43); the lower row shows only the window at 7 (a tree hides 43),
    # and the door stands in column 31 of that row
    labels, photo, mask = _facade(columns=(7, 19, 31, 43), hidden={(19, 26), (31, 26), (43, 26)})
    labels[24:36, 40:52] = TREE
    photo[24:36, 40:52] = (40, 110, 40)
    shifts = _lattice(labels, mask)
    assert shifts is not None
    out = removal.lattice_fill(photo, photo, shifts)
    assert (out[27:33, 32:36] == GLASS).all()                      # the lone window's row takes column 31's window
    assert not shifts[:, :26].any()                                # only over the door: not at column 19


def test_a_lone_small_opening_does_not_count_as_a_row():
    # a tower's small opening (4 px tall) on the lattice's column is not a window row
    labels, photo, mask = _facade(columns=(7, 19, 31, 43), tops=(12,))
    labels[30:34, 32:36] = WINDOW
    assert _lattice(labels, mask) is None


def test_a_missing_window_is_copied_from_a_window_with_nothing_in_front_of_it():
    # lower row: windows at 19 and 43 both 12 px from the door's column 31; a tree covers the one at 19
    labels, photo, mask = _facade(columns=(7, 19, 31, 43), hidden={(7, 26), (31, 26)})
    labels[27:36, 17:21] = TREE
    photo[27:36, 17:21] = (40, 110, 40)
    shifts = _lattice(labels, mask)
    assert shifts is not None and set(np.unique(shifts)) <= {0, 12}  # taken from the right (43), not the left
    out = removal.lattice_fill(photo, photo, shifts)
    assert not (out[mask] == (40, 110, 40)).all(axis=-1).any()     # no tree comes along


def test_the_doors_place_takes_the_walls_colour_along_its_rows():
    labels, photo, mask = _facade(columns=(7, 19, 31, 43), tops=(12,))
    photo = photo.astype(np.float32)
    photo[:56] *= np.linspace(0.8, 1.1, 56)[:, None, None]           # the wall's shading with height
    photo = photo.astype(np.uint8)
    groups = labels.copy()
    groups[labels == DOOR] = BUILDING                                  # the hole's predicted label: the wall
    pixels, source = removal.facade_wall(labels, groups, mask, BUILDING)
    assert pixels[45, 34] and not pixels[60, 34] and not pixels[15, 33]   # wall in the mask; not grass, window
    assert not source[mask].any() and not source[14, 12]              # from outside the mask, not a window
    out = removal.wall_fill(photo, photo, pixels, source)
    rows = slice(40, 53)                                               # the door's rows, off its foot's edge
    assert np.abs(out[rows, 31:37].astype(int) - photo[rows, 10:11].astype(int)).max() <= 3   # each row's wall
    assert np.corrcoef(out[rows, 34, 0], photo[rows, 10, 0])[0, 1] > 0.95                      # its shading
    assert (out[~pixels] == photo[~pixels]).all()


def test_a_session_removing_a_door_shows_the_wall_unless_switched_off(monkeypatch):
    monkeypatch.setattr(removal, "OFFSET_CONCEPTS", ())     # a shifted copy of this even facade would fit too
    labels, photo, mask = _facade(columns=(7, 19, 31, 43), tops=(12,))
    editor = tiny_editor()
    op = removal_operation(mask, "door", "medium", labels, list(NAMES), editor.dissection)
    assert op.wall is not None
    session = editor.fit(photo)
    session._cache_labels.update(labels=labels, trust=1.0)
    door = (slice(42, 54), slice(31, 37))
    filled = session.edit(mask, "door", "remove").image
    session.reset()
    monkeypatch.setattr(removal, "WALL_FILL", False)
    plain = session.edit(mask, "door", "remove").image
    error = [np.abs(img[door].astype(int) - WALL).mean() for img in (filled, plain)]
    assert error[0] <= 6 and error[0] < error[1] / 2
    assert removal_operation(mask, "door", "medium", labels, list(NAMES), editor.dissection).wall is None


def test_a_tree_before_a_removed_door_stays_as_shot_unless_switched_off(monkeypatch):
    monkeypatch.setattr(removal, "OFFSET_CONCEPTS", ())
    labels, photo, mask = _facade(columns=(7, 19, 31, 43), tops=(12,))
    tree = np.zeros_like(mask)
    tree[42:58, 20:31] = True                                      # over the door's left edge, and beside it
    labels[tree] = TREE
    photo[tree] = (40, 110, 40)
    editor = tiny_editor()
    op = removal_operation(mask, "door", "medium", labels, list(NAMES), editor.dissection)
    assert op.front is not None and (op.front == (tree & mask)).all()
    session = editor.fit(photo)
    session._cache_labels.update(labels=labels, trust=1.0)
    inside = tree & mask                                           # the tree inside the painted mask
    shot = session.edit(mask, "door", "remove").image
    session.reset()
    monkeypatch.setattr(removal, "FRONT_SHOT", False)
    rendered = session.edit(mask, "door", "remove").image
    error = [np.abs(img[inside].astype(int) - photo[inside]).mean() for img in (shot, rendered)]
    assert error[0] <= 8 and error[0] < error[1] / 3       # the paste-back's blend moves it a little
    assert removal_operation(mask, "door", "medium", labels, list(NAMES), editor.dissection).front is None
