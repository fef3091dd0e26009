"""The trainers' one checkpoint helper: resume what was saved, and a save that dies midway leaves the last whole."""

from __future__ import annotations

import pytest
import torch

from ganpaint_core.training import checkpoint


def _parts(seed: int):
    torch.manual_seed(seed)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    return {"model": net, "opt": opt}


def test_resume_restores_parts_and_state(tmp_path):
    path = tmp_path / "run" / "ckpt.pt"
    saved = _parts(0)
    checkpoint.save_checkpoint(path, saved, {"step": 7})
    fresh = _parts(1)
    assert not torch.equal(fresh["model"].weight, saved["model"].weight)
    assert checkpoint.resume(path, fresh, {"step": 0}) == {"step": 7}
    assert torch.equal(fresh["model"].weight, saved["model"].weight)
    assert fresh["opt"].state_dict()["state"][0]["step"] == saved["opt"].state_dict()["state"][0]["step"]
    assert checkpoint.resume(tmp_path / "none.pt", fresh, {"step": 0}) == {"step": 0}
    with pytest.raises(ValueError, match="no 'ema'"):
        checkpoint.resume(path, {**fresh, "ema": torch.nn.Linear(3, 2)}, {})
    assert checkpoint.resume(path, {**fresh, "ema": torch.nn.Linear(3, 2)}, {}, optional=("ema",)) == {"step": 7}


def test_a_save_that_fails_midway_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    parts = _parts(0)
    checkpoint.save_checkpoint(path, parts, {"step": 1})
    before = path.read_bytes()

    def dies(obj, f):
        with open(f, "wb") as out:
            out.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies)
    with pytest.raises(OSError):
        checkpoint.save_checkpoint(path, parts, {"step": 2})
    assert path.read_bytes() == before
