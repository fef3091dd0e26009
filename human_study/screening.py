"""Which workers and answers the analysis keeps: finished and consented workers, plausible reaction times, catch
trials passed.  Every excluded worker is listed with the reason; every dropped answer is counted.

Rules (thresholds are ``analyze`` options):

- **consent**: a worker needs a ``consented_at`` time.  Exports without that column (older servers, MTurk
  results), or where it is empty for every worker, do not record consent: nobody is excluded for it and the report
  says so.
- **finished**: a worker needs a ``finished_at`` time (the server stamps it when the session is complete and the
  completion code shown).  Without that column (or with it empty for everyone), finished means answered every
  trial of the session.
- **reaction time**: scored and catch answers faster than ``min_rt_ms`` (default 200 ms, about the fastest simple
  visual reaction time; judging two photos takes longer) are dropped and counted.  A worker is excluded as too fast
  when their median reaction time is below ``min_median_rt_ms`` (default 500 ms) or more than ``max_fast_share``
  (default 10%) of their answers are under ``min_rt_ms``.  Answers without a reaction time are kept and counted;
  the machine judge (source ``machine-judge``) has none and is not speed-checked.
- **catch trials**: catch-trial accuracy below ``min_catch_accuracy`` (default 1.0: picking the broken composite
  even once) excludes a worker; the catch answers that count are those that survived the reaction-time rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MACHINE_SOURCE = "machine-judge"


@dataclass(frozen=True)
class Rules:
    """Thresholds of the screening (see the module docstring)."""

    min_rt_ms: float = 200.0
    min_median_rt_ms: float = 500.0
    max_fast_share: float = 0.1
    min_catch_accuracy: float = 1.0
    require_finished: bool = True
    require_consent: bool = True

    def check(self) -> None:
        if not 0 <= self.min_catch_accuracy <= 1:
            raise ValueError(f"--min-catch-accuracy must be in [0, 1], got {self.min_catch_accuracy}")
        if self.min_rt_ms < 0 or self.min_median_rt_ms < 0:
            raise ValueError("--min-rt-ms and --min-median-rt-ms must not be negative")
        if not 0 <= self.max_fast_share <= 1:
            raise ValueError(f"--max-fast-share must be in [0, 1], got {self.max_fast_share}")


def recorded(frame: pd.DataFrame, column: str) -> bool:
    """Whether ``frame`` records ``column`` for anyone (absent or empty everywhere: not recorded)."""
    return column in frame.columns and frame[column].fillna("").astype(str).str.strip().ne("").any()


def _first_text(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame.groupby("worker_id")[column].agg(lambda s: next((v for v in s.fillna("").astype(str)
                                                                    if v.strip()), ""))


def screen(frame: pd.DataFrame, rules: Rules, session_sizes: dict[int, int] | None = None
           ) -> tuple[pd.DataFrame, pd.Series, dict]:
    """(one row per worker with the screening's findings, ``excluded`` and ``reason``; a boolean mask over
    ``frame`` of the answers the screened analysis keeps; notes on what the data records).

    ``frame``: tidy answers with practice dropped.  ``session_sizes``: trials per session without practice (from
    the manifest); without it a session's size is the most trials any of its workers answered."""
    rules.check()
    rt = frame["rt_ms"]
    machine = frame["source"].astype(str).eq(MACHINE_SOURCE)
    timed = rt.notna() & ~machine
    fast = timed & (rt < rules.min_rt_ms)
    by_worker = frame.assign(fast=fast, timed=timed, untimed=~timed & ~machine).groupby("worker_id")
    table = by_worker.agg(session=("session", "first"), source=("source", "first"), answered=("trial_id", "nunique"),
                          fast_answers=("fast", "sum"), timed_answers=("timed", "sum"),
                          untimed_answers=("untimed", "sum"))
    table["sessions"] = by_worker["session"].nunique()
    table["median_rt_ms"] = frame[timed].groupby("worker_id")["rt_ms"].median()
    if session_sizes is None:
        session_sizes = frame.groupby(["session", "worker_id"])["trial_id"].nunique().groupby("session").max() \
            .to_dict()
    table["expected"] = table["session"].map(session_sizes).fillna(0).astype(int)
    notes = {}
    if recorded(frame, "consented_at"):
        table["consented_at"] = _first_text(frame, "consented_at")
        table["consented"] = table["consented_at"].ne("")
    else:
        table["consented"] = np.nan
        notes["consent"] = ("the answers do not record consent times (`consented_at`): no worker is excluded for "
                            "consent")
    if recorded(frame, "finished_at"):
        table["finished_at"] = _first_text(frame, "finished_at")
        table["finished"] = table["finished_at"].ne("")
    else:
        table["finished"] = table["answered"] >= table["expected"]
        notes["finished"] = ("the answers do not record finish times (`finished_at`): finished means answered "
                             "every trial of the session")
    kept = frame[~fast]
    catch = kept[kept["phase"] == "catch"]
    table["catch_trials"] = catch.groupby("worker_id").size()
    table["catch_correct"] = catch.groupby("worker_id")["correct"].sum()
    table[["catch_trials", "catch_correct"]] = table[["catch_trials", "catch_correct"]].fillna(0).astype(int)
    table["catch_accuracy"] = table["catch_correct"] / table["catch_trials"].replace(0, np.nan)

    no_consent = table["consented"].isin([False])
    reasons: dict[str, list[str]] = {w: [] for w in table.index}
    for w, row in table.iterrows():
        if rules.require_consent and no_consent[w]:
            reasons[w].append("no consent recorded")
        if rules.require_finished and not row["finished"]:
            how = "no finish time; " if "finished_at" in table else ""
            reasons[w].append(f"not finished ({how}{row['answered']} of {row['expected']} trials answered)")
        if row["sessions"] > 1:
            reasons[w].append(f"answers in {row['sessions']} sessions")
        if row["timed_answers"]:
            if row["median_rt_ms"] < rules.min_median_rt_ms:
                reasons[w].append(f"too fast: median reaction time {row['median_rt_ms']:.0f} ms < "
                                  f"{rules.min_median_rt_ms:.0f} ms")
            share = row["fast_answers"] / row["timed_answers"]
            if share > rules.max_fast_share:
                reasons[w].append(f"too fast: {row['fast_answers']} of {row['timed_answers']} answers under "
                                  f"{rules.min_rt_ms:.0f} ms")
        if row["catch_trials"] and row["catch_accuracy"] < rules.min_catch_accuracy:
            reasons[w].append(f"catch accuracy {row['catch_accuracy']:.2f} < {rules.min_catch_accuracy:.2f}")
    table["reason"] = pd.Series({w: "; ".join(r) for w, r in reasons.items()})
    table["excluded"] = table["reason"].ne("")
    keep = ~fast & ~frame["worker_id"].isin(table.index[table["excluded"]])
    return table.reset_index(), keep, notes
