"""``python -m ganpaint_core edit --model church`` end to end, on deterministic weights in a temporary cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from paper_support import needs_reference
from PIL import Image

pytestmark = needs_reference


def _offline(cache) -> dict:
    return {"GANPAINT_CACHE": str(cache), "http_proxy": "http://127.0.0.1:9",  # any download attempt
            "https_proxy": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}  # fails at once, offline


def _run(cache, *args):
    return subprocess.run([sys.executable, "-m", "ganpaint_core", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **_offline(cache)})


def _run_here(cache, monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """The command through its entry point in this process, offline with ``cache``: (exit status, stdout, stderr).
    The process itself: test_edit_with_the_church_model here, and a real process's one-line error in
    test_upload_corpus.py::test_the_cli_reads_every_good_file_and_refuses_the_bad_ones."""
    from ganpaint_core.__main__ import COMMANDS
    from ganpaint_core.commands.cli import main

    for name, value in _offline(cache).items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    try:
        code = main("python -m ganpaint_core", "", COMMANDS, list(map(str, args)))
    except SystemExit as exit_:          # argparse: --help and its own errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def test_edit_with_the_church_model(church_cache, photo_path, tmp_path):
    mask = np.zeros((96, 128), np.uint8)                 # drawn on the original photo (128x96)
    mask[30:60, 50:90] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out, report = tmp_path / "out.png", tmp_path / "report.json"
    done = _run(church_cache, "edit", "--model", "church", "--image", photo_path, "--mask", tmp_path / "mask.png",
                "--concept", "tree", "--action", "add", "--strength", "low", "--fit",
                "z_steps=1,r_steps=1,adapt_steps=1", "--out", out, "--report", report)
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (128, 96)             # the photo's size
    r = json.loads(report.read_text())
    assert r["size"] == 256 and r["concept"] == "tree" and "concept_share_before" not in r   # no segmenter
    assert r["outside_mask_psnr"] > 60                   # unchanged beyond the dilated mask (at the model's size)
    edited, photo = np.asarray(Image.open(out)), np.asarray(Image.open(photo_path))
    assert np.array_equal(edited[:, :16], photo[:, :16]) and np.array_equal(edited[:, 112:], photo[:, 112:])
    assert not np.array_equal(edited, photo)


@pytest.mark.parametrize("model, concept, message", [
    ("church", "unicorn", "unknown concept 'unicorn' for this model; it can paint: tree, grass, door, sky, cloud"),
    ("bedroom", "tree", "model 'bedroom' has no unit lists"),
])
def test_concepts_a_model_cannot_paint_fail_before_any_download(tmp_path, photo_path, model, concept, message,
                                                               monkeypatch, capsys):
    Image.fromarray(np.full((96, 128), 255, np.uint8)).save(tmp_path / "mask.png")
    code, _, err = _run_here(tmp_path / "empty_cache", monkeypatch, capsys, "edit", "--model", model, "--image",
                             photo_path, "--mask", tmp_path / "mask.png", "--concept", concept, "--action", "add",
                             "--out", tmp_path / "o.png")
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "empty_cache").exists()


def test_church_files_missing_offline_is_one_clear_line(tmp_path, photo_path, monkeypatch, capsys):
    Image.fromarray(np.full((96, 128), 255, np.uint8)).save(tmp_path / "mask.png")
    code, _, err = _run_here(tmp_path / "cache", monkeypatch, capsys, "edit", "--model", "church", "--image",
                             photo_path, "--mask", tmp_path / "mask.png", "--concept", "tree", "--action", "add",
                             "--out", tmp_path / "o.png")
    assert code == 2 and "Traceback" not in err
    assert err.count("\n") == 1 and "could not download http://gandissect.csail.mit.edu/models/" in err
    assert str(tmp_path / "cache" / "proggan_churchoutdoor-7e701dd5.pth") in err
    assert list((tmp_path / "cache").iterdir()) == []


def test_help_lists_each_models_own_concepts_and_strengths(tmp_path, monkeypatch, capsys):
    code, out, _ = _run_here(tmp_path / "cache", monkeypatch, capsys, "edit", "--help")
    text = " ".join(out.split())
    assert code == 0 and "church: tree, grass, door, sky, cloud, brick, dome" in text
    assert "church: 4 / 10 / 15" in text and "default: sky, cloud, tree" in text
