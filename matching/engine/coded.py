"""Fields as codes into their distinct cleaned values, and the scores of explicit pairs.

:func:`encode_fields` cleans each compared column once and codes its values;
:func:`pair_scores` scores pairs of rows through their distinct pairs of values
(the weighted mean of the fields, or learned match weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from matching.engine.blocking import ragged_arange
from matching.engine.scoring import normalize_codes, score_pairs
from matching.engine.spec import Normalization, Spec
from matching.engine.tfidf import TfidfModel, fitted_model
from matching.engine.weights import LearnedWeights

__all__ = ["Coded", "encode_fields", "pair_scores", "values_of", "value_share"]


#: A field is scored row by row rather than through its distinct values when at
#: least this share of its values are distinct: broadcasting would cost more than
#: the few repeated comparisons it saves.
_DIRECT_SHARE = 0.8


@dataclass
class Coded:
    """One field's values as codes into its distinct cleaned values (-1: missing)."""

    left_codes: np.ndarray
    right_codes: np.ndarray
    left_uniques: np.ndarray
    right_uniques: np.ndarray
    scorer: str
    weight: float
    share: np.ndarray | None = None
    model: TfidfModel | None = None

    def take(self, left_rows: np.ndarray, right_rows: np.ndarray) -> Coded:
        """The same field restricted to some rows of each side (uniques unchanged)."""
        return Coded(
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


def encode_fields(
    left: pd.DataFrame, right: pd.DataFrame, spec: Spec, cache: dict | None = None
) -> list[Coded]:
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
                models[key] = fitted_model([*lu.tolist(), *ru.tolist()])
            model = models[key]
        coded.append(
            Coded(lc, rc, lu, ru, f.scorer, float(f.weight), value_share(lu, rc, ru), model)
        )
    return coded


def value_share(
    left_uniques: np.ndarray, right_codes: np.ndarray, right_uniques: np.ndarray
) -> np.ndarray:
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


def values_of(codes: np.ndarray, uniques: np.ndarray) -> list[str]:
    """Each row's cleaned value, ``""`` where missing (those scores are zeroed after)."""
    return np.append(uniques, "")[codes].tolist()


def pair_scores(
    coded: list[Coded],
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
