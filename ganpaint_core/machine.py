"""Facts about the machine a command runs on, recorded with timings and used to place work: the CPU model, the
CPUs this process may use, a free local port.  Shared by the library, ``eval``, ``human_study`` and the tests."""

from __future__ import annotations

import os
import platform
import socket
import subprocess


def cpu_model() -> str:
    """The CPU model name as ``lscpu`` gives it (record it with every timing), else the platform's processor."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in text.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def cpu_count() -> int:
    """The CPUs this process may use (a SLURM or cgroup allotment where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
