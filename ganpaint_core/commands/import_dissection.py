"""``python -m ganpaint_core import-dissection``: a model's dissection.json from GAN dissection's demo data."""

from __future__ import annotations

import json
from pathlib import Path


def add_arguments(p):
    p.add_argument("reference", help="GAN dissection's demo rankings and levels, gathered in one JSON file "
                                     "(e.g. ../shared/reference/gandissect_churchoutdoor_layer4.json)")
    p.add_argument("--model", default="church", help="the registered model these units belong to")
    p.add_argument("--out", required=True, help="the dissection JSON to write (e.g. models/church/dissection.json)")


def run(args):
    from ganpaint_core.dissection.gandissect import from_gandissect

    path = Path(args.reference)
    if not path.is_file():
        raise FileNotFoundError(f"no reference data at {path}")
    try:
        reference = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    dissection = from_gandissect(reference, args.model)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(dissection, indent=1) + "\n")
    print(f"wrote {out}: {len(dissection['concepts'])} concepts ({', '.join(dissection['concepts'])}), "
          f"{len(dissection['units'])} units")
