"""Checking that a dissection (concepts -> ranked units with their levels) belongs to a generator."""

from __future__ import annotations

from pathlib import Path

import torch

from ganpaint_core.models.weights import read_json
from ganpaint_core.networks.proggan import ProgressiveGenerator


def read_dissection(path: Path, generator: ProgressiveGenerator) -> dict | None:
    """The dissection in ``path``, checked against ``generator``; None where there is no such file."""
    dissection = read_json(path)
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
