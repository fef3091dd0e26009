"""How far an edit goes from the unedited photo towards the ground-truth edit, in label accuracy inside the mask.

Label accuracy (``ganpaint_core.metrics.label_accuracy``: the segmenter's labels of a picture against the ground
truth's labels inside the mask) has two reference points on every scene task: the unedited photo (what doing nothing
scores) and the ground-truth edited picture itself (what a perfect edit scores, about 0.97).  The *share of the way*
a method closes over a set of tasks is

    (mean acc - mean acc_unedited) / (mean acc_truth - mean acc_unedited)

(a ratio of means over the same tasks): doing nothing scores exactly 0, the ground truth exactly 1, an edit that
moves the labels away from the truth less than 0.  Its interval is a paired percentile bootstrap over tasks (the
three accuracies of a task are resampled together), as ``eval.run.report.bootstrap_ci`` does for means.
"""

from __future__ import annotations

import math

import numpy as np

BOOTSTRAP_SAMPLES = 2000


def _paired(acc, unedited, truth) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three accuracies as float arrays, keeping only the tasks where all three are finite."""
    arrays = [np.asarray(a, dtype=np.float64).ravel() for a in (acc, unedited, truth)]
    if len({a.size for a in arrays}) != 1:
        raise ValueError(f"acc, unedited and truth need one value per task each, got sizes "
                         f"{', '.join(str(a.size) for a in arrays)}")
    keep = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    return tuple(a[keep] for a in arrays)


def _ratio(acc: np.ndarray, unedited: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The share of the way of each row of resampled (rows x tasks) arrays; NaN where the truth gains nothing."""
    base = unedited.mean(axis=-1)
    gap = truth.mean(axis=-1) - base
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap > 0, (acc.mean(axis=-1) - base) / np.where(gap > 0, gap, 1.0), np.nan)


def share_of_way(acc, unedited, truth) -> float:
    """The share of the way from the unedited photo to the truth closed by ``acc`` (one value per task each);
    NaN with no complete task or when the truth is on average no better than the unedited photo."""
    acc, unedited, truth = _paired(acc, unedited, truth)
    if not acc.size:
        return math.nan
    return float(_ratio(acc, unedited, truth))


def share_of_way_ci(acc, unedited, truth, seed: int = 0, level: float = 0.95,
                    samples: int = BOOTSTRAP_SAMPLES) -> tuple[float, float, float]:
    """(share, low, high): ``share_of_way`` and its paired percentile-bootstrap interval over tasks."""
    acc, unedited, truth = _paired(acc, unedited, truth)
    if not acc.size:
        return (math.nan,) * 3
    share = float(_ratio(acc, unedited, truth))
    if math.isnan(share):
        return (math.nan,) * 3
    index = np.random.default_rng(seed).integers(0, acc.size, (samples, acc.size))
    shares = _ratio(acc[index], unedited[index], truth[index])
    shares = shares[np.isfinite(shares)]
    tail = (1 - level) / 2 * 100
    return share, float(np.percentile(shares, tail)), float(np.percentile(shares, 100 - tail))
