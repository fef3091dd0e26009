"""``python -m human_study calibrate``: how often the analysis calls a null study significant, and its power.

Simulated studies use the builder's own session plan (``build.plan_sessions``: pairs interleaved over baselines,
each pair in one session) and hand sessions out least-used first, as the server does.  A worker's answer on a
pair prefers ours with probability ``expit(logit(p) + u_worker + a_pair)``, ``u ~ N(0, worker spread)`` and
``a ~ N(0, item spread)`` on the logit scale.  Each simulated study is tested as ``analyze.baseline_table`` does
(``stats.preference_test`` per baseline, ``stats.holm`` across baselines).  Written per (workers, spread): the
rate of p < 0.05 per baseline, the family-wise rate after Holm (any baseline significant); for planted
preferences the power; how often the 95% CI holds the true preference (``coverage``: 0.5 from the null grid,
0.7 and 0.9 on the same workers x spreads grid); the settings and the seed.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from human_study.common import ACTIONS, least_used
from human_study.stats import holm, preference_tests

ALPHA = 0.05
WORKERS = (5, 10, 30)
SPREADS = (0.0, 1.0, 2.0)
NULL_BOUNDS = (0.02, 0.08)            # acceptable rate of p < ALPHA per baseline under the null
FAMILY_BOUND = 0.06                   # acceptable family-wise rate after Holm under the null
POWER_PREFERENCES = (0.6, 0.7, 0.9)
POWER_WORKERS = (5, 10, 15, 20, 30)
POWER_SPREAD = 1.0
COVERAGE_PREFERENCES = (0.7, 0.9)    # with the null grid's 0.5: coverage of the 95% CI, workers x spreads
WARN_PREFERENCE, WARN_POWER = 0.7, 0.8   # the fewest workers finding a 0.7 preference 80% of the time
DESIGN = {"tasks": 30, "baselines": 3, "scored_per_session": 36}


def add_arguments(p):
    p.add_argument("--out", required=True, help="JSON file to write (e.g. docs/study_calibration.json)")
    p.add_argument("--runs", type=int, default=1000, help="simulated null studies per (workers, spread)")
    p.add_argument("--power-runs", type=int, default=400, help="simulated studies per planted preference")
    p.add_argument("--item-spread", type=float, default=0.0,
                   help="spread of pair effects (logit) in the main grid; a separate check always uses 1.0")
    p.add_argument("--tasks", type=int, default=DESIGN["tasks"], help="edit tasks (pairs per baseline)")
    p.add_argument("--baselines", type=int, default=DESIGN["baselines"], help="baselines compared with ours")
    p.add_argument("--trials-per-session", type=int, default=DESIGN["scored_per_session"],
                   help="scored trials per session (as `build --trials-per-session` less the catch trials)")
    p.add_argument("--seed", type=int, default=0)


class Design:
    """Which pairs each session shows, built with the study builder's session plan."""

    def __init__(self, tasks: int = 30, baselines: int = 3, scored_per_session: int = 36, seed: int = 0):
        from human_study.build import plan_sessions

        names = [f"b{i}" for i in range(baselines)]
        pairs = [{"pair_id": f"t{t:03d}_{b}", "method_b": b, "action": ACTIONS[t % len(ACTIONS)]}
                 for t in range(tasks) for b in names]
        plan = plan_sessions(pairs, scored_per_session, 0.0, np.random.default_rng(seed))
        self.baselines = names
        self.pairs = pd.DataFrame(pairs)
        index = {p["pair_id"]: i for i, p in enumerate(pairs)}
        self.sessions = [np.array([index[p["pair_id"]] for p in scored]) for scored, _ in plan]

    def answers(self, workers: int, prefer: float, worker_sd: float, item_sd: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One simulated study's scored answers: (worker index, pair index, chose ours) per trial."""
        counts = dict.fromkeys(range(len(self.sessions)), 0)
        shown = []
        for _ in range(workers):
            session = least_used(counts)
            counts[session] += 1
            shown.append(self.sessions[session])
        worker = np.repeat(np.arange(workers), [len(s) for s in shown])
        pair = np.concatenate(shown)
        offset = rng.normal(0, worker_sd, workers) if worker_sd > 0 else np.zeros(workers)
        item_effect = rng.normal(0, item_sd, len(self.pairs)) if item_sd > 0 else np.zeros(len(self.pairs))
        logit = math.log(prefer / (1 - prefer)) + offset[worker] + item_effect[pair]
        return worker, pair, rng.random(len(pair)) < 1 / (1 + np.exp(-logit))


def rates(design: Design, workers: int, worker_sd: float, item_sd: float, runs: int, rng: np.random.Generator,
          prefer: float = 0.5) -> dict:
    """Over ``runs`` simulated studies, each analysed per baseline like ``analyze.baseline_table`` does
    (``preference_test`` per baseline, ``holm`` across them): the share of baselines with p < ALPHA, with
    Holm-adjusted p < ALPHA, the share of studies where any baseline is significant after Holm, and how often the
    95% CI holds the true preference (``ci_coverage``)."""
    baseline_of_pair = pd.factorize(design.pairs["method_b"])[0]
    studies = [design.answers(workers, prefer, worker_sd, item_sd, rng) for _ in range(runs)]
    worker, pair, _ = studies[0]
    if any(not (np.array_equal(w, worker) and np.array_equal(q, pair)) for w, q, _ in studies):
        raise RuntimeError("simulated studies of one cell must share who answers which pair")
    chose = np.stack([c for _, _, c in studies])
    of = baseline_of_pair[pair]
    # the runs share who answered what, so each baseline's tests run on all of them at once
    tests = [preference_tests(chose[:, of == b], worker[of == b], pair[of == b]) for b in range(len(design.baselines))]
    p = np.stack([t["p"] for t in tests], 1)
    raw = p < ALPHA
    adjusted = np.stack([holm(row) for row in p]) < ALPHA
    covered = np.stack([(t["ci_low"] < prefer) & (prefer < t["ci_high"]) for t in tests], 1)
    return {"workers": workers, "worker_spread": worker_sd, "item_spread": item_sd, "preference": prefer,
            "runs": runs, "tests": runs * len(design.baselines), "rate": float(np.mean(raw)),
            "rate_holm": float(np.mean(adjusted)), "family_rate_holm": float(np.mean(np.any(adjusted, axis=1))),
            "ci_coverage": float(np.mean(covered))}


def calibrate(runs: int = 1000, power_runs: int = 400, seed: int = 0, item_spread: float = 0.0,
              workers=WORKERS, spreads=SPREADS, power_workers=POWER_WORKERS,
              power_preferences=POWER_PREFERENCES, coverage_preferences=COVERAGE_PREFERENCES,
              progress: bool = True, layout: dict | None = None) -> dict:
    """The null grid (workers x spreads), a null check with item spread 1, power for planted preferences and the
    CI's coverage of planted preferences on the null grid's cells (``power_runs`` studies each); ``layout``:
    tasks, baselines and scored_per_session (default DESIGN)."""
    layout = {**DESIGN, **(layout or {})}
    design = Design(**layout, seed=seed)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    jobs = [("null", w, s, item_spread, runs, 0.5) for w in workers for s in spreads]
    jobs += [("items", w, POWER_SPREAD, 1.0, runs, 0.5) for w in workers]
    jobs += [("power", w, POWER_SPREAD, item_spread, power_runs, p) for p in power_preferences
             for w in power_workers]
    jobs += [("coverage", w, s, item_spread, power_runs, p) for p in coverage_preferences for w in workers
             for s in spreads]
    out: dict[str, list] = {"null": [], "items": [], "power": [], "coverage": []}
    for kind, w, s, item_sd, n, p in tqdm(jobs, desc="calibrate", disable=not progress):
        out[kind].append(rates(design, w, s, item_sd, n, rng, prefer=p))
    for row in out["null"] + out["items"]:
        row["holds"] = bool(NULL_BOUNDS[0] <= row["rate"] <= NULL_BOUNDS[1]
                            and row["family_rate_holm"] <= FAMILY_BOUND)
    for row in out["power"]:
        row["power"] = row.pop("rate")
        row["power_holm"] = row.pop("rate_holm")
        row["any_significant_holm"] = row.pop("family_rate_holm")
    for row in out["coverage"]:
        row["power"] = row.pop("rate")
        for key in ("rate_holm", "family_rate_holm"):
            row.pop(key)
    by_preference: dict[float, list] = {}
    for row in out["null"] + out["items"] + out["power"] + out["coverage"]:
        by_preference.setdefault(row["preference"], []).append(row["ci_coverage"])
    enough = [r["workers"] for r in out["power"] if r["preference"] == WARN_PREFERENCE and r["power"] >= WARN_POWER]
    return {"settings": {"alpha": ALPHA, "null_bounds": list(NULL_BOUNDS), "family_bound": FAMILY_BOUND,
                         "design": {**layout, "sessions": len(design.sessions)}, "runs": runs,
                         "power_runs": power_runs, "item_spread": item_spread, "power_spread": POWER_SPREAD,
                         "test": "t test on worker log-odds widened by the pairs' spread "
                                 "(human_study.stats.preference_test), Holm across baselines; estimate and CI "
                                 "mapped to the median worker's log-odds without the smoothing's bias "
                                 "(human_study.logit_bias)"},
            "coverage_range": {str(p): [min(c), max(c)] for p, c in sorted(by_preference.items())},
            "seed": seed, "seconds": round(time.perf_counter() - start, 1),
            "null_holds": all(r["holds"] for r in out["null"] + out["items"]),
            "min_workers": {"preference": WARN_PREFERENCE, "power": WARN_POWER, "worker_spread": POWER_SPREAD,
                            "workers": min(enough) if enough else None}, **out}


def run(args):
    if args.runs < 50 or args.power_runs < 50:
        raise ValueError("--runs and --power-runs must be at least 50")
    if args.tasks < 1 or args.baselines < 1 or args.trials_per_session < 2:
        raise ValueError("--tasks and --baselines must be at least 1, --trials-per-session at least 2")
    result = calibrate(args.runs, args.power_runs, args.seed, args.item_spread,
                       layout={"tasks": args.tasks, "baselines": args.baselines,
                               "scored_per_session": args.trials_per_session})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for row in result["null"] + result["items"]:
        print(f"null: {row['workers']:>2} workers, worker spread {row['worker_spread']}, item spread "
              f"{row['item_spread']}: p<{ALPHA} in {row['rate']:.3f} of {row['tests']} tests, Holm family-wise "
              f"{row['family_rate_holm']:.3f} ({'ok' if row['holds'] else 'OUT OF BOUNDS'})")
    for row in result["power"]:
        print(f"power: preference {row['preference']}, {row['workers']:>2} workers: {row['power']:.3f} "
              f"(Holm {row['power_holm']:.3f}); 95% CI holds it in {row['ci_coverage']:.3f}")
    for row in result["coverage"]:
        print(f"coverage: preference {row['preference']}, {row['workers']:>2} workers, worker spread "
              f"{row['worker_spread']}: 95% CI holds it in {row['ci_coverage']:.3f}")
    for p, (low, high) in result["coverage_range"].items():
        print(f"95% CI coverage at a true preference of {p}: {low:.3f}-{high:.3f}")
    least = result["min_workers"]
    print(f"fewest workers with power >= {WARN_POWER} for a preference of {WARN_PREFERENCE}: {least['workers']}")
    print(f"wrote {out} ({result['seconds']} s)")
