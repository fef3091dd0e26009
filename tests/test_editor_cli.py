"""``python -m ganpaint_core edit`` end to end on a tiny saved model, and its clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from editor_support import blob, save_tiny_model
from PIL import Image

FAST_ARGS = ["--fit", "z_steps=2,r_steps=2,adapt_steps=6"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny_model"))


def _edit(*args):
    return subprocess.run([sys.executable, "-m", "ganpaint_core", "edit", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def _edit_here(capsys, *args) -> tuple[int, str]:
    """``edit`` through the command's entry point in this process (no interpreter and torch to start): the exit
    status and what it wrote to stderr.  Real processes: the runs here that write pictures, and a bad file's exit
    status and one line in test_upload_corpus.py::test_the_cli_reads_every_good_file_and_refuses_the_bad_ones."""
    from ganpaint_core.__main__ import COMMANDS
    from ganpaint_core.commands.cli import main

    capsys.readouterr()
    try:
        code = main("python -m ganpaint_core", "", COMMANDS, ["edit", *map(str, args)])
    except SystemExit as exit_:          # argparse's own errors
        code = exit_.code
    return code, capsys.readouterr().err


def test_edit_writes_the_picture_and_the_report(model_dir, photo_path, tmp_path):
    mask = tmp_path / "mask.png"
    full = np.zeros((96, 128), np.uint8)                 # drawn on the original photo (128x96)
    full[30:60, 50:90] = 255
    Image.fromarray(full).save(mask)
    out, report = tmp_path / "out.png", tmp_path / "report.json"
    done = _edit("--model", model_dir, "--image", photo_path, "--mask", mask, "--concept", "tree", "--action",
                 "remove", "--out", out, "--report", report, *FAST_ARGS)
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (128, 96)
    r = json.loads(report.read_text())
    for key in ("fit_seconds", "edit_seconds", "reconstruction_psnr", "reconstruction_ssim", "inversion_psnr",
                "outside_mask_psnr", "concept_share_before", "concept_share_after"):
        assert isinstance(r[key], float), key
    assert r["outside_mask_psnr"] > 35 and r["crop"] == [16, 0, 112, 96]


def test_appearance_copy_from_the_command_line(model_dir, photo_path, tmp_path, capsys):
    target, reference = tmp_path / "t.png", tmp_path / "r.png"
    Image.fromarray(blob(64, 4, 4, 16).astype(np.uint8) * 255).save(target)
    Image.fromarray(blob(64, 40, 40, 16).astype(np.uint8) * 255).save(reference)
    done = _edit("--model", model_dir, "--image", photo_path, "--mask", target, "--reference-mask", reference,
                 "--out", tmp_path / "o.png", *FAST_ARGS)
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "o.png").size == (128, 96)          # the photo's own size by default
    code, err = _edit_here(capsys, "--model", model_dir, "--image", photo_path, "--mask", target, "--reference-mask",
                           reference, "--out", tmp_path / "m.png", "--model-size", *FAST_ARGS)
    assert code == 0, err
    assert Image.open(tmp_path / "m.png").size == (64, 64)


@pytest.mark.parametrize("side", [256, 1024])
def test_output_has_the_photo_size_and_nothing_beyond_the_dilated_mask_changes(model_dir, tmp_path, side):
    from conftest import make_photo

    from ganpaint_core.editing.masks import dilate

    photo = make_photo(side, side + side // 4, seed=3)              # landscape: the model sees the centred square
    Image.fromarray(photo).save(tmp_path / "photo.png")
    mask = np.zeros(photo.shape[:2], bool)
    mask[side // 4:side // 2, side // 2:side * 3 // 4] = True
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    done = _edit("--model", model_dir, "--image", tmp_path / "photo.png", "--mask", tmp_path / "mask.png",
                 "--concept", "tree", "--action", "add", "--strength", "high", "--out", tmp_path / "o.png",
                 *FAST_ARGS)
    assert done.returncode == 0, done.stderr
    out = np.asarray(Image.open(tmp_path / "o.png"))
    assert out.shape == photo.shape
    scale = side / 64                                                # photo pixels per model pixel
    grown = dilate(mask, int(np.ceil((2 + 4 * 1.0 + 2) * scale)))   # paste radius + feathering + resampling
    assert np.array_equal(out[~grown], photo[~grown]), "pixels beyond the dilated mask must be the photo's"
    assert np.abs(out.astype(int) - photo)[mask].mean() > 1, "the painted region must change"


def test_arguments_are_checked_before_the_fit(model_dir, photo_path, tmp_path, capsys):
    mask = tmp_path / "mask.png"
    Image.fromarray(blob(64, 8, 8, 16).astype(np.uint8) * 255).save(mask)
    cases = ((["--strength", "enormous"], "unknown strength"), (["--strength", "2"], "in [0, 1]"),
             (["--out", tmp_path / "o.txt"], "picture file"))
    for extra, message in cases:
        code, err = _edit_here(capsys, "--model", model_dir, "--image", photo_path, "--mask", mask, "--concept", "tree",
                               "--action", "add", "--out", tmp_path / "o.png", *FAST_ARGS, *extra)
        assert code == 2 and message in err, err
        assert "fitting" not in err and "Traceback" not in err, "the error must come before the fit"


@pytest.mark.parametrize("case, message", [
    ("not_an_image", "not a readable image"),
    ("unknown_concept", "unknown concept"),
    ("unpaintable", "cannot be painted"),
    ("empty_mask", "mask is empty"),
    ("wrong_mask_size", "must be 64x64"),
])
def test_bad_input_is_one_clear_line(model_dir, photo_path, tmp_path, case, message, capsys):
    mask = tmp_path / "mask.png"
    Image.fromarray(blob(64, 8, 8, 16).astype(np.uint8) * 255).save(mask)
    image, concept = photo_path, "tree"
    if case == "not_an_image":
        image = tmp_path / "bad.jpg"
        image.write_bytes(b"\x00garbage")
    elif case == "unknown_concept":
        concept = "unicorn"
    elif case == "unpaintable":
        concept = "roof"
    elif case == "empty_mask":
        Image.fromarray(np.zeros((64, 64), np.uint8)).save(mask)
    elif case == "wrong_mask_size":
        Image.fromarray(np.full((40, 50), 255, np.uint8)).save(mask)
    code, err = _edit_here(capsys, "--model", model_dir, "--image", image, "--mask", mask, "--concept", concept,
                           "--action", "add", "--out", tmp_path / "o.png", *FAST_ARGS)
    assert code == 2
    assert message in err and "Traceback" not in err and "fitting" not in err
