"""human_study build: sessions, catch trials, anonymised images, the static study and the MTurk export."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.commands.cli import main
from human_study.__main__ import COMMANDS
from human_study.build import build
from human_study.common import read_manifest
from human_study.demo import DEMO_BASELINES, write_demo_pairs
from human_study.images import broken_composite

IMAGE_BASE = "https://images.study-host.net/study/"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("hs_build")
    pairs = write_demo_pairs(root / "pairs", tasks=12)
    build(pairs, root / "study", trials_per_session=20, practice=3, catch=0.1, exposure_ms=1000, seed=3,
          completion_code="CODE123", image_base_url=IMAGE_BASE, display_px=96)
    return root / "study"


def test_manifest_sessions_are_balanced_and_complete(study):
    rows = read_manifest(study)
    scored = [r for r in rows if r["phase"] == "scored"]
    assert len(scored) == 12 * len(DEMO_BASELINES)                      # every pair shown exactly once
    assert len({r["pair_id"] for r in scored}) == len(scored)
    sessions = sorted({r["session"] for r in rows})
    assert sessions == [0, 1]                                            # 36 pairs / 18 scored per session
    for s in sessions:
        mine = [r for r in rows if r["session"] == s]
        assert [r["position"] for r in mine] == list(range(len(mine)))
        assert [r["phase"] for r in mine[:3]] == ["practice"] * 3
        counts = [sum(r["baseline"] == b for r in mine) for b in DEMO_BASELINES]
        assert max(counts) - min(counts) <= 1, counts                   # methods balanced within a session
        catch = [r for r in mine if r["catch"]]
        assert len(catch) == 2 and all(r["methods"] == "original|broken" for r in catch)
        sides = [r["ours_side"] for r in mine if r["phase"] == "scored"]
        assert abs(sides.count("left") - sides.count("right")) <= 1       # left/right balanced
        body = [r["phase"] for r in mine[3:]]
        assert body != sorted(body)                                      # catch trials mixed in, not appended
    for r in rows:
        side_methods = {"left": r["method_left"], "right": r["method_right"]}
        if r["phase"] == "scored":
            assert side_methods[r["ours_side"]] == "ours" and r["baseline"] in side_methods.values()
        else:
            assert side_methods[r["correct_side"]] == "original"
        assert (study / r["left"]).is_file() and (study / r["right"]).is_file()


def test_participants_cannot_see_method_names_or_the_code(study):
    served = [study / "index.html", study / "study-data.js", study / "mturk" / "template.html",
              study / "mturk" / "batch_input.csv"]
    names = ("ours", "copy_paste", "poisson", "plain_g", "original", "broken", "CODE123", "task0")
    for path in served:
        text = path.read_text()
        for name in names:
            assert name not in text, f"{name!r} leaks in {path.name}"
    assert all(re.fullmatch(r"[0-9a-f]{20}\.png", p.name) for p in (study / "img").iterdir())
    assert json.loads((study / "server.json").read_text())["completion_code"] == "CODE123"


def test_local_study_is_offline_and_mturk_template_uses_crowd_form(study):
    for name in ("index.html", "study.js", "study.css"):
        text = (study / name).read_text()
        assert "http://" not in text and "https://" not in text, f"{name} must not load anything remote"
        assert "${" not in text
    data = (study / "study-data.js").read_text()
    config = json.loads(data.removeprefix("window.STUDY = ").rstrip().rstrip(";"))
    assert config["exposure_ms"] == 1000 and len(config["sessions"]) == 2
    first = config["sessions"][0]
    assert [t["phase"] for t in first[:3]] == ["practice"] * 3 and all("correct" in t for t in first[:3])
    assert not any("correct" in t for t in first[3:])                     # no answer key for scored/catch trials
    template = (study / "mturk" / "template.html").read_text()
    assert template.count("<crowd-form>") == 1 and "https://assets.crowd.aws/crowd-html-elements.js" in template
    assert "${session}" in template and "${trials}" in template and 'name="answers"' in template
    assert 'name="comments"' in template and "/*JS*/" not in template and "/*CONFIG*/" not in template
    with open(study / "mturk" / "batch_input.csv", newline="") as f:
        batch = list(csv.DictReader(f))
    assert [int(r["session"]) for r in batch] == [0, 1]
    assert json.loads(batch[1]["trials"]) == config["sessions"][1]
    readme = (study / "mturk" / "README.md").read_text()
    assert "workersandbox.mturk.com/mturk/externalSubmit" in readme and "www.mturk.com/mturk/externalSubmit" in readme


def test_catch_composite_is_obviously_broken():
    rng = np.random.default_rng(0)
    original = np.full((48, 48, 3), 120, np.uint8)
    original[:, :, 0] = np.linspace(0, 255, 48, dtype=np.uint8)
    mask = np.zeros((48, 48), bool)
    mask[10:16, 20:26] = True
    broken = broken_composite(original, mask, rng)
    changed = np.abs(broken.astype(int) - original).sum(-1) > 60
    assert changed.mean() > 0.12                                         # grown well beyond the small mask
    assert changed[mask].mean() > 0.9
    block = broken_composite(original, mask, rng, style="block")
    assert (block[mask] == (255, 0, 255)).all()


def test_catch_images_differ_from_originals(study):
    rows = [r for r in read_manifest(study) if r["catch"]]
    for r in rows:
        images = {r["method_left"]: r["left"], r["method_right"]: r["right"]}
        a = np.asarray(Image.open(study / images["original"]), int)
        b = np.asarray(Image.open(study / images["broken"]), int)
        assert (np.abs(a - b).sum(-1) > 60).mean() > 0.1


def test_bad_input_is_a_one_line_error(tmp_path, capsys):
    assert main("hs", "", COMMANDS, ["build", "--pairs", str(tmp_path / "nope"), "--out", str(tmp_path / "s")]) == 2
    assert "no manifest.csv" in capsys.readouterr().err
    pairs = write_demo_pairs(tmp_path / "pairs", tasks=2)
    assert main("hs", "", COMMANDS, ["build", "--pairs", str(pairs), "--out", str(tmp_path / "s"),
                                     "--catch", "0.9"]) == 2
    (pairs / "images" / "task000" / "poisson.png").unlink()
    assert main("hs", "", COMMANDS, ["build", "--pairs", str(pairs), "--out", str(tmp_path / "s")]) == 2
    assert "missing image" in capsys.readouterr().err
