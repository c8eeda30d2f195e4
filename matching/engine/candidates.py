"""Candidate generation: score the plausible pairs of two tables.

The full comparison (:mod:`matching.engine.full`) runs rapidfuzz's ``cdist`` on
the distinct values of each field, chunk by chunk over the left table, so memory
stays bounded whatever ``len(left) * len(right)`` is. Blocking replaces the full
cross product by the pairs that share a key, scored with ``cpdist``
(:func:`matching.engine.coded.pair_scores`). A :func:`plan` cuts either into
ranges of left rows that a runner (here or on Dask) scores.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matching.engine.blocking import Blocking, one_table_keeps, one_table_order
from matching.engine.coded import Coded, encode_fields, pair_scores
from matching.engine.derive import spec_columns, with_spec_columns
from matching.engine.full import full_comparison, rank_and_cut
from matching.engine.spec import Block, Field, Spec

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

Progress = Callable[[int, int], None]

#: ``progress(step, done, total)``: the step a run is at and how far it has got.
#: :func:`score_in_steps` reports ``"blocking"`` (``total`` 0 while the pairs are
#: found, then the pairs to score) and ``"scoring"`` (pairs scored of the pairs to
#: score), or ``"blocking at most"`` and ``"scoring at most"`` for a union of rules.
StepProgress = Callable[[str, int, int], None]


def validate_columns(left: pd.DataFrame, right: pd.DataFrame, spec: Spec) -> None:
    """Raise ``ValueError`` naming each column the spec needs but a table lacks."""
    need_left, need_right = spec_columns(spec, keys=False)
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
    spec: Spec, coded: list[Coded], li: np.ndarray, fields: list[np.ndarray], explain: bool
) -> list[np.ndarray] | None:
    """Each field's match weight in bits per pair, when asked for and weights are learned."""
    if not explain or spec.learned is None:
        return None
    return spec.learned.contributions(fields, [c.shares(li) for c in coded])


#: Most pairs of one batch of :meth:`_FullJob.pairs_of`.
_PAIRS_BATCH = 2_000_000


def _stood(spec: Spec, li, ri, score, fields, keep: float):
    """Kept pairs (each left record's best among them) with the scores their standing
    gives (:meth:`~matching.engine.weights.LearnedWeights.with_standing`), the pairs it
    takes below ``keep`` left out; as they were without a learned standing. Standing
    keeps the order within a record, so the top k it is taken after are the same."""
    learned = spec.learned
    if learned is None or not (learned.standing or learned.exclusive) or not len(score):
        return li, ri, score, fields
    score = learned.with_standing(score, li)
    ok = score >= keep
    return li[ok], ri[ok], score[ok], [f[ok] for f in fields]


@dataclass
class _BlockedJob:
    """A blocked comparison, cut into ranges of left rows scored independently.

    Picklable: the distributed runner sends it to each worker once and then
    only ``(start, stop)`` ranges.
    """

    spec: Spec
    coded: list[Coded]
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
        fields = pair_scores(self.coded, li, ri, workers)[1]
        return fields, [c.shares(li) for c in self.coded]

    def exact_pairs(self, field: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs of left ``rows`` and right rows whose values of a field are the same."""
        return self.coded[field].agreeing(np.asarray(rows, np.int64))

    def pairs_of(self, rows: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The pairs the rules give left ``rows``, in batches: each pair's place in
        ``rows``, its left row and its right row."""
        found = [self.blocking.pairs(int(r), int(r) + 1) for r in np.asarray(rows).tolist()]
        if not found:
            return
        at = np.repeat(np.arange(len(found)), [len(li) for li, _ in found])
        yield at, np.concatenate([li for li, _ in found]), np.concatenate([ri for _, ri in found])

    def run(self, start: int, stop: int, *, workers: int = -1) -> pd.DataFrame:
        """Candidates of left rows ``start:stop``, in the documented order."""
        li, ri = self.blocking.pairs(start, stop)
        score, fields = pair_scores(self.coded, li, ri, workers, self.spec.learned)
        ok = score >= self.keep
        li, ri, score, fields = li[ok], ri[ok], score[ok], [f[ok] for f in fields]
        order = rank_and_cut(li, ri, score, self.top_k, presorted=True)
        li, ri, score, fields = li[order], ri[order], score[order], [f[order] for f in fields]
        li, ri, score, fields = _stood(self.spec, li, ri, score, fields, self.keep)
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
    coded: list[Coded] | None = None

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
        fields = pair_scores(self._coded(), li, ri, workers)[1]
        return fields, [c.shares(li) for c in self._coded()]

    def exact_pairs(self, field: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`_BlockedJob.exact_pairs`."""
        return self._coded()[field].agreeing(np.asarray(rows, np.int64))

    def pairs_of(self, rows: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """As :meth:`_BlockedJob.pairs_of`: each of ``rows`` with every right row, in
        batches of at most :data:`_PAIRS_BATCH` pairs."""
        rows = np.asarray(rows, np.int64)
        n = len(self.right)
        step = max(1, _PAIRS_BATCH // max(n, 1))
        for start in range(0, len(rows) if n else 0, step):
            batch = rows[start : start + step]
            at = np.repeat(np.arange(start, start + len(batch)), n)
            yield at, np.repeat(batch, n), np.tile(np.arange(n, dtype=np.int64), len(batch))

    def _coded(self) -> list[Coded]:
        if self.coded is None:
            self.coded = encode_fields(self.left, self.right, self.spec)
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
    left, right = with_spec_columns(left, right, spec)
    validate_columns(left, right, spec)
    if spec.block:
        left_ids = record_ids(left, spec.left_id, "left")
        right_ids = record_ids(right, spec.right_id, "right")
        cache: dict = {}
        coded = encode_fields(left, right, spec, cache)
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
    left, right = with_spec_columns(left, right, spec)
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
    left, right = with_spec_columns(left, right, spec)
    validate_columns(left, right, spec)
    left_ids = record_ids(left, spec.left_id, "left")
    right_ids = record_ids(right, spec.right_id, "right")
    coded = encode_fields(left, right, spec)
    if len(left) == 0 or len(right) == 0:
        none = np.empty(0, np.int64)
        empty = [np.empty(0)] * len(coded)
        bits = empty if explain and spec.learned is not None else None
        return _frame(spec, left_ids, right_ids, none, none, np.empty(0), empty, bits)
    li, ri, score, fields = full_comparison(
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
    li, ri, score, fields = _stood(spec, li, ri, score, fields, keep)
    bits = _explain(spec, coded, li, fields, explain)
    return _frame(spec, left_ids, right_ids, li, ri, score, fields, bits)
