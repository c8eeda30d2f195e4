"""Candidate generation: score the plausible pairs of two tables.

The full comparison runs rapidfuzz's ``cdist`` on the distinct values of each
field, chunk by chunk over the left table, so memory stays bounded whatever
``len(left) * len(right)`` is. Blocking replaces the full cross product by the
pairs that share a key, scored with ``cpdist``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matching.scoring import normalize_column, score_matrix, score_pairs
from matching.spec import Block, Normalization, Spec

__all__ = [
    "generate_candidates",
    "count_pairs",
    "validate_columns",
    "record_ids",
    "DEFAULT_CHUNK_ELEMENTS",
]

#: Pairs scored at once in the full comparison; bounds memory (about 40 bytes a pair).
DEFAULT_CHUNK_ELEMENTS = 4_000_000

Progress = Callable[[int, int], None]


@dataclass
class _Coded:
    """One field's values as codes into its distinct cleaned values (-1: missing)."""

    left_codes: np.ndarray
    right_codes: np.ndarray
    left_uniques: np.ndarray
    right_uniques: np.ndarray
    scorer: str
    weight: float


def validate_columns(left: pd.DataFrame, right: pd.DataFrame, spec: Spec) -> None:
    """Raise ``ValueError`` naming each column the spec needs but a table lacks."""
    need_left = [f.left for f in spec.fields]
    need_right = [f.right for f in spec.fields]
    if spec.left_id:
        need_left.append(spec.left_id)
    if spec.right_id:
        need_right.append(spec.right_id)
    if spec.block:
        need_left.append(spec.block.left)
        need_right.append(spec.block.right)
    problems = []
    for side, frame, cols in (("left", left, need_left), ("right", right, need_right)):
        missing = [c for c in dict.fromkeys(cols) if c not in frame.columns]
        if missing:
            problems.append(
                f"the {side} table has no column {', '.join(map(repr, missing))}"
                f" (it has {', '.join(map(str, frame.columns))})"
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


def _code(values: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _encode_fields(left: pd.DataFrame, right: pd.DataFrame, spec: Spec) -> list[_Coded]:
    coded = []
    for f in spec.fields:
        lc, lu = _code(normalize_column(left[f.left], f.normalization))
        rc, ru = _code(normalize_column(right[f.right], f.normalization))
        coded.append(_Coded(lc, rc, lu, ru, f.scorer, float(f.weight)))
    return coded


def _block_keys(left: pd.DataFrame, right: pd.DataFrame, block: Block) -> tuple[list, list]:
    norm = Normalization()
    lk = normalize_column(left[block.left], norm)
    rk = normalize_column(right[block.right], norm)
    if block.kind == "prefix":
        lk = [None if k is None else k[: block.size] for k in lk]
        rk = [None if k is None else k[: block.size] for k in rk]
    return lk, rk


def _block_pairs(
    left: pd.DataFrame, right: pd.DataFrame, block: Block
) -> tuple[np.ndarray, np.ndarray]:
    """Left and right row positions of the pairs a block keeps, sorted by left then right."""
    lk, rk = _block_keys(left, right, block)
    if block.kind in ("exact", "prefix"):
        lf = pd.DataFrame({"key": pd.Series(lk, dtype=object), "li": np.arange(len(lk))})
        rf = pd.DataFrame({"key": pd.Series(rk, dtype=object), "ri": np.arange(len(rk))})
        merged = lf.dropna().merge(rf.dropna(), on="key", how="inner")
        li = merged["li"].to_numpy(np.int64)
        ri = merged["ri"].to_numpy(np.int64)
    else:
        keys = pd.Series(lk + rk, dtype=object)
        side = np.r_[np.zeros(len(lk), np.int8), np.ones(len(rk), np.int8)]
        pos = np.r_[np.arange(len(lk)), np.arange(len(rk))]
        present = keys.notna().to_numpy()
        keys, side, pos = keys[present].to_numpy(), side[present], pos[present]
        order = np.argsort(keys.astype(str), kind="stable")
        side, pos = side[order], pos[order]
        lis, ris = [], []
        for d in range(1, block.size + 1):
            a, b = slice(None, -d), slice(d, None)
            cross = side[a] != side[b]
            la = np.where(side[a] == 0, pos[a], pos[b])[cross]
            rb = np.where(side[a] == 0, pos[b], pos[a])[cross]
            lis.append(la)
            ris.append(rb)
        li = np.concatenate(lis) if lis else np.empty(0, np.int64)
        ri = np.concatenate(ris) if ris else np.empty(0, np.int64)
        if len(li):
            uniq = np.unique(li.astype(np.int64) * max(len(rk), 1) + ri)
            li, ri = uniq // max(len(rk), 1), uniq % max(len(rk), 1)
    order = np.lexsort((ri, li))
    return li[order], ri[order]


def count_pairs(left: pd.DataFrame, right: pd.DataFrame, block: Block | None = None) -> int:
    """How many pairs will be scored: ``len(left) * len(right)`` without blocking.

    With exact or prefix blocking this counts from the key frequencies without
    building the pairs; records with a missing key form no pair.
    """
    if block is None:
        return len(left) * len(right)
    if block.kind == "sorted":
        return len(_block_pairs(left, right, block)[0])
    lk, rk = _block_keys(left, right, block)
    lc = pd.Series(lk, dtype=object).dropna().value_counts()
    rc = pd.Series(rk, dtype=object).dropna().value_counts()
    both = lc.index.intersection(rc.index)
    return int((lc[both].to_numpy() * rc[both].to_numpy()).sum())


def _top_k_mask(score: np.ndarray, keep: float, top_k: int | None) -> np.ndarray:
    """Boolean mask of a chunk's entries that pass ``keep`` and may be in the row's top k."""
    filled = np.where(np.isnan(score), -np.inf, score)
    if top_k is None or top_k >= score.shape[1]:
        return filled >= keep
    kth = -np.partition(-filled, top_k - 1, axis=1)[:, top_k - 1]
    return filled >= np.maximum(kth, keep)[:, None]


def _rank_and_cut(
    li: np.ndarray, ri: np.ndarray, score: np.ndarray, top_k: int | None
) -> np.ndarray:
    """Order pairs by left, score descending, right; return the order cut to top_k per left."""
    order = np.lexsort((ri, -score, li))
    if top_k is None or len(order) == 0:
        return order
    sorted_li = li[order]
    starts = np.r_[0, np.flatnonzero(sorted_li[1:] != sorted_li[:-1]) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(sorted_li)]))
    rank = np.arange(len(sorted_li)) - group_start
    return order[rank < top_k]


def _full_chunk(
    coded: list[_Coded], start: int, stop: int, workers: int
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Weighted-mean scores of left rows ``start:stop`` against every right row.

    Returns the score matrix (NaN where no field is present on both sides) and,
    per field, what is needed to read its score for any pair later:
    (extended distinct-value matrix, row index into it, column index into it).
    """
    n_right = len(coded[0].right_codes)
    rows = stop - start
    num = np.zeros((rows, n_right))
    present_l = np.zeros((rows, len(coded)))
    present_r = np.zeros((n_right, len(coded)))
    parts = []
    for j, c in enumerate(coded):
        lc = c.left_codes[start:stop]
        ul = np.unique(lc[lc >= 0])
        sub = np.zeros((len(ul) + 1, len(c.right_uniques) + 1))
        if len(ul) and len(c.right_uniques):
            sub[:-1, :-1] = score_matrix(
                c.left_uniques[ul].tolist(),
                c.right_uniques.tolist(),
                c.scorer,
                workers=workers,
            )
        row_idx = np.where(lc >= 0, np.searchsorted(ul, lc), len(ul))
        col_idx = np.where(c.right_codes >= 0, c.right_codes, len(c.right_uniques))
        parts.append((sub, row_idx, col_idx))
        if (
            len(ul) == rows
            and len(c.right_uniques) == n_right
            and np.array_equal(row_idx, np.arange(rows))
            and np.array_equal(col_idx, np.arange(n_right))
        ):
            block = sub[:-1, :-1]
        else:
            block = sub[row_idx][:, col_idx]
        if c.weight == 1.0:
            num += block
        else:
            num += c.weight * block
        present_l[:, j] = (lc >= 0) * c.weight
        present_r[:, j] = c.right_codes >= 0
    if present_l.all() and present_r.all():
        return num / present_l[0].sum(), parts
    den = present_l @ present_r.T
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(den > 0, num / den, np.nan)
    return score, parts


def _pair_scores(
    coded: list[_Coded], li: np.ndarray, ri: np.ndarray, workers: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Weighted-mean and per-field scores of explicit pairs; each distinct pair scored once."""
    num = np.zeros(len(li))
    den = np.zeros(len(li))
    fields = []
    for c in coded:
        lc, rc = c.left_codes[li], c.right_codes[ri]
        both = (lc >= 0) & (rc >= 0)
        fs = np.full(len(li), np.nan)
        if both.any():
            key = lc[both] * len(c.right_uniques) + rc[both]
            uniq, inverse = np.unique(key, return_inverse=True)
            ul, ur = uniq // len(c.right_uniques), uniq % len(c.right_uniques)
            vals = score_pairs(
                c.left_uniques[ul].tolist(),
                c.right_uniques[ur].tolist(),
                c.scorer,
                workers=workers,
            )
            fs[both] = vals[inverse]
            num[both] += c.weight * fs[both]
            den[both] += c.weight
        fields.append(fs)
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
) -> pd.DataFrame:
    data = {
        "left_id": pd.Series(left_ids[li], dtype=left_ids.dtype),
        "right_id": pd.Series(right_ids[ri], dtype=right_ids.dtype),
        "score": score.astype(np.float64),
    }
    for f, fs in zip(spec.fields, fields):
        data[f"score_{f.name}"] = fs.astype(np.float64)
    return pd.DataFrame(data)


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
) -> pd.DataFrame:
    """Score the pairs of two tables and keep the plausible ones.

    Parameters
    ----------
    left, right : DataFrame
        The two tables; they are not modified.
    spec : Spec
        Fields, ids and optional blocking.
    keep : float
        Keep pairs whose score is at least this, in [0, 1].
    top_k : int or None
        Keep at most this many pairs per left record; None keeps all.
    workers : int
        Threads for rapidfuzz; -1 uses every core.
    chunk_elements, chunk_rows : int
        Size of a chunk of the full comparison, in pairs or in left rows
        (``chunk_rows`` wins when given). Results do not depend on it.
    progress : callable(done, total) or None
        Called after each chunk with left rows (or pairs, when blocking) done.

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
    >>> from matching.spec import Field, Spec
    >>> l = pd.DataFrame({"name": ["Smith", "Jones"]})
    >>> r = pd.DataFrame({"name": ["smith", "Jonas", "Brown"]})
    >>> generate_candidates(l, r, Spec(fields=(Field("name"),)), keep=0.5)
       left_id  right_id  score  score_name
    0        0         0    1.0         1.0
    1        1         1    0.8         0.8
    """
    if not 0.0 <= keep <= 1.0:
        raise ValueError(f"keep must be between 0 and 1, got {keep}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1 or None, got {top_k}")
    validate_columns(left, right, spec)
    left_ids = record_ids(left, spec.left_id, "left")
    right_ids = record_ids(right, spec.right_id, "right")
    coded = _encode_fields(left, right, spec)
    empty = [np.empty(0, np.int64)] * 2 + [np.empty(0)] + [np.empty(0)] * len(spec.fields)
    if len(left) == 0 or len(right) == 0:
        return _frame(spec, left_ids, right_ids, *empty[:3], empty[3:])

    if spec.block is not None:
        li_all, ri_all = _block_pairs(left, right, spec.block)
        step = max(1, chunk_elements)
        kept: list[tuple] = []
        for s in range(0, len(li_all), step):
            li, ri = li_all[s : s + step], ri_all[s : s + step]
            score, fields = _pair_scores(coded, li, ri, workers)
            ok = score >= keep
            kept.append((li[ok], ri[ok], score[ok], [f[ok] for f in fields]))
            if progress:
                progress(min(s + step, len(li_all)), len(li_all))
        if not kept:
            return _frame(spec, left_ids, right_ids, *empty[:3], empty[3:])
        li = np.concatenate([k[0] for k in kept])
        ri = np.concatenate([k[1] for k in kept])
        score = np.concatenate([k[2] for k in kept])
        fields = [np.concatenate([k[3][j] for k in kept]) for j in range(len(spec.fields))]
        order = _rank_and_cut(li, ri, score, top_k)
        return _frame(
            spec,
            left_ids,
            right_ids,
            li[order],
            ri[order],
            score[order],
            [f[order] for f in fields],
        )

    n_left, n_right = len(left), len(right)
    rows_per_chunk = chunk_rows or max(1, chunk_elements // n_right)
    out = []
    for start in range(0, n_left, rows_per_chunk):
        stop = min(start + rows_per_chunk, n_left)
        score, parts = _full_chunk(coded, start, stop, workers)
        rows, cols = np.nonzero(_top_k_mask(score, keep, top_k))
        s = score[rows, cols]
        order = _rank_and_cut(rows, cols, s, top_k)
        rows, cols, s = rows[order], cols[order], s[order]
        fields = []
        for (sub, row_idx, col_idx), c in zip(parts, coded):
            fs = sub[row_idx[rows], col_idx[cols]]
            missing = (c.left_codes[start + rows] < 0) | (c.right_codes[cols] < 0)
            fs[missing] = np.nan
            fields.append(fs)
        out.append(_frame(spec, left_ids, right_ids, rows + start, cols, s, fields))
        if progress:
            progress(stop, n_left)
    return pd.concat(out, ignore_index=True)
