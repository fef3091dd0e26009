"""``python -m eval realism-check``: does the realism model rank held-out real scenes above generator samples,
crude copy-paste with a visible seam and broken composites?  Scores and KID of a fixed set; JSON."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np


def add_arguments(p):
    p.add_argument("--model", default="default")
    p.add_argument("--n", type=int, default=64, help="pictures per set")
    p.add_argument("--references", type=int, default=256, help="held-out real scenes behind the model")
    p.add_argument("--out", default="docs/eval/realism_check.json")


def run(args):
    from eval.measures.realism import STAGES, RealismModel, ordering_sets
    from ganpaint_core.machine import cpu_model
    from ganpaint_core.models import load_model
    from human_study.images import broken_composite

    if args.n < 4 or args.references < 8:
        raise ValueError("--n must be at least 4 and --references at least 8")
    load_before = round(os.getloadavg()[0], 2)
    start = time.perf_counter()
    bundle = load_model(args.model)
    model = RealismModel.from_model(bundle, n=args.references)
    sets = ordering_sets(bundle.generator, args.n)
    size = sets["real"].shape[1]
    mask = np.zeros((size, size), bool)
    mask[size * 3 // 8:size * 5 // 8, size * 3 // 8:size * 5 // 8] = True
    rng = np.random.default_rng(0)
    sets["broken"] = np.stack([broken_composite(x, mask, rng) for x in sets["real"]])
    parts = {k: model.standardised_parts(v) for k, v in sets.items()}
    scores = {k: sum(p) for k, p in parts.items()}
    result = {"model": args.model, "stages": list(STAGES), "n": args.n, "references": args.references,
              "centre": model.centre, "spread": model.spread, "sets": {}}
    for name, values in scores.items():
        kid, kid_std = model.kid(sets[name])
        realness, typicality = parts[name]
        result["sets"][name] = {"score_mean": round(float(values.mean()), 4),
                                "realness_mean": round(float(realness.mean()), 4),
                                "typicality_mean": round(float(typicality.mean()), 4),
                                "score_se": round(float(values.std(ddof=1) / np.sqrt(len(values))), 4),
                                "real_scores_higher_share": round(float((scores["real"] > values).mean()), 3),
                                "kid_x1000": round(kid * 1000, 3), "kid_std_x1000": round(kid_std * 1000, 3)}
    result.update(seconds=round(time.perf_counter() - start, 1), cpu=cpu_model(), load_average_1min_before=load_before)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
