"""Candidate generation: score the plausible pairs of two tables.

The full comparison runs rapidfuzz's ``cdist`` on the distinct values of each
field, chunk by chunk over the left table, so memory stays bounded whatever
``len(left) * len(right)`` is. Rows with the same values in every compared field
are compared once, and a field with few distinct left values is scored once for
the whole table. Blocking replaces the full cross product by the
pairs that share a key, scored with ``cpdist``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matching.engine.blocking import Blocking, one_table_keeps, one_table_order, ragged_arange
from matching.engine.scoring import normalize_codes, score_matrix, score_pairs
from matching.engine.spec import Block, Field, Normalization, Spec
from matching.engine.tfidf import TfidfModel
from matching.engine.weights import LearnedWeights

__all__ = [
    "generate_candidates",
    "score_in_steps",
    "StepProgress",
    "iter_candidates",
    "plan",
    "run_plan",
    "count_pairs",
    "first_per_group",
    "validate_columns",
    "record_ids",
    "DEFAULT_CHUNK_ELEMENTS",
]

#: Pairs scored at once in the full comparison; bounds memory (about 8 bytes a pair
#: per field, plus 40). Small enough to stay in cache-friendly sizes: faster than 4M.
DEFAULT_CHUNK_ELEMENTS = 1_000_000

# rapidfuzz converts the whole right column on every cdist call, so a chunk of a
# few rows against a long right table spends its time converting: take at least
# this many left rows, as long as a chunk stays under _MAX_CHUNK_ELEMENTS pairs.
# More rows make each field's chunk outgrow the cache: 64 was 40% slower at 110k.
_MIN_CHUNK_ROWS = 16
_MAX_CHUNK_ELEMENTS = 8_000_000

#: Columns of a chunk sampled to find each row's top-k cut-off (every this many).
_SAMPLE_STEP = 4

#: Scores, summed over fields, kept for the whole comparison: a field with few
#: distinct left values is scored once instead of once per chunk (8 bytes each).
_WHOLE_ELEMENTS = 24_000_000

Progress = Callable[[int, int], None]

#: ``progress(step, done, total)``: the step a run is at and how far it has got.
#: :func:`score_in_steps` reports ``"blocking"`` (``total`` 0 while the pairs are
#: found, then the pairs to score) and ``"scoring"`` (pairs scored of the pairs to
#: score), or ``"blocking at most"`` and ``"scoring at most"`` for a union of rules.
StepProgress = Callable[[str, int, int], None]


#: A field is scored row by row rather than through its distinct values when at
#: least this share of its values are distinct: broadcasting would cost more than
#: the few repeated comparisons it saves.
_DIRECT_SHARE = 0.8


@dataclass
class _Coded:
    """One field's values as codes into its distinct cleaned values (-1: missing)."""

    left_codes: np.ndarray
    right_codes: np.ndarray
    left_uniques: np.ndarray
    right_uniques: np.ndarray
    scorer: str
    weight: float
    share: np.ndarray | None = None
    model: TfidfModel | None = None

    def take(self, left_rows: np.ndarray, right_rows: np.ndarray) -> _Coded:
        """The same field restricted to some rows of each side (uniques unchanged)."""
        return _Coded(
            self.left_codes[left_rows],
            self.right_codes[right_rows],
            self.left_uniques,
            self.right_uniques,
            self.scorer,
            self.weight,
            self.share,
            self.model,
        )

    def agreeing(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs of left ``rows`` and right rows with the same cleaned value (exactly)."""
        same = pd.Index(self.right_uniques).get_indexer(self.left_uniques)
        lc = self.left_codes[rows]
        target = np.where(lc >= 0, same[np.maximum(lc, 0)], -1)
        present = np.flatnonzero(self.right_codes >= 0)
        order = present[np.argsort(self.right_codes[present], kind="stable")]
        count = np.bincount(self.right_codes[present], minlength=len(self.right_uniques))
        start = np.cumsum(count) - count
        ok = target >= 0
        rows, target = rows[ok], target[ok]
        li = np.repeat(rows, count[target])
        ri = order[ragged_arange(start[target], count[target])]
        return li, ri

    def shares(self, li: np.ndarray) -> np.ndarray:
        """Per pair, the right table's share of the left value (NaN: missing or not there)."""
        lc = self.left_codes[li]
        out = np.full(len(li), np.nan)
        if self.share is not None:
            ok = lc >= 0
            out[ok] = self.share[lc[ok]]
        return out

    @property
    def left_direct(self) -> bool:
        return len(self.left_uniques) >= _DIRECT_SHARE * len(self.left_codes)

    @property
    def right_direct(self) -> bool:
        return len(self.right_uniques) >= _DIRECT_SHARE * len(self.right_codes)


def validate_columns(left: pd.DataFrame, right: pd.DataFrame, spec: Spec) -> None:
    """Raise ``ValueError`` naming each column the spec needs but a table lacks."""
    need_left = [f.left for f in spec.fields]
    need_right = [f.right for f in spec.fields]
    if spec.left_id:
        need_left.append(spec.left_id)
    if spec.right_id:
        need_right.append(spec.right_id)
    problems = []
    for side, frame, cols in (("left", left, need_left), ("right", right, need_right)):
        missing = [c for c in dict.fromkeys(cols) if c not in frame.columns]
        if missing:
            problems.append(
                f"the {side} table has no column {', '.join(map(repr, missing))}"
                f" (it has {', '.join(map(str, frame.columns))})"
            )
    for rule in spec.block:
        for side, frame, cols in (
            ("left", left, [k.left for k in rule.keys]),
            ("right", right, [k.right for k in rule.keys]),
        ):
            missing = [c for c in dict.fromkeys(cols) if c not in frame.columns]
            if missing:
                problems.append(
                    f"block {rule.text!r}: the {side} table has no column"
                    f" {', '.join(map(repr, missing))}"
                )
    if problems:
        raise ValueError("; ".join(problems))


def record_ids(frame: pd.DataFrame, column: str | None, side: str) -> np.ndarray:
    """The record ids of one table: the ID column's text, or row positions when None.

    Raises ``ValueError`` when an ID is missing or repeated.
    """
    if column is None:
        return np.arange(len(frame))
    values = frame[column]
    if values.isna().any() or (values.astype(str).str.strip() == "").any():
        raise ValueError(f"the {side} ID column {column!r} has empty values")
    ids = values.astype(str).to_numpy(dtype=object)
    dup = pd.Index(ids).duplicated()
    if dup.any():
        raise ValueError(
            f"the {side} ID column {column!r} repeats {ids[dup][0]!r}; ids must be unique"
        )
    return ids


def _encode_fields(
    left: pd.DataFrame, right: pd.DataFrame, spec: Spec, cache: dict | None = None
) -> list[_Coded]:
    """Each field's codes; ``cache`` (side, column, norm) -> codes is filled and reused."""
    # A column compared by several fields (another scorer, say) is cleaned once.
    done: dict[tuple, tuple[np.ndarray, np.ndarray]] = {} if cache is None else cache

    def code(frame: pd.DataFrame, side: str, column: str, norm: Normalization):
        key = (side, column, norm)
        if key not in done:
            done[key] = normalize_codes(frame[column], norm)
        return done[key]

    coded = []
    models: dict[tuple, TfidfModel] = {}
    for f in spec.fields:
        lc, lu = code(left, "left", f.left, f.normalization)
        rc, ru = code(right, "right", f.right, f.normalization)
        model = None
        if f.scorer == "tfidf":
            key = (f.left, f.right, f.normalization)
            if key not in models:
                models[key] = TfidfModel([*lu.tolist(), *ru.tolist()])
            model = models[key]
        coded.append(_Coded(lc, rc, lu, ru, f.scorer, float(f.weight), _share(lu, rc, ru), model))
    return coded


def _share(left_uniques: np.ndarray, right_codes: np.ndarray, right_uniques: np.ndarray):
    """Per distinct left value, its share of the right table's present values (NaN: absent).

    Only the right table counts, so every range of left rows sees the same shares.
    """
    present = right_codes[right_codes >= 0]
    counts = np.bincount(present, minlength=len(right_uniques)).astype(np.float64)
    share = counts / max(len(present), 1)
    at = pd.Index(right_uniques).get_indexer(left_uniques) if len(right_uniques) else None
    if at is None:
        return np.full(len(left_uniques), np.nan)
    return np.where(at >= 0, share[np.maximum(at, 0)], np.nan)


def count_pairs(
    left: pd.DataFrame,
    right: pd.DataFrame,
    block: Block | Sequence[Block] | None = None,
    *,
    one_table: bool = False,
) -> int:
    """How many pairs will be scored: ``len(left) * len(right)`` without blocking.

    With blocking, the pairs of the union of the rules, each pair once; records
    with a missing key form no pair under that rule. ``one_table``: ``left`` and
    ``right`` are one table, each pair counted once and no record with itself.
    """
    rules = Spec(fields=(Field("_"),), block=block).block
    if not rules:
        n = len(right)
        return n * (n - 1) // 2 if one_table else len(left) * len(right)
    return sum(c.added for c in Blocking(left, right, rules, one_table=one_table).count())


def first_per_group(group: np.ndarray, k: int) -> np.ndarray:
    """Which rows are among the first ``k`` of their run of equal ``group`` values.

    >>> first_per_group(np.array([0, 0, 0, 2, 2, 5]), 2).tolist()
    [True, True, False, True, True, True]
    """
    n = len(group)
    if n == 0:
        return np.zeros(0, bool)
    starts = np.r_[True, group[1:] != group[:-1]]
    at = np.arange(n)
    return at - np.maximum.accumulate(np.where(starts, at, 0)) < k


def _select(score: np.ndarray, keep: float, top_k: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Positions of a chunk's entries that pass ``keep`` and may be in their row's top k.

    A superset: each row's cut-off is the k-th best score among every few of its
    columns, which is never above the row's own k-th best and costs a fraction of
    partitioning the whole row. :func:`_rank_and_cut` settles the rest.
    """
    n = score.shape[1]
    if top_k is None or top_k >= n:
        return np.nonzero(score >= keep)
    # The sample keeps at least 4 * top_k columns, so few extra entries get through.
    step = max(1, min(_SAMPLE_STEP, n // (4 * top_k)))
    sample = score[:, ::step]
    at = sample.shape[1] - top_k
    kth = np.partition(sample, at, axis=1)[:, at]
    return np.nonzero(score >= np.maximum(kth, keep)[:, None])


def _rank_and_cut(
    li: np.ndarray, ri: np.ndarray, score: np.ndarray, top_k: int | None, *, presorted: bool = False
) -> np.ndarray:
    """Order pairs by left, score descending, right; return the order cut to top_k per left.

    ``presorted``: the pairs are already by left then right, so a stable sort on
    two keys keeps right order among ties.
    """
    order = np.lexsort((-score, li)) if presorted else np.lexsort((ri, -score, li))
    if top_k is None or len(order) == 0:
        return order
    sorted_li = li[order]
    starts = np.r_[0, np.flatnonzero(sorted_li[1:] != sorted_li[:-1]) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(sorted_li)]))
    rank = np.arange(len(sorted_li)) - group_start
    return order[rank < top_k]


def _values(codes: np.ndarray, uniques: np.ndarray) -> list[str]:
    """Each row's cleaned value, ``""`` where missing (those scores are zeroed after)."""
    return np.append(uniques, "")[codes].tolist()


@dataclass
class _Part:
    """One field's scores for a chunk: ``matrix[row_map[i], col_map[j]]`` (None: identity)."""

    matrix: np.ndarray
    row_map: np.ndarray | None
    col_map: np.ndarray | None

    def block(self) -> np.ndarray:
        """The chunk's rows x right rows matrix, gathering through the smaller side first."""
        m, rmap, cmap = self.matrix, self.row_map, self.col_map
        if rmap is None and cmap is None:
            return m
        # np.take gathers columns about twice as fast as fancy indexing does.
        if rmap is None:
            return np.take(m, cmap, axis=1)
        if cmap is None:
            return m[rmap]
        if len(rmap) * m.shape[1] <= m.shape[0] * len(cmap):
            return np.take(m[rmap], cmap, axis=1)
        return np.take(m, cmap, axis=1)[rmap]

    def at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        r = rows if self.row_map is None else self.row_map[rows]
        c = cols if self.col_map is None else self.col_map[cols]
        return self.matrix[r, c]


def _field_part(c: _Coded, start: int, stop: int, right: _Prepared, workers: int) -> _Part | None:
    """Score one field for left rows ``start:stop``; None when no pair has it on both sides."""
    lc = c.left_codes[start:stop]
    missing = lc < 0
    if missing.all() or len(c.right_uniques) == 0:
        return None
    if right.whole is not None:
        return _Part(right.whole, np.where(missing, len(c.left_uniques), lc), right.whole_cols)
    if c.left_direct:
        queries = _values(lc, c.left_uniques)
        row_map = None
    else:
        ul = np.unique(lc[~missing])
        queries = c.left_uniques[ul].tolist()
        row_map = np.where(missing, len(ul), np.searchsorted(ul, lc))
    matrix = score_matrix(queries, right.choices, c.scorer, workers=workers, model=c.model)
    if row_map is None:
        matrix[missing] = 0.0
    else:
        matrix = np.vstack([matrix, np.zeros((1, matrix.shape[1]))])
    return _Part(_zero_missing_columns(matrix, right), row_map, right.col_map)


def _zero_missing_columns(matrix: np.ndarray, right: _Prepared) -> np.ndarray:
    """Zero the scores of missing right values: in place, or as an appended zero column."""
    if right.col_map is None:
        matrix[:, right.missing] = 0.0
        return matrix
    return np.hstack([matrix, np.zeros((matrix.shape[0], 1))])


@dataclass
class _Prepared:
    """What every chunk needs of one field, worked out once.

    ``choices`` are the right values cdist compares against (each row's, or each
    distinct value's with ``col_map`` taking rows to them). A field with few
    distinct left values also has ``whole``: every left value (then a zero row for
    missing) against the right, through ``whole_cols`` (None: one column per row).
    """

    choices: list[str]
    col_map: np.ndarray | None
    missing: np.ndarray
    whole: np.ndarray | None = None
    whole_cols: np.ndarray | None = None

    @classmethod
    def of(cls, c: _Coded) -> _Prepared:
        rc = c.right_codes
        missing = rc < 0
        if c.right_direct:
            return cls(_values(rc, c.right_uniques), None, missing)
        col_map = np.where(missing, len(c.right_uniques), rc)
        return cls(c.right_uniques.tolist(), col_map, missing)

    def score_whole(self, c: _Coded, budget: int, workers: int) -> int:
        """Score the whole field now if it repeats left values and fits; elements used."""
        rows = len(c.left_uniques) + 1
        if c.left_direct or len(c.right_uniques) == 0 or rows * (len(self.choices) + 1) > budget:
            return 0
        matrix = score_matrix(
            c.left_uniques.tolist(), self.choices, c.scorer, workers=workers, model=c.model
        )
        matrix = _zero_missing_columns(np.vstack([matrix, np.zeros((1, matrix.shape[1]))]), self)
        self.whole, self.whole_cols = matrix, self.col_map
        # Gathering rows of a row-aligned matrix is much cheaper than gathering cells.
        if self.col_map is not None and rows * len(self.col_map) <= budget:
            self.whole, self.whole_cols = matrix[:, self.col_map], None
        return self.whole.size


def _presence(coded: list[_Coded]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Presence patterns and the weight total of each (left pattern, right pattern).

    Returns left pattern codes, right pattern codes and the table of summed weights
    of the fields present on both sides; added in field order, the same sums
    whichever chunk a pair falls in.
    """
    bits = 1 << np.arange(len(coded), dtype=np.int64)
    lp = sum(((c.left_codes >= 0) * b for c, b in zip(coded, bits)), np.int64(0))
    rp = sum(((c.right_codes >= 0) * b for c, b in zip(coded, bits)), np.int64(0))
    lu, lcode = np.unique(lp, return_inverse=True)
    ru, rcode = np.unique(rp, return_inverse=True)
    table = np.zeros((len(lu), len(ru)))
    for c, b in zip(coded, bits):
        table += c.weight * (((lu & b) > 0)[:, None] & ((ru & b) > 0)[None, :])
    return lcode.ravel(), rcode.ravel(), table


def _full_chunk(
    coded: list[_Coded],
    rights: list[_Prepared],
    presence: tuple[np.ndarray, np.ndarray, np.ndarray],
    start: int,
    stop: int,
    workers: int,
    learned: LearnedWeights | None = None,
) -> tuple[np.ndarray, list[_Part | None]]:
    """Weighted-mean scores of left rows ``start:stop`` against every right row.

    Returns the score matrix (-inf where no field is present on both sides) and
    each field's :class:`_Part` (None where the field is absent from the chunk).
    With ``learned``, the scores are the rescaled match weights instead.
    """
    if learned is not None:
        return _learned_chunk(coded, rights, start, stop, workers, learned)
    rows, n_right = stop - start, len(coded[0].right_codes)
    num: np.ndarray | None = None
    parts = []
    for c, right in zip(coded, rights):
        part = _field_part(c, start, stop, right, workers)
        parts.append(part)
        if part is None:
            continue
        block = part.block()
        if num is None:
            owned = block is not part.matrix
            num = block * c.weight if c.weight != 1.0 or not owned else block
        elif c.weight == 1.0:
            num += block
        else:
            num += c.weight * block
    if num is None:
        return np.full((rows, n_right), -np.inf), parts
    lcode, rcode, table = presence
    lcode = lcode[start:stop]
    if table.size == 1:
        num /= table[0, 0] if table[0, 0] > 0 else np.nan
        return np.nan_to_num(num, nan=-np.inf), parts
    den = _Part(table, lcode, rcode).block()
    with np.errstate(invalid="ignore", divide="ignore"):
        num /= den
    if not table.all():
        num[den == 0] = -np.inf
    return num, parts


def _learned_chunk(
    coded: list[_Coded],
    rights: list[_Prepared],
    start: int,
    stop: int,
    workers: int,
    learned: LearnedWeights,
) -> tuple[np.ndarray, list[_Part | None]]:
    """Rescaled match weights of left rows ``start:stop`` against every right row."""
    rows, n_right = stop - start, len(coded[0].right_codes)
    weight = np.zeros((rows, n_right))
    present = np.zeros((rows, n_right), bool)
    parts = []
    for f, (c, right) in enumerate(zip(coded, rights)):
        part = _field_part(c, start, stop, right, workers)
        parts.append(part)
        if part is None:
            continue
        block = part.block().astype(np.float64, copy=True)
        lc = c.left_codes[start:stop]
        block[(lc < 0)[:, None] | (c.right_codes < 0)[None, :]] = np.nan
        share = np.repeat(c.shares(np.arange(start, stop)), n_right)
        bits = learned.contribution(f, block.ravel(), share).reshape(rows, n_right)
        ok = ~np.isnan(bits)
        weight[ok] += bits[ok]
        present |= ok
    score = learned.rescale(weight.ravel(), present.ravel()).reshape(rows, n_right)
    return np.nan_to_num(score, nan=-np.inf), parts


def _pair_scores(
    coded: list[_Coded],
    li: np.ndarray,
    ri: np.ndarray,
    workers: int,
    learned: LearnedWeights | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Pair and per-field scores of explicit pairs; each distinct pair of values scored once.

    The pair's score is the weighted mean of its fields, or with ``learned``
    its rescaled Fellegi-Sunter match weight.
    """
    num = np.zeros(len(li))
    den = np.zeros(len(li))
    fields = []
    for c in coded:
        lc, rc = c.left_codes[li], c.right_codes[ri]
        both = (lc >= 0) & (rc >= 0)
        fs = np.full(len(li), np.nan)
        if both.any():
            key = lc[both] * len(c.right_uniques) + rc[both]
            # Hashing beats np.unique's sort here: this runs on every pair of a chunk.
            inverse, uniq = pd.factorize(key)
            ul, ur = uniq // len(c.right_uniques), uniq % len(c.right_uniques)
            vals = score_pairs(
                c.left_uniques[ul].tolist(),
                c.right_uniques[ur].tolist(),
                c.scorer,
                workers=workers,
                model=c.model,
            )
            fs[both] = vals[inverse]
            num[both] += c.weight * fs[both]
            den[both] += c.weight
        fields.append(fs)
    if learned is not None:
        return learned.score(fields, [c.shares(li) for c in coded]), fields
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(den > 0, num / den, np.nan)
    return score, fields


def _frame(
    spec: Spec,
    left_ids: np.ndarray,
    right_ids: np.ndarray,
    li: np.ndarray,
    ri: np.ndarray,
    score: np.ndarray,
    fields: list[np.ndarray],
    bits: list[np.ndarray] | None = None,
) -> pd.DataFrame:
    data = {
        "left_id": pd.Series(left_ids[li], dtype=left_ids.dtype),
        "right_id": pd.Series(right_ids[ri], dtype=right_ids.dtype),
        "score": score.astype(np.float64),
    }
    for f, fs in zip(spec.fields, fields):
        data[f"score_{f.name}"] = fs.astype(np.float64)
    for f, b in zip(spec.fields, bits or ()):
        data[f"weight_{f.name}"] = b.astype(np.float64)
    return pd.DataFrame(data)


def _explain(
    spec: Spec, coded: list[_Coded], li: np.ndarray, fields: list[np.ndarray], explain: bool
) -> list[np.ndarray] | None:
    """Each field's match weight in bits per pair, when asked for and weights are learned."""
    if not explain or spec.learned is None:
        return None
    return spec.learned.contributions(fields, [c.shares(li) for c in coded])


@dataclass
class _Records:
    """A table's rows grouped into records: rows with the same value in every field."""

    codes: np.ndarray
    first: np.ndarray

    @classmethod
    def of(cls, columns: list[np.ndarray]) -> _Records:
        """Records numbered in order of first appearance, so ``first`` is increasing."""
        key = np.zeros(len(columns[0]), np.int64)
        for codes in columns:
            key = pd.factorize(key * (int(codes.max()) + 2) + codes + 1)[0].astype(np.int64)
        return cls(key, np.unique(key, return_index=True)[1])

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows sorted by record then position, and each record's count and offset there."""
        order = np.argsort(self.codes, kind="stable")
        count = np.bincount(self.codes, minlength=len(self.first))
        return order, count, np.cumsum(count) - count


def _chunk_fields(
    coded: list[_Coded], parts: list[_Part | None], start: int, rows: np.ndarray, cols: np.ndarray
) -> list[np.ndarray]:
    """Each field's scores at chunk positions ``rows, cols``; NaN where a value is missing."""
    fields = []
    for part, c in zip(parts, coded):
        if part is None:
            fields.append(np.full(len(rows), np.nan))
            continue
        fs = part.at(rows, cols)
        fs[(c.left_codes[start + rows] < 0) | (c.right_codes[cols] < 0)] = np.nan
        fields.append(fs)
    return fields


def _full_comparison(
    coded: list[_Coded],
    *,
    keep: float,
    top_k: int | None,
    workers: int,
    chunk_elements: int,
    chunk_rows: int | None,
    progress: Progress | None,
    learned: LearnedWeights | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """Every left row against every right row: kept pairs in the documented order.

    A pair's scores depend only on the two rows' values, so rows with the same
    values in every field (one record) are compared once: records against
    records, chunk by chunk over the left records. Each kept record pair then
    stands for its right record's rows in row order (at most ``top_k`` of them:
    no more can make a left record's top k), those are ranked and cut per left
    record, and each left record's pairs are repeated for each of its rows.
    """
    n_rows = len(coded[0].left_codes)
    left_records = _Records.of([c.left_codes for c in coded])
    right_records = _Records.of([c.right_codes for c in coded])
    coded = [c.take(left_records.first, right_records.first) for c in coded]
    n_left, n_right = len(left_records.first), len(right_records.first)
    floor = min(_MIN_CHUNK_ROWS, _MAX_CHUNK_ELEMENTS // n_right)
    rows_per_chunk = chunk_rows or max(1, chunk_elements // n_right, floor)
    rights = [_Prepared.of(c) for c in coded]
    budget = _WHOLE_ELEMENTS
    for c, right in zip(coded, rights):
        budget -= right.score_whole(c, budget, workers)
    presence = _presence(coded)
    right_rows, right_count, right_offset = right_records.rows()
    if top_k is not None:
        right_count = np.minimum(right_count, top_k)
    rows_done = np.cumsum(np.bincount(left_records.codes, minlength=n_left))
    none = np.empty(0, np.int64)
    out: list[tuple] = [(none, none, np.empty(0), [np.empty(0)] * len(coded))]
    for start in range(0, n_left, rows_per_chunk):
        stop = min(start + rows_per_chunk, n_left)
        score, parts = _full_chunk(coded, rights, presence, start, stop, workers, learned)
        rows, cols = _select(score, keep, top_k)
        s = score[rows, cols]
        del score
        fields = _chunk_fields(coded, parts, start, rows, cols)
        count = right_count[cols]
        before = np.cumsum(count) - count
        # Expand in batches of whole left records, so memory stays bounded however
        # many right rows share a record.
        batch = before[np.searchsorted(rows, rows)] // _MAX_CHUNK_ELEMENTS
        cuts = np.unique(np.r_[0, np.flatnonzero(np.diff(batch)) + 1, len(rows)])
        for a, b in itertools.pairwise(cuts):
            entry = np.repeat(np.arange(a, b), count[a:b])
            within = np.arange(len(entry)) - (before[entry] - before[a])
            ri = right_rows[right_offset[cols[entry]] + within]
            order = _rank_and_cut(rows[entry], ri, s[entry], top_k)
            entry, ri = entry[order], ri[order]
            out.append((rows[entry] + start, ri, s[entry], [f[entry] for f in fields]))
        if progress:
            progress(int(rows_done[stop - 1]), n_rows)
    record = np.concatenate([o[0] for o in out])
    ri = np.concatenate([o[1] for o in out])
    score = np.concatenate([o[2] for o in out])
    fields = [np.concatenate([o[3][j] for o in out]) for j in range(len(coded))]
    if n_left == n_rows:
        return record, ri, score, fields
    per_record = np.bincount(record, minlength=n_left)
    offset = np.cumsum(per_record) - per_record
    per_row = per_record[left_records.codes]
    li = np.repeat(np.arange(n_rows), per_row)
    take = np.arange(len(li)) + np.repeat(
        offset[left_records.codes] - (np.cumsum(per_row) - per_row), per_row
    )
    return li, ri[take], score[take], [f[take] for f in fields]


@dataclass
class _BlockedJob:
    """A blocked comparison, cut into ranges of left rows scored independently.

    Picklable: the distributed runner sends it to each worker once and then
    only ``(start, stop)`` ranges.
    """

    spec: Spec
    coded: list[_Coded]
    blocking: Blocking
    left_ids: np.ndarray
    right_ids: np.ndarray
    keep: float
    top_k: int | None
    explain: bool = False

    def compare(
        self, li: np.ndarray, ri: np.ndarray, *, workers: int = -1
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Each field's similarity of pairs of left rows ``li`` and right rows ``ri``,
        and per field the right table's share of the left value (for term frequencies)."""
        fields = _pair_scores(self.coded, li, ri, workers)[1]
        return fields, [c.shares(li) for c in self.coded]

    def exact_pairs(self, field: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs of left ``rows`` and right rows whose values of a field are the same."""
        return self.coded[field].agreeing(np.asarray(rows, np.int64))

    def run(self, start: int, stop: int, *, workers: int = -1) -> pd.DataFrame:
        """Candidates of left rows ``start:stop``, in the documented order."""
        li, ri = self.blocking.pairs(start, stop)
        score, fields = _pair_scores(self.coded, li, ri, workers, self.spec.learned)
        ok = score >= self.keep
        li, ri, score, fields = li[ok], ri[ok], score[ok], [f[ok] for f in fields]
        order = _rank_and_cut(li, ri, score, self.top_k, presorted=True)
        li, ri, score, fields = li[order], ri[order], score[order], [f[order] for f in fields]
        bits = _explain(self.spec, self.coded, li, fields, self.explain)
        return _frame(self.spec, self.left_ids, self.right_ids, li, ri, score, fields, bits)


@dataclass
class _FullJob:
    """A full comparison, cut into slices of left rows scored independently."""

    left: pd.DataFrame
    right: pd.DataFrame
    spec: Spec
    keep: float
    top_k: int | None
    chunk_elements: int
    explain: bool = False
    coded: list[_Coded] | None = None

    @property
    def left_ids(self) -> np.ndarray:
        return record_ids(self.left, self.spec.left_id, "left")

    @property
    def right_ids(self) -> np.ndarray:
        return record_ids(self.right, self.spec.right_id, "right")

    def compare(
        self, li: np.ndarray, ri: np.ndarray, *, workers: int = -1
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """As :meth:`_BlockedJob.compare`: field similarities and value shares of pairs."""
        fields = _pair_scores(self._coded(), li, ri, workers)[1]
        return fields, [c.shares(li) for c in self._coded()]

    def exact_pairs(self, field: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`_BlockedJob.exact_pairs`."""
        return self._coded()[field].agreeing(np.asarray(rows, np.int64))

    def _coded(self) -> list[_Coded]:
        if self.coded is None:
            self.coded = _encode_fields(self.left, self.right, self.spec)
        return self.coded

    def run(
        self, start: int, stop: int, *, workers: int = -1, progress: Progress | None = None
    ) -> pd.DataFrame:
        """Candidates of left rows ``start:stop``, in the documented order."""
        part = generate_candidates(
            self.left.iloc[start:stop],
            self.right,
            self.spec,
            keep=self.keep,
            top_k=self.top_k,
            workers=workers,
            chunk_elements=self.chunk_elements,
            progress=progress,
            explain=self.explain,
        )
        if self.spec.left_id is None:
            part["left_id"] += start
        return part


def plan(
    left: pd.DataFrame,
    right: pd.DataFrame,
    spec: Spec,
    *,
    keep: float = 0.5,
    top_k: int | None = 10,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
    slices: int = 1,
    explain: bool = False,
) -> tuple[_BlockedJob | _FullJob, list[tuple[int, int]]]:
    """A job and the ranges of left rows it is cut into, for a runner to score.

    ``job.run(start, stop)`` gives the candidates of one range; concatenated
    in range order they equal :func:`generate_candidates`' result. A blocked
    comparison is cut every ``chunk_elements`` pairs; a full one into
    ``slices`` slices of left rows. ``explain``: with learned weights, add
    each field's match weight in bits as ``weight_<field>`` columns.
    """
    _check_options(keep, top_k)
    validate_columns(left, right, spec)
    if spec.block:
        left_ids = record_ids(left, spec.left_id, "left")
        right_ids = record_ids(right, spec.right_id, "right")
        cache: dict = {}
        coded = _encode_fields(left, right, spec, cache)
        blocking = Blocking(left, right, spec.block, cache=cache, one_table=spec.one_table)
        job = _BlockedJob(spec, coded, blocking, left_ids, right_ids, keep, top_k, explain)
        return job, blocking.chunks(chunk_elements)
    record_ids(left, spec.left_id, "left")
    record_ids(right, spec.right_id, "right")
    bounds = np.linspace(0, len(left), max(1, min(slices, len(left))) + 1).astype(int)
    ranges = [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
    return _FullJob(left, right, spec, keep, top_k, chunk_elements, explain), ranges


def _check_options(keep: float, top_k: int | None) -> None:
    if not 0.0 <= keep <= 1.0:
        raise ValueError(f"keep must be between 0 and 1, got {keep}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1 or None, got {top_k}")


def iter_candidates(
    left: pd.DataFrame,
    right: pd.DataFrame,
    spec: Spec,
    *,
    keep: float = 0.5,
    top_k: int | None = 10,
    workers: int = -1,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
    progress: Progress | None = None,
    explain: bool = False,
) -> Iterator[pd.DataFrame]:
    """:func:`generate_candidates`' result as frames, one per chunk, in order.

    With blocking, each frame holds the candidates of a range of left rows
    (about ``chunk_elements`` pairs scored), so a writer can stream a result
    that would not fit in memory. Without blocking there is one frame.
    Concatenated, the frames equal :func:`generate_candidates`' result.
    """
    job, ranges = plan(
        left, right, spec, keep=keep, top_k=top_k, chunk_elements=chunk_elements, explain=explain
    )
    yield from run_plan(job, ranges, workers=workers, progress=progress)


def run_plan(
    job: _BlockedJob | _FullJob,
    ranges: list[tuple[int, int]],
    *,
    workers: int = -1,
    progress: Progress | None = None,
) -> Iterator[pd.DataFrame]:
    """Run a :func:`plan` here, one frame per range (at least one frame), in order."""
    if not ranges:
        yield job.run(0, 0, workers=workers)
        return
    total = ranges[-1][1]
    for start, stop in ranges:
        if isinstance(job, _FullJob) and len(ranges) == 1:
            yield job.run(start, stop, workers=workers, progress=progress)
            continue
        yield job.run(start, stop, workers=workers)
        if progress:
            progress(stop, total)


def _range_pairs(job: _BlockedJob | _FullJob, ranges: list[tuple[int, int]]) -> list[int]:
    """Pairs each range of a plan scores; for a union of rules, an upper bound (a pair
    that several rules keep counts once per rule), as counting the union would cost a
    pass over the pairs without scoring them."""
    if isinstance(job, _FullJob):
        return [(stop - start) * len(job.right) for start, stop in ranges]
    ends = np.r_[0, np.cumsum(job.blocking.per_left())]
    return [int(ends[stop] - ends[start]) for start, stop in ranges]


def score_in_steps(
    left: pd.DataFrame,
    right: pd.DataFrame,
    spec: Spec,
    *,
    keep: float = 0.5,
    top_k: int | None = 10,
    workers: int = -1,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
    progress: StepProgress,
) -> pd.DataFrame:
    """:func:`generate_candidates`' result, telling ``progress`` how far the run has got.

    ``progress(step, done, total)`` is called with ``("blocking", 0, 0)`` while
    the blocking rules' pairs are found (not without rules), then ``("blocking",
    pairs, pairs)`` (without rules: every pair of the two tables), then
    ``("scoring", 0, pairs)`` and ``("scoring", scored, pairs)`` after each chunk,
    ending at ``scored == pairs``. With several rules, whose pairs may overlap, the
    steps are ``"blocking at most"`` and ``"scoring at most"``: their counts are
    upper bounds, a pair kept by several rules counting once per rule (it is
    scored once). Errors are raised as :func:`generate_candidates` raises them.

    Examples
    --------
    >>> from matching.engine.spec import Field, Spec
    >>> l = pd.DataFrame({"name": ["Smith", "Jones"]})
    >>> r = pd.DataFrame({"name": ["smith", "Jonas", "Brown"]})
    >>> steps = []
    >>> spec = Spec(fields=(Field("name"),))
    >>> found = score_in_steps(l, r, spec, progress=lambda *step: steps.append(step))
    >>> steps
    [('blocking', 6, 6), ('scoring', 0, 6), ('scoring', 6, 6)]
    """
    _check_options(keep, top_k)
    validate_columns(left, right, spec)
    if spec.block:
        progress("blocking", 0, 0)
    job, ranges = plan(left, right, spec, keep=keep, top_k=top_k, chunk_elements=chunk_elements)
    sizes = _range_pairs(job, ranges)
    total = sum(sizes)
    bound = " at most" if len(spec.block) > 1 else ""
    progress(f"blocking{bound}", total, total)
    progress(f"scoring{bound}", 0, total)
    if isinstance(job, _FullJob):
        width = len(job.right)

        def scored(rows: int, _rows_total: int) -> None:
            progress("scoring", rows * width, total)

    else:
        through = dict(zip((stop for _, stop in ranges), itertools.accumulate(sizes)))

        def scored(rows: int, _rows_total: int) -> None:
            progress(f"scoring{bound}", int(through[rows]), total)

    frames = list(run_plan(job, ranges, workers=workers, progress=scored))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def generate_candidates(
    left: pd.DataFrame,
    right: pd.DataFrame,
    spec: Spec,
    *,
    keep: float = 0.5,
    top_k: int | None = 10,
    workers: int = -1,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
    chunk_rows: int | None = None,
    progress: Progress | None = None,
    explain: bool = False,
) -> pd.DataFrame:
    """Score the pairs of two tables and keep the plausible ones.

    Parameters
    ----------
    left, right : DataFrame
        The two tables; they are not modified.
    spec : Spec
        Fields, ids and blocking rules (the union of the rules' pairs is
        scored, each pair once).
    keep : float
        Keep pairs whose score is at least this, in [0, 1].
    top_k : int or None
        Keep at most this many pairs per left record; None keeps all.
    workers : int
        Threads for rapidfuzz; -1 uses every core.
    chunk_elements, chunk_rows : int
        Size of a chunk, in pairs or in left records (``chunk_rows`` wins when
        given, without blocking); rows with the same values in every field
        are one record, compared once. A chunk of the full comparison by
        ``chunk_elements`` takes at least 16 records while that stays under 8M
        pairs. Results do not depend on it.
    progress : callable(done, total) or None
        Called after each chunk with the left rows done and their total.
    explain : bool
        With learned weights, add ``weight_<field>``: each field's match
        weight in bits (NaN where the value is missing).

    Returns
    -------
    DataFrame
        Columns ``left_id, right_id, score`` then ``score_<field>`` for each
        field in spec order. Scores are in [0, 1]; a field score is NaN where
        the value is missing on either side, and the pair's score is the
        weighted mean of the present fields. A pair with no field present on
        both sides is never kept. Rows are sorted by left record (its row
        order), then score descending, ties broken by right row order. The
        index is a fresh RangeIndex. Ids are the ID columns' text, or row
        positions when the spec names no ID column.

    Examples
    --------
    >>> from matching.engine.spec import Field, Spec
    >>> l = pd.DataFrame({"name": ["Smith", "Jones"]})
    >>> r = pd.DataFrame({"name": ["smith", "Jonas", "Brown"]})
    >>> generate_candidates(l, r, Spec(fields=(Field("name"),)), keep=0.5)
       left_id  right_id  score  score_name
    0        0         0    1.0         1.0
    1        1         1    0.8         0.8
    """
    _check_options(keep, top_k)
    if spec.block:
        frames = list(
            iter_candidates(
                left,
                right,
                spec,
                keep=keep,
                top_k=top_k,
                workers=workers,
                chunk_elements=chunk_elements,
                progress=progress,
                explain=explain,
            )
        )
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    validate_columns(left, right, spec)
    left_ids = record_ids(left, spec.left_id, "left")
    right_ids = record_ids(right, spec.right_id, "right")
    coded = _encode_fields(left, right, spec)
    if len(left) == 0 or len(right) == 0:
        none = np.empty(0, np.int64)
        empty = [np.empty(0)] * len(coded)
        bits = empty if explain and spec.learned is not None else None
        return _frame(spec, left_ids, right_ids, none, none, np.empty(0), empty, bits)
    li, ri, score, fields = _full_comparison(
        coded,
        # One table against itself: its pairs are cut to each pair once after scoring,
        # so the top k are taken after that.
        keep=keep,
        top_k=None if spec.one_table else top_k,
        workers=workers,
        chunk_elements=chunk_elements,
        chunk_rows=chunk_rows,
        progress=progress,
        learned=spec.learned,
    )
    if spec.one_table:
        kept = one_table_keeps(one_table_order(left, right), li, ri)
        if top_k is not None:
            kept[kept] = first_per_group(li[kept], top_k)
        li, ri, score, fields = li[kept], ri[kept], score[kept], [f[kept] for f in fields]
    bits = _explain(spec, coded, li, fields, explain)
    return _frame(spec, left_ids, right_ids, li, ri, score, fields, bits)
