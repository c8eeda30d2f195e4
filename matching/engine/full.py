"""The full comparison: every left record against every right record, chunk by chunk.

Runs rapidfuzz's ``cdist`` on the distinct values of each field, chunk by chunk
over the left table, so memory stays bounded whatever ``len(left) * len(right)``
is. Rows with the same values in every compared field are compared once, and a
field with few distinct left values is scored once for the whole table.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matching.engine.coded import Coded, values_of
from matching.engine.scoring import score_matrix
from matching.engine.weights import LearnedWeights

__all__ = ["full_comparison", "rank_and_cut", "Records"]

Progress = Callable[[int, int], None]


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


def _select(score: np.ndarray, keep: float, top_k: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Positions of a chunk's entries that pass ``keep`` and may be in their row's top k.

    A superset: each row's cut-off is the k-th best score among every few of its
    columns, which is never above the row's own k-th best and costs a fraction of
    partitioning the whole row. :func:`rank_and_cut` settles the rest.
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


def rank_and_cut(
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


def _field_part(c: Coded, start: int, stop: int, right: _Prepared, workers: int) -> _Part | None:
    """Score one field for left rows ``start:stop``; None when no pair has it on both sides."""
    lc = c.left_codes[start:stop]
    missing = lc < 0
    if missing.all() or len(c.right_uniques) == 0:
        return None
    if right.whole is not None:
        return _Part(right.whole, np.where(missing, len(c.left_uniques), lc), right.whole_cols)
    if c.left_direct:
        queries = values_of(lc, c.left_uniques)
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
    def of(cls, c: Coded) -> _Prepared:
        rc = c.right_codes
        missing = rc < 0
        if c.right_direct:
            return cls(values_of(rc, c.right_uniques), None, missing)
        col_map = np.where(missing, len(c.right_uniques), rc)
        return cls(c.right_uniques.tolist(), col_map, missing)

    def score_whole(self, c: Coded, budget: int, workers: int) -> int:
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


def _presence(coded: list[Coded]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    coded: list[Coded],
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
    coded: list[Coded],
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


@dataclass
class Records:
    """A table's rows grouped into records: rows with the same value in every field."""

    codes: np.ndarray
    first: np.ndarray

    @classmethod
    def of(cls, columns: list[np.ndarray]) -> Records:
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
    coded: list[Coded], parts: list[_Part | None], start: int, rows: np.ndarray, cols: np.ndarray
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


def full_comparison(
    coded: list[Coded],
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
    left_records = Records.of([c.left_codes for c in coded])
    right_records = Records.of([c.right_codes for c in coded])
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
            order = rank_and_cut(rows[entry], ri, s[entry], top_k)
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
