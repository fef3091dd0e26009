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


def probe(**env) -> list[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "GANPAINT_OMP_WAIT", "GANPAINT_THREADS")}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT,
                          env={**clean, "PYTHONPATH": str(ROOT), **env}, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_wait_settings():
    assert wait_setting("passive") == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert wait_setting("Active") == {"OMP_WAIT_POLICY": "ACTIVE"}
    assert wait_setting("default") == {}
    assert wait_setting("10000") == {"GOMP_SPINCOUNT": "10000"}
    with pytest.raises(ValueError, match="spin count"):
        wait_setting("sometimes")


def test_the_demo_import_waits_passively_unless_told_otherwise():
    assert probe()[:2] == ["PASSIVE", "None"]
    assert probe(GANPAINT_OMP_WAIT="20000")[:2] == ["None", "20000"]
    assert probe(GANPAINT_OMP_WAIT="default")[:2] == ["None", "None"]
    assert probe(OMP_WAIT_POLICY="ACTIVE")[:2] == ["ACTIVE", "None"]       # the user's own setting wins
    assert probe(GANPAINT_THREADS="1")[2:] == ["1", "1"]


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
