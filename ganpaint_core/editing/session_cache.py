"""A bounded LRU of fitted sessions keyed by photo content, with per-user forks.

Fitting a photo costs seconds; an edit costs one forward pass.  The cache keeps
the last few fitted sessions (keyed by a hash of the pixels) so a photo is
fitted once however many times it is opened.  Each user works on a *fork*: the
fitted features and adapted generator are shared read-only, the edit history
is the user's own, so no user ever sees another's edits.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np


def photo_key(photo: np.ndarray) -> str:
    """A content hash of a uint8 picture (shape included)."""
    arr = np.ascontiguousarray(photo)
    return hashlib.sha256(str(arr.shape).encode() + arr.tobytes()).hexdigest()[:32]


class SessionCache:
    """Thread-safe LRU: photo key -> fitted session; ``capacity`` bounds memory."""

    def __init__(self, capacity: int = 8):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()
        self._fitting: dict[str, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str):
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: str, session) -> None:
        with self._lock:
            self._items[key] = session
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def get_or_fit(self, photo: np.ndarray, fit, namespace: str = "") -> tuple[object, bool]:
        """(a fork of the fitted session for ``photo``, whether it was cached); ``fit(photo)`` runs once.

        ``namespace`` (e.g. the model's name) keeps sessions of the same photo fitted differently apart.
        """
        key = f"{namespace}:{photo_key(photo)}" if namespace else photo_key(photo)
        with self._lock:
            gate = self._fitting.setdefault(key, threading.Lock())
        with gate:  # two users opening the same photo at once fit it once
            session = self.get(key)
            cached = session is not None
            if session is None:
                session = fit(photo)
                self.put(key, session)
        with self._lock:
            self._fitting.pop(key, None)
        return session.fork(), cached
