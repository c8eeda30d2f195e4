"""Threshold tuning: live counts over candidate pairs, bulk decisions and estimates.

The slider questions over candidates alone are answered by
:class:`~matching.engine.score_index.ScoreIndex`, built once per candidate table.

The functions that also take a :class:`~matching.decisions.events.ReviewState` work on
the pairs and the decisions together: the histogram coloured by status, the
bulk auto-accept and auto-reject events, and the estimates from reviewed pairs.
They pass over the pairs once, so a caller caches them per ``state.version``.
"""

from __future__ import annotations

import time as _time
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from matching.decisions.audit import wilson_interval
from matching.decisions.events import Batch, Event, ReviewState, event_id
from matching.engine.score_index import (
    BestPerRecord,
    best_per_record,
    bin_counts,
    bin_edges,
    require_columns,
)

__all__ = [
    "estimate_from_reviewed",
    "reviewed_pairs",
    "histogram_by_status",
    "auto_accept_events",
    "auto_reject_events",
    "bulk_batch",
    "PairStatus",
    "pattern_events",
    "pattern_mask",
    "PATTERN_OPS",
    "acceptance_by_band",
    "estimate_precision_recall",
    "MIN_REVIEWED_PAIRS",
]

#: Reviewed pairs needed before :func:`estimate_precision_recall` answers.
MIN_REVIEWED_PAIRS = 20

_UNDECIDED, _ACCEPTED, _REJECTED = 0, 1, 2


@dataclass(frozen=True, eq=False)
class PairStatus:
    """Each candidate row's review status, worked out already (the review desk keeps
    what it takes as columns): ``status`` 0 undecided, 1 accepted, 2 rejected, as
    :func:`histogram_by_status` defines them, and ``automatic`` where the record's
    decision is automatic. Functions here that take a state take this too."""

    status: np.ndarray
    automatic: np.ndarray


def _pair_status(
    candidates: pd.DataFrame, state: ReviewState | PairStatus, *, include_automatic: bool = True
) -> np.ndarray:
    """Per candidate row: undecided, accepted or rejected (see :func:`histogram_by_status`).

    Only the rows of decided records are looked at one by one, so the cost
    beyond one pass over the left ids grows with the decisions, not the pairs.
    """
    if isinstance(state, PairStatus):
        if len(state.status) != len(candidates):
            raise ValueError("the pair status is for other candidates")
        if include_automatic:
            return state.status
        return np.where(state.automatic, np.int8(_UNDECIDED), state.status).astype(np.int8)
    require_columns(candidates, ("left_id", "right_id"))
    decisions = {
        d.left_id: d for d in state.decisions.values() if include_automatic or not d.automatic
    }
    status = np.full(len(candidates), _UNDECIDED, np.int8)
    if not decisions or not len(candidates):
        return status
    left_text = candidates["left_id"].astype(str)
    rows = np.flatnonzero(left_text.isin(list(decisions)).to_numpy(bool))
    status[rows] = _REJECTED
    accepted = {(d.left_id, r) for d in decisions.values() for r in d.right_ids}
    lefts = left_text.to_numpy()[rows].tolist()
    rights = candidates["right_id"].to_numpy()[rows].astype(str).tolist()
    hit = np.fromiter(((lr in accepted) for lr in zip(lefts, rights)), bool, len(rows))
    status[rows[hit]] = _ACCEPTED
    return status


def histogram_by_status(
    candidates: pd.DataFrame, state: ReviewState | PairStatus, *, bins: int = 100
) -> pd.DataFrame:
    """Candidate pairs per score bin, split by review status.

    A pair is *accepted* when its left record's decision accepted its right
    record; *rejected* when the decision is "no match" or accepted other right
    records; *undecided* otherwise (skipped records included). Ids are compared
    as text, as the review log stores them.

    Returns
    -------
    DataFrame
        One row per bin of :func:`bin_edges`, in order: ``bin_start, bin_end``
        (floats), ``accepted, rejected, undecided`` (int64). The three counts
        add up to :meth:`ScoreIndex.histogram`'s counts.
    """
    require_columns(candidates, ("score",))
    edges = bin_edges(bins)
    status = _pair_status(candidates, state)
    scores = candidates["score"].to_numpy(np.float64)
    out = {"bin_start": edges[:-1], "bin_end": edges[1:]}
    for name, code in (("accepted", _ACCEPTED), ("rejected", _REJECTED), ("undecided", _UNDECIDED)):
        out[name] = bin_counts(scores[status == code], bins)
    return pd.DataFrame(out)


def _bulk_events(
    candidates: pd.DataFrame,
    state: ReviewState,
    chosen: np.ndarray,
    best: BestPerRecord,
    *,
    kind: str,
    reviewer: str,
    batch: str,
    now: float | None,
    thresholds: dict[str, float],
) -> list[Event]:
    if not batch:
        raise ValueError("batch must be a non-empty id, so one undo reverts the whole batch")
    when = _time.time() if now is None else float(now)
    left_text = best.left_ids.astype(str)
    chosen = chosen & ~np.asarray(left_text.isin(list(state.decisions)), bool)
    picks = np.flatnonzero(chosen)
    rows = np.flatnonzero(np.isin(best.codes, picks))
    right_text = candidates["right_id"].to_numpy()[rows].astype(str)
    scores = candidates["score"].to_numpy(np.float64)[rows]
    per_record: dict[int, dict[str, float]] = {int(p): {} for p in picks}
    for code, right, score in zip(best.codes[rows].tolist(), right_text.tolist(), scores.tolist()):
        per_record[code][right] = score
    best_right = candidates["right_id"].to_numpy()[best.best_row[picks]].astype(str).tolist()
    lefts = np.asarray(left_text, dtype=object)[picks].tolist()
    return [
        Event(
            event_id=event_id("auto", batch, kind, left),
            kind=kind,
            left_id=left,
            right_ids=(right,) if kind == "accept" else (),
            reviewer=reviewer,
            time=when,
            automatic=True,
            batch=batch,
            scores=per_record[p],
            thresholds=dict(thresholds),
        )
        for left, right, p in zip(lefts, best_right, picks.tolist())
    ]


def auto_accept_events(
    candidates: pd.DataFrame,
    state: ReviewState,
    *,
    threshold: float,
    margin: float,
    reviewer: str,
    batch: str,
    now: float | None = None,
) -> list[Event]:
    """Accept events for the undecided records the auto-accept rule picks.

    A left record is picked when its best candidate scores at least
    ``threshold`` and beats the runner-up (0 for a single candidate) by at
    least ``margin``; the event accepts that best candidate (on a tie, the
    earlier row). Records with a standing decision are left alone; skipped
    records are undecided and may be picked.

    Returns
    -------
    list of Event
        In order of the left records' first row. Each has ``automatic=True``,
        the given ``reviewer``, ``batch`` and time (``now`` or the clock), an
        ``event_id`` that depends only on ``batch``, kind and left id, the
        scores of every candidate of its record and ``thresholds``
        ``{"auto_accept": threshold, "margin": margin}``. An undo whose target
        is any of them reverts them all (see :func:`matching.decisions.events.replay`).
    """
    require_columns(candidates, ("left_id", "right_id", "score"))
    best = best_per_record(candidates)
    chosen = (best.best >= threshold) & (best.best - best.runner_up >= margin)
    return _bulk_events(
        candidates,
        state,
        chosen,
        best,
        kind="accept",
        reviewer=reviewer,
        batch=batch,
        now=now,
        thresholds={"auto_accept": float(threshold), "margin": float(margin)},
    )


def auto_reject_events(
    candidates: pd.DataFrame,
    state: ReviewState,
    *,
    threshold: float,
    reviewer: str,
    batch: str,
    now: float | None = None,
) -> list[Event]:
    """Reject ("no match") events for the undecided records whose best score is below
    ``threshold``.

    Same contract as :func:`auto_accept_events`, with ``right_ids=()`` and
    ``thresholds={"auto_reject": threshold}``.
    """
    require_columns(candidates, ("left_id", "right_id", "score"))
    best = best_per_record(candidates)
    return _bulk_events(
        candidates,
        state,
        best.best < threshold,
        best,
        kind="reject",
        reviewer=reviewer,
        batch=batch,
        now=now,
        thresholds={"auto_reject": float(threshold)},
    )


def bulk_batch(
    candidates: pd.DataFrame,
    decided: Collection[str],
    *,
    kind: str,
    threshold: float,
    margin: float = 0.0,
    reviewer: str,
    batch: str,
    event_id: str,
    now: float | None = None,
) -> Batch:
    """The records a bulk rule decides, as one compact :class:`~matching.decisions.events.Batch`.

    ``kind="accept"`` picks what :func:`auto_accept_events` picks (best candidate
    at least ``threshold``, ahead of the runner-up by ``margin``) and
    ``kind="reject"`` what :func:`auto_reject_events` picks (best below
    ``threshold``); left ids in ``decided`` are left alone. The batch's events
    are those functions' events, but for their ids (see
    :meth:`~matching.decisions.events.Batch.member_id`): the same records, right ids,
    scores and thresholds, in the same order. Built with array operations, so a
    million records take about a second, not a million Python objects.
    """
    require_columns(candidates, ("left_id", "right_id", "score"))
    if kind not in ("accept", "reject"):
        raise ValueError(f"kind must be accept or reject, not {kind!r}")
    best = best_per_record(candidates)
    if kind == "accept":
        chosen = (best.best >= threshold) & (best.best - best.runner_up >= margin)
        thresholds = {"auto_accept": float(threshold), "margin": float(margin)}
    else:
        chosen = best.best < threshold
        thresholds = {"auto_reject": float(threshold)}
    left_text = best.left_ids.astype(str)
    if len(decided):
        chosen = chosen & ~np.asarray(left_text.isin(list(decided)), bool)
    picks = np.flatnonzero(chosen)
    pick_of = np.full(len(best.left_ids), -1, np.int64)
    pick_of[picks] = np.arange(len(picks))
    member = np.where(best.codes >= 0, pick_of[np.maximum(best.codes, 0)], -1)
    rows = np.flatnonzero(member >= 0)
    rows = rows[np.argsort(member[rows], kind="stable")]
    counts = np.bincount(member[rows], minlength=len(picks))
    right_col = pa.array(candidates["right_id"], from_pandas=True).cast(pa.string())
    if isinstance(right_col, pa.ChunkedArray):
        right_col = right_col.combine_chunks()
    accepted = None
    if kind == "accept":
        accepted = right_col.take(pa.array(best.best_row[picks]))
    return Batch.of(
        event_id,
        kind,
        batch=batch,
        reviewer=reviewer,
        time=_time.time() if now is None else float(now),
        left_ids=pa.array(left_text[picks], pa.string(), from_pandas=True),
        right_ids=accepted if accepted is not None else pa.nulls(len(picks), pa.string()),
        offsets=np.r_[0, np.cumsum(counts, dtype=np.int64)],
        cand_right=right_col.take(pa.array(rows)),
        cand_score=candidates["score"].to_numpy(np.float64)[rows],
        thresholds=thresholds,
    )


#: Comparisons an agreement pattern may use on a field's score.
PATTERN_OPS = {
    ">=": np.greater_equal,
    "<=": np.less_equal,
    ">": np.greater,
    "<": np.less,
    "=": lambda a, b: np.isclose(a, b, atol=1e-9),
}


def pattern_mask(
    candidates: pd.DataFrame, conditions: Mapping[str, tuple[str, float]]
) -> np.ndarray:
    """Per candidate row: True where every condition on a field's score holds.

    ``conditions`` maps a field name to ``(op, value)`` with ``op`` one of
    :data:`PATTERN_OPS`; the field's score is the ``score_<field>`` column. A
    missing score (NaN) fails every condition. No condition selects every row.

    >>> c = pd.DataFrame({"score_a": [1.0, 0.9, np.nan], "score_b": [0.2, 0.8, 1.0]})
    >>> pattern_mask(c, {"a": (">=", 0.9), "b": (">", 0.5)}).tolist()
    [False, True, False]
    """
    mask = np.ones(len(candidates), dtype=bool)
    for field, (op, value) in conditions.items():
        column = f"score_{field}"
        if column not in candidates.columns:
            raise ValueError(f"there is no field {field!r} to compare")
        if op not in PATTERN_OPS:
            raise ValueError(f"unknown comparison {op!r}; choose one of {', '.join(PATTERN_OPS)}")
        scores = candidates[column].to_numpy(np.float64)
        with np.errstate(invalid="ignore"):
            mask &= np.asarray(PATTERN_OPS[op](scores, float(value)), bool) & ~np.isnan(scores)
    return mask


def pattern_events(
    candidates: pd.DataFrame,
    state: ReviewState,
    conditions: Mapping[str, tuple[str, float]],
    *,
    kind: str,
    reviewer: str,
    batch: str,
    now: float | None = None,
) -> list[Event]:
    """Events deciding the undecided records an agreement pattern picks, as one batch.

    For ``kind="accept"`` a record is picked when at least one of its
    candidates matches the pattern, and accepts the best-scoring of those. For
    ``kind="reject"`` a record is picked when every one of its candidates
    matches (the pattern then describes disagreement). Same contract as
    :func:`auto_accept_events` otherwise; ``thresholds`` records the pattern.
    """
    require_columns(candidates, ("left_id", "right_id", "score"))
    mask = pattern_mask(candidates, conditions)
    recorded = {f"{f} {op}": float(v) for f, (op, v) in conditions.items()}
    if kind == "accept":
        chosen_rows = candidates[mask]
        best = best_per_record(chosen_rows)
        pick = np.ones(len(best.left_ids), dtype=bool)
        source = chosen_rows
    elif kind == "reject":
        best = best_per_record(candidates)
        codes = best.codes
        present = codes >= 0
        failing = np.zeros(len(best.left_ids), dtype=bool)
        failing[codes[present & ~mask]] = True
        pick = ~failing
        source = candidates
    else:
        raise ValueError(f"kind must be accept or reject, not {kind!r}")
    return _bulk_events(
        source,
        state,
        pick,
        best,
        kind=kind,
        reviewer=reviewer,
        batch=batch,
        now=now,
        thresholds=recorded,
    )


def acceptance_by_band(
    candidates: pd.DataFrame,
    state: ReviewState | PairStatus,
    *,
    bands: int = 10,
    include_automatic: bool = False,
) -> pd.DataFrame:
    """Reviewed pairs and their acceptance rate per score band.

    A pair is reviewed when its left record has a decision (accepted or
    rejected, as in :func:`histogram_by_status`). Automatic decisions are left
    out unless ``include_automatic``: they follow the thresholds, so counting
    them would measure the rule by itself.

    Returns
    -------
    DataFrame
        One row per band of :func:`bin_edges` (``bands`` of them): ``band_start,
        band_end`` (floats), ``reviewed, accepted`` (int64) and
        ``acceptance_rate`` (float, NaN where no pair was reviewed).
    """
    require_columns(candidates, ("score",))
    edges = bin_edges(bands)
    status = _pair_status(candidates, state, include_automatic=include_automatic)
    scores = candidates["score"].to_numpy(np.float64)
    reviewed = bin_counts(scores[status != _UNDECIDED], bands)
    accepted = bin_counts(scores[status == _ACCEPTED], bands)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(reviewed > 0, accepted / np.maximum(reviewed, 1), np.nan)
    return pd.DataFrame(
        {
            "band_start": edges[:-1],
            "band_end": edges[1:],
            "reviewed": reviewed,
            "accepted": accepted,
            "acceptance_rate": rate,
        }
    )


def estimate_precision_recall(
    candidates: pd.DataFrame,
    state: ReviewState,
    *,
    keep: float,
    select: float,
    min_reviewed: int = MIN_REVIEWED_PAIRS,
    include_automatic: bool = False,
) -> dict[str, float | int | None] | None:
    """An *estimate*, from the reviewed pairs only, of the pre-selection's precision
    and recall at thresholds ``keep`` and ``select``.

    Reviewed pairs are those of decided records (automatic decisions left out
    unless ``include_automatic``); accepted pairs count as the true matches.
    A pair is pre-selected when its score is at least ``max(select, keep)``.
    Undecided pairs are ignored, so the figures describe the reviewed sample
    and inherit its biases: label them as estimates.

    Returns
    -------
    dict or None
        None when fewer than ``min_reviewed`` pairs are reviewed. Otherwise
        ``precision`` (accepted share of the reviewed pre-selected pairs) and
        ``recall`` (share of the accepted pairs that are pre-selected), each a
        float or None when its denominator is 0, and the ints behind them:
        ``reviewed``, ``accepted``, ``selected`` (reviewed and pre-selected)
        and ``selected_accepted``.
    """
    scores, accepted = reviewed_pairs(candidates, state, include_automatic=include_automatic)
    return estimate_from_reviewed(
        scores, accepted, keep=keep, select=select, min_reviewed=min_reviewed
    )


def reviewed_pairs(
    candidates: pd.DataFrame, state: ReviewState | PairStatus, *, include_automatic: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The scores of the reviewed pairs (those of decided records) and which were accepted.

    Computed once per state, it lets :func:`estimate_from_reviewed` answer any
    thresholds without another pass over every candidate pair.
    """
    require_columns(candidates, ("score",))
    status = _pair_status(candidates, state, include_automatic=include_automatic)
    reviewed = status != _UNDECIDED
    return candidates["score"].to_numpy(np.float64)[reviewed], status[reviewed] == _ACCEPTED


def estimate_from_reviewed(
    scores: np.ndarray,
    accepted: np.ndarray,
    *,
    keep: float,
    select: float,
    min_reviewed: int = MIN_REVIEWED_PAIRS,
) -> dict[str, float | int | None] | None:
    """:func:`estimate_precision_recall` from the output of :func:`reviewed_pairs`.

    Also returns ``precision_low, precision_high, recall_low, recall_high``:
    95% Wilson intervals (None where the estimate is None). They cover the
    chance in which pairs were reviewed, not a bias in which were.
    """
    scores = np.asarray(scores, np.float64)
    accepted = np.asarray(accepted, bool)
    n_reviewed = len(scores)
    if n_reviewed < min_reviewed:
        return None
    selected = scores >= max(select, keep)
    n_accepted = int(np.count_nonzero(accepted))
    n_selected = int(np.count_nonzero(selected))
    hits = int(np.count_nonzero(selected & accepted))
    precision_ci = wilson_interval(hits, n_selected) if n_selected else (None, None)
    recall_ci = wilson_interval(hits, n_accepted) if n_accepted else (None, None)
    return {
        "precision": hits / n_selected if n_selected else None,
        "precision_low": precision_ci[0],
        "precision_high": precision_ci[1],
        "recall": hits / n_accepted if n_accepted else None,
        "recall_low": recall_ci[0],
        "recall_high": recall_ci[1],
        "reviewed": n_reviewed,
        "accepted": n_accepted,
        "selected": n_selected,
        "selected_accepted": hits,
    }
