"""The registry of the paper's public models, read from ``registry.json`` (data, not code).

Each entry names a GAN-dissection Progressive GAN (and, where one was published,
ganseeing's inversion encoder for it): file name, URL and the sha256 prefix the
file name carries.  A registered model with a folder under ``models/`` (church)
also has its config, model card and unit lists there; the others have no unit
lists, so they can invert, reconstruct and copy appearance but not add or remove
concepts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REGISTRY = Path(__file__).with_name("registry.json")
HASH_IN_NAME = re.compile(r"-([0-9a-f]{6,64})\.[^-]+$")


@dataclass(frozen=True)
class RemoteFile:
    file: str       # the original file name, also its name in the cache
    url: str
    sha256: str     # the sha256 prefix the name carries


@dataclass(frozen=True)
class Registered:
    name: str
    description: str
    generator: RemoteFile
    encoder: RemoteFile | None = None
    folder: str | None = None   # under models/: config.json, README.md, dissection.json

    @property
    def files(self) -> list[RemoteFile]:
        return [f for f in (self.generator, self.encoder) if f is not None]


def hash_prefix(filename: str) -> str | None:
    """The sha256 prefix in a file name such as ``proggan_churchoutdoor-7e701dd5.pth`` (as torch.hub reads it)."""
    m = HASH_IN_NAME.search(filename)
    return m.group(1) if m else None


def _remote(entry: dict, where: str) -> RemoteFile:
    f = RemoteFile(entry["file"], entry["url"], entry["sha256"].lower())
    if hash_prefix(f.file) != f.sha256 or not f.url.endswith("/" + f.file):
        raise ValueError(f"{REGISTRY}: {where}: the file name, URL and sha256 prefix do not agree")
    return f


@cache
def registry() -> dict[str, Registered]:
    """Every registered model by name, in the file's order."""
    models = json.loads(REGISTRY.read_text())["models"]
    out = {}
    for name, e in models.items():
        out[name] = Registered(name, e.get("description", ""), _remote(e["generator"], f"{name}.generator"),
                               _remote(e["encoder"], f"{name}.encoder") if e.get("encoder") else None,
                               e.get("folder"))
    return out


def lookup(name: str) -> Registered:
    """The registered model ``name``; a ValueError lists the registered names."""
    found = registry().get(name.strip().lower())
    if found is None:
        raise ValueError(f"no registered model {name!r}; registered: {', '.join(registry())}")
    return found


def model_help() -> str:
    """The ``--model`` help text every command shares."""
    return (f"'default' (shipped), a registered model ({', '.join(registry())}; its files are downloaded once into "
            f"GANPAINT_CACHE), a model folder, a checkpoint file or a URL")
