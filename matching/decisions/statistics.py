"""Managers' statistics over a review: progress, throughput, reviewers and scores.

Everything here is a pure function of the decisions in force (after undos):
a :class:`~matching.decisions.events.ReviewState`, or the same decisions as columns
(:class:`Decisions`, which the review desk keeps up to date for a million
records), so the figures agree with what reviewers see. Times are the
decisions' epoch seconds; frames carry UTC timestamps for charts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matching.decisions.events import Decision, Event, ReviewState, replay
from matching.engine.score_index import bin_edges

__all__ = [
    "Decisions",
    "reasons_breakdown",
    "progress",
    "progress_over_time",
    "eta",
    "per_reviewer",
    "score_distribution",
]


def _pair_scores(d: Decision) -> tuple[list[float], list[float]]:
    """Scores of a decision's accepted pairs and of its other recorded pairs."""
    accepted = [d.scores[r] for r in d.right_ids if r in d.scores]
    rejected = [s for r, s in d.scores.items() if r not in d.right_ids]
    return accepted, rejected


@dataclass(frozen=True, eq=False)
class Decisions:
    """The decisions in force as columns: what every statistic here reads.

    ``frame`` has one row per decision: ``status`` ("accepted" or "rejected"),
    ``pairs`` (how many right records it accepts), ``reviewer``, ``time``
    (epoch seconds), ``automatic`` and ``reason`` (None when none).
    ``accepted_scores`` holds the scores of accepted pairs, ``rejected_scores``
    those of the other pairs the decisions recorded a score for (every pair of
    a "no match"); ``skipped`` counts skipped records.
    """

    frame: pd.DataFrame
    accepted_scores: np.ndarray
    rejected_scores: np.ndarray
    skipped: int

    @classmethod
    def of(cls, state: ReviewState | Decisions) -> Decisions:
        """The columns of a :class:`~matching.decisions.events.ReviewState` (or itself)."""
        if isinstance(state, Decisions):
            return state
        rows = list(state.decisions.values())
        accepted: list[float] = []
        rejected: list[float] = []
        for d in rows:
            a, r = _pair_scores(d)
            accepted += a
            rejected += r
        frame = pd.DataFrame(
            {
                "status": pd.Series([d.status for d in rows], dtype=object),
                "pairs": np.array([len(d.right_ids) for d in rows], dtype=np.int64),
                "reviewer": pd.Series([d.reviewer for d in rows], dtype=object),
                "time": np.array([d.time for d in rows], dtype=np.float64),
                "automatic": np.array([d.automatic for d in rows], dtype=bool),
                "reason": pd.Series([d.reason for d in rows], dtype=object),
            }
        )
        scores = np.array(accepted, np.float64), np.array(rejected, np.float64)
        return cls(frame, *scores, len(state.skipped))


def progress(state: ReviewState | Decisions, queue_length: int) -> dict[str, int | float | None]:
    """Where the review stands.

    Parameters
    ----------
    state : ReviewState
    queue_length : int
        Left records in the review queue (the total to decide).

    Returns
    -------
    dict
        ``records_total`` (``queue_length``), ``records_decided``,
        ``records_remaining`` (never below 0), ``fraction_decided`` (float, None
        for an empty queue), ``records_accepted``, ``records_rejected`` (no
        match), ``records_skipped``, ``pairs_accepted``, ``pairs_rejected``
        (pairs a decision recorded a score for but did not accept, as in
        :func:`score_distribution`), ``automatic`` and ``manual`` (decisions).

    Examples
    --------
    >>> from matching.decisions.events import Event, replay
    >>> s = replay([Event("e1", "accept", "1", ("7",), scores={"7": 0.9, "8": 0.4}),
    ...             Event("e2", "skip", "2")])
    >>> p = progress(s, 4)
    >>> p["records_decided"], p["records_remaining"], p["pairs_rejected"], p["records_skipped"]
    (1, 3, 1, 1)
    """
    d = Decisions.of(state)
    frame = d.frame
    decided = len(frame)
    accepted = (frame["status"] == "accepted").to_numpy(bool)
    automatic = int(frame["automatic"].sum())
    return {
        "records_total": int(queue_length),
        "records_decided": decided,
        "records_remaining": max(int(queue_length) - decided, 0),
        "fraction_decided": min(decided / queue_length, 1.0) if queue_length else None,
        "records_accepted": int(accepted.sum()),
        "records_rejected": decided - int(accepted.sum()),
        "records_skipped": int(d.skipped),
        "pairs_accepted": int(frame["pairs"].to_numpy()[accepted].sum()),
        "pairs_rejected": len(d.rejected_scores),
        "automatic": automatic,
        "manual": decided - automatic,
    }


def progress_over_time(
    source: ReviewState | Decisions | Iterable[Event], *, freq: str = "1h"
) -> pd.DataFrame:
    """Cumulative standing decisions over time, for a line chart.

    Parameters
    ----------
    source : ReviewState, Decisions or iterable of Event
        A state, or an event log that is replayed first: undone decisions do
        not count.
    freq : str
        A pandas frequency (``"15min"``, ``"1h"``, ``"1D"``) for the steps.

    Returns
    -------
    DataFrame
        Columns ``time`` (UTC timestamps, ``freq`` apart), ``decided``,
        ``automatic`` and ``manual`` (int64): the decisions made before
        ``time``. The first row is the start of the first decision's period,
        with zeros; the last row counts every decision. Empty (with those
        columns) when there is no decision.
    """
    if not isinstance(source, (ReviewState, Decisions)):
        source = replay(source)
    frame = Decisions.of(source).frame
    columns = ["time", "decided", "automatic", "manual"]
    if not len(frame):
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in columns}).assign(
            time=pd.Series(dtype="datetime64[ns, UTC]")
        )
    step = pd.tseries.frequencies.to_offset(freq)
    seconds = frame["time"].to_numpy(float)
    when = pd.to_datetime(seconds, unit="s", utc=True).as_unit("ns").floor(freq)
    automatic = frame["automatic"].to_numpy(bool)
    periods = pd.date_range(when.min(), when.max(), freq=freq)
    per_period = pd.DataFrame({"period": when, "automatic": automatic, "manual": ~automatic})
    sums = per_period.groupby("period").sum().reindex(periods, fill_value=0).astype(np.int64)
    auto = np.r_[0, np.cumsum(sums["automatic"].to_numpy())]
    manual = np.r_[0, np.cumsum(sums["manual"].to_numpy())]
    return pd.DataFrame(
        {
            "time": periods.append(pd.DatetimeIndex([periods[-1] + step])),
            "decided": auto + manual,
            "automatic": auto,
            "manual": manual,
        }
    ).astype({"decided": np.int64, "automatic": np.int64, "manual": np.int64})


def _manual_times(state: ReviewState | Decisions) -> np.ndarray:
    frame = Decisions.of(state).frame
    return np.sort(frame["time"].to_numpy(float)[~frame["automatic"].to_numpy(bool)])


def eta(
    state: ReviewState | Decisions,
    remaining: int,
    *,
    window: float = 3600.0,
    now: float | None = None,
    min_decisions: int = 5,
) -> float | None:
    """Seconds to decide ``remaining`` records at the recent manual pace.

    The pace is the mean interval between the manual decisions made in the
    ``window`` seconds up to ``now`` (default: the latest manual decision),
    all reviewers together. Automatic decisions are left out: a bulk action
    says nothing about reviewers' speed.

    Returns
    -------
    float or None
        ``remaining`` times the mean interval; 0.0 when nothing remains; None
        when fewer than ``min_decisions`` (at least 2) manual decisions fall
        in the window or they all share one time.

    Examples
    --------
    >>> from matching.decisions.events import Event, replay
    >>> s = replay([Event(f"e{i}", "reject", str(i), time=60.0 * i) for i in range(6)])
    >>> eta(s, 10)
    600.0
    """
    if remaining <= 0:
        return 0.0
    times = _manual_times(state)
    if not len(times):
        return None
    end = times[-1] if now is None else float(now)
    recent = times[(times > end - window) & (times <= end)]
    if len(recent) < max(min_decisions, 2) or recent[-1] <= recent[0]:
        return None
    interval = (recent[-1] - recent[0]) / (len(recent) - 1)
    return float(remaining * interval)


def per_reviewer(state: ReviewState | Decisions, *, idle: float = 900.0) -> pd.DataFrame:
    """Manual decisions, accept rate and pace of each reviewer.

    Automatic decisions are left out. Pace counts only working time: the
    intervals between a reviewer's consecutive decisions, leaving out those
    longer than ``idle`` seconds (breaks).

    Returns
    -------
    DataFrame
        One row per reviewer, most decisions first, then by name: ``reviewer``
        (str), ``decisions``, ``accepted``, ``rejected`` (int64),
        ``accept_rate`` (float), ``decisions_per_hour`` (float, NaN without a
        working interval).
    """
    rows = []
    frame = Decisions.of(state).frame
    manual = frame[~frame["automatic"].to_numpy(bool)]
    for reviewer, decisions in manual.groupby("reviewer", sort=False):
        accepted = int((decisions["status"] == "accepted").sum())
        gaps = np.diff(np.sort(decisions["time"].to_numpy(float)))
        working = gaps[gaps <= idle]
        total = float(working.sum())
        rows.append(
            {
                "reviewer": reviewer,
                "decisions": len(decisions),
                "accepted": accepted,
                "rejected": len(decisions) - accepted,
                "accept_rate": accepted / len(decisions),
                "decisions_per_hour": len(working) / total * 3600.0 if total > 0 else np.nan,
            }
        )
    columns = ["reviewer", "decisions", "accepted", "rejected", "accept_rate"]
    frame = pd.DataFrame(rows, columns=[*columns, "decisions_per_hour"])
    frame = frame.astype(
        {"decisions": np.int64, "accepted": np.int64, "rejected": np.int64, "accept_rate": float}
    ).astype({"decisions_per_hour": float})
    return frame.sort_values(["decisions", "reviewer"], ascending=[False, True]).reset_index(
        drop=True
    )


def score_distribution(state: ReviewState | Decisions, *, bins: int = 20) -> pd.DataFrame:
    """Scores of accepted pairs against rejected ones, binned on :func:`bin_edges`.

    Scores come from the decisions (``Decision.scores``): an accepted pair is
    a right id the decision accepted, a rejected pair any other right id it
    recorded a score for (every pair of a "no match" decision). Decisions that
    recorded no scores add nothing.

    Returns
    -------
    DataFrame
        One row per bin: ``bin_start, bin_end`` (floats), ``accepted,
        rejected`` (int64).
    """
    edges = bin_edges(bins)
    d = Decisions.of(state)
    accepted, rejected = d.accepted_scores, d.rejected_scores
    return pd.DataFrame(
        {
            "bin_start": edges[:-1],
            "bin_end": edges[1:],
            "accepted": np.histogram(accepted, bins=bins, range=(0.0, 1.0))[0].astype(np.int64),
            "rejected": np.histogram(rejected, bins=bins, range=(0.0, 1.0))[0].astype(np.int64),
        }
    )


def reasons_breakdown(state: ReviewState | Decisions) -> pd.DataFrame:
    """Decisions in force per reason given, split by accepted and rejected.

    A reason is the text before " — " in a decision's ``reason`` (what follows
    is the reviewer's comment); decisions with none are left out.

    Returns
    -------
    DataFrame
        ``reason`` (str), ``accepted``, ``rejected``, ``comments`` (int64),
        most used reason first.

    Examples
    --------
    >>> from matching.decisions.events import Event, replay
    >>> s = replay([Event("e1", "accept", "1", ("7",), reason="same family"),
    ...             Event("e2", "reject", "2", reason="same family — twins"),
    ...             Event("e3", "reject", "3")])
    >>> reasons_breakdown(s).to_dict("records")
    [{'reason': 'same family', 'accepted': 1, 'rejected': 1, 'comments': 1}]
    """
    counts: dict[str, list[int]] = {}
    frame = Decisions.of(state).frame
    given = frame[frame["reason"].notna().to_numpy(bool)]
    for text, status in zip(given["reason"].tolist(), given["status"].tolist()):
        if not text:
            continue
        reason, _, comment = text.partition(" — ")
        row = counts.setdefault(reason, [0, 0, 0])
        row[0 if status == "accepted" else 1] += 1
        row[2] += bool(comment)
    rows = [
        {"reason": k, "accepted": v[0], "rejected": v[1], "comments": v[2]}
        for k, v in counts.items()
    ]
    rows.sort(key=lambda r: (-(r["accepted"] + r["rejected"]), r["reason"]))
    frame = pd.DataFrame(rows, columns=["reason", "accepted", "rejected", "comments"])
    return frame.astype({"accepted": "int64", "rejected": "int64", "comments": "int64"})
