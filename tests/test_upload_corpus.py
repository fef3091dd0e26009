"""The upload corpus (8/16-bit, grey, palette, RGBA, CMYK, EXIF-rotated, huge, tiny, not an image) through the
demo's handler, through gradio_client against a served demo, and through the CLI: one loader, one behaviour."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import upload_corpus
from editor_support import save_tiny_model, tiny_editor
from PIL import Image

import app
from ganpaint_core.editing.session_cache import SessionCache
from ganpaint_core.photo import load_photo


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return upload_corpus.build(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


def test_the_loader_reads_every_good_file_and_refuses_the_bad_ones(corpus):
    good, bad = corpus
    for name, (path, expected) in good.items():
        np.testing.assert_array_equal(load_photo(path), expected, err_msg=name)
    for path, words in bad.values():
        with pytest.raises(ValueError, match=words):
            load_photo(path)


def test_the_handler_reads_uploads_with_the_loader(corpus, monkeypatch):
    import gradio as gr
    from gradio.data_classes import FileData

    monkeypatch.setattr(app, "_editors", {app.MODEL: tiny_editor()})
    monkeypatch.setattr(app, "CACHE", SessionCache(2))
    canvas = app.photo_editor(type="numpy", image_mode="RGBA")
    good, bad = corpus
    for name, (path, expected) in good.items():
        background = canvas.convert_and_format_image(FileData(path=str(path), orig_name=name), True)
        np.testing.assert_array_equal(background, expected, err_msg=name)
    result, *_ = app.fit_photo({"background": background, "layers": [], "composite": None}, None,
                               lambda *a, **k: None)
    np.testing.assert_array_equal(np.asarray(Image.open(result).convert("RGB")), good["exif_rotated.jpg"][1])
    for name, (path, words) in bad.items():
        with pytest.raises(gr.Error, match=words):
            canvas.convert_and_format_image(FileData(path=str(path), orig_name=name), True)


@pytest.fixture(scope="module")
def served(served_tiny_demo):
    """The session's served demo on the tiny model (conftest.py)."""
    return served_tiny_demo[0]


def test_gradio_client_uploads_give_the_loaded_photo_or_a_sentence(served, corpus):
    from gradio_client import Client, handle_file

    good, bad = corpus
    for name, (path, expected) in good.items():
        client = Client(served, verbose=False)
        fitted = client.predict({"background": handle_file(str(path)), "layers": [], "composite": None},
                                api_name="/fit")
        np.testing.assert_array_equal(np.asarray(Image.open(fitted[0]).convert("RGB")), expected, err_msg=name)
    for path, words in bad.values():
        client = Client(served, verbose=False)
        with pytest.raises(Exception, match=words):
            client.predict({"background": handle_file(str(path)), "layers": [], "composite": None}, api_name="/fit")


def test_the_cli_reads_every_good_file_and_refuses_the_bad_ones(corpus, model_dir, tmp_path, capsys):
    """Every file through the edit command's own entry point in this process (a process per file spent ~90% of the
    test starting Python and torch); one bad file through a real ``python -m ganpaint_core`` process, for the exit
    code and the one line on stderr a shell sees (good files in a real process: test_editor_cli.py)."""
    from ganpaint_core.__main__ import COMMANDS
    from ganpaint_core.commands.cli import main

    good, bad = corpus
    mask = np.zeros((48, 64), np.uint8)
    mask[10:30, 20:40] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    base = ["edit", "--model", str(model_dir), "--mask", str(tmp_path / "mask.png"),
            "--concept", "tree", "--action", "add", "--fit", "z_steps=1,r_steps=1,adapt_steps=2"]
    outside = np.ones((48, 64), bool)
    outside[0:48, 8:56] = False                  # the edit's reach: the mask grown by paste radius and feathering
    for name, (path, expected) in good.items():
        out = tmp_path / f"{name}.out.png"
        assert main("python -m ganpaint_core", "", COMMANDS, [*base, "--image", str(path), "--out", str(out)]) == 0, \
            f"{name}: {capsys.readouterr().err}"
        edited = np.asarray(Image.open(out))
        assert edited.shape == expected.shape, name
        np.testing.assert_array_equal(edited[outside], expected[outside], err_msg=name)
    capsys.readouterr()
    for name, (path, words) in bad.items():
        code = main("python -m ganpaint_core", "", COMMANDS,
                    [*base, "--image", str(path), "--out", str(tmp_path / "x.png")])
        err = capsys.readouterr().err
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, (name, err)
    name, (path, words) = next(iter(bad.items()))
    done = subprocess.run([sys.executable, "-m", "ganpaint_core", *base, "--image", str(path), "--out",
                           str(tmp_path / "x.png")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr, (name, done.stderr)
