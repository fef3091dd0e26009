"""CPU threads and OpenMP's wait policy, for fits and edits that share the machine (docs/speed.md).

OpenMP threads that spin while they wait make torch fastest alone and many times slower beside other
work (docs/editor.md); waiting passively is the reverse.  OpenMP reads its policy once, when torch loads
it, so ``prepare_openmp`` must run before the first ``import torch`` (this module does not import torch
at load).  ``set_threads`` sets torch's thread count at run time.  Both are settable from outside:

- ``GANPAINT_OMP_WAIT``: ``passive`` | ``active`` | ``default`` (OpenMP's own: spin a while, then sleep) |
  a number (``GOMP_SPINCOUNT``: spin that many iterations, then sleep).  An ``OMP_WAIT_POLICY`` or
  ``GOMP_SPINCOUNT`` already in the environment wins over both this and the caller's default.
- ``GANPAINT_THREADS``: torch threads (default: torch's, one per core).

``torch_threads(n)`` runs a block of small work (the add's placement search) on ``n`` threads and restores the
count after; OpenMP keeps the count per calling thread, so other threads' work keeps its own.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

WAIT_ENV = "GANPAINT_OMP_WAIT"
THREADS_ENV = "GANPAINT_THREADS"
WAITS = ("passive", "active", "default")


def wait_setting(wait: str) -> dict[str, str]:
    """The environment variables that make OpenMP wait as ``wait`` says (see the module doc)."""
    wait = str(wait).strip().lower()
    if wait in ("passive", "active"):
        return {"OMP_WAIT_POLICY": wait.upper()}
    if wait == "default":
        return {}
    if wait.isdigit():
        return {"GOMP_SPINCOUNT": wait}
    raise ValueError(f"OpenMP wait {wait!r}: use {', '.join(WAITS)} or a spin count")


def prepare_openmp(default: str = "passive") -> dict[str, str]:
    """Choose OpenMP's wait policy before torch loads it; the variables set (empty where none were).

    ``$GANPAINT_OMP_WAIT`` overrides ``default``; a user's own ``OMP_WAIT_POLICY`` / ``GOMP_SPINCOUNT``
    is left alone.  Once torch is imported it is too late: nothing is set (``{}``), as when a test
    imports the demo after torch.
    """
    if "torch" in sys.modules:
        return {}
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return {}
    chosen = wait_setting(os.environ.get(WAIT_ENV) or default)
    os.environ.update(chosen)
    return chosen


def set_threads(threads: int | None = None) -> int:
    """Set torch's threads: ``threads``, else ``$GANPAINT_THREADS``, else leave torch's; the count in use."""
    import torch

    if threads is None and os.environ.get(THREADS_ENV):
        value = os.environ[THREADS_ENV]
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{THREADS_ENV}={value!r} is not a positive thread count")
        threads = int(value)
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()


@contextmanager
def torch_threads(threads: int):
    """torch's threads set to ``threads`` for the calling thread's work inside the block, then restored."""
    import torch

    before = torch.get_num_threads()
    if before == threads:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
