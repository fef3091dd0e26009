"""Shared fixtures: a small deterministic photo and quiet, single-threaded torch."""

from __future__ import annotations

import os

# The suite runs servers, CLIs and fits side by side, often beside other jobs on a 2-core machine: OpenMP threads
# that spin while waiting then make torch many times slower (docs/editor.md), so they wait passively here.  Set
# before torch is imported; subprocesses inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from eval.bench.app_latency import CHROMIUM, CHROMIUM_FLAGS  # one definition of the browser and its flags


def make_photo(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """A deterministic uint8 RGB picture: a sky gradient, a ground band and a few shapes."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None, None]
    sky = np.array([110, 170, 235]) * (1 - 0.4 * y) + np.array([200, 220, 240]) * 0.4 * y
    img = np.broadcast_to(sky, (height, width, 3)).copy()
    img[int(height * 0.65):] = [90, 140, 60]
    img[int(height * 0.35):int(height * 0.8), width // 3:2 * width // 3] = [180, 150, 120]
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def photo() -> np.ndarray:
    return make_photo()


@pytest.fixture
def photo_path(tmp_path) -> str:
    path = tmp_path / "photo.png"
    Image.fromarray(make_photo()).save(path)
    return str(path)


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    """Keep tests light on the 2-core CI machine."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    torch.set_num_threads(2)
    yield


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (never a downloaded browser build)."""
    import os
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium for the browser tests")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


class _TinyDemo:
    """``python app.py`` on the tiny model with an empty model cache and no way to download, started on first use;
    two fits may run at once and the photo cache holds one photo (test_app_concurrency: every round fits anew)."""

    def __init__(self, tmp_path_factory):
        self.factory, self.running, self.value = tmp_path_factory, None, None

    def start(self) -> tuple:
        from contextlib import ExitStack

        from editor_support import save_tiny_model, served_demo

        if self.running is None:
            cache, logs = self.factory.mktemp("cache"), self.factory.mktemp("log")
            env = {"GANPAINT_CACHE": str(cache), "http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
                   "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost",
                   "GANPAINT_FITS": "2", "GANPAINT_CACHE_SIZE": "1"}
            self.running = ExitStack()
            url = self.running.enter_context(served_demo(save_tiny_model(self.factory.mktemp("model") / "tiny"),
                                                         logs, env))
            self.value = (url, logs / "app.log", cache)
        return self.value

    def stop(self) -> None:
        if self.running is not None:
            self.running.close()
            self.running = None


@pytest.fixture(scope="session")
def _tiny_demo(tmp_path_factory):
    demo = _TinyDemo(tmp_path_factory)
    yield demo
    demo.stop()


DEMO_GAP = 10     # tests between two modules that share one served demo rather than each starting its own


def pytest_collection_modifyitems(session, config, items):
    """The modules that drive the served tiny demo run one after another (where the first of them would run), so
    that one demo serves them all; every other test keeps its place."""
    modules = {item.module for item in items if "served_tiny_demo" in item.fixturenames}
    if len(modules) < 2:
        return
    first = next(k for k, item in enumerate(items) if item.module in modules)
    rest = [item for item in items if item.module not in modules]
    items[:] = rest[:first] + [item for item in items if item.module in modules] + rest[first:]


@pytest.fixture(scope="module")
def served_tiny_demo(_tiny_demo, request):
    """One served tiny demo for the modules that drive one (test_app, test_app_concurrency, test_app_first_use,
    test_upload_corpus):
    yields (url, log, cache).  It stays up across a gap of at most DEMO_GAP tests to the next module that uses it
    (an idle demo still costs ~5% of a core), and is stopped otherwise."""
    yield _tiny_demo.start()
    items = request.session.items
    last = max(i for i, item in enumerate(items) if item.module is request.module)
    if not any("served_tiny_demo" in item.fixturenames for item in items[last + 1:last + 1 + DEMO_GAP]):
        _tiny_demo.stop()


@pytest.fixture(scope="session")
def church_cache(tmp_path_factory):
    """A GANPAINT_CACHE holding the registry's church files (reference-rule weights, no download), written once per
    session (seconds of weights) for the modules that load church (test_church_cli, test_app_models): they only read
    it, as the library only writes to the cache what is missing."""
    from paper_support import write_church_cache

    return write_church_cache(tmp_path_factory.mktemp("church_cache"))


@pytest.fixture
def without_plots(monkeypatch) -> list:
    """``eval run`` without its two matplotlib plots (seconds per run on a busy 2-core machine), for tests of
    something else; the plots themselves are tested in test_eval_report.py and test_eval_runner.py.  Yields the
    output folders the plots would have been written to."""
    from eval.run import report

    skipped: list = []
    monkeypatch.setattr(report, "write_plots", lambda out, *args, **kwargs: skipped.append(out))
    return skipped


@pytest.fixture
def artifacts():
    """A folder for test artefacts (screenshots), kept after the run: test-artifacts/."""
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder
