"""From the mean of workers' smoothed log-odds back to the median worker's log-odds, without the smoothing's bias.

A worker's smoothed log-odds ``log((k + 0.5) / (n - k + 0.5))`` of ``k`` answers for ours in ``n`` trials is
pulled towards 0 when ``n`` is small, the preference strong and workers differ: with 12 trials at a median 0.9
(log-odds 2.20) it averages 2.11 with no worker spread, 1.97 with spread 1 and 1.70 with spread 2 (logit scale), so
an interval around the workers' mean held 0.9 in only 77% of 30-worker studies (spread 1).  Under the
simulated model (worker ``w`` prefers ours with probability ``expit(beta + sigma * z_w)``, ``z_w ~ N(0, 1)``) the
expected mean ``g(beta, sigma)`` and the expected spread of the smoothed log-odds are exact sums over ``k`` and
Gauss-Hermite nodes over ``z``, tabulated once per trial count on a grid.  :func:`unbias` matches the observed
mean and variance (``sigma``; ``beta`` for the mean) and maps any values on the smoothed scale (an interval's
ends) to ``beta`` through the same increasing ``g``: an interval for ``g`` becomes one for ``beta``, and since
``g(0, sigma) = 0`` a test of ``beta = 0`` is the test of ``g = 0`` that it was.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import gammaln

NODES = 24
_x, _w = np.polynomial.hermite_e.hermegauss(NODES)      # probabilists' Hermite: weight exp(-x**2 / 2)
Z, WEIGHTS = _x, _w / _w.sum()                           # nodes and weights of a standard normal
BETAS = np.linspace(-10.0, 10.0, 401)                    # the median worker's log-odds, tabulated
SIGMAS = np.linspace(0.0, 6.0, 31)                       # worker spread (logit scale), tabulated


@lru_cache(maxsize=128)
def moments(n: int) -> tuple[np.ndarray, np.ndarray]:
    """For one worker with ``n`` trials: the expected smoothed log-odds and its variance, on SIGMAS x BETAS."""
    k = np.arange(n + 1)
    smoothed = np.log((k + 0.5) / (n - k + 0.5))
    log_choose = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    mean = np.empty((len(SIGMAS), len(BETAS)))
    square = np.empty_like(mean)
    for j, sigma in enumerate(SIGMAS):
        eta = BETAS[:, None] + sigma * Z[None, :]
        log_pmf = (log_choose + k * -np.logaddexp(0, -eta)[..., None]
                   + (n - k) * -np.logaddexp(0, eta)[..., None])
        pmf = np.exp(log_pmf)
        mean[j] = (pmf @ smoothed) @ WEIGHTS
        square[j] = (pmf @ smoothed ** 2) @ WEIGHTS
    return mean, square - mean ** 2


def _invert(row: np.ndarray, value: float) -> float:
    """``beta`` where the increasing ``row`` (over BETAS) reaches ``value``; +-inf beyond the tabulated range."""
    if value >= row[-1]:
        return float("inf")
    if value <= row[0]:
        return float("-inf")
    return float(np.interp(value, row, BETAS))


def _row_wise_inverse(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each of ``values`` (R,) and each increasing row of ``table`` (over BETAS), the beta where the row reaches
    the value (clipped to BETAS): (R, rows)."""
    values = np.asarray(values, float)[:, None, None]
    above = np.count_nonzero(table[None] < values, axis=2).clip(1, len(BETAS) - 1)
    rows = np.arange(len(table))[None]
    left, right = table[rows, above - 1], table[rows, above]
    t = np.clip((values[..., 0] - left) / np.where(right > left, right - left, 1.0), 0.0, 1.0)
    return BETAS[above - 1] + t * (BETAS[1] - BETAS[0])


def unbias(mean: float, variance: float, trials, values) -> tuple[float, list[float]]:
    """The worker spread ``sigma`` matching the workers' smoothed log-odds (``mean``, sample ``variance``, one
    ``trials`` count per worker) and, for each of ``values`` on the smoothed scale, the ``beta`` with
    ``g(beta, sigma)`` equal to it."""
    sigmas, betas = unbias_studies([mean], [variance], trials, [values])
    return float(sigmas[0]), [float(b) for b in betas[0]]


def unbias_studies(means, variances, trials, values) -> tuple[np.ndarray, np.ndarray]:
    """:func:`unbias` for R studies with the same ``trials`` per worker (the calibration's simulated studies):
    ``means`` and ``variances`` (R,), ``values`` (R, V); returns the spreads (R,) and the betas (R, V)."""
    means, variances = np.asarray(means, float), np.asarray(variances, float)
    counts, how_many = np.unique(np.asarray(trials, int), return_counts=True)
    share = how_many / how_many.sum()
    tables = [moments(int(c)) for c in counts]
    g, spread = tables[0]
    if len(tables) > 1:
        g = sum(s * t[0] for s, t in zip(share, tables, strict=True))
        spread = sum(s * t[1] for s, t in zip(share, tables, strict=True))
    # per study and tabulated sigma: the beta that gives the observed mean, and the variance expected there
    betas = _row_wise_inverse(g, means)
    at = np.clip((betas - BETAS[0]) / (BETAS[1] - BETAS[0]), 0, len(BETAS) - 1.000001)
    low = at.astype(int)
    rows = np.arange(len(SIGMAS))[None]
    expected = spread[rows, low] + (at - low) * (spread[rows, low + 1] - spread[rows, low])
    expected = np.maximum.accumulate(expected, axis=1)          # increasing in sigma (it is, up to rounding)
    sigmas = np.array([float(np.interp(v, e, SIGMAS)) if np.isfinite(v) else 0.0
                       for v, e in zip(variances, expected, strict=True)])
    j = np.minimum(np.searchsorted(SIGMAS, sigmas, side="right") - 1, len(SIGMAS) - 2)
    t = ((sigmas - SIGMAS[j]) / (SIGMAS[j + 1] - SIGMAS[j]))[:, None]
    g_rows = (1 - t) * g[j] + t * g[j + 1]
    return sigmas, np.array([[_invert(row, float(v)) for v in vs] for row, vs in zip(g_rows, values, strict=True)])
