"""``eval run --scheduler`` on real Dask clusters of 2 worker processes: same tables as the local pool, a worker
killed mid-run, photos that always fail (unreadable; too large for the worker's memory)."""

from __future__ import annotations

import csv
import os
import signal
import threading
import time
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ganpaint_core.commands.cli import main

FIT = "z_steps=2,r_steps=2,adapt_steps=2"          # tiny: the scheduling is under test, not the quality
METHODS = "ours,plain_g,copy_paste"
TIMINGS = ["seconds", "fit_seconds"]               # wall times differ from run to run; every other column must not
WORKER_MEMORY = "1.2GB"                            # a worker holds ~0.35 GB after loading the tiny model
pytestmark = pytest.mark.usefixtures("without_plots")   # the scheduling is under test, not the report's plots


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from eval.bench.editor import write_random_model

    return str(write_random_model(tmp_path_factory.mktemp("model") / "tiny", sizes=[32, 32, 32, 16, 16],
                                  dissection_samples=4))


@contextmanager
def local_cluster(memory_limit: str = WORKER_MEMORY):
    """A LocalCluster (2 processes, 1 thread each, a memory limit, one retry after a worker death)."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                         memory_limit=memory_limit) as c, Client(c) as client:
        yield c, client


@pytest.fixture(scope="module")
def cluster():
    with local_cluster() as pair:
        yield pair


def _run(model, *argv):
    from eval.__main__ import COMMANDS

    return main("python -m eval", "", COMMANDS, ["run", "--model", model, "--fit", FIT, "--methods", METHODS, *argv])


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _table(path):
    frame = pd.read_csv(path, na_values=["n/a"])
    return frame.drop(columns=[c for c in TIMINGS if c in frame])


def test_bad_scheduler_is_a_clear_error(tmp_path, model, capsys):
    assert _run(model, "--photos", "scenes:2", "--out", str(tmp_path / "o"), "--scheduler", "local:0") == 2
    assert "local:N needs N >= 1" in capsys.readouterr().err
    assert _run(model, "--photos", "scenes:2", "--out", str(tmp_path / "o"), "--scheduler", "somehost:8786") == 2
    assert "tcp://HOST:8786" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_one_worker_two_workers_and_a_local_cluster_give_the_same_tables_bit_for_bit(tmp_path, model):
    single, pool, dask_out = tmp_path / "single", tmp_path / "pool", tmp_path / "dask"
    assert _run(model, "--photos", "scenes:2", "--out", str(single), "--workers", "1") == 0   # this process
    assert _run(model, "--photos", "scenes:2", "--out", str(pool), "--workers", "2") == 0
    assert _run(model, "--photos", "scenes:2", "--out", str(dask_out), "--scheduler", "local:2") == 0
    for name in ("edits.csv", "reconstruction.csv"):
        # Every task runs on --threads (1) torch threads wherever it runs, with the same seeds: bit for bit equal.
        for other in (pool, dask_out):
            pd.testing.assert_frame_equal(_table(single / name), _table(other / name), check_exact=True)
    assert len(_rows(dask_out / "edits.csv")) == 2 * 3 and _rows(dask_out / "failures.csv") == []
    pictures = sorted(p.relative_to(pool) for p in (pool / "pairs").rglob("*.png"))
    assert pictures == sorted(p.relative_to(dask_out) for p in (dask_out / "pairs").rglob("*.png"))
    assert all((pool / p).read_bytes() == (dask_out / p).read_bytes() == (single / p).read_bytes()
               for p in pictures)   # sent back, written
    assert "on Dask (local:2)" in (dask_out / "summary.md").read_text()
    before = (dask_out / "edits.csv").read_text()
    assert _run(model, "--photos", "scenes:2", "--out", str(dask_out), "--scheduler", "local:2") == 0   # resume
    assert (dask_out / "edits.csv").read_text() == before


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_worker_killed_mid_run_loses_no_task_and_counts_none_twice(tmp_path, model, cluster):
    local_cluster, client = cluster
    out, n = tmp_path / "out", 4
    seen: dict = {}

    def kill_a_busy_worker():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and "worker" not in seen:
            busy = [w for w, keys in client.processing().items() if any("ganpaint-eval" in str(k) for k in keys)]
            if busy:
                pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                seen["rows_before"] = len(_rows(out / "edits.csv")) if (out / "edits.csv").exists() else 0
                os.kill(pid, signal.SIGKILL)
                seen["worker"] = busy[0]
            time.sleep(0.02)

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    killer.start()
    address = local_cluster.scheduler_address
    assert _run(model, "--photos", f"scenes:{n}", "--out", str(out), "--scheduler", address) == 0
    killer.join(timeout=5)
    assert "worker" in seen and seen["rows_before"] < n * 3            # killed while work was left
    assert seen["worker"] not in client.scheduler_info()["workers"]    # it died (the nanny started a new one)
    edits = _rows(out / "edits.csv")
    tasks = {r["task_id"] for r in _rows(out / "tasks.csv")}
    assert len(tasks) == n and sorted((r["task_id"], r["method"]) for r in edits) == sorted(
        (t, m) for t in tasks for m in METHODS.split(","))
    assert _rows(out / "failures.csv") == []


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_photos_that_always_fail_end_as_one_failed_row_each(tmp_path, model, cluster):
    address = cluster[0].scheduler_address
    photos, huge = tmp_path / "photos", tmp_path / "huge"
    photos.mkdir()
    huge.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (80, 100, 3), dtype=np.uint8)).save(photos / "good.png")
    (photos / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "out"
    assert _run(model, "--photos", str(photos), "--out", str(out), "--scheduler", address) == 0
    assert {r["photo_id"] for r in _rows(out / "edits.csv")} == {"good"}
    [failure] = _rows(out / "failures.csv")
    assert failure["item"] == str(photos / "corrupt.jpg") and "not a readable image" in failure["error"]
    workers = failure["error"].rpartition("(ran on ")[2].rstrip(")").split(", ")
    assert len(workers) == 2      # retried once (another worker is preferred, not required: a busy one may wait)
    assert "corrupt.jpg" in (out / "summary.md").read_text()

    # The largest photo the loader accepts (8000 x 8000) decodes to several hundred MB, held more than once while it
    # is turned upright and cropped: past a small worker's memory limit, so the nanny kills the worker; the
    # scheduler reruns the task on the other worker, which dies too.
    Image.new("RGB", (8000, 8000), (90, 140, 60)).save(huge / "huge.png", compress_level=1)
    out = tmp_path / "out_huge"
    with local_cluster(memory_limit="0.6GB") as (small, _):
        assert _run(model, "--photos", str(huge), "--out", str(out), "--scheduler", small.scheduler_address) == 0
    assert not (out / "edits.csv").exists() or _rows(out / "edits.csv") == []
    [failure] = _rows(out / "failures.csv")
    assert failure["item"] == str(huge / "huge.png")
    assert "worker lost" in failure["error"] and "KilledWorker" in failure["error"]


def test_restore_malloc_acts_only_under_the_nannys_setting():
    import subprocess
    import sys

    code = "from eval.run.cluster import restore_malloc; print(restore_malloc())"
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    run = [sys.executable, "-c", code]
    cwd = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    assert subprocess.run(run, env=env, cwd=cwd, capture_output=True, text=True).stdout.strip() == "False"
    env["MALLOC_TRIM_THRESHOLD_"] = "65536"
    assert subprocess.run(run, env=env, cwd=cwd, capture_output=True, text=True).stdout.strip() == "True"
