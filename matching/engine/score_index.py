"""Best scores per record over a candidate table, and the :class:`ScoreIndex` that
answers every threshold slider question (pairs kept, records with a candidate, pairs
pre-selected, records auto-accepted or auto-rejected, the score histogram) by binary
search over presorted arrays, so a slider move never passes over the pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "ScoreIndex",
    "BestPerRecord",
    "best_per_record",
    "bin_edges",
    "bin_counts",
    "require_columns",
]


def bin_edges(bins: int) -> np.ndarray:
    """The ``bins + 1`` edges of the fixed histogram grid over [0, 1].

    Every bin is half-open ``[lo, hi)`` except the last, which holds 1.0, as in
    :func:`numpy.histogram`.

    >>> bin_edges(4)
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    return np.linspace(0.0, 1.0, bins + 1)


def bin_counts(scores: np.ndarray, bins: int) -> np.ndarray:
    """Pair counts per bin of :func:`bin_edges` ``(bins)``."""
    return np.histogram(scores, bins=bins, range=(0.0, 1.0))[0].astype(np.int64)


def require_columns(candidates: pd.DataFrame, columns: tuple[str, ...]) -> None:
    """``ValueError`` naming the columns the candidates lack, if any."""
    missing = [c for c in columns if c not in candidates.columns]
    if missing:
        raise ValueError(
            f"the candidates have no column {', '.join(map(repr, missing))}"
            f" (they have {', '.join(map(str, candidates.columns))})"
        )


@dataclass(frozen=True)
class BestPerRecord:
    """Per left record, in order of first appearance: best row, best and runner-up score."""

    left_ids: pd.Index
    best_row: np.ndarray
    best: np.ndarray
    runner_up: np.ndarray
    codes: np.ndarray  # per candidate row: position of its left record in left_ids


def best_per_record(candidates: pd.DataFrame) -> BestPerRecord:
    """Best and runner-up candidate of every left record; NaN scores are left out.

    Ties for best go to the earlier row. The runner-up is 0 when a record has a
    single candidate.
    """
    scores = candidates["score"].to_numpy(np.float64)
    present = ~np.isnan(scores)
    codes, uniques = pd.factorize(candidates["left_id"].to_numpy()[present])
    rows = np.flatnonzero(present)
    s = scores[present]
    if (
        len(s)
        and np.all(codes[1:] >= codes[:-1])
        and np.all((s[1:] <= s[:-1]) | (codes[1:] != codes[:-1]))
    ):
        order = np.arange(len(s))  # already in generate_candidates' order
    else:
        order = np.lexsort((np.arange(len(s)), -s, codes))
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]][: len(s)])
    sizes = np.diff(np.r_[starts, len(s)])
    best = s[order[starts]]
    runner_up = np.zeros(len(starts))
    two = sizes > 1
    runner_up[two] = s[order[starts[two] + 1]]
    full_codes = np.full(len(scores), -1, np.int64)
    full_codes[present] = codes
    return BestPerRecord(
        left_ids=pd.Index(uniques),
        best_row=rows[order[starts]],
        best=best,
        runner_up=runner_up,
        codes=full_codes,
    )


@dataclass(frozen=True, eq=False)
class ScoreIndex:
    """Presorted candidate scores that answer slider questions by binary search.

    Build it once with :meth:`from_candidates` and keep it on the server (it
    pickles). Every query costs ``O(log n)``, except :meth:`auto_accept_count`,
    which costs ``O(sqrt(r) log r)`` for ``r`` records; all are exact.

    Counts cover every candidate pair and every left record that has one,
    decided or not: they describe the thresholds, not the work left. The bulk
    events (:func:`auto_accept_events`) skip decided records, so a
    confirmation dialog names ``len(events)``.

    Examples
    --------
    >>> c = pd.DataFrame({"left_id": [1, 1, 2], "right_id": [7, 8, 7],
    ...                   "score": [0.9, 0.5, 0.6]})
    >>> ix = ScoreIndex.from_candidates(c, bins=10)
    >>> ix.counts(keep=0.5, select=0.8, auto_accept=0.8, margin=0.3, auto_reject=0.7)
    {'pairs': 3, 'records': 2, 'pairs_kept': 3, 'records_with_candidate': 2,
     'pairs_selected': 1, 'auto_accept': 1, 'auto_reject': 1}
    """

    scores: np.ndarray  # every pair's score, ascending
    best: np.ndarray  # every record's best score, ascending
    gap_values: np.ndarray  # distinct best - runner-up gaps, ascending
    gap_codes: np.ndarray  # per record in ``best`` order: rank of its gap in gap_values
    block: int  # records per block of the margin query
    block_keys: np.ndarray  # block * (len(gap_values) + 1) + gap code, ascending
    counts_by_bin: np.ndarray
    edges: np.ndarray

    @classmethod
    def from_candidates(cls, candidates: pd.DataFrame, *, bins: int = 100) -> ScoreIndex:
        """Index the ``left_id`` and ``score`` columns of a candidate table.

        Parameters
        ----------
        candidates : DataFrame
            As :func:`matching.engine.candidates.generate_candidates` returns it, in
            any row order; not modified. Pairs whose score is NaN are left out.
        bins : int
            Bins of the histogram grid over [0, 1] (see :func:`bin_edges`).
        """
        require_columns(candidates, ("left_id", "score"))
        edges = bin_edges(bins)
        best = best_per_record(candidates)
        scores = candidates["score"].to_numpy(np.float64)
        scores = np.sort(scores[~np.isnan(scores)])
        by_best = np.argsort(best.best, kind="stable")
        gap = (best.best - best.runner_up)[by_best]
        gap_values = np.unique(gap)
        gap_codes = np.searchsorted(gap_values, gap).astype(np.int64)
        # The margin query is a 2-D dominance count (best >= t and gap >= m).
        # Records sorted by best are cut into blocks of about sqrt(r); within a
        # block the gap ranks are sorted, so a query is one binary search per
        # block plus a scan of one partial block. Integer ranks keep it exact.
        block = max(64, int(np.sqrt(len(gap))))
        block_keys = np.sort(np.arange(len(gap)) // block * (len(gap_values) + 1) + gap_codes)
        return cls(
            scores=scores,
            best=best.best[by_best],
            gap_values=gap_values,
            gap_codes=gap_codes,
            block=block,
            block_keys=block_keys,
            counts_by_bin=bin_counts(scores, bins),
            edges=edges,
        )

    @property
    def n_pairs(self) -> int:
        """Candidate pairs indexed."""
        return len(self.scores)

    @property
    def n_records(self) -> int:
        """Left records with at least one candidate pair."""
        return len(self.best)

    def pairs_kept(self, keep: float) -> int:
        """Pairs whose score is at least ``keep``."""
        return self.n_pairs - int(np.searchsorted(self.scores, keep, side="left"))

    def records_with_candidate(self, keep: float) -> int:
        """Left records with at least one pair scoring at least ``keep``."""
        return self.n_records - int(np.searchsorted(self.best, keep, side="left"))

    def pairs_selected(self, select: float, keep: float = 0.0) -> int:
        """Pairs pre-selected: score at least ``max(select, keep)``."""
        return self.pairs_kept(max(select, keep))

    def auto_reject_count(self, threshold: float) -> int:
        """Left records whose best pair scores below ``threshold``."""
        return int(np.searchsorted(self.best, threshold, side="left"))

    def auto_accept_count(self, threshold: float, margin: float = 0.0) -> int:
        """Left records whose best score is at least ``threshold`` and beats the runner-up
        (0 for a single candidate) by at least ``margin``. Exact.
        """
        start = int(np.searchsorted(self.best, threshold, side="left"))
        need = int(np.searchsorted(self.gap_values, margin, side="left"))
        first_full = -(-start // self.block)
        partial_end = min(first_full * self.block, self.n_records)
        count = int(np.count_nonzero(self.gap_codes[start:partial_end] >= need))
        blocks = np.arange(first_full, -(-self.n_records // self.block))
        if len(blocks):
            ends = np.minimum((blocks + 1) * self.block, self.n_records)
            firsts = np.searchsorted(self.block_keys, blocks * (len(self.gap_values) + 1) + need)
            count += int((ends - firsts).sum())
        return count

    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """Bin edges (``bins + 1``, see :func:`bin_edges`) and pair counts per bin (``bins``).

        Both are fresh arrays the caller may change.
        """
        return self.edges.copy(), self.counts_by_bin.copy()

    def counts(
        self,
        *,
        keep: float,
        select: float,
        auto_accept: float,
        margin: float,
        auto_reject: float,
    ) -> dict[str, int]:
        """Every live count for one slider position, as plain ints.

        Keys: ``pairs`` and ``records`` (totals), ``pairs_kept``,
        ``records_with_candidate``, ``pairs_selected``, ``auto_accept`` and
        ``auto_reject`` (records).
        """
        return {
            "pairs": self.n_pairs,
            "records": self.n_records,
            "pairs_kept": self.pairs_kept(keep),
            "records_with_candidate": self.records_with_candidate(keep),
            "pairs_selected": self.pairs_selected(select, keep),
            "auto_accept": self.auto_accept_count(auto_accept, margin),
            "auto_reject": self.auto_reject_count(auto_reject),
        }
