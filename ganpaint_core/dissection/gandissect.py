"""A dissection from GAN dissection's published unit rankings (the GANPaint demo's data files).

The demo's data (``rankings_demo_iou_short.json`` and ``levels_demo.json`` of
CSAILVision/gandissect, gathered in ``../shared/reference``) rank all units of
``layer4`` per concept, by causal effect (``<concept>-ace``) or by IoU with the
segmenter's concept (``<concept>-iou``); scores are negative, more negative =
stronger.  A concept's units are the first of its ranking sorted ascending (ties
by unit index) whose score is below zero.  The demo's buttons use the
``demo_recipes`` rankings (tree, grass and door by causal effect; sky, cloud,
brick and dome by IoU); every other concept takes its causal ranking where one
exists, else its IoU ranking.  A unit's level (what *add* sets it to) is its
0.99 activation quantile, and the strengths are the demo's unit counts
(4 / 10 / 15).  Each unit is also labelled with its best-IoU concept.
"""

from __future__ import annotations

import numpy as np

TOP_UNITS = 40   # units kept per concept (the demo's high strength uses 15)
STRENGTH_NAMES = {"low": "low", "med": "medium", "medium": "medium", "high": "high"}


def _split(name: str) -> tuple[str, str]:
    concept, _, metric = name.rpartition("-")
    return concept, metric


def _ranked(scores: list[float], top: int) -> tuple[list[int], list[float]]:
    s = np.asarray(scores, dtype=np.float64)
    order = [int(u) for u in np.argsort(s, kind="stable") if s[u] < 0][:top]
    return order, [float(s[u]) for u in order]


def from_gandissect(reference: dict, model: str, top: int = TOP_UNITS) -> dict:
    """The project's dissection format (``units``, ``concepts``, ``strength_units``) from the demo's data."""
    try:
        rankings = {r["name"]: r["scores"] for r in reference["rankings"]}
        levels = [float(v) for v in reference["levels"]]
        recipes = list(reference["demo_recipes"])
        counts = {STRENGTH_NAMES[k]: int(v) for k, v in reference["demo_unit_counts"].items()}
    except (KeyError, TypeError) as err:
        raise ValueError(f"not GAN dissection's demo data (missing {err})") from err
    if any(len(s) != len(levels) for s in rankings.values()) or not set(recipes) <= set(rankings):
        raise ValueError("the rankings and levels do not cover the same units, or a demo recipe has no ranking")
    chosen = {_split(name)[0]: name for name in recipes}
    for name in rankings:                         # causal rankings first: they win over IoU for the same concept
        concept, metric = _split(name)
        if concept and concept not in chosen and (metric == "ace" or f"{concept}-ace" not in rankings):
            chosen[concept] = name
    concepts = {}
    for concept, name in chosen.items():
        units, scores = _ranked(rankings[name], top)
        if units:                                 # (a ranking with no scored unit, such as '--iou', is no concept)
            concepts[concept] = {"ranking": name, "metric": _split(name)[1], "units": units, "scores": scores}
    iou = {(_split(n)[0]): -np.asarray(s, dtype=np.float64) for n, s in rankings.items()
           if _split(n)[1] == "iou" and _split(n)[0]}
    names, table = list(iou), np.stack(list(iou.values()))
    units = [{"unit": u, "concept": names[int(table[:, u].argmax())], "iou": round(float(table[:, u].max()), 5),
              "high": levels[u]} for u in range(len(levels))]
    return {"model": model, "layer": reference.get("layer", "layer4"), "source": reference.get("source", ""),
            "quantile_of_high": reference.get("levels_quantile", 0.99),
            "demo_concepts": [_split(n)[0] for n in recipes], "strength_units": counts, "concepts": concepts,
            "units": units}
