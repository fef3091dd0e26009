"""ganpaint_core.cpu: OpenMP's wait policy is chosen before torch loads it, and threads are settable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ganpaint_core.cpu import prepare_openmp, set_threads, wait_setting

ROOT = Path(__file__).resolve().parents[1]
PROBE = ("import os, ganpaint_core.shared_cpu as s, torch; print(os.environ.get('OMP_WAIT_POLICY'), "
         "os.environ.get('GOMP_SPINCOUNT'), s.THREADS, torch.get_num_threads())")


def probes(*envs: dict) -> list[list[str]]:
    """What PROBE prints in a fresh interpreter under each of ``envs`` (the interpreters run side by side)."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "GANPAINT_OMP_WAIT", "GANPAINT_THREADS")}
    running = [subprocess.Popen([sys.executable, "-c", PROBE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=ROOT, env={**clean, "PYTHONPATH": str(ROOT), **env}) for env in envs]
    outputs = []
    for proc in running:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outputs.append(out.split())
    return outputs


def test_wait_settings():
    assert wait_setting("passive") == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert wait_setting("Active") == {"OMP_WAIT_POLICY": "ACTIVE"}
    assert wait_setting("default") == {}
    assert wait_setting("10000") == {"GOMP_SPINCOUNT": "10000"}
    with pytest.raises(ValueError, match="spin count"):
        wait_setting("sometimes")


def test_the_demo_import_waits_passively_unless_told_otherwise():
    # the thread count rides on the user's-own-policy probe (a settings pair that does not interact): one torch
    # import fewer
    default, spin, torch_default, users = probes({}, {"GANPAINT_OMP_WAIT": "20000"}, {"GANPAINT_OMP_WAIT": "default"},
                                                 {"OMP_WAIT_POLICY": "ACTIVE", "GANPAINT_THREADS": "1"})
    assert default[:2] == ["PASSIVE", "None"]
    assert spin[:2] == ["None", "20000"]
    assert torch_default[:2] == ["None", "None"]
    assert users[:2] == ["ACTIVE", "None"]       # the user's own setting wins
    assert users[2:] == ["1", "1"] and default[2] == default[3]     # unset: torch's own count


def test_too_late_sets_nothing_and_threads_are_checked(monkeypatch):
    import torch

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert "torch" in sys.modules and prepare_openmp("passive") == {}
    assert "OMP_WAIT_POLICY" not in os.environ
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1
        monkeypatch.setenv("GANPAINT_THREADS", "many")
        with pytest.raises(ValueError, match="GANPAINT_THREADS"):
            set_threads()
        with pytest.raises(ValueError, match="at least 1"):
            set_threads(0)
    finally:
        torch.set_num_threads(before)
