"""Loading models: the shipped default, a model folder, a checkpoint file or a URL.

``load_model(name_or_path)`` returns a ``ModelBundle`` holding the generator and,
where present, the segmenter, encoder, discriminator and dissection.  Weights
are read without unpickling: safetensors, or ``torch.load(weights_only=True)``
for GAN-dissection ``.pth`` checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganpaint_core.proggan import ProgressiveGenerator, generator_from_state_dict

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_LAYER = "layer4"
CACHE_DIR = Path(os.environ.get("GANPAINT_CACHE", Path.home() / ".cache" / "ganpaint"))


@dataclass
class ModelBundle:
    name: str
    generator: ProgressiveGenerator
    layer: str = DEFAULT_LAYER
    segmenter: torch.nn.Module | None = None
    encoder: torch.nn.Module | None = None
    discriminator: torch.nn.Module | None = None
    dissection: dict | None = None
    config: dict = field(default_factory=dict)

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


def _read_torch(path: Path) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a corrupt zip, a pickle with code in it, a truncated download …
        raise ValueError(f"{path} is not a loadable weights-only torch checkpoint: {err}") from err
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a state dict")
    return obj


def load_generator(path: Path | str) -> ProgressiveGenerator:
    """A generator from a ``.safetensors`` or ``.pth``/``.pt`` state dict (GAN-dissection layout)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no generator checkpoint at {path}")
    state = _read_safetensors(path)[0] if path.suffix == ".safetensors" else _read_torch(path)
    return generator_from_state_dict(state).eval().requires_grad_(False)


def _load_module(path: Path, build):
    tensors, meta = _read_safetensors(path)
    module = build(meta)
    module.load_state_dict(tensors)
    return module.eval().requires_grad_(False)


def load_folder(folder: Path, name: str | None = None) -> ModelBundle:
    """A model folder: ``config.json``, ``generator.safetensors`` and optional parts."""
    from ganpaint_core.discriminator import Discriminator
    from ganpaint_core.encoder import Encoder
    from ganpaint_core.segmenter import Segmenter

    config_path = folder / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    generator = load_generator(folder / "generator.safetensors")
    bundle = ModelBundle(name=name or folder.name, generator=generator, layer=config.get("layer", DEFAULT_LAYER),
                         config=config)
    parts = {
        "segmenter": lambda meta: Segmenter(json.loads(meta["widths"])),
        "encoder": lambda meta: Encoder(generator.resolution, generator.z_dim, json.loads(meta["widths"])),
        "discriminator": lambda meta: Discriminator(json.loads(meta["widths"]), generator.resolution),
    }
    for part, build in parts.items():
        path = folder / f"{part}.safetensors"
        if path.exists():
            setattr(bundle, part, _load_module(path, build))
    dissection = folder / "dissection.json"
    if dissection.exists():
        try:
            bundle.dissection = json.loads(dissection.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{dissection} is not valid JSON: {err}") from err
    return bundle


def download(url: str, cache_dir: Path = CACHE_DIR) -> Path:
    """Fetch ``url`` once into ``cache_dir`` (with a progress bar); a clear error when offline."""
    from tqdm import tqdm

    name = Path(urllib.request.urlparse(url).path).name or "checkpoint.pth"
    target = cache_dir / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{name}"
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {name}") as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        tmp.unlink(missing_ok=True)
        reason = getattr(err, "reason", err)
        raise ValueError(f"could not download {url} ({reason}). If this machine is offline, download the file "
                         f"elsewhere and pass its local path instead.") from err
    tmp.replace(target)
    return target


def load_model(name_or_path: str | os.PathLike = "default") -> ModelBundle:
    """Load ``"default"`` (shipped), a model folder, a generator checkpoint file, or an http(s) URL."""
    spec = str(name_or_path)
    if spec.startswith(("http://", "https://")):
        path = download(spec)
    elif (MODELS_DIR / spec).is_dir() and os.sep not in spec:
        return load_folder(MODELS_DIR / spec, name=spec)
    else:
        path = Path(spec).expanduser()
    if path.is_dir():
        return load_folder(path)
    if not path.exists():
        shipped = sorted(p.name for p in MODELS_DIR.iterdir() if p.is_dir()) if MODELS_DIR.is_dir() else []
        raise FileNotFoundError(f"no model {spec!r}: not a shipped model ({', '.join(shipped) or 'none'}), "
                                f"a folder, a checkpoint file or a URL")
    generator = load_generator(path)
    return ModelBundle(name=path.stem, generator=generator, config={"source": str(path)})
