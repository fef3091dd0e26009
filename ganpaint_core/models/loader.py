"""Whole models: which model a name, folder, file or URL means, loading it into a ``ModelBundle``, saving one."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ganpaint_core.models.build import load_generator, load_part
from ganpaint_core.models.bundle import DEFAULT_LAYER, MODELS_DIR, PARTS, ModelBundle
from ganpaint_core.models.cards import model_card
from ganpaint_core.models.dissection_check import read_dissection
from ganpaint_core.models.downloads import download
from ganpaint_core.models.weights import read_json, save_part


def load_folder(folder: Path, name: str | None = None) -> ModelBundle:
    """A model folder: ``config.json``, ``generator.safetensors`` and optional parts."""
    config = read_json(folder / "config.json", {})
    generator = load_generator(folder / "generator.safetensors")
    bundle = ModelBundle(name=name or folder.name, generator=generator, layer=config.get("layer", DEFAULT_LAYER),
                         config=config, card=model_card(folder), folder=folder)
    for part in PARTS:
        path = folder / f"{part}.safetensors"
        if path.exists():
            setattr(bundle, part, load_part(path, part, generator))
    bundle.dissection = read_dissection(folder / "dissection.json", generator)
    if (folder / "exemplars.safetensors").is_file():
        from ganpaint_core.dissection.exemplars import load_exemplars

        bundle.exemplars = load_exemplars(folder / "exemplars.safetensors")
    return bundle


def save_model(folder: Path | str, bundle: ModelBundle, half: bool = True) -> Path:
    """Write ``bundle`` in the shipped layout: ``config.json``, one safetensors file per part, ``dissection.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    g = bundle.generator
    save_part(g, folder / "generator.safetensors", half=half)
    config = {**bundle.config, "layer": bundle.layer, "resolution": g.resolution, "sizes": g.sizes, "z_dim": g.z_dim}
    for part in PARTS:
        module = getattr(bundle, part)
        if module is not None:
            save_part(module, folder / f"{part}.safetensors", half=half)
            config[f"{part}_widths"] = list(module.widths)
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    if bundle.dissection is not None:
        (folder / "dissection.json").write_text(json.dumps(bundle.dissection, indent=1))
    if bundle.exemplars:
        from ganpaint_core.dissection.exemplars import FILENAME, save_exemplars

        save_exemplars(folder / FILENAME, bundle.exemplars)
    return folder


def load_registered(name: str, progress: bool = True) -> ModelBundle:
    """A registered model (``church``, ``bedroom`` …): its files from the cache (downloaded once) and its folder."""
    from ganpaint_core.models import hub
    from ganpaint_core.models.registry import lookup
    from ganpaint_core.networks.hybrid_encoder import load_hybrid_encoder

    entry = lookup(name)
    generator = load_generator(hub.fetch(entry.generator, progress=progress))
    encoder = load_hybrid_encoder(hub.fetch(entry.encoder, progress=progress)) if entry.encoder else None
    folder = MODELS_DIR / entry.folder if entry.folder else None
    config = {"registered": entry.name, "description": entry.description,
              "files": [f.file for f in entry.files]}
    bundle = ModelBundle(name=entry.name, generator=generator, encoder=encoder, config=config,
                         card=entry.description, folder=folder)
    if folder is not None:
        bundle.config.update(read_json(folder / "config.json", {}))
        bundle.layer = bundle.config.get("layer", DEFAULT_LAYER)
        bundle.card = model_card(folder) or bundle.card
        bundle.dissection = read_dissection(folder / "dissection.json", generator)
        if (folder / "exemplars.safetensors").is_file():
            from ganpaint_core.dissection.exemplars import load_exemplars

            bundle.exemplars = load_exemplars(folder / "exemplars.safetensors")
    return bundle


def shipped_models() -> list[str]:
    """The model folders shipped with weights under ``models/`` (``default``)."""
    return sorted(p.parent.name for p in MODELS_DIR.glob("*/generator.safetensors"))


def _resolve(spec: str) -> tuple[str, str | Path]:
    """What ``spec`` names: ("registered", name) | ("folder", path) | ("url", url) | ("file", path)."""
    from ganpaint_core.models.registry import registry

    key = spec.strip().lower()
    if key in registry():
        return "registered", key
    if spec.startswith(("http://", "https://")):
        return "url", spec
    if os.sep not in spec and (MODELS_DIR / spec / "generator.safetensors").is_file():
        return "folder", MODELS_DIR / spec
    path = Path(spec).expanduser()
    if path.is_dir():
        return "folder", path
    if not path.exists():
        raise FileNotFoundError(f"no model {spec!r}: not a shipped model ({', '.join(shipped_models()) or 'none'}), "
                                f"a registered one ({', '.join(registry())}), a folder, a checkpoint file or a URL")
    return "file", path


def known_dissection(name_or_path: str | os.PathLike) -> tuple[bool, dict | None]:
    """A model's dissection read without loading (or downloading) any weights.

    ``(True, dissection or None)`` for a shipped, registered or folder model; ``(False, None)`` for a
    checkpoint file or URL, whose dissection only loading can tell (it has none).
    """
    from ganpaint_core.models.registry import lookup

    kind, where = _resolve(str(name_or_path))
    if kind == "registered":
        folder = lookup(where).folder
        return True, read_json(MODELS_DIR / folder / "dissection.json") if folder else None
    if kind == "folder":
        return True, read_json(Path(where) / "dissection.json")
    return False, None


def load_model(name_or_path: str | os.PathLike = "default") -> ModelBundle:
    """Load ``"default"`` (shipped), a registered model (``church`` …), a model folder, a checkpoint file or a URL."""
    spec = str(name_or_path)
    kind, where = _resolve(spec)
    if kind == "registered":
        return load_registered(where)
    if kind == "folder":
        return load_folder(where)
    path = download(where) if kind == "url" else where
    generator = load_generator(path)
    return ModelBundle(name=path.stem, generator=generator, config={"source": str(path)})
