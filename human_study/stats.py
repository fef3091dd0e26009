"""Statistics for 2AFC answers: a preference with an interval and test that allow for workers and items (the
inference), Wilson and two-level bootstrap intervals of the pooled share (descriptive: they take trials or workers
as more independent than they are), Holm correction, Bradley-Terry strengths with worker-bootstrap intervals and
inter-worker agreement.

The test (:func:`preference_test`): each worker's answers give a log-odds of preferring ours (Haldane-Anscombe,
``log((k + 0.5) / (n - k + 0.5))``); their mean is tested against 0 with a one-sample t test on ``workers - 1``
degrees of freedom, the variance widened by the items' own spread (the two-way cluster-robust idea of Cameron,
Gelbach & Miller 2011, applied to each answer's influence on the mean; kept only when positive) and the degrees
of freedom capped by ``items - 1``.  The log-odds scale keeps the test calibrated when workers disagree strongly
(shares piled at 0 and 1 make a t test on shares too liberal with 5 workers), the item term when pairs differ.
The estimate and the interval's ends are then mapped to the median worker's log-odds without the smoothing's
small-sample bias (:mod:`human_study.logit_bias`; 0.5 maps to itself, so the test is unchanged).
``python -m human_study calibrate`` checks by simulation that the 5% test rejects 2-8% of null studies with 5 to
30 workers (``docs/study_calibration.json``).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import expit, logit, stdtr, stdtrit
from statsmodels.stats.proportion import proportion_confint

from human_study.logit_bias import unbias_studies

LEVEL = 0.95
NULL = 0.5


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    lo, hi = proportion_confint(k, n, alpha=1 - LEVEL, method="wilson")
    return float(lo), float(hi)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaNs stay NaN); the same numbers as statsmodels'
    ``multipletests(method="holm")``, which runs a full garbage collection on every call (too slow for the
    calibration's thousands of studies)."""
    p = np.asarray(pvalues, float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    steps = np.maximum.accumulate(p[order] * np.arange(len(order), 0, -1))
    out[order] = np.minimum(steps, 1.0)
    return out


def preference_test(y, workers, items) -> dict:
    """The preference in 0/1 answers ``y`` given by ``workers`` on ``items``, with a t interval and a two-sided t
    test against NULL (0.5) (see the module docstring): ``preference`` is the median worker's preference (the mean
    smoothed worker log-odds, unbiased), ``worker_spread`` the worker spread that took, ``share`` the pooled share of
    1s.  NaN interval and p with fewer than 2 workers."""
    y = np.asarray(y, float)
    return {k: (v[0].item() if isinstance(v, np.ndarray) else v)
            for k, v in preference_tests(y[None], workers, items).items()}


def preference_tests(answers, workers, items) -> dict:
    """:func:`preference_test` of R studies at once that share who answered which item (the calibration's simulated
    studies): ``answers`` (R, N) 0/1, ``workers`` and ``items`` (N,); the same keys, per-study values as (R,)
    arrays (``n``, ``workers``, ``items`` and ``df`` are the same for all and stay numbers)."""
    y = np.asarray(answers, float)
    worker_codes, worker_names = pd.factorize(np.asarray(workers))
    item_codes, item_names = pd.factorize(np.asarray(items))
    runs, n = y.shape
    n_workers, n_items = len(worker_names), len(item_names)
    nan = np.full(runs, math.nan)
    out = {"n": n, "k": y.sum(1).astype(int), "workers": n_workers, "items": n_items,
           "share": y.mean(1) if n else nan, "preference": nan, "ci_low": nan, "ci_high": nan, "se_logit": nan,
           "df": math.nan, "p": nan, "worker_spread": nan}
    if n == 0:
        return out
    rows = np.arange(runs)[:, None]
    k = np.bincount((rows * n_workers + worker_codes).ravel(), weights=y.ravel(),
                    minlength=runs * n_workers).reshape(runs, n_workers)
    m = np.bincount(worker_codes, minlength=n_workers)
    smoothed = (k + 0.5) / (m + 1)                     # Haldane-Anscombe: finite log-odds for 0 or all
    log_odds = np.log((k + 0.5) / (m - k + 0.5))
    mean = log_odds.mean(1)
    if n_workers < 2:
        out["preference"] = expit(unbias_studies(mean, nan, m, mean[:, None])[1][:, 0])
        return out
    v_worker = log_odds.var(1, ddof=1) / n_workers
    # each answer's influence on the mean log-odds; summed per item it shows the items' extra spread
    per_answer = smoothed[:, worker_codes]
    influence = (y - per_answer) / (n_workers * m[worker_codes] * per_answer * (1 - per_answer))
    v_extra = np.zeros(runs)
    if n_items >= 2:
        per_item = np.bincount((rows * n_items + item_codes).ravel(), weights=influence.ravel(),
                               minlength=runs * n_items).reshape(runs, n_items)
        v_extra = np.maximum(0.0, (per_item ** 2).sum(1) * n_items / (n_items - 1) - (influence ** 2).sum(1))
    se = np.sqrt(v_worker + v_extra)
    df = min(n_workers, n_items if n_items >= 2 else n_workers) - 1
    half = float(stdtrit(df, 0.5 + LEVEL / 2)) * se
    distance = np.abs(mean - float(logit(NULL)))   # 0.5: the same on the smoothed and the unbiased scale
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stdtr(df, -distance / se)
    # every worker and pair alike (se 0): the sign-flip test's p (all workers on one side by chance)
    p = np.where(se > 0, p, np.where(distance == 0, 1.0, min(1.0, 2 * 0.5 ** n_workers)))
    spread, betas = unbias_studies(mean, log_odds.var(1, ddof=1), m, np.stack([mean, mean - half, mean + half], 1))
    centre, low, high = expit(betas).T
    out.update(preference=centre, ci_low=low, ci_high=high, se_logit=se, df=df, p=p, worker_spread=spread)
    return out


def two_level_bootstrap(successes, trials, samples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile CI of the pooled proportion, resampling workers and then trials within each drawn worker
    (the pix2pix reference analysis; too narrow with few workers, so descriptive only).

    Resampling a worker's n 0/1 trials with replacement is a Binomial(n, k/n) draw, which is what is used."""
    k = np.asarray(successes, float)
    n = np.asarray(trials, float)
    if n.sum() == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(n), (samples, len(n)))
    drawn_n = n[idx]
    drawn_k = rng.binomial(drawn_n.astype(int), k[idx] / np.maximum(drawn_n, 1))
    estimates = drawn_k.sum(1) / np.maximum(drawn_n.sum(1), 1)
    tail = (1 - LEVEL) / 2 * 100
    return float(np.percentile(estimates, tail)), float(np.percentile(estimates, 100 - tail))


def preference(group: pd.DataFrame, outcome: str, samples: int, seed: int, item: str = "pair_id") -> dict:
    """:func:`preference_test` of ``outcome`` in ``group`` (``preference``, ``ci_low``, ``ci_high``, ``p``) plus
    the pooled share's descriptive Wilson (trials as independent) and two-level bootstrap intervals."""
    row = preference_test(group[outcome].to_numpy(float), group["worker_id"].to_numpy(), group[item].to_numpy())
    row["wilson_low"], row["wilson_high"] = wilson(row["k"], row["n"])
    row["boot_low"] = row["boot_high"] = math.nan
    if samples:
        per_worker = group.groupby("worker_id", sort=True)[outcome].agg(["sum", "size"])
        row["boot_low"], row["boot_high"] = two_level_bootstrap(per_worker["sum"], per_worker["size"], samples,
                                                                seed)
    return row


PREFERENCE_COLUMNS = ["n", "k", "workers", "items", "preference", "ci_low", "ci_high", "p", "share", "se_logit",
                      "df", "wilson_low", "wilson_high", "boot_low", "boot_high"]


def _bt_fit(wins: np.ndarray) -> np.ndarray:
    import choix

    params = choix.ilsr_pairwise_dense(wins, alpha=0.01)
    return params - params.mean()


def bradley_terry(winners, losers, workers=None, samples: int = 0, seed: int = 0) -> pd.DataFrame:
    """Bradley-Terry strengths (choix's ILSR, lightly regularised), best first; with ``workers`` and ``samples``
    also percentile intervals of the log strength from resampling workers (``log_low``, ``log_high``) and how often
    each method ranked first."""
    columns = ["method", "log_strength", "log_low", "log_high", "strength", "first_share", "wins", "comparisons",
               "rank"]
    winners, losers = list(winners), list(losers)
    names = sorted(set(winners) | set(losers))
    if len(names) < 2:
        return pd.DataFrame(columns=columns)
    index = {m: i for i, m in enumerate(names)}
    w_idx = np.array([index[w] for w in winners])
    l_idx = np.array([index[x] for x in losers])
    m = len(names)
    params = _bt_fit(np.bincount(w_idx * m + l_idx, minlength=m * m).reshape(m, m).astype(float))
    low = high = first = np.full(m, np.nan)
    if workers is not None and samples > 0:
        codes, worker_names = pd.factorize(np.asarray(workers))
        per_worker = np.zeros((len(worker_names), m * m))
        np.add.at(per_worker, (codes, w_idx * m + l_idx), 1)
        rng = np.random.default_rng(seed)
        draws = np.array([_bt_fit(per_worker[rng.integers(0, len(worker_names), len(worker_names))].sum(0)
                                  .reshape(m, m)) for _ in range(samples)])
        tail = (1 - LEVEL) / 2 * 100
        low, high = np.percentile(draws, tail, axis=0), np.percentile(draws, 100 - tail, axis=0)
        first = np.bincount(draws.argmax(1), minlength=m) / samples
    strength = np.exp(params) / np.exp(params).sum()
    wins = pd.Series(winners).value_counts()
    games = pd.Series(winners + losers).value_counts()
    table = pd.DataFrame({"method": names, "log_strength": params, "log_low": low, "log_high": high,
                          "strength": strength, "first_share": first,
                          "wins": [int(wins.get(x, 0)) for x in names],
                          "comparisons": [int(games.get(x, 0)) for x in names]})
    table = table.sort_values("log_strength", ascending=False).reset_index(drop=True)
    table["rank"] = np.arange(1, len(table) + 1)
    return table[columns]


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
