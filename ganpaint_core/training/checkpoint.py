"""Resumable training: one checkpoint file per run (``OUT/ckpt.pt``) holding named state dicts and a ``state`` dict,
written atomically (a crash or ``kill`` mid-write leaves the previous checkpoint whole) and read weights-only."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def save_atomic(obj, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` through a temporary file beside it and one rename: ``path`` is always whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_checkpoint(path: str | os.PathLike, parts: dict, state: dict, **extra) -> None:
    """Atomically write ``{name: part.state_dict() for parts} | {"state": state} | extra``."""
    save_atomic({**{name: part.state_dict() for name, part in parts.items()}, "state": state, **extra}, path)


def resume(path: str | os.PathLike, parts: dict, state: dict, optional: tuple[str, ...] = ()) -> dict:
    """Load a checkpoint at ``path``, if there is one, into ``parts`` (modules and optimisers by name; names in
    ``optional`` may be missing from older files); the run's state: the saved one, else ``state``."""
    path = Path(path)
    if not path.exists():
        return state
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    for name, part in parts.items():
        if name in ckpt:
            part.load_state_dict(ckpt[name])
        elif name not in optional:
            raise ValueError(f"{path} has no {name!r}: it is not a checkpoint of this trainer")
    return ckpt["state"]
