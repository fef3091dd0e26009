"""Weight I/O without unpickling: safetensors files (with their metadata), weights-only torch checkpoints, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def read_safetensors(path: Path) -> tuple[dict, dict]:
    """(tensors as float32, metadata) of a safetensors file; a clear ValueError when it is not one."""
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


def read_json(path: Path, missing=None):
    """The JSON in ``path`` (``missing`` if there is no such file); a clear ValueError if it is malformed."""
    if not path.exists():
        return missing
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
