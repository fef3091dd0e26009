"""Downloads of checkpoint URLs into the model cache (``hub``), under names that cannot collide."""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path


def download(url: str, cache_dir: Path | None = None) -> Path:
    """Fetch ``url`` once into the model cache (with a progress bar); a clear ``DownloadError`` when offline.

    A name carrying a sha256 prefix (``name-1a2b3c4d.pth``) is kept and checked; any other name is
    prefixed with a hash of the URL, so that two URLs ending in the same name do not collide.
    """
    from ganpaint_core.models import hub
    from ganpaint_core.models.registry import hash_prefix

    name = Path(urllib.request.urlparse(url).path).name or "checkpoint.pth"
    if not hash_prefix(name):
        name = f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{name}"
    return hub.download(url, cache_dir, filename=name)
