"""The scene world: determinism, vocabulary, concept shares, pairs and argument errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ganpaint_core.concepts import NAMES, NUM_CONCEPTS
from ganpaint_core.scenes import HELDOUT_SEED_START, render, render_batch, sample_scene
from ganpaint_core.scenes.pairs import PAIR_KINDS, find_pairs, render_pair


def test_same_seed_same_pixels():
    a = render(sample_scene(123), 96)
    b = render(sample_scene(123), 96)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    c = render(sample_scene(124), 96)
    assert not np.array_equal(a[0], c[0])


def test_batch_matches_single_renders():
    images, labels = render_batch([5, 6, 7], 64, workers=2, progress=False)
    for i, seed in enumerate([5, 6, 7]):
        rgb, lab = render(sample_scene(seed), 64)
        assert np.array_equal(images[i], rgb) and np.array_equal(labels[i], lab)


def test_shapes_types_and_vocabulary():
    for seed in range(20):
        rgb, lab = render(sample_scene(seed), 80)
        assert rgb.shape == (80, 80, 3) and rgb.dtype == np.uint8
        assert lab.shape == (80, 80) and lab.dtype == np.uint8
        assert lab.max() < NUM_CONCEPTS


def test_concept_shares_over_1000_scenes():
    _, labels = render_batch(range(HELDOUT_SEED_START, HELDOUT_SEED_START + 1000), 64, workers=2, progress=False)
    presence = {name: float((labels == i).any(axis=(1, 2)).mean()) for i, name in enumerate(NAMES)}
    share = {name: float((labels == i).mean()) for i, name in enumerate(NAMES)}
    print("\nconcept   present-in  pixel-share")
    for name in NAMES:
        print(f"{name:9s} {presence[name]:10.2f} {share[name]:12.3f}")
    # Large concepts are in (nearly) every scene, with sizeable areas.
    for name in ("sky", "grass", "tree", "building"):
        assert presence[name] >= 0.85, name
    assert 0.25 <= share["sky"] <= 0.6 and 0.15 <= share["grass"] <= 0.5
    assert 0.04 <= share["building"] <= 0.25 and 0.03 <= share["tree"] <= 0.2
    # Parts of buildings are common but small; domes and clouds are optional.
    for name in ("door", "window", "roof"):
        assert presence[name] >= 0.5, name
        assert 0.002 <= share[name] <= 0.06, name
    for name in ("dome", "cloud", "ground"):
        assert 0.25 <= presence[name] <= 0.9, name


@pytest.mark.parametrize("kind", PAIR_KINDS)
def test_pair_differs_only_inside_its_mask(kind):
    pair = find_pairs(kind, 1, HELDOUT_SEED_START, size=96)[0]
    changed = np.any(pair.before_rgb != pair.after_rgb, axis=-1)
    assert changed.any(), "the edit must change something"
    assert not (changed & ~pair.mask).any(), "pixels outside the mask changed"
    assert not ((pair.before_labels != pair.after_labels) & ~pair.mask).any()
    concept = NAMES.index(pair.concept)
    before = (pair.before_labels[pair.mask] == concept).mean()
    after = (pair.after_labels[pair.mask] == concept).mean()
    assert (after < before) if pair.action == "remove" else (after > before)


def test_pair_of_a_scene_without_the_object_is_a_clear_error():
    seed = next(s for s in range(1000) if not sample_scene(s).trees)
    with pytest.raises(ValueError, match="no tree"):
        render_pair(seed, 64, "remove_tree")
    with pytest.raises(ValueError, match="unknown pair kind"):
        render_pair(0, 64, "paint_it_black")


def test_size_below_minimum_is_rejected():
    with pytest.raises(ValueError, match="at least 32"):
        render(sample_scene(0), 16)


def _export(*args):
    return subprocess.run([sys.executable, "-m", "ganpaint_core", "scenes", "export", *args],
                          capture_output=True, text=True)


def test_export_writes_images_labels_concepts_and_pairs(tmp_path):
    out = tmp_path / "world"
    res = _export("--n", "3", "--size", "48", "--seed", "7", "--out", str(out), "--workers", "1",
                  "--pairs", "--pairs-per-kind", "1")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (out / "images").iterdir()) == ["00000007.png", "00000008.png", "00000009.png"]
    assert len(list((out / "labels").iterdir())) == 3
    info = json.loads((out / "concepts.json").read_text())
    assert [c["name"] for c in info["concepts"]] == list(NAMES)
    assert (out / "pairs" / "pairs.csv").read_text().count("\n") == len(PAIR_KINDS) + 1


def _export_here(*args) -> int:
    """``scenes export`` through the command's entry point in this process (the errors are under test, not the
    interpreter; test_export_writes_… runs the real process)."""
    from ganpaint_core.__main__ import COMMANDS
    from ganpaint_core.commands.cli import main

    return main("python -m ganpaint_core", "", COMMANDS, ["scenes", "export", *args])


@pytest.mark.parametrize("args, message", [
    (["--n", "0"], "--n must be at least 1"),
    (["--n", "2", "--size", "16"], "--size must be at least 32"),
])
def test_export_bad_arguments(tmp_path, capsys, args, message):
    assert _export_here(*args, "--out", str(tmp_path / "x")) == 2      # an unexpected exception would propagate
    assert message in capsys.readouterr().err


def test_export_unwritable_dir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert _export_here("--n", "1", "--out", str(blocker / "out")) == 2
    assert "cannot write to output folder" in capsys.readouterr().err
