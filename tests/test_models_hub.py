"""Downloads of registered models against a local HTTP server: checked, cached, and clear when they fail."""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading

import pytest

from ganpaint_core.commands.cli import main
from ganpaint_core.machine import free_port
from ganpaint_core.models import hub, registry
from ganpaint_core.models.registry import RemoteFile

PAYLOAD = b"weights " * 5000


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):
        CountingHandler.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    CountingHandler.requests = []
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a, **k: CountingHandler(*a, directory=str(served), **k))
    # shutdown() waits for the loop's next poll: 0.5 s by default, per test
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("GANPAINT_CACHE", str(folder))
    return folder


def _remote(base: str, name: str, digest: str) -> RemoteFile:
    return RemoteFile(f"{name}-{digest[:8]}.pth", f"{base}/{name}-{digest[:8]}.pth", digest[:8])


def test_a_good_file_is_downloaded_once_under_its_own_name(server, cache):
    served, base = server
    remote = _remote(base, "model", hashlib.sha256(PAYLOAD).hexdigest())
    (served / remote.file).write_bytes(PAYLOAD)
    path = hub.fetch(remote, progress=False)
    assert path == cache / remote.file and path.read_bytes() == PAYLOAD
    assert [p.name for p in cache.iterdir()] == [remote.file]           # no temporary file is left behind
    assert hub.fetch(remote, progress=False) == path and len(CountingHandler.requests) == 1


def test_a_file_copied_into_the_cache_by_hand_is_used_without_a_request(server, cache):
    _, base = server
    remote = _remote(base, "copied", "0" * 64)      # its content does not even match: a cached file is used as is
    cache.mkdir()
    (cache / remote.file).write_bytes(b"copied by hand")
    assert hub.fetch(remote, progress=False).read_bytes() == b"copied by hand"
    assert CountingHandler.requests == []


def test_a_wrong_hash_is_refused_and_nothing_is_kept(server, cache):
    served, base = server
    remote = _remote(base, "tampered", hashlib.sha256(b"the real weights").hexdigest())
    (served / remote.file).write_bytes(PAYLOAD)
    with pytest.raises(hub.DownloadError, match=rf"sha256 starts {hashlib.sha256(PAYLOAD).hexdigest()[:8]}, "
                                                rf"not {remote.sha256}.*deleted"):
        hub.fetch(remote, progress=False)
    assert list(cache.iterdir()) == []


def test_server_down_is_one_clear_error_naming_the_url_and_the_cache(cache):
    remote = _remote(f"http://127.0.0.1:{free_port()}", "model", "ab" * 32)
    with pytest.raises(hub.DownloadError) as info:
        hub.fetch(remote, progress=False)
    message = str(info.value)
    assert remote.url in message and str(cache / remote.file) in message and "offline" in message
    assert "\n" not in message and isinstance(info.value, ValueError) and list(cache.iterdir()) == []


def test_a_silent_server_times_out_instead_of_hanging(cache):
    with socket.socket() as silent:              # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        remote = _remote(f"http://127.0.0.1:{silent.getsockname()[1]}", "model", "ab" * 32)
        with pytest.raises(hub.DownloadError, match="timed out"):
            hub.fetch(remote, timeout=0.5, progress=False)


@pytest.fixture
def local_registry(tmp_path, monkeypatch, server):
    """The registry pointed at the local server: model 'tiny' with a generator file and an encoder file."""
    served, base = server
    files = {}
    for part in ("generator", "encoder"):
        data = f"{part} bytes".encode()
        remote = _remote(base, f"tiny_{part}", hashlib.sha256(data).hexdigest())
        (served / remote.file).write_bytes(data)
        files[part] = {"file": remote.file, "url": remote.url, "sha256": remote.sha256}
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"models": {"tiny": {"description": "a test model", **files}}}))
    monkeypatch.setattr(registry, "REGISTRY", path)
    registry.registry.cache_clear()
    yield files
    registry.registry.cache_clear()


def test_fetch_command_downloads_then_reuses_the_cache(local_registry, cache, capsys):
    from ganpaint_core.__main__ import COMMANDS

    assert main("python -m ganpaint_core", "", COMMANDS, ["fetch", "tiny"]) == 0
    assert sorted(p.name for p in cache.iterdir()) == sorted(f["file"] for f in local_registry.values())
    assert len(CountingHandler.requests) == 2
    assert main("python -m ganpaint_core", "", COMMANDS, ["fetch", "tiny"]) == 0
    assert len(CountingHandler.requests) == 2                            # the second time, nothing is requested
    assert capsys.readouterr().out.count(str(cache)) == 4
    (cache / local_registry["encoder"]["file"]).unlink()
    assert main("python -m ganpaint_core", "", COMMANDS, ["fetch", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "MiB in the cache" in listed and f"{local_registry['encoder']['file']} (not cached)" in listed
    assert len(CountingHandler.requests) == 2                            # --list downloads nothing


def test_fetch_command_errors_are_one_line(local_registry, cache, capsys):
    from ganpaint_core.__main__ import COMMANDS

    assert main("python -m ganpaint_core", "", COMMANDS, ["fetch", "nonesuch"]) == 2
    assert "no registered model 'nonesuch'; registered: tiny" in capsys.readouterr().err
    down = json.loads(registry.REGISTRY.read_text())
    port = free_port()
    for f in down["models"]["tiny"].values():
        if isinstance(f, dict):
            f["url"] = f"http://127.0.0.1:{port}/{f['file']}"
    registry.REGISTRY.write_text(json.dumps(down))
    registry.registry.cache_clear()
    assert main("python -m ganpaint_core", "", COMMANDS, ["fetch", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"could not download http://127.0.0.1:{port}/" in err and str(cache) in err


def test_the_shipped_registry_names_its_files_by_their_hash():
    entries = registry.registry()
    assert list(entries)[:1] == ["church"] and {"bedroom", "kitchen", "livingroom", "diningroom", "conferenceroom",
                                                "restaurant"} <= set(entries)
    church = entries["church"]
    assert church.generator.file == "proggan_churchoutdoor-7e701dd5.pth" and church.generator.sha256 == "7e701dd5"
    assert church.encoder.file == "church_invert_hybrid_cse-43e52428.pth" and church.folder == "church"
    assert all(registry.hash_prefix(f.file) == f.sha256 for e in entries.values() for f in e.files)
