"""Loading models: the shipped default, a registered model, a model folder, a checkpoint file or a URL.

``load_model(name_or_path)`` returns a ``ModelBundle`` holding the generator and,
where present, the segmenter, encoder, discriminator and dissection.  Registered
models (``church`` …, see ``registry.py``) come from the model cache (``hub.py``).  Weights
are read without unpickling: safetensors, or ``torch.load(weights_only=True)``
for GAN-dissection ``.pth`` checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganpaint_core.networks.proggan import ProgressiveGenerator, generator_from_state_dict

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
DEFAULT_LAYER = "layer4"


@dataclass
class ModelBundle:
    name: str
    generator: ProgressiveGenerator
    layer: str = DEFAULT_LAYER
    segmenter: torch.nn.Module | None = None
    encoder: torch.nn.Module | None = None
    discriminator: torch.nn.Module | None = None
    dissection: dict | None = None
    exemplars: dict | None = None       # instance shapes per concept (ganpaint_core.dissection.exemplars)
    config: dict = field(default_factory=dict)
    card: str = ""                      # the model card (markdown), where the model has one
    folder: Path | None = None          # the model folder it was read from, if any

    @property
    def resolution(self) -> int:
        return self.generator.resolution


def _read_safetensors(path: Path) -> tuple[dict, dict]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k).float() for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable safetensors file: {err}") from err
    return tensors, meta


def read_torch_checkpoint(path: Path) -> dict:
    """A dict from a torch file, loaded weights-only (no code runs); a clear ValueError otherwise."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a corrupt zip, a pickle with code in it, a truncated download …
        raise ValueError(f"{path} is not a loadable weights-only torch checkpoint: {err}") from err
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a state dict")
    return obj


def _generator_state(obj: dict) -> dict:
    """The generator's state dict inside a checkpoint: plain, or the EMA generator of a training checkpoint."""
    if isinstance(obj.get("g_ema"), dict):  # ``train generator``'s ckpt.pt: a GrowingGenerator's state
        return {k[2:]: v for k, v in obj["g_ema"].items() if k.startswith("g.")}
    return obj


def load_generator(path: Path | str) -> ProgressiveGenerator:
    """A generator from a ``.safetensors`` or ``.pth``/``.pt`` state dict (GAN-dissection layout)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no generator checkpoint at {path}")
    if path.suffix == ".safetensors":
        state = _read_safetensors(path)[0]
    else:
        state = _generator_state(read_torch_checkpoint(path))
    try:
        return generator_from_state_dict(state).eval().requires_grad_(False)
    except (RuntimeError, KeyError, IndexError, AttributeError) as err:  # wrong shapes or non-tensor values
        raise ValueError(f"{path} is not a Progressive-GAN generator checkpoint: {str(err)[:300]}") from err


PARTS = ("segmenter", "encoder", "discriminator")


def _build_part(part: str, meta: dict, generator: ProgressiveGenerator | None):
    """An empty network of the kind ``part`` with the widths stored in its file's metadata."""
    widths = json.loads(meta["widths"])
    if part == "segmenter":
        from ganpaint_core.networks.segmenter import Segmenter

        return Segmenter(widths)
    if generator is None:
        raise ValueError(f"loading a {part} needs its generator")
    if part == "encoder":
        from ganpaint_core.networks.encoder import Encoder

        return Encoder(generator.resolution, generator.z_dim, widths)
    from ganpaint_core.networks.discriminator import Discriminator

    return Discriminator(widths, generator.resolution)


def load_part(path: Path | str, part: str, generator: ProgressiveGenerator | None = None) -> torch.nn.Module:
    """One of ``PARTS`` from its ``.safetensors`` file (the encoder and discriminator need their generator)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {part} weights at {path}")
    tensors, meta = _read_safetensors(path)
    try:
        module = _build_part(part, meta, generator)
        module.load_state_dict(tensors)
    except (KeyError, json.JSONDecodeError, TypeError, RuntimeError) as err:
        raise ValueError(f"{path} does not hold the weights this part needs: {str(err)[:300]}") from err
    module.metadata = dict(meta or {})   # figures such as the segmenter's mIoU travel with the weights
    return module.eval().requires_grad_(False)


def load_segmenter(path: Path | str):
    """A segmenter alone, from its ``.safetensors`` file (or the model folder holding ``segmenter.safetensors``)."""
    path = Path(path)
    return load_part(path / "segmenter.safetensors" if path.is_dir() else path, "segmenter")


def model_card(folder: Path) -> str:
    """A folder's card: its own ``README.md``, else the ``## <folder name>`` section of the parent's README."""
    if (folder / "README.md").is_file():
        return (folder / "README.md").read_text()
    index = folder.parent / "README.md"
    if not index.is_file():
        return ""
    text, heading = index.read_text(), f"## {folder.name}"
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == heading]
    if not starts:
        return ""
    ends = [i for i, line in enumerate(lines) if line.startswith("## ") and i > starts[0]]
    return "\n".join(lines[starts[0] : ends[0] if ends else len(lines)]).strip() + "\n"


def load_folder(folder: Path, name: str | None = None) -> ModelBundle:
    """A model folder: ``config.json``, ``generator.safetensors`` and optional parts."""
    config = _read_json(folder / "config.json", {})
    generator = load_generator(folder / "generator.safetensors")
    bundle = ModelBundle(name=name or folder.name, generator=generator, layer=config.get("layer", DEFAULT_LAYER),
                         config=config, card=model_card(folder), folder=folder)
    for part in PARTS:
        path = folder / f"{part}.safetensors"
        if path.exists():
            setattr(bundle, part, load_part(path, part, generator))
    bundle.dissection = _read_dissection(folder / "dissection.json", generator)
    if (folder / "exemplars.safetensors").is_file():
        from ganpaint_core.dissection.exemplars import load_exemplars

        bundle.exemplars = load_exemplars(folder / "exemplars.safetensors")
    return bundle


def _read_json(path: Path, missing=None):
    """The JSON in ``path`` (``missing`` if there is no such file); a clear ValueError if it is malformed."""
    if not path.exists():
        return missing
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err


def _read_dissection(path: Path, generator: ProgressiveGenerator) -> dict | None:
    dissection = _read_json(path)
    if dissection is not None:
        check_dissection(dissection, generator, str(path))
    return dissection


def check_dissection(dissection: dict, generator: ProgressiveGenerator, source: str = "dissection") -> None:
    """Raise a clear ValueError unless ``dissection`` is a well-formed dissection of ``generator``.

    The concept names are the dissection's own (each model has its vocabulary); every unit needs a
    numeric ``high`` level, and each concept's ranked ``units`` are units of the layer.
    """
    try:
        layer = dissection["layer"]
        units = dissection["units"]
        concepts = dissection["concepts"]
        with torch.no_grad():
            width = generator.features(torch.zeros(1, generator.z_dim), layer).shape[1]
    except (KeyError, TypeError) as err:
        raise ValueError(f"{source} is not a dissection of this generator (missing or unknown {err})") from err
    if len(units) != width or [u.get("unit") for u in units] != list(range(width)):
        raise ValueError(f"{source} lists {len(units)} units; layer {layer} has {width}")
    for unit in units:
        if not isinstance(unit.get("high"), (int, float)) or not all(
                isinstance(unit[k], (int, float)) for k in ("iou", "threshold") if k in unit):
            raise ValueError(f"{source}: malformed unit entry {unit}")
    for name, entry in concepts.items():
        listed = entry.get("units", [])
        per_unit = entry.get("ious", entry.get("scores", listed))   # the IoUs or ranking scores of ``units``
        ranked = [*listed, *entry.get("add_units", []), *entry.get("remove_units", [])]
        if not name or len(per_unit) != len(listed) or not all(isinstance(u, int) and 0 <= u < width for u in ranked):
            raise ValueError(f"{source}: malformed concept entry {name!r}")
    strengths = dissection.get("strength_units", {})
    if not isinstance(strengths, dict) or not all(isinstance(v, int) and v > 0 for v in strengths.values()):
        raise ValueError(f"{source}: strength_units must map strength names to unit counts")


def save_part(module: torch.nn.Module, path: Path | str, half: bool = False, meta: dict | None = None) -> None:
    """Write a module's weights as safetensors (fp16 with ``half``); its ``widths`` or ``sizes`` go in the metadata."""
    from safetensors.torch import save_file

    info = {k: str(v) for k, v in getattr(module, "metadata", {}).items()}   # kept from the file it came from
    info.update({k: json.dumps(getattr(module, k)) for k in ("widths", "sizes") if hasattr(module, k)})
    info.update({k: str(v) for k, v in (meta or {}).items()})
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().contiguous()
             for k, v in module.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=info)


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
        bundle.config.update(_read_json(folder / "config.json", {}))
        bundle.layer = bundle.config.get("layer", DEFAULT_LAYER)
        bundle.card = model_card(folder) or bundle.card
        bundle.dissection = _read_dissection(folder / "dissection.json", generator)
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
        return True, _read_json(MODELS_DIR / folder / "dissection.json") if folder else None
    if kind == "folder":
        return True, _read_json(Path(where) / "dissection.json")
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
