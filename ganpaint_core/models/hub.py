"""Model files in a local cache, downloaded once and checked.

Files live in ``GANPAINT_CACHE`` (default ``~/.cache/ganpaint``) under their
original names, so a file copied there by hand is used as it is.  A download
streams into a temporary file in the same folder with a progress bar, is checked
against the sha256 prefix its name carries (as torch.hub does) and only then
moved into place.  Failures are ``DownloadError`` (a ``ValueError``), which the
command line prints as one line.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ganpaint_core.models.registry import RemoteFile, hash_prefix

CONNECT_TIMEOUT_S = 20.0   # also the longest wait for any one read of the response
CHUNK = 1 << 20


class DownloadError(ValueError):
    """A file could not be downloaded, or its content did not match its sha256 prefix."""


def cache_dir() -> Path:
    """``GANPAINT_CACHE``, read at each call, else ``~/.cache/ganpaint``."""
    return Path(os.environ.get("GANPAINT_CACHE") or Path.home() / ".cache" / "ganpaint").expanduser()


def _offline_hint(url: str, filename: str, folder: Path) -> str:
    return (f"if this machine is offline, download {url} elsewhere and copy it to {folder / filename} "
            f"(GANPAINT_CACHE sets the folder)")


def fetch(remote: RemoteFile, folder: Path | None = None, timeout: float = CONNECT_TIMEOUT_S,
          progress: bool = True) -> Path:
    """The cached path of ``remote``, downloading and verifying it first if it is not in the cache."""
    return download(remote.url, folder, filename=remote.file, sha256=remote.sha256, timeout=timeout,
                    progress=progress)


def download(url: str, folder: Path | None = None, filename: str | None = None, sha256: str | None = None,
             timeout: float = CONNECT_TIMEOUT_S, progress: bool = True) -> Path:
    """Fetch ``url`` once into ``folder`` as ``filename`` (default: the URL's last part).

    ``sha256`` (default: the prefix the file name carries, if any) must start the file's digest, or
    the download is deleted and a ``DownloadError`` says so.  A file already there is returned as it is.
    """
    from tqdm import tqdm

    folder = Path(folder or cache_dir())
    filename = filename or Path(urllib.request.urlparse(url).path).name
    if not filename:
        raise DownloadError(f"cannot tell a file name from the URL {url}")
    sha256 = (sha256 or hash_prefix(filename) or "").lower()
    target = folder / filename
    if target.is_file():
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
    except OSError as err:
        raise DownloadError(f"cannot write to the model cache {folder}: {err.strerror or err}") from err
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        # a fresh opener: the proxy settings of this moment (urlopen's global opener keeps those of its first use)
        with os.fdopen(fd, "wb") as out, urllib.request.build_opener().open(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {filename}",
                      disable=not progress) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as err:
        tmp.unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or err
        raise DownloadError(f"could not download {url} ({reason}); {_offline_hint(url, filename, folder)}") from err
    except BaseException:                       # e.g. Ctrl-C: no half-written file stays behind
        tmp.unlink(missing_ok=True)
        raise
    got = digest.hexdigest()
    if sha256 and not got.startswith(sha256):
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"{url}: the download's sha256 starts {got[:len(sha256)]}, not {sha256} as its name "
                            f"says; the file was deleted (a corrupt or substituted download)")
    os.replace(tmp, target)
    return target
