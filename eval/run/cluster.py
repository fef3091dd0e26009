"""``eval run --scheduler``: the runner's photos as tasks on a ``dask.distributed`` cluster.

One task is one photo (fit once, every method), as with the local pool.  The
client sends each task its input files (photo, masks, ground truth) as bytes
and writes the result rows and pictures the worker sends back as they arrive,
so workers need no shared file system, only the model (``--model`` as a shipped
name, a path they can read, or a URL).  A plugin loads the model once per
worker process.  A task whose photo fails (unreadable, out of memory, any
error) runs once more, on another worker where there is one, then becomes a
failed row; a task whose worker dies is rescheduled by Dask itself up to
``allowed-failures`` times (1 for ``local:N``) and then ends as ``KilledWorker``,
recorded as a failed row.  Dask's own ``retries=`` is not used: it reruns a task
wherever the scheduler likes, usually on the worker that has just freed up.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import tempfile
import uuid
from collections import deque
from dataclasses import replace
from pathlib import Path

import dask
from distributed import Client, LocalCluster, as_completed, get_worker
from distributed.diagnostics.plugin import WorkerPlugin
from distributed.scheduler import KilledWorker

PLUGIN_NAME = "ganpaint-eval-model"
INPUT_FIELDS = ("photo", "mask", "reference_mask", "target", "target_labels")   # the file paths of a Task
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3                                       # glibc's mallopt parameters


def parse_scheduler(text: str) -> tuple[str, int | str]:
    """``local:N`` -> ("local", N); ``tcp://host:port`` (or another Dask address) -> ("address", text)."""
    text = text.strip()
    if text.startswith("local:"):
        count = text.partition(":")[2]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--scheduler {text!r}: local:N needs N >= 1 worker processes")
        return "local", int(count)
    if "://" not in text or not text.partition("://")[2]:
        raise ValueError(f"--scheduler {text!r} is neither local:N nor a scheduler address like tcp://HOST:8786")
    return "address", text


@contextlib.contextmanager
def connect(spec: str):
    """A ``distributed.Client`` for ``spec`` (``local:N`` starts and stops a LocalCluster of N 1-thread processes)."""
    kind, value = parse_scheduler(spec)
    if kind == "address":
        try:
            client = Client(value, timeout="30s")
        except OSError as err:
            raise ValueError(f"--scheduler {value}: no Dask scheduler answers there ({err})") from err
        with client:
            yield client
        return
    # One retry when a worker dies under a task: the scheduler of a LocalCluster lives in this process.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            LocalCluster(n_workers=value, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def restore_malloc() -> bool:
    """Give a worker glibc's large-allocation behaviour back; whether it was needed and glibc took it.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``; setting
    it turns glibc's dynamic mmap threshold off, so every tensor of 128 KiB or
    more is mmapped and page-faulted afresh (docs/eval/cluster.md).  Large
    blocks up to 32 MiB come from the heap again, as glibc's adaptive default lets them.
    """
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # pragma: no cover - not glibc
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 64 << 20))


class ModelPlugin(WorkerPlugin):
    """Loads the editor and the LPIPS scorer once per worker process (``worker.init_worker``).

    Torch's thread count is not the worker's business: each task sets the run's ``--threads`` itself.
    """

    def __init__(self, model: str, device: str = "auto"):
        self.model, self.device = model, device

    async def setup(self, worker):
        from eval.run.worker import init_worker

        restore_malloc()
        await asyncio.get_running_loop().run_in_executor(None, init_worker, self.model, self.device)


# ---- on a worker ----------------------------------------------------------------------------------------

def read_inputs(job: tuple) -> dict[str, bytes | None]:
    """The files a job reads, path -> bytes (None for a file the client cannot read: the worker reports it)."""
    photo, tasks = job[0], job[1]
    paths = dict.fromkeys([photo] + [getattr(t, f) for t in tasks for f in INPUT_FIELDS if getattr(t, f)])
    files = {}
    for path in paths:
        try:
            files[path] = Path(path).read_bytes()
        except OSError:
            files[path] = None
    return files


def _restore(text, local: dict[str, str]):
    """``text`` with the worker's temporary paths put back to the client's paths."""
    if not isinstance(text, str):
        return text
    for original, copy in local.items():
        text = text.replace(copy, original)
    return text


def evaluate_remote(job: tuple, inputs: dict[str, bytes | None]) -> dict:
    """Run on a worker: ``worker.evaluate_photo`` on local copies of ``inputs``; its pictures come back as bytes.

    Never raises: an error becomes the photo's failure row.  The result also
    names the worker (``worker``) and holds ``files`` (path under OUT -> PNG bytes).
    """
    from eval.run import worker as photo_worker

    photo, tasks, names, _out, seed, margin, need_recon, fit_options, threads = job
    with tempfile.TemporaryDirectory(prefix="ganpaint-eval-") as tmp:
        local = {}
        for i, (path, data) in enumerate(inputs.items()):
            copy = Path(tmp) / "in" / str(i) / Path(path).name      # same name: the photo id is the file stem
            if data is not None:
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(data)
            local[path] = str(copy)
        out = Path(tmp) / "out"
        try:
            if photo_worker._EDITOR is None:
                raise RuntimeError(f"this worker has no model: the {PLUGIN_NAME} plugin did not load it")
            local_tasks = [replace(t, **{f: local[getattr(t, f)] for f in INPUT_FIELDS if getattr(t, f)})
                           for t in tasks]
            result = photo_worker.evaluate_photo(local[photo], local_tasks, names, str(out), seed, margin, need_recon,
                                                 fit_options, threads)
        except Exception as err:
            result = {"edits": [], "recon": [], "tasks": [t.task_id for t in tasks],
                      "failures": [{"item": local[photo], "error": f"{type(err).__name__}: {err}"}]}
        result["failures"] = [{k: _restore(v, local) for k, v in f.items()} for f in result["failures"]]
        result["files"] = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
                           if p.is_file()}
    result["worker"] = get_worker().address
    return result


# ---- on the client --------------------------------------------------------------------------------------

def photo_failed(result: dict, photo: str) -> bool:
    """Whether the photo as a whole failed (its fit, its file or its worker), as opposed to single tasks."""
    return any(f["item"] == photo for f in result["failures"])


def write_files(out: Path, files: dict[str, bytes]) -> None:
    """Write a result's pictures under ``out`` (paths that would leave ``out`` are refused)."""
    root = out.resolve()
    for name, data in files.items():
        path = (root / name).resolve()
        if not path.is_relative_to(root):
            raise ValueError(f"a worker sent a file outside the output folder: {name!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _given_up(job: tuple, err: BaseException) -> dict:
    """The failure row of a job whose result did not come back (its workers died, or it could not run)."""
    if isinstance(err, KilledWorker):
        reason = f"worker lost: the workers running it died {err.allowed_failures + 1} times (KilledWorker)"
    else:
        reason = f"{type(err).__name__}: {err}"
    return {"edits": [], "recon": [], "tasks": [t.task_id for t in job[1]],
            "failures": [{"item": job[0], "error": reason}]}


def register_model(client, model: str, device: str = "auto") -> None:
    """Have every worker, present and future, load ``model`` once on ``device`` as the worker resolves it (``auto``:
    the worker's GPU where it has one); a clear error when one cannot."""
    try:
        client.register_plugin(ModelPlugin(model, device), name=PLUGIN_NAME)   # raises a worker's setup error
    except Exception as err:
        raise ValueError(f"a Dask worker could not load model {model!r}: {type(err).__name__}: {err}") from err


def run_jobs(client, jobs: list[tuple], model: str, collect, bar, device: str = "auto") -> None:
    """Run the runner's ``jobs`` on ``client``'s cluster; ``collect(result)`` each as it arrives.

    ``bar`` (tqdm) gets ``failed`` and ``retried`` counts beside the runner's
    done count and ETA.  A job whose photo failed, or whose result did not come
    back for another reason than dead workers, is submitted once more (on
    another worker where there is one); each job is collected exactly once.
    """
    register_model(client, model, device)
    try:
        allowed = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
    except Exception:              # a scheduler that refuses pickled functions: nothing to say about its setting
        allowed = 1
    if allowed != 1:
        bar.write(f"note: the scheduler reruns a task whose worker died {allowed} times (allowed-failures); "
                  "start it with DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1 for a single retry")
    queue, running, flying = deque(range(len(jobs))), {}, as_completed()
    counts = {"failed": 0, "retried": 0}

    def submit(index: int, tried: list[str]) -> None:
        others = [w for w in client.scheduler_info(n_workers=-1)["workers"] if w not in tried]
        future = client.submit(evaluate_remote, jobs[index], read_inputs(jobs[index]), pure=False,
                               key=f"ganpaint-eval-{uuid.uuid4().hex}", workers=others or None,
                               allow_other_workers=True)
        running[future.key] = (index, tried)
        flying.add(future)

    def fill() -> None:
        window = max(2, 2 * sum(client.nthreads().values()))     # bounds the inputs held in memory at once
        while queue and len(running) < window:
            submit(queue.popleft(), [])

    fill()
    for future in flying:
        index, tried = running.pop(future.key)
        job = jobs[index]
        try:
            result = future.result()
            tried = tried + [result.pop("worker")]
            retry = photo_failed(result, job[0])
        except KilledWorker as err:            # the scheduler has already rerun it after the first death
            result, retry = _given_up(job, err), False
        except Exception as err:
            result, retry = _given_up(job, err), True
            tried = tried + ["(no answer)"]
        future.release()
        if retry and len(tried) == 1:
            counts["retried"] += 1
            bar.set_postfix(counts)
            submit(index, tried)
            continue
        if len(tried) > 1:
            for f in result["failures"]:
                if f["item"] == job[0]:
                    f["error"] += f" (ran on {', '.join(tried)})"
        write_files(Path(job[3]), result.pop("files", {}))
        done = {row["task_id"] for row in result["edits"]}
        counts["failed"] += sum(1 for task_id in result["tasks"] if task_id not in done)
        collect(result)
        bar.set_postfix(counts)
        fill()


def run(spec: str, jobs: list[tuple], model: str, collect, bar, device: str = "auto") -> int:
    """Connect to ``spec`` (``--scheduler``), run ``jobs`` there; the number of workers it had at the start.

    Each job carries the run's threads per task, so a worker's share of its host does not change the numbers.
    """
    with connect(spec) as client:
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
        run_jobs(client, jobs, model, collect, bar, device)
    return workers
