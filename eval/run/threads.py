"""Threads per task: the one setting that makes an evaluation's numbers independent of workers and back-end.

Torch splits a convolution's or a matrix product's float sums over its intra-op
threads, so a fit with 2 threads and one with 1 thread add in different orders;
over a few hundred optimiser steps those last-bit differences grow into different
fits (issue 25: up to 27% relative in a column between ``--workers 1`` and
``--scheduler local:2``).  Every task therefore runs with the same fixed number
of threads (``--threads``, default ``TASK_THREADS``) wherever it runs.
"""

from __future__ import annotations

import contextlib

from ganpaint_core.machine import cpu_count

TASK_THREADS = 1


def check_threads(threads: int) -> int:
    """``threads`` if it is a usable thread count; ValueError otherwise."""
    if int(threads) < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    return int(threads)


def pool_size(workers: int, threads: int) -> int:
    """Worker processes for ``--workers`` (0: as many as the CPUs hold at ``threads`` each)."""
    if workers < 0:
        raise ValueError("--workers must be 0 (as many as the CPUs hold) or more")
    return workers or max(1, cpu_count() // threads)


@contextlib.contextmanager
def task_threads(threads: int = TASK_THREADS):
    """Run the block with torch's intra-op thread count set to ``threads``; the previous count afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(check_threads(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)
