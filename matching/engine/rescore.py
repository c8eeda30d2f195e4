"""Scoring a project's kept candidate pairs again with new weights, how sure a model is of
each record, and how well a model's pre-selection agrees with labelled pairs.

A project learns from its reviewers' decisions without finding its candidates again:
:func:`rescore` gives every kept pair its score under new
:class:`~matching.engine.weights.LearnedWeights` (and each field's match weight in bits
as ``weight_<field>``), keeping each left record's rows together, best first, so that
the project's lookups by record still hold. :func:`informative_order` ranks records by
how unsure the model is of their best candidates; :func:`label_quality` measures a
pre-selection against labelled pairs, and :func:`cross_validated` does it for weights
fitted on labels without using the labels of the records measured.
:func:`score_parts` says why a pair scored as it did: the prior and each field's match
weight in bits (a waterfall, as Splink draws it), or each field's share of a weighted mean.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matching.engine.spec import Spec
from matching.engine.training import boundary_doubt, pair_bits
from matching.engine.weights import LearnedWeights, levels_of

__all__ = [
    "rescore",
    "informative_order",
    "LabelQuality",
    "label_quality",
    "best_select",
    "cross_validated",
    "ScoreParts",
    "STANDING_PART",
    "SHARED_PART",
    "score_parts",
]


def _groups(left_ids: pd.Series) -> np.ndarray:
    """Per row, the number of its run of equal left ids (rows of a record are together)."""
    values = left_ids.astype(str).to_numpy(dtype=object)
    if not len(values):
        return np.empty(0, np.int64)
    starts = np.r_[True, values[1:] != values[:-1]]
    return np.cumsum(starts) - 1


def rescore(
    candidates: pd.DataFrame,
    weights: LearnedWeights,
    fields: Sequence[np.ndarray],
    shares: Sequence[np.ndarray | None] | None = None,
) -> pd.DataFrame:
    """The candidates scored with ``weights``: a new frame, the input untouched.

    Parameters
    ----------
    candidates : DataFrame
        Kept pairs as a project holds them (``left_id, right_id, score,
        score_<field>...``), each left record's rows together.
    weights : LearnedWeights
        The weights to score with; their fields are the candidates' fields.
    fields, shares : sequences of ndarray
        Per field, the similarity of each pair, and how common its agreed value
        is (for the term-frequency adjustment; None: none), as
        ``job.compare`` gives them.

    Returns
    -------
    DataFrame
        The same rows, ``score`` the rescaled match weight and ``weight_<field>``
        each field's bits; within each left record, rows by the new score
        descending, ties in their former order. Records stay where they were, so
        a lookup of a record's rows by position still holds.
    """
    parts = weights.contributions(fields, shares)
    out = candidates.copy()
    present = np.zeros(len(out), bool)
    total = np.zeros(len(out))
    for name, part in zip(weights.fields, parts):
        out[f"weight_{name}"] = part.astype(np.float64)
        ok = ~np.isnan(part)
        total[ok] += part[ok]
        present |= ok
    total += weights.record_bits(np.where(present, total, np.nan), _groups(out["left_id"]))
    out["score"] = weights.rescale(total, present)
    sort_score = np.nan_to_num(out["score"].to_numpy(np.float64), nan=-1.0)
    order = np.lexsort((np.arange(len(out)), -sort_score, _groups(out["left_id"])))
    return out.iloc[order].reset_index(drop=True)


def informative_order(
    candidates: pd.DataFrame,
    record_of: np.ndarray,
    records: int,
    *,
    weights: LearnedWeights | None,
    select: float,
) -> np.ndarray:
    """Record positions, the ones whose candidates the model is least sure of first.

    A record's doubt is that of its least certain candidate: with weights, how far
    the candidate is from where the best threshold is likely to fall
    (:func:`~matching.engine.training.boundary_doubt`, as ``--suggest-labels`` asks);
    without weights, how close its score is to ``select``. For diversity, records
    are taken the most doubtful of each pattern of field levels (of that candidate)
    first, then the second of each, and so on. Records without candidates come
    last, in table order.

    Parameters
    ----------
    candidates : DataFrame
        Scored pairs (``score``, ``score_<field>``, perhaps ``weight_<field>``).
    record_of : ndarray of int
        Per candidate row, its record's position (0 .. ``records`` - 1).
    records : int
        How many records there are.

    Examples
    --------
    >>> frame = pd.DataFrame({"score": [0.95, 0.81, 0.2], "score_a": [1.0, 0.8, 0.2]})
    >>> informative_order(frame, np.array([0, 1, 2]), 4, weights=None, select=0.8).tolist()
    [1, 0, 2, 3]
    """
    n = len(candidates)
    if weights is not None and n:
        doubt = boundary_doubt(candidates, pair_bits(candidates, weights) + weights.prior_bits)
        names = list(weights.fields)
        bounds = list(weights.bounds)
    else:
        doubt = np.abs(candidates["score"].to_numpy(np.float64) - select) if n else np.empty(0)
        names = [c[len("score_") :] for c in candidates.columns if c.startswith("score_")]
        bounds = [(0.9, 0.7)] * len(names)
    doubt = np.nan_to_num(doubt, nan=np.inf)
    pattern = np.zeros(n, np.int64)
    for name, bound in zip(names, bounds):
        level = levels_of(candidates[f"score_{name}"].to_numpy(np.float64), bound)
        pattern = pattern * (len(bound) + 3) + level + 1
    best = np.full(records, np.inf)
    np.minimum.at(best, record_of, doubt)
    # The pattern of each record's most doubtful candidate.
    first = np.lexsort((doubt, record_of))
    lead = first[np.r_[True, record_of[first][1:] != record_of[first][:-1]]] if n else first
    kind = np.full(records, -1, np.int64)
    kind[record_of[lead]] = pattern[lead]
    by_doubt = np.lexsort((np.arange(records), best))
    rank = np.zeros(records, np.int64)
    seen: dict[int, int] = {}
    for pos in by_doubt.tolist():
        k = int(kind[pos])
        rank[pos] = seen.get(k, 0)
        seen[k] = rank[pos] + 1
    has = np.isfinite(best)
    return np.lexsort((np.arange(records), best, rank, ~has))


@dataclass(frozen=True)
class LabelQuality:
    """How a pre-selection agrees with labelled pairs: precision (pre-selected pairs that
    are matches) and recall (matches pre-selected); None where nothing to count."""

    precision: float | None
    recall: float | None


def label_quality(score: np.ndarray, label: np.ndarray, select: float) -> LabelQuality:
    """Precision and recall of pre-selecting the pairs scoring at least ``select``.

    >>> label_quality(np.array([0.9, 0.85, 0.3]), np.array([1, 0, 1]), 0.8)
    LabelQuality(precision=0.5, recall=0.5)
    """
    chosen = np.nan_to_num(np.asarray(score, np.float64), nan=-1.0) >= select
    label = np.asarray(label).astype(bool)
    hits = int((chosen & label).sum())
    precision = hits / int(chosen.sum()) if chosen.any() else None
    recall = hits / int(label.sum()) if label.any() else None
    return LabelQuality(precision, recall)


def best_select(score: np.ndarray, label: np.ndarray) -> tuple[float, LabelQuality] | None:
    """The pre-selection threshold (in steps of 0.01) with the best F1 on labelled pairs,
    the highest of equals, and its precision and recall; None without a match.

    >>> best_select(np.array([0.9, 0.7, 0.4]), np.array([1, 1, 0]))
    (0.7, LabelQuality(precision=1.0, recall=1.0))
    """
    best = None
    for step in range(100, -1, -1):
        at = step / 100
        got = label_quality(score, label, at)
        if got.precision is None or got.recall is None:
            continue
        f1 = 2 * got.precision * got.recall / max(got.precision + got.recall, 1e-12)
        if best is None or f1 > best[0] + 1e-12:
            best = (f1, at, got)
    return None if best is None else (best[1], best[2])


def cross_validated(
    groups: np.ndarray,
    label: np.ndarray,
    fit_and_score: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    folds: int = 5,
) -> np.ndarray:
    """Each labelled pair's score from a model fitted without its record's labels.

    ``groups`` (a record per pair) are dealt into ``folds`` folds in order of
    first appearance; ``fit_and_score(train, test)`` gets boolean masks of the
    pairs to fit on and those to score, and returns the scores of the latter.
    """
    groups = np.asarray(groups)
    _, codes = np.unique(groups, return_inverse=True)
    fold = codes % max(1, folds)
    out = np.full(len(label), np.nan)
    for k in range(max(1, folds)):
        test = fold == k
        if not test.any():
            continue
        train = ~test
        out[test] = fit_and_score(train, test)
    return out


@dataclass(frozen=True)
class ScoreParts:
    """Why a pair scored as it did: ``start`` plus each field's part is ``total``.

    With learned weights (``unit`` "bits") ``start`` is the prior match weight
    (the log2 odds of a match before any field is compared), each part a field's
    match weight (None: the value is missing on a side) and ``probability`` the
    match probability of ``total``; with the weighted mean (``unit`` "score")
    ``start`` is 0 and each part the field's share of the score.
    """

    unit: str
    start: float
    parts: tuple[tuple[str, float | None], ...]
    total: float
    probability: float | None
    score: float

    def chance(self) -> str | None:
        """The match probability in words (``97%``; ``over 99%`` and ``under 1%`` where
        rounding would say a certainty), or None with the weighted mean.

        >>> ScoreParts("bits", -10.0, (), 20.0, 0.9996, 0.9).chance()
        'over 99%'
        >>> ScoreParts("bits", -10.0, (), -2.0, 0.2, 0.4).chance()
        '20%'
        """
        p = self.probability
        if p is None:
            return None
        if p >= 0.995:
            return "over 99%"
        if p < 0.005:
            return "under 1%"
        return f"{100 * p:.0f}%"

    def text(self) -> str:
        """One line: ``prior -6.6 + name +5.5 + city -4.1 = -5.2 bits (3% match)``."""
        bits = self.unit == "bits"
        head = f"prior {self.start:+.1f} +" if bits else "weighted mean:"
        form = "+.1f" if bits else ".2f"
        items = [
            f"{name} {'missing' if value is None else format(value, form)}"
            for name, value in self.parts
        ]
        if self.unit == "bits":
            chance = f" ({self.chance()} match)" if self.probability is not None else ""
            return f"{head} {' + '.join(items)} = {self.total:+.1f} bits{chance}"
        return f"{head} {' + '.join(items)} = {self.total:.2f}"


#: The name of the part of a pair's score that its standing among its record's
#: candidates takes (weights that learned a standing from labels).
STANDING_PART = "behind its record's best"
#: The name of the part a pair loses for sharing its record's one match with the
#: record's other candidates (weights that found each left record matches at most one).
SHARED_PART = "shared with its record's other candidates"


def score_parts(
    candidates: pd.DataFrame, spec: Spec, weights: LearnedWeights | None
) -> list[ScoreParts]:
    """Why each pair of ``candidates`` scored as it did (see :class:`ScoreParts`).

    With ``weights``, each field's bits are the pair's ``weight_<field>`` column when
    the candidates have it (the term-frequency adjustment included), else the
    weights' contribution of its ``score_<field>``; where the weights share a record's
    one match among its pairs (:data:`SHARED_PART`) or learned a standing
    (:data:`STANDING_PART`), last parts say what each takes, against the same
    record's pairs among ``candidates`` (give all of a record's pairs).
    Without weights, the weighted mean's parts.

    >>> from matching.engine.spec import Field
    >>> spec = Spec((Field("a", weight=3.0), Field("b")), "id", "id")
    >>> frame = pd.DataFrame({"score": [0.8], "score_a": [1.0], "score_b": [0.2]})
    >>> score_parts(frame, spec, None)[0].text()
    'weighted mean: a 0.75 + b 0.05 = 0.80'
    """
    names = [f.name for f in spec.fields]
    scores = candidates["score"].to_numpy(np.float64)
    fields = [candidates[f"score_{n}"].to_numpy(np.float64) for n in names]
    out = []
    if weights is None:
        w = np.array([f.weight for f in spec.fields], np.float64)
        for i in range(len(candidates)):
            s = np.array([f[i] for f in fields])
            present = ~np.isnan(s)
            den = float(w[present].sum()) or 1.0
            parts = tuple(
                (n, float(w[k] * s[k] / den) if present[k] else None) for k, n in enumerate(names)
            )
            out.append(ScoreParts("score", 0.0, parts, float(scores[i]), None, float(scores[i])))
        return out
    if all(f"weight_{n}" in candidates.columns for n in names):
        bits = [candidates[f"weight_{n}"].to_numpy(np.float64) for n in names]
    else:
        bits = weights.contributions(fields)
    start = weights.prior_bits
    stack = np.stack(bits) if bits else np.zeros((0, len(candidates)))
    present = ~np.all(np.isnan(stack), axis=0)
    if "left_id" in candidates.columns:
        total = np.where(present, np.nansum(stack, axis=0), np.nan)
        groups = _groups(candidates["left_id"])
        if weights.exclusive:
            bits, names = [*bits, weights.exclusive_bits(total, groups)], [*names, SHARED_PART]
        if weights.standing:
            bits, names = [*bits, weights.standing_bits(total, groups)], [*names, STANDING_PART]
    for i in range(len(candidates)):
        values = [b[i] for b in bits]
        parts = tuple((n, None if np.isnan(v) else float(v)) for n, v in zip(names, values))
        total = start + float(np.nansum(values))
        chance = float(weights.probability(np.array([total - start]))[0])
        out.append(ScoreParts("bits", start, parts, total, chance, float(scores[i])))
    return out
