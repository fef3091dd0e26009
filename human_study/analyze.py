"""``python -m human_study analyze``: preferences for ours per baseline and edit type, rankings, biases.

Reads a local export, MTurk batch results or a study database.  Practice trials are dropped.  Exclusion rule:
a worker is excluded when their catch-trial accuracy is below ``--min-catch-accuracy`` (default 1.0: a worker who
picks the broken composite even once is out); workers without catch trials are kept.  Every table is given
without and with exclusion (``exclusion`` column: ``none`` / ``catch``); the headline uses exclusion.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ganpaint_core.commands.cli import check_out_dir
from human_study.common import REFERENCE, write_frame
from human_study.responses import load, tidy
from human_study.stats import LEVEL, PREFERENCE_COLUMNS, agreement, bradley_terry, holm, preference

SUBSETS = ("none", "catch")


def add_arguments(p):
    p.add_argument("answers", help="responses.csv (local export or `simulate`), MTurk batch results CSV or "
                                   "study.sqlite")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--study", default="", help="study folder (manifest.csv); default: next to the answers")
    p.add_argument("--min-catch-accuracy", type=float, default=1.0,
                   help="exclude workers whose catch-trial accuracy is below this")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0)


def worker_table(frame: pd.DataFrame, min_catch_accuracy: float) -> pd.DataFrame:
    scored = frame[frame["phase"] == "scored"]
    catch = frame[frame["phase"] == "catch"]
    table = frame.groupby("worker_id").agg(session=("session", "first"), source=("source", "first"))
    table["scored"] = scored.groupby("worker_id").size()
    table["prefer_ours"] = scored.groupby("worker_id")["chose_ours"].mean()
    table["left_share"] = scored.groupby("worker_id")["chose_left"].mean()
    table["median_rt_ms"] = scored.groupby("worker_id")["rt_ms"].median()
    table["catch_trials"] = catch.groupby("worker_id").size()
    table["catch_correct"] = catch.groupby("worker_id")["correct"].sum()
    table[["scored", "catch_trials", "catch_correct"]] = table[["scored", "catch_trials", "catch_correct"]] \
        .fillna(0).astype(int)
    table["catch_accuracy"] = table["catch_correct"] / table["catch_trials"].replace(0, np.nan)
    table["excluded"] = table["catch_accuracy"].fillna(1.0) < min_catch_accuracy
    table["agreement"] = agreement(scored)[0]
    return table.reset_index()


def baseline_table(scored: pd.DataFrame, samples: int = 0, seed: int = 0) -> pd.DataFrame:
    """Per baseline: the share preferring ours with its clustered t interval and test, Holm-adjusted across
    baselines (``p_holm``, ``significant``)."""
    rows = [{"baseline": b, **preference(g, "chose_ours", samples, seed)} for b, g in scored.groupby("baseline")]
    table = pd.DataFrame(rows, columns=["baseline", *PREFERENCE_COLUMNS])
    table["p_holm"] = holm(table["p"])
    table["significant"] = table["p_holm"] < 1 - LEVEL
    return table


def preference_tables(scored: pd.DataFrame, samples: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per baseline with Holm-adjusted p, per edit type and baseline incl. ``all``)."""
    by_baseline = baseline_table(scored, samples, seed)
    rows = []
    for action, group in scored.groupby("action"):
        rows.append({"action": action, "baseline": "all", **preference(group, "chose_ours", samples, seed)})
        for b, g in group.groupby("baseline"):
            rows.append({"action": action, "baseline": b, **preference(g, "chose_ours", samples, seed)})
    return by_baseline, pd.DataFrame(rows, columns=["action", "baseline", *PREFERENCE_COLUMNS])


def analyse(frame: pd.DataFrame, min_catch_accuracy: float = 1.0, samples: int = 2000, seed: int = 0) -> dict:
    """All tables, each computed without and with the catch-trial exclusion."""
    frame = frame[frame["phase"] != "practice"]
    workers = worker_table(frame, min_catch_accuracy)
    excluded = set(workers.loc[workers["excluded"], "worker_id"])
    out: dict[str, list] = {"baselines": [], "actions": [], "ranking": [], "position": []}
    for subset in SUBSETS:
        part = frame if subset == "none" else frame[~frame["worker_id"].isin(excluded)]
        scored = part[part["phase"] == "scored"]
        by_baseline, by_action = preference_tables(scored, samples, seed)
        winners = np.where(scored["chose_ours"], REFERENCE, scored["baseline"])
        losers = np.where(scored["chose_ours"], scored["baseline"], REFERENCE)
        ranking = bradley_terry(list(winners), list(losers))
        position = pd.DataFrame([{"share_label": "left", **preference(scored, "chose_left", samples, seed)}])
        for name, table in (("baselines", by_baseline), ("actions", by_action), ("ranking", ranking),
                            ("position", position)):
            out[name].append(table.assign(exclusion=subset))
    tables = {name: pd.concat(parts, ignore_index=True) for name, parts in out.items()}
    tables["workers"] = workers
    overall = {s: agreement((frame if s == "none" else frame[~frame["worker_id"].isin(excluded)])
                            .query("phase == 'scored'"))[1] for s in SUBSETS}
    tables["info"] = {"workers": len(workers), "excluded": len(excluded), "answers": int(len(frame)),
                      "scored": int((frame["phase"] == "scored").sum()), "agreement": overall,
                      "min_catch_accuracy": min_catch_accuracy, "samples": samples,
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
        cells = [md_text(v) if isinstance(v, str) else f"{v:.2g}" if c.startswith("p") and isinstance(v, float)
                 and not math.isnan(v) else _fmt(v) for c, v in zip(columns, row, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def summary(tables: dict, source: str) -> str:
    info = tables["info"]
    pct = f"{info['min_catch_accuracy']:.0%}"
    lines = [f"# Human study: {md_text(Path(source).name)}", "",
             f"{info['workers']} workers, {info['scored']} scored answers (practice dropped). Exclusion rule: a "
             f"worker whose catch-trial accuracy (unedited photo vs. broken composite) is below {pct} is "
             f"excluded: {info['excluded']} of {info['workers']} workers.", ""]
    for subset, title in (("catch", "with exclusion"), ("none", "without exclusion")):
        b = tables["baselines"][tables["baselines"]["exclusion"] == subset]
        lines += [f"## Preference for {REFERENCE} per baseline ({title})", "",
                  f"Share of trials where {REFERENCE} was judged more real; Wilson and two-level bootstrap "
                  f"(workers, then trials) {LEVEL:.0%} CIs; two-sided binomial test vs. 0.5, Holm-adjusted.", ""]
        lines += md_table(b, ["baseline", "n", "workers", "share", "wilson_low", "wilson_high", "boot_low",
                              "boot_high", "p", "p_holm", "significant"]) + [""]
    for subset, title in (("catch", "with exclusion"), ("none", "without exclusion")):
        a = tables["actions"][(tables["actions"]["exclusion"] == subset) & (tables["actions"]["baseline"] == "all")]
        lines += [f"## Per edit type, all baselines ({title})", ""]
        lines += md_table(a, ["action", "n", "share", "wilson_low", "wilson_high", "p"]) + [""]
    r = tables["ranking"].query("exclusion == 'catch'")
    lines += ["## Bradley-Terry ranking (with exclusion)", ""]
    lines += md_table(r, ["rank", "method", "log_strength", "strength", "wins", "comparisons"]) + [""]
    lines += ["## Position bias", "", "Share of scored answers choosing the left photo (0.5: no bias).", ""]
    lines += md_table(tables["position"], ["exclusion", "n", "share", "wilson_low", "wilson_high", "p"]) + [""]
    agree = info["agreement"]
    w = tables["workers"]
    lines += ["## Agreement", "",
              f"Pairwise agreement between workers on the same pair: {_fmt(agree['none'])} (all), "
              f"{_fmt(agree['catch'])} (after exclusion). Median per-worker agreement with the other workers' "
              f"majority: {_fmt(float(w['agreement'].median()))}; per worker in `workers.csv`.", ""]
    if len(info["comments"]):
        lines += ["## Comments", ""] + [f"- {md_text(k)}: {md_text(v)}" for k, v in info["comments"].items()] + [""]
    lines += ["Files: `baselines.csv`, `actions.csv`, `ranking.csv`, `position.csv`, `workers.csv`, "
              "`preferences.png`, `actions.png`.", ""]
    return "\n".join(lines)


def bar_plot(table: pd.DataFrame, label: str, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(table[label]))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(labels) + 1.5), 3.5))
    width = 0.38
    for i, (subset, name) in enumerate((("none", "all workers"), ("catch", "after exclusion"))):
        part = table[table["exclusion"] == subset].set_index(label).reindex(labels)
        x = np.arange(len(labels)) + (i - 0.5) * width
        err = np.vstack([part["share"] - part["wilson_low"], part["wilson_high"] - part["share"]])
        err = np.clip(err, 0, None)                  # rounding can put a bound a hair past a share of 0 or 1
        ax.bar(x, part["share"], width, yerr=err, capsize=3, label=name)
    ax.axhline(0.5, color="k", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(labels)), labels)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"share preferring {REFERENCE}")
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
             f"{REFERENCE} vs. each baseline ({LEVEL:.0%} Wilson CI)")
    bar_plot(tables["actions"].query("baseline == 'all'"), "action", out / "actions.png",
             f"{REFERENCE} vs. all baselines per edit type")
    (out / "summary.md").write_text(summary(tables, source), encoding="utf-8")


def run(args):
    if not 0 <= args.min_catch_accuracy <= 1:
        raise ValueError(f"--min-catch-accuracy must be in [0, 1], got {args.min_catch_accuracy}")
    if args.bootstrap < 100:
        raise ValueError(f"--bootstrap must be at least 100, got {args.bootstrap}")
    frame = tidy(load(Path(args.answers), args.study or None))
    if not (frame["phase"] == "scored").any():
        raise ValueError(f"{args.answers} holds no scored answers")
    tables = analyse(frame, args.min_catch_accuracy, args.bootstrap, args.seed)
    out = Path(args.out)
    write_report(tables, out, args.answers)
    head = tables["baselines"].query("exclusion == 'catch'")
    for row in head.itertuples():
        print(f"{REFERENCE} vs {row.baseline}: {row.share:.3f} [{row.wilson_low:.3f}, {row.wilson_high:.3f}] "
              f"n={row.n} p_holm={row.p_holm:.3g}")
    print(f"wrote {out / 'summary.md'}")
