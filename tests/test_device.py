"""``--device`` and the editor's memory format: auto resolves here, cuda without a GPU is one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from editor_support import blob, tiny_editor

import app
from ganpaint_core.editing.editor import Editor
from ganpaint_core.metrics import psnr
from ganpaint_core.precision import resolve_device

ROOT = Path(__file__).resolve().parent.parent
no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")


@no_gpu
def test_auto_resolves_to_cpu_without_a_gpu():
    assert resolve_device("auto") == torch.device("cpu")
    assert Editor(tiny_editor().generator, device="auto").device == torch.device("cpu")


@no_gpu
@pytest.mark.parametrize("argv", [
    ["ganpaint_core", "edit", "--image", "x.png", "--mask", "m.png", "--concept", "tree", "--action", "add",
     "--out", "o.png"],
    ["eval", "bench", "--scaling", "none"],
    ["eval", "run", "--photos", "scenes:1", "--out", "out"],
])
def test_cuda_without_a_gpu_is_one_clear_line(argv, tmp_path, monkeypatch, capsys):
    """``eval run`` in a real process (its exit status and stderr as a shell sees them); the other two commands
    through their entry points in this process (the same ``main`` turns the error into that one line)."""
    if argv[:2] == ["eval", "run"]:
        done = subprocess.run([sys.executable, "-m", *argv, "--device", "cuda"], capture_output=True, text=True,
                              timeout=300, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
        code, err = done.returncode, done.stderr
    else:
        import importlib

        from ganpaint_core.commands.cli import main

        monkeypatch.chdir(tmp_path)
        commands = importlib.import_module(f"{argv[0]}.__main__").COMMANDS
        capsys.readouterr()
        code, err = main(f"python -m {argv[0]}", "", commands, [*argv[1:], "--device", "cuda"]), capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err[-2000:]
    assert "'cuda'" in lines[0] and "no CUDA GPU" in lines[0] and "Traceback" not in err


@no_gpu
def test_demo_with_cuda_without_a_gpu_is_one_clear_line(capsys):
    with pytest.raises(SystemExit) as stop:
        app.main(["--device", "cuda"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no CUDA GPU" in err[0]


def test_channels_last_is_the_cpu_default_and_fits_alike(photo):
    fast = tiny_editor()
    parts = tiny_editor()
    plain = Editor(parts.generator, parts.segmenter, dissection=parts.dissection, options=parts.options,
                   channels_last=False)
    assert fast.channels_last and not plain.channels_last
    assert fast.generator.layer5.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert plain.generator.layer5.conv.weight.is_contiguous()
    results = []
    for editor in (fast, plain):
        torch.manual_seed(0)
        session = editor.fit(photo)
        results.append((session.reconstruction(), session.edit(blob(editor.size, 20, 20, 16), "tree", "add").image))
    (rec_a, edit_a), (rec_b, edit_b) = results
    assert psnr(rec_a, rec_b) > 40 and psnr(edit_a, edit_b) > 40
    assert not np.array_equal(edit_a, rec_a)
