"""Statistics for 2AFC answers: Wilson and two-level bootstrap intervals, binomial tests with Holm correction,
Bradley-Terry strengths and inter-worker agreement."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

LEVEL = 0.95


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    lo, hi = proportion_confint(k, n, alpha=1 - LEVEL, method="wilson")
    return float(lo), float(hi)


def binomial_p(k: int, n: int) -> float:
    """Two-sided exact binomial test against 0.5."""
    return float(binomtest(k, n, 0.5).pvalue) if n else math.nan


def holm(pvalues) -> np.ndarray:
    """Holm-adjusted p-values (NaNs stay NaN)."""
    p = np.asarray(pvalues, float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


def two_level_bootstrap(successes, trials, samples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile CI of the pooled proportion, resampling workers and then trials within each drawn worker.

    Resampling a worker's n 0/1 trials with replacement is a Binomial(n, k/n) draw, which is what is used."""
    k = np.asarray(successes, float)
    n = np.asarray(trials, float)
    if n.sum() == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(n), (samples, len(n)))
    drawn_n = n[idx]
    drawn_k = rng.binomial(drawn_n.astype(int), k[idx] / drawn_n)
    estimates = drawn_k.sum(1) / drawn_n.sum(1)
    tail = (1 - LEVEL) / 2 * 100
    return float(np.percentile(estimates, tail)), float(np.percentile(estimates, 100 - tail))


def preference(group: pd.DataFrame, outcome: str, samples: int, seed: int) -> dict:
    """Share of ``outcome`` in ``group`` with Wilson and two-level bootstrap CIs and a binomial test."""
    k, n = int(group[outcome].sum()), len(group)
    per_worker = group.groupby("worker_id", sort=True)[outcome].agg(["sum", "size"])
    lo, hi = wilson(k, n)
    boot_lo, boot_hi = two_level_bootstrap(per_worker["sum"], per_worker["size"], samples, seed)
    return {"n": n, "k": k, "workers": len(per_worker), "share": k / n if n else math.nan, "wilson_low": lo,
            "wilson_high": hi, "boot_low": boot_lo, "boot_high": boot_hi, "p": binomial_p(k, n)}


def bradley_terry(winners, losers) -> pd.DataFrame:
    """Bradley-Terry strengths (choix's ILSR, lightly regularised), best first."""
    import choix

    names = sorted(set(winners) | set(losers))
    if len(names) < 2:
        return pd.DataFrame(columns=["method", "log_strength", "strength", "wins", "comparisons", "rank"])
    index = {m: i for i, m in enumerate(names)}
    data = [(index[w], index[lo]) for w, lo in zip(winners, losers, strict=True)]
    params = choix.ilsr_pairwise(len(names), data, alpha=0.01)
    params = params - params.mean()
    strength = np.exp(params) / np.exp(params).sum()
    wins = pd.Series(list(winners)).value_counts()
    games = pd.concat([pd.Series(list(winners)), pd.Series(list(losers))]).value_counts()
    table = pd.DataFrame({"method": names, "log_strength": params, "strength": strength,
                          "wins": [int(wins.get(m, 0)) for m in names],
                          "comparisons": [int(games.get(m, 0)) for m in names]})
    table = table.sort_values("log_strength", ascending=False).reset_index(drop=True)
    table["rank"] = np.arange(1, len(table) + 1)
    return table


def agreement(scored: pd.DataFrame) -> tuple[pd.Series, float]:
    """(per-worker agreement with the other workers' majority on the same pair, overall pairwise agreement).

    A worker's answer counts when at least one other worker answered the pair and their majority is not tied;
    pairwise agreement is the chance that two workers who saw the same pair chose the same method."""
    counts = scored.groupby("pair_id")["chose_ours"].agg(["sum", "size"])
    agree_pairs = (counts["sum"] * (counts["sum"] - 1) + (counts["size"] - counts["sum"]) *
                   (counts["size"] - counts["sum"] - 1)) / 2
    all_pairs = counts["size"] * (counts["size"] - 1) / 2
    overall = float(agree_pairs.sum() / all_pairs.sum()) if all_pairs.sum() else math.nan
    joined = scored.join(counts, on="pair_id")
    others_ours = joined["sum"] - joined["chose_ours"]
    others = joined["size"] - 1
    decided = (others > 0) & (2 * others_ours != others)
    majority_ours = 2 * others_ours > others
    matches = (majority_ours == joined["chose_ours"])[decided]
    per_worker = matches.groupby(joined.loc[decided, "worker_id"]).mean()
    return per_worker, overall
