"""``python -m human_study analyze``: preferences for ours per baseline and edit type, rankings, biases.

Reads a local export, MTurk batch results or a study database, checks that the answers belong to the study build
(``human_study.consistency``: refuses a rebuilt study's old answers), drops practice trials and screens workers
and answers (``human_study.screening``: unfinished, unconsented, too fast, failed catch trials; every exclusion
listed).  Preferences come with intervals and p-values that allow for workers and items
(``human_study.stats.preference_test``), Holm-adjusted across baselines; the calibration behind them is
``python -m human_study calibrate``.  Every table is given for all answers (``exclusion`` column: ``none``) and
after screening (``screened``); the headline uses the screened answers and warns below ``--min-workers``.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ganpaint_core.commands.cli import check_out_dir
from human_study.common import REFERENCE, read_manifest, write_frame
from human_study.consistency import check, locate_study
from human_study.responses import load, tidy
from human_study.screening import Rules, screen
from human_study.stats import LEVEL, PREFERENCE_COLUMNS, agreement, bradley_terry, holm, preference

SUBSETS = ("none", "screened")
# Below this many screened workers the report warns: the fewest workers with which the calibration finds a
# preference of 0.7 (worker spread 1) in at least 80% of simulated studies (docs/study_calibration.json,
# ``min_workers``; tests/test_human_study_calibration.py checks it).
MIN_WORKERS = 20


def add_arguments(p):
    p.add_argument("answers", help="responses.csv (local export or `simulate`), MTurk batch results CSV or "
                                   "study.sqlite")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--study", default="", help="study folder (manifest.csv); default: next to the answers")
    defaults = Rules()
    p.add_argument("--min-catch-accuracy", type=float, default=defaults.min_catch_accuracy,
                   help="exclude workers whose catch-trial accuracy is below this")
    p.add_argument("--min-rt-ms", type=float, default=defaults.min_rt_ms,
                   help="drop answers faster than this (ms)")
    p.add_argument("--min-median-rt-ms", type=float, default=defaults.min_median_rt_ms,
                   help="exclude workers whose median reaction time is below this (ms)")
    p.add_argument("--max-fast-share", type=float, default=defaults.max_fast_share,
                   help="exclude workers with more than this share of answers under --min-rt-ms")
    p.add_argument("--include-unfinished", action="store_true", help="keep workers who did not finish")
    p.add_argument("--include-unconsented", action="store_true", help="keep workers without a consent time")
    p.add_argument("--min-workers", type=int, default=MIN_WORKERS,
                   help="warn when fewer screened workers remain (see docs/study_calibration.json)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (descriptive CIs, rankings)")
    p.add_argument("--seed", type=int, default=0)


def baseline_table(scored: pd.DataFrame, samples: int = 0, seed: int = 0) -> pd.DataFrame:
    """Per baseline: the preference for ours with its interval and test (workers and pairs as clusters),
    Holm-adjusted across baselines (``p_holm``, ``significant``)."""
    rows = [{"baseline": b, **preference(g, "chose_ours", samples, seed)} for b, g in scored.groupby("baseline")]
    table = pd.DataFrame(rows, columns=["baseline", *PREFERENCE_COLUMNS])
    table["p_holm"] = holm(table["p"])
    table["significant"] = table["p_holm"] < 1 - LEVEL
    return table


def action_table(scored: pd.DataFrame, samples: int, seed: int) -> pd.DataFrame:
    """Per edit type: all baselines together (``baseline`` = ``all``, Holm across edit types) and each baseline."""
    rows = []
    for action, group in scored.groupby("action"):
        rows.append({"action": action, "baseline": "all", **preference(group, "chose_ours", samples, seed)})
        for b, g in group.groupby("baseline"):
            rows.append({"action": action, "baseline": b, **preference(g, "chose_ours", samples, seed)})
    table = pd.DataFrame(rows, columns=["action", "baseline", *PREFERENCE_COLUMNS])
    table["p_holm"] = np.nan
    overall = table["baseline"] == "all"
    table.loc[overall, "p_holm"] = holm(table.loc[overall, "p"])
    return table


def ranking_table(scored: pd.DataFrame, samples: int, seed: int) -> pd.DataFrame:
    winners = np.where(scored["chose_ours"], REFERENCE, scored["baseline"])
    losers = np.where(scored["chose_ours"], scored["baseline"], REFERENCE)
    return bradley_terry(winners, losers, scored["worker_id"].to_numpy(), samples, seed)


def analyse(frame: pd.DataFrame, rules: Rules | None = None, samples: int = 2000, seed: int = 0,
            session_sizes: dict[int, int] | None = None, min_workers: int = MIN_WORKERS,
            warnings: list[str] | None = None) -> dict:
    """All tables, each for every answer (``none``) and after screening (``screened``)."""
    rules = rules or Rules()
    frame = frame[frame["phase"] != "practice"].drop_duplicates(["worker_id", "trial_id"])
    workers, keep, notes = screen(frame, rules, session_sizes)
    parts = dict(zip(SUBSETS, (frame, frame[keep]), strict=True))
    out: dict[str, list] = {"baselines": [], "actions": [], "ranking": [], "position": []}
    for subset, part in parts.items():
        scored = part[part["phase"] == "scored"]
        position = pd.DataFrame([{"share_label": "left", **preference(scored, "chose_left", samples, seed)}],
                                columns=["share_label", *PREFERENCE_COLUMNS])
        for name, table in (("baselines", baseline_table(scored, samples, seed)),
                            ("actions", action_table(scored, samples, seed)),
                            ("ranking", ranking_table(scored, samples, seed)), ("position", position)):
            out[name].append(table.assign(exclusion=subset))
    tables = {name: pd.concat(pieces, ignore_index=True) for name, pieces in out.items()}
    scored = frame[frame["phase"] == "scored"]
    per_worker = workers.set_index("worker_id")
    per_worker["scored"] = scored.groupby("worker_id").size().reindex(per_worker.index).fillna(0).astype(int)
    per_worker["prefer_ours"] = scored.groupby("worker_id")["chose_ours"].mean()
    per_worker["left_share"] = scored.groupby("worker_id")["chose_left"].mean()
    per_worker["agreement"] = agreement(scored)[0]
    tables["workers"] = per_worker.reset_index()
    kept = parts["screened"]
    n_kept = int(kept["worker_id"].nunique())
    warnings = list(warnings or [])
    if n_kept < min_workers:
        warnings.append(f"only {n_kept} workers remain after screening (fewer than {min_workers}): too few to "
                        f"rely on: with fewer than {MIN_WORKERS} workers the calibration finds a real preference "
                        "of 0.7 in less than 80% of simulated studies (docs/study_calibration.json), so a "
                        "non-significant result here says little")
    tables["info"] = {
        "workers": len(workers), "excluded": int(workers["excluded"].sum()), "kept_workers": n_kept,
        "answers": int(len(frame)), "scored": int((frame["phase"] == "scored").sum()),
        "kept_scored": int((kept["phase"] == "scored").sum()),
        "fast_answers": int(workers["fast_answers"].sum()), "untimed_answers": int(workers["untimed_answers"].sum()),
        "agreement": {s: agreement(p[p["phase"] == "scored"])[1] for s, p in parts.items()},
        "rules": rules, "samples": samples, "min_workers": min_workers, "notes": notes, "warnings": warnings,
        "comments": frame.groupby("worker_id")["comments"].first().loc[lambda s: s.str.strip() != ""]}
    return tables


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~-])")


def md_text(value) -> str:
    """Participant-supplied text made inert in Markdown and HTML."""
    text = " ".join(str(value).split())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=True))


def _fmt(x, digits: int = 3) -> str:
    if isinstance(x, float | np.floating):
        return "–" if math.isnan(x) else f"{x:.{digits}f}"
    return str(x)


def md_table(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame[columns].itertuples(index=False):
        cells = [md_text(v) if isinstance(v, str) else f"{v:.2g}" if c in ("p", "p_holm") and isinstance(v, float)
                 and not math.isnan(v) else _fmt(v) for c, v in zip(columns, row, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _rules_text(rules: Rules) -> str:
    parts = []
    if rules.require_consent:
        parts.append("no consent time")
    if rules.require_finished:
        parts.append("did not finish")
    parts += [f"median reaction time under {rules.min_median_rt_ms:.0f} ms",
              f"more than {rules.max_fast_share:.0%} of answers under {rules.min_rt_ms:.0f} ms",
              f"catch-trial accuracy (unedited photo vs. broken composite) under {rules.min_catch_accuracy:.0%}"]
    return "; ".join(parts)


PREFERENCE_HEAD = ["workers", "n", "preference", "ci_low", "ci_high", "p", "p_holm", "share", "wilson_low",
                   "wilson_high"]


def summary(tables: dict, source: str) -> str:
    info = tables["info"]
    rules = info["rules"]
    lines = [f"# Human study: {md_text(Path(source).name)}", ""]
    if info["warnings"]:
        lines += ["## Warnings", ""] + [f"- **{md_text(w)}**" for w in info["warnings"]] + [""]
    lines += [f"{info['workers']} workers, {info['scored']} scored answers (practice dropped). After screening: "
              f"{info['kept_workers']} workers, {info['kept_scored']} scored answers.", "",
              f"Screening: a worker is excluded when {_rules_text(rules)}; answers under {rules.min_rt_ms:.0f} ms "
              f"are dropped ({info['fast_answers']} answers; {info['untimed_answers']} answers had no reaction "
              f"time and were kept).", ""]
    lines += [f"- {md_text(note)}" for note in info["notes"].values()] + ([""] if info["notes"] else [])
    w = tables["workers"]
    out = w[w["excluded"]]
    lines += [f"## Excluded workers ({len(out)} of {len(w)})", ""]
    lines += md_table(out, ["worker_id", "session", "answered", "median_rt_ms", "reason"]) + [""] if len(out) \
        else ["None.", ""]
    explain = (f"`preference`: the typical (median) worker's share choosing {REFERENCE} (the mean of the workers' "
               f"log-odds without its small-sample bias, back on the 0-1 scale), with its {LEVEL:.0%} CI and a "
               "two-sided t test against 0.5 that treats workers and pairs as clusters (`human_study calibrate`: "
               "2-8% false positives at 5% with 5-30 workers); `p_holm`: Holm-adjusted across baselines. "
               "`share` and its Wilson CI pool all answers as if independent: descriptive only.")
    for subset, title in (("screened", "after screening"), ("none", "all answers")):
        b = tables["baselines"][tables["baselines"]["exclusion"] == subset]
        lines += [f"## Preference for {REFERENCE} per baseline ({title})", "", explain, ""]
        lines += md_table(b, ["baseline", *PREFERENCE_HEAD, "significant"]) + [""]
    for subset, title in (("screened", "after screening"), ("none", "all answers")):
        a = tables["actions"][(tables["actions"]["exclusion"] == subset) & (tables["actions"]["baseline"] == "all")]
        lines += [f"## Per edit type, all baselines ({title})", "", "Holm across edit types.", ""]
        lines += md_table(a, ["action", *PREFERENCE_HEAD]) + [""]
    r = tables["ranking"].query("exclusion == 'screened'")
    lines += ["## Bradley-Terry ranking (after screening)", "",
              f"Log strengths (mean 0) with {LEVEL:.0%} intervals from resampling workers; `first_share`: how often "
              "a method ranked first over those resamples.", ""]
    lines += md_table(r, ["rank", "method", "log_strength", "log_low", "log_high", "first_share", "strength", "wins",
                          "comparisons"]) + [""]
    lines += ["## Position bias", "", "Share of scored answers choosing the left photo (0.5: no bias).", ""]
    lines += md_table(tables["position"], ["exclusion", "workers", "n", "preference", "ci_low", "ci_high", "p",
                                           "share"]) + [""]
    agree = info["agreement"]
    lines += ["## Agreement", "",
              f"Pairwise agreement between workers on the same pair: {_fmt(agree['none'])} (all), "
              f"{_fmt(agree['screened'])} (after screening). Median per-worker agreement with the other workers' "
              f"majority: {_fmt(float(w['agreement'].median()))}; per worker in `workers.csv`.", ""]
    if len(info["comments"]):
        lines += ["## Comments", ""] + [f"- {md_text(k)}: {md_text(v)}" for k, v in info["comments"].items()] + [""]
    lines += ["Files: `baselines.csv`, `actions.csv`, `ranking.csv`, `position.csv`, `workers.csv` (every worker, "
              "the screening's findings and the reason for an exclusion), `preferences.png`, `actions.png`.", ""]
    return "\n".join(lines)


def bar_plot(table: pd.DataFrame, label: str, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(table[label]))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(labels) + 1.5), 3.5))
    width = 0.38
    for i, (subset, name) in enumerate((("none", "all answers"), ("screened", "after screening"))):
        part = table[table["exclusion"] == subset].set_index(label).reindex(labels)
        x = np.arange(len(labels)) + (i - 0.5) * width
        err = np.vstack([part["preference"] - part["ci_low"], part["ci_high"] - part["preference"]])
        err = np.clip(np.nan_to_num(err.astype(float)), 0, None)   # rounding can put a bound a hair past the estimate
        ax.bar(x, part["preference"], width, yerr=err, capsize=3, label=name)
    ax.axhline(0.5, color="k", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(labels)), labels)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"preference for {REFERENCE}")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(tables: dict, out: Path, source: str) -> None:
    check_out_dir(out)
    for name in ("baselines", "actions", "ranking", "position", "workers"):
        write_frame(tables[name], out / f"{name}.csv")
    bar_plot(tables["baselines"], "baseline", out / "preferences.png",
             f"{REFERENCE} vs. each baseline ({LEVEL:.0%} CI, workers and pairs as clusters)")
    bar_plot(tables["actions"].query("baseline == 'all'"), "action", out / "actions.png",
             f"{REFERENCE} vs. all baselines per edit type")
    (out / "summary.md").write_text(summary(tables, source), encoding="utf-8")


def run(args):
    rules = Rules(min_rt_ms=args.min_rt_ms, min_median_rt_ms=args.min_median_rt_ms,
                  max_fast_share=args.max_fast_share, min_catch_accuracy=args.min_catch_accuracy,
                  require_finished=not args.include_unfinished, require_consent=not args.include_unconsented)
    rules.check()
    if args.bootstrap < 100:
        raise ValueError(f"--bootstrap must be at least 100, got {args.bootstrap}")
    if args.min_workers < 2:
        raise ValueError(f"--min-workers must be at least 2, got {args.min_workers}")
    answers = Path(args.answers)
    frame = tidy(load(answers, args.study or None))
    if not (frame["phase"] == "scored").any():
        raise ValueError(f"{args.answers} holds no scored answers")
    study = locate_study(answers, args.study or None)
    warnings = check(frame, study)
    sizes = None
    if study is not None:
        manifest = pd.DataFrame(read_manifest(study))
        sizes = manifest[manifest["phase"] != "practice"].groupby("session").size().to_dict()
    tables = analyse(frame, rules, args.bootstrap, args.seed, sizes, args.min_workers, warnings)
    out = Path(args.out)
    write_report(tables, out, args.answers)
    for warning in tables["info"]["warnings"]:
        print(f"WARNING: {warning}")
    info = tables["info"]
    print(f"{info['kept_workers']} of {info['workers']} workers kept after screening ({info['excluded']} excluded, "
          f"{info['fast_answers']} too-fast answers dropped; reasons in {out / 'workers.csv'})")
    head = tables["baselines"].query("exclusion == 'screened'")
    for row in head.itertuples():
        print(f"{REFERENCE} vs {row.baseline}: {row.preference:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}] "
              f"{row.workers} workers, n={row.n}, p_holm={row.p_holm:.3g}")
    print(f"wrote {out / 'summary.md'}")
