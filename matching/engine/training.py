"""Training the match weights of a planned run: by EM, from labelled pairs, and which
pairs to label next.

:func:`train` learns Fellegi-Sunter weights for a :func:`~matching.engine.candidates.plan`
with or without blocking rules (without, it makes its own training rules: pairs that
agree exactly on one field, sampled). Its samples depend only on the tables and the
spec, never on how a runner cuts the work, so a Dask run learns the same weights as a
local one. :func:`train_with_labels` corrects those weights with labelled pairs
(:func:`~matching.engine.weights.fit_labels`); :func:`suggest_labels` picks the
candidate pairs whose labels would help most (the least certain, spread over
comparison patterns and records).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd

from matching.engine.candidates import plan
from matching.engine.codes import CODE_SUFFIX
from matching.engine.record_math import best_in_groups
from matching.engine.spec import Block, Key, Spec
from matching.engine.weights import (
    LearnedWeights,
    fit_labels,
    fit_standing,
    learn_weights,
    levels_for,
    levels_of,
)

__all__ = [
    "train",
    "read_labels",
    "train_with_labels",
    "record_parts",
    "one_each",
    "ONE_EACH_SHARE",
    "standing_from_pairs",
    "scores_with_standing",
    "suggest_labels",
    "boundary_doubt",
    "pair_bits",
    "SPREAD",
    "expected_matches",
    "match_prior",
    "Agreeing",
    "ProposedWeights",
    "learn_for_tables",
    "KEEP_PROBABILITY",
    "SELECT_PROBABILITY",
    "weight_warnings",
    "LABEL_COLUMNS",
]

#: The columns of a labels file: a pair and 1 (match) or 0 (non-match).
LABEL_COLUMNS = ("left_id", "right_id", "label")

#: Pairs per range when a blocked run's pairs are sampled for EM.
_TRAIN_CHUNK = 50_000
#: Left records sampled to find pairs that agree exactly on a field.
_TRAIN_LEFT = 20_000
#: Most pairs of one such field's session: EM runs on their patterns of levels, which
#: this many pairs show well, and each pair costs a comparison of every field.
_OWN_PAIRS = 50_000


def _bounds(spec: Spec) -> tuple[tuple[float, ...], ...]:
    return tuple(levels_for(f.scorer) for f in spec.fields)


def _blocked_sessions(job, sample: int, workers: int) -> list:
    """One EM session per blocking rule, over evenly spread ranges of left rows."""
    rules = job.blocking.rules
    ranges = job.blocking.chunks(_TRAIN_CHUNK)
    per_rule = max(1, sample // len(rules))
    sizes = job.blocking.rule_sizes()
    sessions = []
    for k, rule in enumerate(rules):
        step = max(1, round(sizes[k] / per_rule))
        lis, ris = [], []
        for start, stop in ranges[::step]:
            li, ri = job.blocking.rule_pairs(k, start, stop)
            lis.append(li)
            ris.append(ri)
        li = np.concatenate(lis) if lis else np.empty(0, np.int64)
        ri = np.concatenate(ris) if ris else np.empty(0, np.int64)
        fields, _ = job.compare(li, ri, workers=workers)
        sessions.append((fields, _active(job.spec, rule)))
    return sessions


def _active(spec: Spec, rule: Block) -> list[bool]:
    """Fields a rule's pairs say something about: all but those on its key columns.

    A rule's pairs agree on its key (exactly, in part, or as near neighbours), so
    among them the non-matches of a key field are not like random pairs, whose
    levels ``u`` is: EM would take their closeness for matches.
    """
    keyed = {(k.left, k.right) for k in rule.keys}
    return [(f.left, f.right) not in keyed for f in spec.fields]


#: Least share of matches a field's session of agreeing pairs can hold (at most one
#: match per record of the smaller table) for EM to train on it: among pairs that
#: share a city or a cuisine the matches are too few for EM to find them, and it
#: takes another likeness (the same area code) for the matches instead.
SESSION_SHARE = 0.1


@dataclasses.dataclass(frozen=True)
class Agreeing:
    """What the prior is read from in one field's session of agreeing pairs: the
    field, how many pairs of the sampled left rows agree on it (before sampling them)
    and the share of all left rows those rows are."""

    field: int
    pairs: int
    rows_share: float


def _own_sessions(job, sample: int, seed: int, workers: int) -> tuple[list, list[Agreeing]]:
    """Per field, sampled pairs whose values of it are the same (cleaned as compared).

    A field whose agreeing pairs are more than 5% of all pairs (a sex, a state)
    says too little to train on and is skipped, and so is one whose agreeing pairs
    could hold fewer than :data:`SESSION_SHARE` matches, unless it is among the two
    that could hold the most. Sessions come most selective first.
    """
    spec = job.spec
    n_left, n_right = len(job.left_ids), len(job.right_ids)
    rng = np.random.default_rng(seed)
    rows = np.arange(n_left)
    if n_left > _TRAIN_LEFT:
        rows = np.sort(rng.choice(n_left, _TRAIN_LEFT, replace=False))
    per_rule = max(1, min(_OWN_PAIRS, sample // max(len(spec.fields), 1)))
    # At most one match per record of the smaller side: the most matches the rows hold.
    most = len(rows) * min(1.0, max(n_right, 1) / max(n_left, 1))
    found = []
    for f in range(len(spec.fields)):
        li, ri = job.exact_pairs(f, rows)
        if spec.one_table:  # a record agrees with itself: each pair of two records once
            li, ri = li[li < ri], ri[li < ri]
        if len(li) == 0 or len(li) > 0.05 * len(rows) * max(n_right, 1):
            continue
        found.append((most / len(li), f, li, ri))
    found.sort(key=lambda s: -s[0])
    sessions, agreeing = [], []
    for k, (share, f, li, ri) in enumerate(found):
        if share < SESSION_SHARE and k >= 2:
            continue
        agreeing.append(Agreeing(f, len(li), len(rows) / max(n_left, 1)))
        if len(li) > per_rule:
            keep = np.sort(rng.choice(len(li), per_rule, replace=False))
            li, ri = li[keep], ri[keep]
        fields, _ = job.compare(li, ri, workers=workers)
        field = spec.fields[f]
        rule = Block("exact", keys=(Key(field.left, field.right),))
        sessions.append((fields, _active(spec, rule)))
    return sessions, agreeing


def _session_share(bits: np.ndarray, iterations: int = 100) -> float:
    """The share of matches among pairs with these match weights (bits against the
    odds of random pairs), by EM on that share alone.

    >>> round(_session_share(np.array([20.0] * 30 + [-20.0] * 70)), 3)
    0.3
    """
    share = 0.5
    for _ in range(iterations):
        odds = np.clip(bits + np.log2(share / (1 - share)), -60, 60)
        new = float(np.clip(np.mean(1.0 / (1.0 + np.exp2(-odds))), 1e-9, 1 - 1e-9))
        if abs(new - share) < 1e-9:
            break
        share = new
    return share


def match_prior(
    weights: LearnedWeights,
    sessions: list,
    agreeing: list[Agreeing],
    present: np.ndarray,
    all_pairs: float,
    most: float | None = None,
) -> float | None:
    """The share of matches among all pairs of the two tables, read from the fields'
    sessions of agreeing pairs (None when there is none).

    In the session of a field ``f``, EM on the share alone (the weights fixed, ``f``
    left out: every pair agrees on it) says how many of its pairs are matches. They
    are the matches that agree on ``f``: a share ``m`` (exact level) of the matches
    where ``f`` is present on both sides (``present[f]`` of pairs). So the matches
    among the sampled rows are ``share * pairs / (m * present)``; the median over the
    sessions, scaled to all rows, at most ``most`` (when given), over ``all_pairs``.
    The EM sessions' own shares of matches are shares among pairs that agree on a
    field, many times the share among all pairs: a probability taken with them would
    call pairs of the weight of random pairs likely matches.
    """
    found = []
    for (fields, _), seen in zip(sessions, agreeing):
        if not len(fields[0]):
            continue
        parts = weights.contributions(fields)
        bits = np.nansum([p for g, p in enumerate(parts) if g != seen.field], axis=0)
        agree = weights.m[seen.field][0] * present[seen.field]
        if agree <= 0:
            continue
        found.append(_session_share(np.atleast_1d(bits)) * seen.pairs / agree / seen.rows_share)
    if not found or all_pairs <= 0:
        return None
    matches = min(float(np.median(found)), most if most is not None else np.inf)
    return float(np.clip(matches / all_pairs, 1.0 / all_pairs, 0.5))


def train(
    job,
    *,
    sample: int = 500_000,
    random_pairs: int = 200_000,
    seed: int = 0,
    workers: int = -1,
) -> LearnedWeights:
    """Learn Fellegi-Sunter weights for a planned run.

    ``u`` comes from ``random_pairs`` random pairs of the two tables; ``m`` and
    the prior by EM over each blocking rule's pairs (about ``sample`` pairs in
    all), or, without rules, over sampled pairs that agree exactly on one field
    (one session per field, as Splink trains). Levels are set per scorer;
    exact agreement gets a term-frequency adjustment. Seeded: the same tables
    and spec learn the same weights, however the run is cut.

    Raises ``ValueError`` when no training pair can be found.
    """
    spec: Spec = job.spec
    own, agreeing = _own_sessions(job, sample, seed, workers)
    sessions = own
    if getattr(job, "blocking", None) is not None:
        sessions = _blocked_sessions(job, sample, workers) + sessions
    n_left, n_right = len(job.left_ids), len(job.right_ids)
    if not any(len(f[0]) for f, _ in sessions) or not n_left or not n_right:
        raise ValueError(
            "no pairs to learn weights from: no two records agree on any field"
            " (use --weights mean, or a blocking rule)"
        )
    rng = np.random.default_rng(seed)
    li = rng.integers(n_left, size=random_pairs)
    ri = rng.integers(n_right, size=random_pairs)
    if spec.one_table:  # a record with itself is no random pair
        li, ri = li[li != ri], ri[li != ri]
    random_fields, shares = job.compare(li, ri, workers=workers)
    tf = [float(np.nanmin(s)) if np.isfinite(s).any() else None for s in shares]
    weights = learn_weights(
        [f.name for f in spec.fields],
        sessions,
        random_fields,
        bounds=_bounds(spec),
        tf_shares=tf,
    )
    present = np.array([float(np.mean(~np.isnan(f))) if len(f) else 0.0 for f in random_fields])
    all_pairs = n_left * (n_left - 1) / 2 if spec.one_table else float(n_left) * n_right
    # Two tables: a record of the larger one has at most one partner in the smaller
    # one, or the records of both have several (duplicates on both sides, not the
    # rule); a field agreeing on few matches (a price) otherwise reads far too many.
    most = None if spec.one_table else float(max(n_left, n_right))
    prior = match_prior(weights, own, agreeing, present, all_pairs, most)
    weights = weights if prior is None else dataclasses.replace(weights, prior=prior)
    if spec.one_table:
        return weights
    return dataclasses.replace(weights, exclusive=one_each(job, weights, seed, workers))


#: Left records sampled to tell whether each has at most one match.
_ONE_EACH_RECORDS = 2_000
#: Fewest sampled records with a sure partner to tell it from.
_ONE_EACH_LEAST = 20
#: Each left record matches at most one right record when fewer than this share of the
#: sampled records with a sure partner have a second: on linkages of one match each it
#: was 0 to 0.18, with several (FEBRL 2 and 3: each original's duplicates) 0.68 to 0.73.
ONE_EACH_SHARE = 0.5


def one_each(job, weights: LearnedWeights, seed: int = 0, workers: int = -1) -> bool:
    """Whether each left record of a planned run matches at most one right record, as
    the weights tell: among sampled left records with a partner the weights are
    :data:`SURE` of, few have a second one (:data:`ONE_EACH_SHARE`)."""
    n_left, n_right = len(job.left_ids), len(job.right_ids)
    if not n_left or not n_right:
        return False
    most = _ONE_EACH_RECORDS
    if not job.spec.block:  # every right row is a pair of each sampled record
        most = max(_ONE_EACH_LEAST, 2_000_000 // n_right)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n_left, size=min(most, n_left), replace=False))
    sure = np.zeros(len(rows), np.int64)
    for at, li, ri in job.pairs_of(rows):
        fields, shares = job.compare(li, ri, workers=workers)
        weight = _summed(weights.contributions(fields, shares))
        ok = ~np.isnan(weight)
        np.add.at(sure, at[ok], (weights.probability(weight[ok]) >= SURE).astype(np.int64))
    some = int((sure >= 1).sum())
    return some >= _ONE_EACH_LEAST and int((sure >= 2).sum()) < ONE_EACH_SHARE * some


def read_labels(path: str | Path) -> pd.DataFrame:
    """A labels file (CSV: ``left_id,right_id,label``; label 1 match, 0 non-match).

    Rows with an empty label are left out (a file written by
    :func:`suggest_labels` and partly filled in). Raises ``ValueError`` saying
    what is wrong.
    """
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: the labels file is empty") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path}: cannot read the labels: {exc}") from None
    missing = [c for c in LABEL_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: the labels need the columns {', '.join(LABEL_COLUMNS)}"
            f" (missing {', '.join(missing)})"
        )
    frame = frame[list(LABEL_COLUMNS)].copy()
    frame["label"] = frame["label"].str.strip()
    frame = frame[frame["label"] != ""]
    bad = frame[~frame["label"].isin(["0", "1"])]
    if len(bad):
        raise ValueError(
            f"{path}: a label is 1 (match) or 0 (non-match), not {bad['label'].iloc[0]!r}"
        )
    frame["label"] = frame["label"].astype(np.int64)
    frame = frame.drop_duplicates()
    twice = frame[frame.duplicated(["left_id", "right_id"], keep=False)]
    if len(twice):
        left, right = twice.iloc[0][["left_id", "right_id"]]
        raise ValueError(
            f"{path}: the pair {_shown(left)}, {_shown(right)} is labelled both 1 and 0"
        )
    return frame.reset_index(drop=True)


def _shown(value: object, most: int = 40) -> str:
    """``value`` quoted for a message, cut to ``most`` characters.

    >>> _shown("L1"), _shown("R" * 50)
    ("'L1'", "'RRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRR…'")
    """
    text = str(value)
    return repr(text if len(text) <= most else text[:most] + "…")


def _positions(ids: np.ndarray, wanted: pd.Series, side: str) -> np.ndarray:
    index = pd.Index(pd.Series(ids).astype(str))
    at = index.get_indexer(wanted.astype(str).str.strip())
    if (at < 0).any():
        unknown = wanted[at < 0].head(3).tolist()
        raise ValueError(
            f"labelled pairs name {side} ids that are not in the {side} table:"
            f" {', '.join(map(_shown, unknown))}"
        )
    return at.astype(np.int64)


def train_with_labels(
    job, labels: pd.DataFrame, *, base: LearnedWeights | None = None, workers: int = -1
) -> LearnedWeights:
    """Weights learned by EM (or ``base``), corrected with labelled pairs.

    ``labels`` as :func:`read_labels` gives it. Each labelled pair's fields are
    compared as in the run, and the weights of each field's levels are moved
    by logistic regression with the learned weights as the offset
    (:func:`~matching.engine.weights.fit_labels`). With two tables, the labels then
    say how much a pair's standing among its left record's candidates counts
    (:func:`~matching.engine.weights.fit_standing`, each labelled record's pairs
    found by :func:`record_parts`).
    """
    weights = base if base is not None else train(job, workers=workers)
    if not len(labels):
        return weights
    li = _positions(job.left_ids, labels["left_id"], "left")
    ri = _positions(job.right_ids, labels["right_id"], "right")
    fields, shares = job.compare(li, ri, workers=workers)
    y = labels["label"].to_numpy()
    weights = fit_labels(weights, fields, y, shares=shares)
    if job.spec.one_table:  # a record's several duplicates: no single best to stand by
        return weights
    weights = dataclasses.replace(weights, standing=0.0)
    weight, best, shared = record_parts(job, weights, li, ri, workers=workers)
    return fit_standing(weights, weight, best, y, shared=shared)


def _summed(parts: list[np.ndarray]) -> np.ndarray:
    """The sum of per-field bits per pair; NaN where no field is present."""
    stack = np.stack(parts)
    total = np.nansum(stack, axis=0)
    total[np.all(np.isnan(stack), axis=0)] = np.nan
    return total


def standing_from_pairs(
    weights: LearnedWeights,
    fields: list[np.ndarray],
    shares: list[np.ndarray | None],
    groups: np.ndarray,
    at: np.ndarray,
    labels: np.ndarray,
) -> LearnedWeights:
    """``weights`` with their standing learned from labelled pairs among candidates held
    in memory (a project's): ``fields`` and ``shares`` per field for candidate pairs
    that hold every pair of the labelled records, ``groups`` each pair's left record,
    ``at`` the positions of the labelled pairs among them."""
    weights = dataclasses.replace(weights, standing=0.0)
    weight = _summed(weights.contributions(fields, shares))
    best = best_in_groups(weight, groups)[at]
    shared = weights.exclusive_bits(weight, groups)[at]
    return fit_standing(weights, weight[at], best, labels, shared=shared)


def scores_with_standing(
    weights: LearnedWeights,
    fields: list[np.ndarray],
    shares: list[np.ndarray | None],
    groups: np.ndarray,
    at: np.ndarray,
) -> np.ndarray:
    """The scores of the pairs at ``at`` among candidate pairs (as for
    :func:`standing_from_pairs`), their standing in their records taken."""
    weight = _summed(weights.contributions(fields, shares))
    present = ~np.isnan(weight)
    total = np.where(present, weight, 0.0) + weights.record_bits(weight, groups)
    return weights.rescale(total, present)[at]


def record_parts(
    job, weights: LearnedWeights, li: np.ndarray, ri: np.ndarray, *, workers: int = -1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of pairs of left rows ``li`` and right rows ``ri`` in the planned run ``job``:
    each pair's match weight (bits by ``weights``, NaN where no field is present), the
    best weight among the pairs the run scores for its left row and the pair itself
    (-inf: none), and the bits it loses for sharing its record's one match with them
    (:meth:`~matching.engine.weights.LearnedWeights.exclusive_bits`; 0 unless the
    weights are exclusive)."""
    li, ri = np.asarray(li, np.int64), np.asarray(ri, np.int64)
    weight = np.full(len(li), np.nan)
    best = np.full(len(li), -np.inf)
    shared = np.zeros(len(li))
    n = max(len(job.right_ids), 1)
    rows = np.unique(li)
    for _, bli, bri in job.pairs_of(rows):
        mine = np.flatnonzero(np.isin(li, np.unique(bli)))
        # The record's pairs and the labelled ones, each pair once.
        keys, place = np.unique(np.r_[bli * n + bri, li[mine] * n + ri[mine]], return_inverse=True)
        pl, pr = keys // n, keys % n
        fields, shares = job.compare(pl, pr, workers=workers)
        w = _summed(weights.contributions(fields, shares))
        at = place.ravel()[len(bli) :]
        weight[mine] = w[at]
        best[mine] = best_in_groups(w, pl)[at]
        shared[mine] = weights.exclusive_bits(w, pl)[at]
    # A labelled pair of a row with no pair in the run: it alone.
    alone = np.isnan(weight)
    if alone.any():
        fields, shares = job.compare(li[alone], ri[alone], workers=workers)
        w = _summed(weights.contributions(fields, shares))
        weight[alone] = w
        best[alone] = np.where(np.isnan(w), -np.inf, w)
    return weight, best, shared


def pair_bits(candidates: pd.DataFrame, weights: LearnedWeights) -> np.ndarray:
    """Each pair's match weight in bits: the sum of its ``weight_<field>`` columns when the
    candidates have them, else of the weights' contributions of its ``score_<field>``
    columns (without the term-frequency adjustment, which needs the tables), with the
    bits its standing among its left record's candidates takes."""
    names = weights.fields
    if all(f"weight_{n}" in candidates.columns for n in names):
        parts = [candidates[f"weight_{n}"].to_numpy(np.float64) for n in names]
    else:
        fields = [candidates[f"score_{n}"].to_numpy(np.float64) for n in names]
        parts = weights.contributions(fields)
    if not len(candidates):
        return np.empty(0)
    total = _summed(parts)
    groups = pd.factorize(candidates["left_id"])[0]
    return np.nan_to_num(total, nan=0.0) + weights.record_bits(total, groups)


def boundary_doubt(frame: pd.DataFrame, total: np.ndarray) -> np.ndarray:
    """How far each pair is from where the best threshold is likely to fall: ranked by
    ``total`` (its log2 odds of a match: weight plus the prior's, highest first; ties
    in order), the distance of its rank from the number of matches the weights expect
    (:func:`expected_matches`).

    >>> frame = pd.DataFrame({"left_id": ["1", "2", "3"], "right_id": ["a", "b", "c"]})
    >>> # Expected: 1.5 matches (0 + 1 + 0.5); the pair at even odds is second of three.
    >>> boundary_doubt(frame, np.array([-20.0, 20.0, 0.0])).tolist()
    [1.0, 1.0, 0.0]
    """
    rank = np.empty(len(total), np.float64)
    rank[np.lexsort((np.arange(len(total)), -np.nan_to_num(total, nan=-np.inf)))] = np.arange(
        len(total), dtype=np.float64
    )
    return np.abs(rank + 0.5 - expected_matches(frame, total))


#: Share of the pairs :func:`suggest_labels` asks about that are spread evenly over the
#: ranking by weight, not taken near the expected threshold. Asked only near it, labels
#: taught Amazon-Google's products what did not hold further out, and 200 of them made
#: its ranking worse than none (best F1 0.472 -> 0.458); with a fifth spread, 0.480.
SPREAD = 0.2

#: A left record's further partners count as matches when the weights are this sure.
SURE = 0.99


def expected_matches(frame: pd.DataFrame, total: np.ndarray) -> float:
    """How many of these candidate pairs are matches, as their weights tell: per left
    record, the match probability of its likeliest partner (``total``: its log2 odds
    of a match, the weight plus :attr:`~LearnedWeights.prior_bits`), and of each
    further partner the weights are :data:`SURE` of (a record with several duplicates
    on the right).

    EM weights are sure of too much to be summed pair by pair: among the candidates a
    run keeps, many non-matches are alike in several fields, and each record's
    likeliest partner stands for it (on historical person records the sum over all
    pairs read 54,500 matches among 43,900, this 41,800).

    >>> frame = pd.DataFrame({"left_id": ["1", "1", "2", "2"]})
    >>> round(expected_matches(frame, np.array([30.0, 0.0, 30.0, 30.0])), 3)
    3.0
    >>> round(expected_matches(frame, np.array([30.0, 0.0, -30.0, 0.0])), 3)
    1.5
    """
    if not len(frame):
        return 0.0
    prob = 1.0 / (1.0 + np.exp2(-np.clip(np.nan_to_num(total, nan=-60.0), -60, 60)))
    # Each record's likeliest partner, once (the first of its pairs at that probability).
    likeliest = np.zeros(len(prob), bool)
    likeliest[pd.Series(prob).groupby(frame["left_id"].to_numpy()).idxmax().to_numpy()] = True
    rest = prob[~likeliest]
    return float(prob[likeliest].sum() + rest[rest >= SURE].sum())


def suggest_labels(
    candidates: pd.DataFrame,
    weights: LearnedWeights,
    count: int,
    *,
    exclude: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ``count`` candidate pairs whose labels would help the model most.

    Pairs near the boundary, with diversity: ranked by weight, the pairs are taken
    in order of how far their rank is from the number of matches the weights
    expect (:func:`expected_matches`), where the best threshold is likely to fall:
    at most one per pattern of field levels and per left record first, then one
    per left record, then any. A share :data:`SPREAD` of them (rounded down) are
    instead spread evenly over the whole ranking. Pairs in ``exclude`` (labelled
    already) are skipped.

    Parameters
    ----------
    candidates : DataFrame
        Scored pairs with ``score_<field>`` columns and, when the run wrote
        them, ``weight_<field>`` columns (bits per field).
    weights : LearnedWeights
        The weights the candidates were scored with.

    Returns
    -------
    DataFrame
        ``left_id, right_id, label`` with ``label`` empty, most informative first.
    """
    names = weights.fields
    frame = candidates.reset_index(drop=True)
    if exclude is not None and len(exclude):
        done = set(zip(exclude["left_id"].astype(str), exclude["right_id"].astype(str)))
        pair = zip(frame["left_id"].astype(str), frame["right_id"].astype(str))
        frame = frame[[p not in done for p in pair]].reset_index(drop=True)
    fields = [frame[f"score_{n}"].to_numpy(np.float64) for n in names]
    bits = pair_bits(frame, weights)
    doubt = boundary_doubt(frame, bits + weights.prior_bits)
    key = np.zeros(len(frame), np.int64)
    for f, s in enumerate(fields):
        key = key * (len(weights.m[f]) + 1) + levels_of(s, weights.bounds[f]) + 1
    order = np.lexsort((np.arange(len(frame)), doubt))
    lefts = frame["left_id"].astype(str).to_numpy()
    chosen: list[int] = []
    taken = np.zeros(len(frame), bool)
    for rule in ("pattern", "left", "any"):
        seen_left = {lefts[i] for i in chosen}
        seen_key = {int(key[i]) for i in chosen}
        for i in order:
            if len(chosen) >= count:
                break
            if taken[i]:
                continue
            if rule != "any" and lefts[i] in seen_left:
                continue
            if rule == "pattern" and int(key[i]) in seen_key:
                continue
            chosen.append(int(i))
            taken[i] = True
            seen_left.add(lefts[i])
            seen_key.add(int(key[i]))
    spread = int(SPREAD * count)
    if spread and len(frame) > len(chosen):
        # The last of them evenly over the ranking instead: what the labels teach near
        # the threshold is then checked against pairs far from it.
        by_weight = np.lexsort((np.arange(len(frame)), -np.nan_to_num(bits, nan=-np.inf)))
        free = by_weight[~taken[by_weight]]
        picks = free[np.linspace(0, len(free) - 1, min(spread, len(free))).round().astype(int)]
        chosen = chosen[: count - len(picks)] + [int(i) for i in picks]
    out = frame.loc[chosen, ["left_id", "right_id"]].reset_index(drop=True)
    out["label"] = ""
    return out


def _family(name: str) -> str:
    """The first word of a field name: ``dob_year`` and ``dob_day`` are one family. A
    text's codes (``name_codes``) are not of its text's family: they are made of it to
    weigh on their own.

    >>> _family("dob_year"), _family("name_codes")
    ('dob', 'name_codes')
    """
    if name.endswith(CODE_SUFFIX):
        return name
    split = re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()
    words = [w for w in re.split(r"[^0-9a-z]+", split) if w]
    return words[0] if words else name


def weight_warnings(weights: LearnedWeights) -> list[str]:
    """What looks wrong in learned weights, for a person to check.

    A field that (nearly) never agrees among likely matches (its levels of
    positive weight hold under 2% of the matches: the two columns may not hold
    the same thing), and a family of fields (names sharing their first word,
    such as ``dob_year``, ``dob_month``, ``dob_day``) holding more than half of
    the weight, which lets them outvote the rest.
    """
    out = []
    spread = []
    for f, name in enumerate(weights.fields):
        bits = weights.bits(f)
        # Levels at which the field speaks for a match: those with a positive weight.
        close = float(sum(m for m, b in zip(weights.m[f], bits) if b > 0))
        if close < 0.02:
            out.append(
                f"{name} never agrees among likely matches (close in"
                f" {100 * close:.1f}% of them): do both columns hold the same thing?"
            )
        spread.append(float(bits.max() - bits.min()))
    total = sum(spread)
    families: dict[str, list[int]] = {}
    for f, name in enumerate(weights.fields):
        families.setdefault(_family(name), []).append(f)
    for members in families.values():
        share = sum(spread[f] for f in members) / total if total else 0.0
        if len(members) > 1 and len(weights.fields) > len(members) and share > 0.5:
            names = ", ".join(weights.fields[f] for f in members)
            out.append(
                f"the fields {names} hold {100 * share:.0f}% of the weight together:"
                " combine them into one field if they are parts of one value"
            )
    return out


#: Learned weights set a set-up's thresholds by match probability: pairs at least this
#: likely a match are kept, and those at least this likely are pre-selected.
KEEP_PROBABILITY, SELECT_PROBABILITY = 0.01, 0.5


@dataclasses.dataclass(frozen=True)
class ProposedWeights:
    """Weights learned for a set-up, the keep and pre-select thresholds they mean (the
    scores at :data:`KEEP_PROBABILITY` and :data:`SELECT_PROBABILITY`, to two places)
    and what looks wrong in them (:func:`weight_warnings`)."""

    weights: LearnedWeights
    keep: float
    select: float
    warnings: tuple[str, ...]

    @classmethod
    def of(cls, weights: LearnedWeights) -> ProposedWeights:
        """The thresholds and warnings of ``weights``."""
        keep = round(weights.score_at_probability(KEEP_PROBABILITY), 2)
        select = max(round(weights.score_at_probability(SELECT_PROBABILITY), 2), keep)
        return cls(weights, keep, select, tuple(weight_warnings(weights)))


def learn_for_tables(left: pd.DataFrame, right: pd.DataFrame, spec: Spec) -> ProposedWeights:
    """Fellegi-Sunter weights for the spec's fields (over its blocked pairs, or its own
    training pairs without blocking rules), with the thresholds they mean.

    Raises ``ValueError`` when no training pair can be found.
    """
    job, _ = plan(left, right, spec, keep=0.0, top_k=None)
    return ProposedWeights.of(train(job))
