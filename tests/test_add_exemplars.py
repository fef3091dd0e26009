"""Exemplar adds: the generator's own instance shapes, kept with the model and placed in the painted region."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from ganpaint_core.concepts import NAMES, concept_id
from ganpaint_core.dissection.exemplars import collect_exemplars, instances, load_exemplars, save_exemplars, shape_of
from ganpaint_core.editing.edits import concept_operation
from ganpaint_core.editing.placement import fit_exemplar, object_region, target_region
from ganpaint_core.models import MODELS_DIR
from ganpaint_core.morphology import dilate

TREE, SKY = concept_id("tree"), concept_id("sky")


def tree_shape(h: int, w: int) -> np.ndarray:
    """A canopy (a disc over the upper two thirds) on a thin trunk, filling an h x w box."""
    yy, xx = np.mgrid[:h, :w]
    canopy = ((yy - h / 3) / (h / 3)) ** 2 + ((xx - (w - 1) / 2) / (w / 2)) ** 2 <= 1
    trunk = (yy >= h * 0.6) & (np.abs(xx - (w - 1) / 2) <= max(1, w // 10))
    return canopy | trunk


def test_instances_are_whole_objects_of_some_size():
    labels = np.full((64, 64), SKY, np.uint8)
    labels[10:30, 20:34] = TREE          # kept
    labels[40:64, 5:15] = TREE           # cut by the border
    labels[45:48, 40:43] = TREE          # too small
    found = instances(labels, TREE, min_pixels=40)
    assert len(found) == 1 and found[0].shape == (20, 14) and found[0].all()
    shape = shape_of(found[0], 24)
    assert shape.shape == (24, 24) and shape.dtype == np.uint8 and shape.min() == 255


class OneTreeWorld:
    """Each sample: sky with one tree-shaped red object, its size and place drawn from z."""

    z_dim = 3

    def features(self, z, layer):
        return z

    def render_from(self, z, layer):
        out = -torch.ones(z.shape[0], 3, 64, 64)
        for i, v in enumerate(z):
            h = 16 + int(abs(float(v[0])) * 6) % 16
            w = max(6, h * 2 // 3)
            top, left = 8 + int(abs(float(v[1])) * 10) % 20, 8 + int(abs(float(v[2])) * 10) % 30
            out[i, 0, top:top + h, left:left + w] = torch.from_numpy(tree_shape(h, w)).float() * 2 - 1
        return out


class RedIsTree:
    def predict(self, images):
        return np.where(images[..., 0] > 127, TREE, SKY).astype(np.uint8)


def test_exemplars_are_the_generators_instances_and_survive_a_round_trip(tmp_path):
    found = collect_exemplars(OneTreeWorld(), RedIsTree(), samples=12, batch=5, per_concept=10, progress=False)
    assert set(found) == {"tree"}                       # sky touches the border: stuff, no exemplars
    tree = found["tree"]
    assert tree["shapes"].shape == (10, 24, 24) and tree["sizes"].shape == (10, 2)
    assert (tree["sizes"][:, 0] >= 14).all() and (tree["sizes"][:, 1] < tree["sizes"][:, 0]).all()
    back = load_exemplars(save_exemplars(tmp_path / "ex.safetensors", found, {"samples": 12}))
    assert np.array_equal(back["tree"]["shapes"], tree["shapes"]) and np.allclose(back["tree"]["sizes"],
                                                                                  tree["sizes"])
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="not a readable exemplars file"):
        load_exemplars(tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match="samples"):
        collect_exemplars(OneTreeWorld(), RedIsTree(), samples=0)


def test_the_tree_goes_where_the_painting_says_and_leaves_its_shadow_out():
    shapes = np.stack([shape_of(tree_shape(30, 20), 24), shape_of(tree_shape(30, 30), 24)])
    exemplars = {"shapes": shapes, "sizes": np.array([[30, 20], [30, 30]], np.float32)}
    truth = np.zeros((128, 128), bool)
    truth[40:100, 50:90] = tree_shape(60, 40)
    yy, xx = np.mgrid[:128, :128]
    shadow = ((yy - 100) / 5) ** 2 + ((xx - 95) / 25) ** 2 <= 1      # a flat ellipse at the tree's foot
    mask = truth | shadow
    placed = fit_exemplar(mask, exemplars)
    assert not (placed & ~mask).any()
    iou = (placed & truth).sum() / (placed | truth).sum()
    assert iou > 0.75, iou
    assert (placed & shadow & ~truth).sum() < 0.2 * (shadow & ~truth).sum()
    with pytest.raises(ValueError, match="empty"):
        fit_exemplar(np.zeros((128, 128), bool), exemplars)


def test_a_dome_leaves_the_walls_stays_on_its_roof_and_a_concept_without_exemplars_takes_the_whole_mask():
    from ganpaint_core.editing.placement import REPLACE_REACH

    mask = np.zeros((64, 64), bool)
    mask[10:50, 10:50] = True
    labels = np.full((64, 64), concept_id("roof"), np.uint8)
    labels[30:, :] = concept_id("building")
    target = target_region(mask, "dome", labels, NAMES)
    assert target[10:30, 10:50].all() and not target[30:].any()
    labels[:24] = SKY                                 # a low roof (rows 24-29) under a painting that takes in sky
    target = target_region(mask, "dome", labels, NAMES)
    assert target[24 - REPLACE_REACH:30, 10:50].all() and not target[:24 - REPLACE_REACH].any()
    assert not target[30:].any()
    labels[24:30] = SKY                               # no roof at all under the painting: the sky stays in
    assert np.array_equal(target_region(mask, "dome", labels, NAMES), mask & (np.arange(64) < 30)[:, None])
    assert np.array_equal(target_region(mask, "door", labels, NAMES), mask)
    assert np.array_equal(object_region(mask, "dome", None, labels, NAMES), mask)


def test_an_exemplar_add_draws_on_the_objects_cells_and_strength_sets_the_blend_then_the_size():
    dissection = {"units": [{"unit": u, "high": 5.0} for u in range(3)],
                  "concepts": {"tree": {"units": [0], "levels": [1.0, -2.0, 3.0]}}}
    exemplars = {"tree": {"shapes": shape_of(tree_shape(30, 20), 24)[None], "sizes": np.array([[30, 20]], np.float32)}}
    r = torch.zeros(1, 3, 8, 8)
    mask = np.zeros((128, 128), bool)
    mask[20:120, 10:110] = True                        # painted far wider than a tree of that height
    ops = {s: concept_operation(r, dissection, mask, "tree", "add", s, add_mode="exemplar", exemplars=exemplars)
           for s in ("low", "medium", "high")}
    yy, xx = np.mgrid[:128, :128]
    oval = ((yy - 64) / 50) ** 2 + ((xx - 64) / 30) ** 2 <= 1     # a tall oval: a larger tree spills past its rim
    sizes = [int(concept_operation(r, dissection, oval, "tree", "add", s, add_mode="exemplar",
                                   exemplars=exemplars).mask.sum()) for s in ("low", "medium", "high")]
    op = ops["medium"]
    assert op.painted is mask and not (op.mask & ~mask).any() and op.mask.sum() < 0.6 * mask.sum()
    cells = F.adaptive_max_pool2d(torch.from_numpy(op.mask.astype(np.float32))[None, None], 8)[0, 0] > 0
    out = op.apply(r)[0]
    assert torch.equal(out[:, cells], torch.tensor([1.0, -2.0, 3.0])[:, None].expand(3, int(cells.sum())))
    assert out[:, ~cells].eq(0).all()
    blends = [float(ops[s].apply(r)[0, 0][cells][0]) for s in ("low", "medium", "high")]
    assert blends == [0.5, 1.0, 1.0]                   # up to medium the strength blends the levels in ...
    assert sizes[0] < sizes[1] < sizes[2]              # ... and sets how much of the painting the tree fills
    levels = concept_operation(r, dissection, mask, "tree", "add", add_mode="exemplar")      # no exemplars
    assert np.array_equal(levels.mask, mask)
    from ganpaint_core.editing.editor import FitOptions

    with pytest.raises(ValueError, match="add mode"):
        FitOptions(add_mode="paint")


def test_a_model_folder_keeps_its_exemplars_and_dissect_rebuilds_them(tmp_path, capsys):
    from editor_support import save_tiny_model

    import ganpaint_core.__main__ as cli
    from ganpaint_core.commands.cli import main
    from ganpaint_core.models import load_folder, save_model

    folder = save_tiny_model(tmp_path / "tiny")
    bundle = load_folder(folder)
    assert bundle.exemplars is None
    bundle.exemplars = {"door": {"shapes": np.full((2, 24, 24), 255, np.uint8),
                                 "sizes": np.array([[12, 6], [10, 5]], np.float32)}}
    back = load_folder(save_model(tmp_path / "copy", bundle, half=False))
    assert np.array_equal(back.exemplars["door"]["shapes"], bundle.exemplars["door"]["shapes"])
    args = ["dissect", "--model", str(folder), "--exemplars-only"]
    assert main("python -m ganpaint_core", "", cli.COMMANDS, [*args, "--exemplar-samples", "0"]) == 2
    assert "needs --exemplar-samples" in capsys.readouterr().err
    assert main("python -m ganpaint_core", "", cli.COMMANDS, [*args, "--exemplar-samples", "4", "--batch", "2"]) == 0
    assert "exemplar shapes per concept" in capsys.readouterr().out
    assert (folder / "exemplars.safetensors").is_file() and isinstance(load_folder(folder).exemplars, dict)


# ---- on the shipped default model (slow) -----------------------------------------------------------------------
DEFAULT = MODELS_DIR / "default"
NEEDED = ("generator.safetensors", "segmenter.safetensors", "dissection.json", "exemplars.safetensors")
shipped = pytest.mark.skipif(not all((DEFAULT / f).is_file() for f in NEEDED),
                             reason="the default model is not shipped")
QUICK = dict(z_steps=12, r_steps=12, adapt_steps=30)


@pytest.fixture(scope="module")
def editor():
    from ganpaint_core.editing.editor import Editor

    return Editor.from_pretrained(str(DEFAULT))


@pytest.mark.slow
@shipped
def test_an_exemplar_add_on_a_generator_sample_draws_a_tree_where_painted_and_nothing_outside(editor):
    from ganpaint_core import metrics as M
    from ganpaint_core.editing.masks import dilate
    from ganpaint_core.imaging import to_uint8

    with torch.inference_mode():
        sample = to_uint8(editor.generator(torch.randn(1, editor.generator.z_dim,
                                                       generator=torch.Generator().manual_seed(3))))[0]
    labels = editor.segment(sample)
    mask = np.zeros_like(labels, dtype=bool)
    mask[70:118, 44:84] = True                         # a tree-sized stroke low in the picture
    session = editor.fit(sample, **QUICK)
    result = session.edit(mask, "tree", "add")
    placed = session.operations[-1].mask
    after = editor.segment(result.image)
    assert placed.sum() > 0.3 * mask.sum() and not (placed & ~mask).any()
    assert M.concept_share(after, "tree", placed) >= 0.5
    assert M.concept_share(after, "tree", mask) - M.concept_share(labels, "tree", mask) >= 0.25
    beyond = ~dilate(mask, session.options.paste_radius + 3)
    assert np.array_equal(result.image[beyond], session.photo[beyond])


@pytest.mark.slow
@shipped
def test_the_default_add_is_closer_to_the_truth_than_the_unedited_photo(editor):
    """Held-out scene tasks not used for tuning (seeds from HELDOUT_SEED_START + 900_000)."""
    from ganpaint_core import metrics as M
    from ganpaint_core.scenes import HELDOUT_SEED_START
    from ganpaint_core.scenes.pairs import find_pairs

    start = HELDOUT_SEED_START + 900_000
    ours, unedited = {}, {}
    for kind in ("add_tree", "add_dome"):
        for pair in find_pairs(kind, 2, start, editor.size):
            session = editor.fit(pair.before_rgb)
            image = session.edit(pair.mask, pair.concept, "add").image
            ours.setdefault(kind, []).append(M.label_accuracy(editor.segment(image), pair.after_labels, pair.mask))
            unedited.setdefault(kind, []).append(M.label_accuracy(editor.segment(session.photo), pair.after_labels,
                                                                  pair.mask))
    means = {k: (float(np.mean(ours[k])), float(np.mean(unedited[k]))) for k in ours}
    print("label accuracy (ours, unedited):", means)
    assert all(o > u for o, u in means.values()), means
    assert np.mean(sum(ours.values(), [])) >= np.mean(sum(unedited.values(), [])) + 0.05, means


def test_an_exemplar_add_also_sets_the_finer_layers_levels_on_its_own_grid():
    from ganpaint_core.editing.edits import fine_edits

    dissection = {"units": [{"unit": u, "high": 5.0} for u in range(2)], "fine_layer": "layer6",
                  "concepts": {"door": {"units": [0], "levels": [1.0, 2.0], "fine_levels": [7.0, -7.0, 0.5]},
                               "tree": {"units": [1], "levels": [0.0, 1.0]}}}
    mask = np.zeros((128, 128), bool)
    mask[64:80, 32:40] = True                          # one 16 px layer4 cell high, half a cell wide
    r = torch.zeros(1, 2, 8, 8)
    door = concept_operation(r, dissection, mask, "door", "add", add_mode="exemplar")
    assert door.fine is not None and door.fine.layer == "layer6"
    x = door.fine.apply(torch.zeros(1, 3, 16, 16))[0]
    assert torch.equal(x[:, 8:10, 4], torch.tensor([7.0, -7.0, 0.5])[:, None].expand(3, 2))
    assert x[:, :, 5:].eq(0).all() and x[:, :8].eq(0).all()     # the finer grid follows the mask more closely
    assert concept_operation(r, dissection, mask, "door", "add", add_mode="exemplar", fine=False).fine is None
    assert concept_operation(r, dissection, mask, "tree", "add", add_mode="exemplar").fine is None  # no levels
    twice = fine_edits([door, door])["layer6"](torch.zeros(1, 3, 16, 16))
    assert torch.equal(twice, x[None]) and fine_edits([]) is None


def test_a_finer_layer_edit_runs_inside_every_kind_of_render():
    from editor_support import tiny_editor

    from ganpaint_core.editing.adaptation import PlainGenerator, WeightAdaptation

    g = tiny_editor().generator
    r = g.features(torch.randn(2, g.z_dim, generator=torch.Generator().manual_seed(0)), "layer4")
    layer = g.layer_names[g.layer_names.index("layer4") + 2]
    with torch.no_grad():
        plain = PlainGenerator(g, "layer4").render(r)
        same = PlainGenerator(g, "layer4").render(r, edit={layer: lambda x: x})
        edited = PlainGenerator(g, "layer4").render(r, edit={layer: lambda x: x * 0})
        weights = WeightAdaptation(g, "layer4").render(r, edit={layer: lambda x: x * 0})
    assert torch.equal(plain, same) and not torch.allclose(plain, edited)
    assert torch.allclose(weights, edited, atol=1e-6)


def _objective(placed_shape: np.ndarray, top: int, left: int, target: np.ndarray, penalty: float) -> float:
    """|E & T| - penalty |E \\ T| of a shape placed at (top, left) over ``target`` (the search's objective)."""
    canvas = np.zeros((target.shape[0] + 2 * placed_shape.shape[0], target.shape[1] + 2 * placed_shape.shape[1]),
                      bool)
    oy, ox = placed_shape.shape[0], placed_shape.shape[1]
    canvas[oy + top:oy + top + placed_shape.shape[0], ox + left:ox + left + placed_shape.shape[1]] = placed_shape
    inside = canvas[oy:oy + target.shape[0], ox:ox + target.shape[1]]
    return float((inside & target).sum() - penalty * (placed_shape.sum() - (inside & target).sum()))


def test_the_coarse_to_fine_search_finds_what_an_exhaustive_search_finds():
    """Every height, exemplar and position tried at full size against the search's coarse-then-refine answer."""
    from ganpaint_core.editing import placement as P

    rng = np.random.default_rng(0)
    shapes = np.stack([shape_of(tree_shape(30, 20), 24), shape_of(tree_shape(30, 30), 24),
                       shape_of(np.ones((10, 30), bool), 24)])
    exemplars = {"shapes": shapes, "sizes": np.array([[30, 20], [30, 30], [10, 30]], np.float32)}
    aspects = exemplars["sizes"][:, 1] / exemplars["sizes"][:, 0]
    bank = P.Templates(**exemplars)
    for trial in range(4):
        target = np.zeros((64, 64), bool)
        h, w = rng.integers(20, 40), rng.integers(14, 36)
        top, left = rng.integers(2, 64 - h), rng.integers(2, 64 - w)
        target[top:top + h, left:left + w] = tree_shape(h, w)
        target[top + h - 4:top + h, max(0, left - 8):left + w] |= True           # a shadow band at its foot
        best = -np.inf
        for e in range(len(shapes)):
            for fh in range(8, 45):
                fw = max(1, min(64, int(round(fh * aspects[e]))))
                k = torch.from_numpy(bank.kernel(e, fh, 64).astype(np.float32))
                score = 3 * F.conv2d(F.pad(torch.from_numpy(target.astype(np.float32))[None, None],
                                           (fw - 1, fw - 1, fh - 1, fh - 1)), k[None, None]) - 2 * k.sum()
                best = max(best, float(score.max()))
        found = P.place(target, exemplars, search=8).region
        assert not (found & ~target).any() and found.any()
        value, e, fh, y, x = P.search_placement(target, P.templates(exemplars), search=8)
        shape = P.templates(exemplars).kernel(e, fh, 64)
        assert value == pytest.approx(_objective(shape, y, x, target, P.PENALTY), abs=1e-3)   # what it claims
        assert value >= 0.95 * best, (trial, value, best)


def test_a_region_placed_again_is_not_searched_again_and_a_new_one_is():
    from ganpaint_core.editing import placement as P

    shapes = np.stack([shape_of(tree_shape(30, 20), 24), shape_of(tree_shape(30, 30), 24)])
    exemplars = {"shapes": shapes, "sizes": np.array([[30, 20], [30, 30]], np.float32)}
    mask = np.zeros((128, 128), bool)
    mask[30:100, 20:70] = True
    searches = []
    real = P._place

    def counted(*args):
        searches.append(1)
        return real(*args)

    P._place = counted
    try:
        first = fit_exemplar(mask, exemplars)
        first[:] = False                                # the caller's copy: what is kept stays intact
        again = fit_exemplar(mask, exemplars)
        moved = fit_exemplar(np.roll(mask, 30, axis=1), exemplars)
    finally:
        P._place = real
    assert len(searches) == 2 and again.any() and not (again & ~mask).any()
    assert np.array_equal(np.roll(again, 30, axis=1), moved)
    assert [P.fft_size(n) for n in (1, 7, 11, 13, 17, 31, 97)] == [1, 8, 12, 15, 18, 32, 100]
    placed = P.place(mask, exemplars)                     # the region lies in the placed exemplar's box
    box = np.zeros_like(mask)
    box[max(0, placed.top):placed.top + placed.height, max(0, placed.left):placed.left + placed.width] = True
    assert np.array_equal(placed.region, again) and not (placed.region & ~box).any()
    assert placed.region.sum() > 0.5 * box[mask].sum()


def test_placements_from_several_threads_at_once_are_those_of_one_thread():
    """The demo's sessions edit side by side: the kept templates and placements are shared by them."""
    from concurrent.futures import ThreadPoolExecutor

    shapes = np.stack([shape_of(tree_shape(30, 20), 24), shape_of(tree_shape(30, 30), 24),
                       shape_of(tree_shape(20, 30), 24)])
    sizes = np.array([[30, 20], [30, 30], [20, 30]], np.float32)
    rng = np.random.default_rng(1)
    masks = []
    for _ in range(12):
        m = np.zeros((128, 128), bool)
        h, w = rng.integers(24, 80), rng.integers(16, 70)
        top, left = rng.integers(0, 128 - h), rng.integers(0, 128 - w)
        m[top:top + h, left:left + w] = tree_shape(h, w)
        masks.append(m)
    alone = [fit_exemplar(m, {"shapes": shapes, "sizes": sizes}) for m in masks]
    shared = {"shapes": shapes, "sizes": sizes}
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda m: fit_exemplar(m, shared), masks * 2))
    assert all(np.array_equal(a, b) for a, b in zip(alone * 2, together, strict=True))


@shipped
def test_the_placement_bench_writes_its_times_and_refuses_bad_sizes(tmp_path):
    import argparse
    import json

    from eval.bench import placement as bench

    out = tmp_path / "bench.json"
    args = argparse.Namespace(out=str(out), masks=1, repeats=1, sizes="64")
    assert bench.run(args) == 0
    result = json.loads(out.read_text())
    assert result["cpu_model"] and result["masks"] == 2 and set(result["sizes"]) == {"64"}
    assert set(result["sizes"]["64"]) == {"cold", "prepared", "prepare_ms", "new_mask", "again"}
    assert all(v["cpu_ms"] >= 0 for v in result["sizes"]["64"].values())
    with pytest.raises(ValueError, match="16 px or more"):
        bench.run(argparse.Namespace(out=str(out), masks=1, repeats=1, sizes="8"))
    with pytest.raises(ValueError, match="at least 1"):
        bench.run(argparse.Namespace(out=str(out), masks=0, repeats=1, sizes="64"))


def test_a_tree_sits_inside_the_painted_rim_and_a_dome_does_not_shrink():
    from ganpaint_core.editing.placement import INSET, INSET_MIN
    from ganpaint_core.morphology import erode

    for size in (128, 256):
        mask = np.zeros((size, size), bool)
        mask[size // 4:size // 2, size // 3:size // 2] = True
        inset = INSET["tree"] * size // 128
        target = target_region(mask, "tree")
        assert np.array_equal(target, erode(mask, inset)) and target.sum() < mask.sum()
        rows = np.nonzero(target.any(1))[0]
        assert rows.min() == size // 4 + inset and rows.max() == size // 2 - 1 - inset
    assert np.array_equal(target_region(mask, "dome"), mask)        # no inset: a dome is cut to its roof instead
    small = np.zeros((128, 128), bool)
    small[60:65, 60:66] = True                                       # eroded, fewer than INSET_MIN px would be left
    assert erode(small, INSET["tree"]).sum() < INSET_MIN
    assert np.array_equal(target_region(small, "tree"), small)


def test_an_added_tree_keeps_its_own_colour_where_the_full_pyramid_took_the_photos():
    from ganpaint_core.editing.compose import paste_into_photo
    from ganpaint_core.editing.edits import PASTE_LEVELS, paste_levels
    from ganpaint_core.photo import Crop

    grass, tree = np.array([110, 170, 60], np.uint8), np.array([30, 80, 30], np.uint8)
    photo = np.broadcast_to(grass, (128, 128, 3)).copy()
    render = np.broadcast_to(tree, (128, 128, 3)).copy()
    region = np.zeros((128, 128), bool)
    region[50:80, 50:72] = True                                      # a tree-sized object
    crop = Crop.centred(128, 128, 128)
    full = paste_into_photo(photo, crop, render, region)
    few = paste_into_photo(photo, crop, render, region, levels=paste_levels("tree", 128))
    error = {k: float(np.abs(v[region].astype(float) - tree).mean()) for k, v in (("full", full), ("few", few))}
    assert error["few"] < 0.5 * error["full"] and error["few"] < 8, error
    outside = ~dilate(region, 2 + 2)
    assert np.array_equal(few[outside], photo[outside])              # the photo beyond the feathered region stays
    assert paste_levels("tree", 128) == PASTE_LEVELS["tree"] and paste_levels("tree", 256) == PASTE_LEVELS["tree"] + 1
    assert paste_levels("dome", 128) is None

    dissection = {"units": [{"unit": u, "high": 5.0} for u in range(3)],
                  "concepts": {c: {"units": [0], "levels": [1.0, -2.0, 3.0]} for c in ("tree", "dome")}}
    exemplars = {"tree": {"shapes": shape_of(tree_shape(30, 20), 24)[None], "sizes": np.array([[30, 20]], np.float32)}}
    mask = np.zeros((128, 128), bool)
    mask[30:90, 40:80] = True
    r = torch.zeros(1, 3, 8, 8)
    assert concept_operation(r, dissection, mask, "tree", "add", exemplars=exemplars).paste_levels == 2
    assert concept_operation(r, dissection, mask, "dome", "add", exemplars=exemplars).paste_levels is None
    assert concept_operation(r, dissection, mask, "tree", "add", add_mode="levels").paste_levels is None


def test_a_sessions_tree_add_is_pasted_with_the_trees_levels(editor):
    from ganpaint_core.editing.compose import paste_into_photo
    from ganpaint_core.imaging import to_uint8

    with torch.inference_mode():
        sample = to_uint8(editor.generator(torch.randn(1, editor.generator.z_dim,
                                                       generator=torch.Generator().manual_seed(3))))[0]
    session = editor.fit(sample, **QUICK)
    mask = np.zeros((128, 128), bool)
    mask[70:118, 44:84] = True
    session.edit(mask, "tree", "add")
    o, raw = session.options, session.render(paste_back=False)
    expected = paste_into_photo(session.original, session.crop, raw, session.edited_region(), o.paste_radius,
                                o.paste_sigma, o.paste_blend, session.operations[-1].paste_levels)
    assert session.operations[-1].paste_levels is not None
    assert np.array_equal(session.to_photo(), expected)

    removed = np.zeros((128, 128), bool)                 # a removal beside it keeps the paste of every band
    removed[20:50, 4:40] = True
    session.reset()
    session.edit(removed, "tree", "remove")
    session.edit(mask, "tree", "add")
    raw, out = session.render(paste_back=False), session.to_photo()
    every = paste_into_photo(session.original, session.crop, raw, session.edited_region(), o.paste_radius,
                             o.paste_sigma, o.paste_blend)
    tree = dilate(session.operations[-1].mask, o.paste_radius + 2 * int(np.ceil(o.paste_sigma)) + 1)
    assert np.array_equal(out[~tree], every[~tree]) and not np.array_equal(out[tree], every[tree])


def test_the_added_trees_figure_turns_the_levers_off_and_back_on_and_refuses_bad_arguments(tmp_path):
    from argparse import Namespace

    from eval.studies.added_trees import levers_off, run
    from ganpaint_core.editing import edits, placement

    mask = np.zeros((128, 128), bool)
    mask[40:90, 40:80] = True
    with levers_off():
        assert not placement.INSET and not edits.PASTE_LEVELS and placement.concept_penalty("tree") == placement.PENALTY
        assert np.array_equal(target_region(mask, "tree"), mask)
    assert placement.INSET["tree"] > 0 and edits.PASTE_LEVELS["tree"] > 0
    assert placement.concept_penalty("tree") < placement.PENALTY
    assert target_region(mask, "tree").sum() < mask.sum()
    with pytest.raises(ValueError, match="tasks"):
        run(Namespace(out=str(tmp_path / "a.jpg"), model="default", tasks=0, fit=""))
    with pytest.raises(ValueError, match="jpg"):
        run(Namespace(out=str(tmp_path / "a.png"), model="default", tasks=2, fit=""))


@pytest.mark.slow
@shipped
def test_an_added_tree_reads_as_a_tree_darker_than_the_grass_it_covers(editor):
    """Held-out add_tree scene tasks (seeds from HELDOUT_SEED_START + 900_000, not tuned on): the segmenter reads
    tree on most of the placed object, which is darker than the photo there; without the tree's inset and
    paste-back bands (the add before them) it read tree on less."""
    from eval.studies.added_trees import levers_off
    from ganpaint_core import metrics as M
    from ganpaint_core.scenes import HELDOUT_SEED_START
    from ganpaint_core.scenes.pairs import find_pairs

    def luminance(x):
        return x.astype(float) @ [0.299, 0.587, 0.114]

    shares, darker, before = [], [], []
    for pair in find_pairs("add_tree", 3, HELDOUT_SEED_START + 900_000, editor.size):
        session = editor.fit(pair.before_rgb)
        with levers_off():
            image = session.edit(pair.mask, "tree", "add").image
            before.append(M.concept_share(editor.segment(image), "tree", session.operations[-1].mask))
        session.reset()
        image = session.edit(pair.mask, "tree", "add").image
        placed = session.operations[-1].mask
        shares.append(M.concept_share(editor.segment(image), "tree", placed))
        darker.append(luminance(session.photo)[placed].mean() - luminance(image)[placed].mean())
    print("tree share in the placed object (after, before):", shares, before, "darker by:", darker)
    assert np.mean(shares) >= 0.7 and np.mean(shares) >= np.mean(before) + 0.1, (shares, before)
    # measured (AMD EPYC): darker by 4.2, 15.7, 29.9 (the first: a tree that fills more of its painting, placed
    # otherwise, now read as tree on 0.59 of it, before 0.42 at 9.1 darker; docs/edits.md, round 4: adds)
    assert min(darker) >= 3 and np.mean(darker) >= 10, darker


def test_the_demos_strength_slider_visibly_changes_an_added_tree(editor):
    """The demo's slider (0.33, its default 0.67, 1.0) on held-out add_tree scenes (seeds from HELDOUT_SEED_START +
    910_000, not tuned on): each step changes the picture inside the painting visibly; low fades the tree, high
    grows it to fill more of the painting, and the segmenter reads more tree in the painting at each step."""
    import app
    from ganpaint_core import metrics as M
    from ganpaint_core.scenes import HELDOUT_SEED_START
    from ganpaint_core.scenes.pairs import find_pairs

    assert app.default_strength(editor.dissection) == 0.67
    steps, shares, sizes = [], [], []
    for pair in find_pairs("add_tree", 3, HELDOUT_SEED_START + 910_000, editor.size):
        session = editor.fit(pair.before_rgb)
        images, share, size = [], [], []
        for strength in (0.33, 0.67, 1.0):
            session.reset()
            images.append(session.edit(pair.mask, "tree", "add", strength).image.astype(float))
            share.append(M.concept_share(editor.segment(images[-1].astype(np.uint8)), "tree", pair.mask))
            size.append(int(session.operations[-1].mask.sum()))
        steps.append([np.abs(a - b)[pair.mask].mean() for a, b in zip(images[:-1], images[1:], strict=True)])
        shares.append(share)
        sizes.append(size)
    print("mean |change| in the painting per step (0-255):", steps, "tree share:", shares, "object px:", sizes)
    assert all(s[0] < s[1] < s[2] for s in sizes)
    assert np.min(steps) >= 3 and np.mean(steps, axis=0).min() >= 5, steps
    assert np.all(np.diff(np.mean(shares, axis=0)) > 0.02), shares


def test_a_tree_has_its_own_placement_penalty_and_growth_divides_it():
    from ganpaint_core.editing.placement import PENALTY, concept_penalty

    assert concept_penalty("tree") == 1.5 < concept_penalty("dome") == PENALTY
    assert concept_penalty("tree", 2.25) == pytest.approx(1.5 / 2.25) and concept_penalty("dome", 0.25) == 4 * PENALTY
    with pytest.raises(ValueError, match="positive"):
        concept_penalty("tree", 0.0)
