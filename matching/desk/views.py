"""What the decisions in force look like as columns: each candidate pair's status, the
decisions for statistics, and the accepted pairs for exports (``desk.views``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matching.decisions.ledger import Ledger
from matching.decisions.ledger_views import index_positions
from matching.decisions.statistics import Decisions
from matching.decisions.tuning import PairStatus

if TYPE_CHECKING:
    from matching.desk.desk import ReviewDesk

__all__ = ["Views"]


class Views:
    """The column views of one :class:`~matching.desk.ReviewDesk`'s decisions, each kept
    until the log changes (the desk's ``memo``)."""

    def __init__(self, desk: ReviewDesk) -> None:
        self.desk = desk
        self._codes_held: tuple[np.ndarray, pa.Array] | None = None

    def forget(self) -> None:
        """Drop what was worked out of the candidates (the desk serves new scores)."""
        self._codes_held = None

    def _codes(self) -> tuple[np.ndarray, pa.Array]:
        """Per candidate row: its left record's queue position, and its right id."""
        if self._codes_held is None:
            c = self.desk.project.candidates
            lefts = self.desk.project.pair_left
            if lefts is None:
                lefts = index_positions(
                    self.desk.project.left_pos, pa.array(c["left_id"].astype(str), from_pandas=True)
                )
            rights = pa.array(c["right_id"].astype(str), from_pandas=True)
            if isinstance(rights, pa.ChunkedArray):
                rights = rights.combine_chunks()
            self._codes_held = (lefts.astype(np.int64, copy=False), rights)
        return self._codes_held

    def pair_status(self) -> PairStatus:
        """Each candidate pair's review status now, from the ledger's columns (kept
        until the log changes); what :mod:`matching.decisions.tuning`'s counts take."""
        return self.desk.memo("pair-status", self._pair_status)

    def _pair_status(self, ledger: Ledger) -> PairStatus:
        lefts, rights = self._codes()
        known = lefts >= 0
        at = np.maximum(lefts, 0)
        status = np.where(known, ledger.status[at], 0).astype(np.int8)
        chosen = ledger.accepted_right.arrow().take(at)
        hit = pc.fill_null(pc.equal(rights, chosen), False).to_numpy(zero_copy_only=False)
        hit &= status == 1
        for pos, several in ledger.multi.items():
            a, b = self.desk.project.slices.get(self.desk.project.queue[pos], (0, 0))
            hit[a:b] |= np.isin(np.asarray(rights[a:b].to_pylist(), dtype=object), several)
        status[(status == 1) & ~hit] = 2
        return PairStatus(status, known & ledger.automatic[at] & (status > 0))

    def decisions(self) -> Decisions:
        """The decisions in force as columns (kept until the log changes), for
        :mod:`matching.decisions.statistics`. Scores are the candidates' scores."""
        return self.desk.memo("decisions", self._decisions)

    def _decisions(self, ledger: Ledger) -> Decisions:
        pos = np.flatnonzero(ledger.status > 0)
        accepted = ledger.status[pos] == 1
        pairs = accepted.astype(np.int64)
        reasons = [None] * len(pos)
        where = {}
        if ledger.multi or ledger.reasons:
            where = {int(p): i for i, p in enumerate(pos.tolist())}
        for p, chosen in ledger.multi.items():
            pairs[where[p]] = len(chosen)
        for p, text in ledger.reasons.items():
            reasons[where[p]] = text
        names = np.asarray([*ledger.reviewers, ""], dtype=object)
        frame = pd.DataFrame(
            {
                "status": np.where(accepted, "accepted", "rejected").astype(object),
                "pairs": pairs,
                "reviewer": names[ledger.decided_by[pos]],
                "time": ledger.decided_at[pos],
                "automatic": ledger.automatic[pos],
                "reason": pd.Series(reasons, dtype=object),
            }
        )
        status = self.desk.memo("pair-status", self._pair_status).status
        scores = self.desk.project.candidates["score"].to_numpy(np.float64)
        return Decisions(frame, scores[status == 1], scores[status == 2], len(ledger.skipped))

    def accepted_pairs(self) -> pd.DataFrame:
        """The accepted pairs in force, as :func:`matching.decisions.export.matched_chunks_of_pairs`
        takes them (the same rows, in the same order, as
        :func:`matching.decisions.export.accepted_pairs_of_state` of the replayed log).

        Built from the ledger's columns: a batch member's score and thresholds
        come from its batch's columns, and only the events of the other
        decisions in force are read from the log, by id.
        """
        with self.desk.lock:
            ledger = self.desk.refresh()
            pos = np.flatnonzero(ledger.status == 1)
            pos = pos[np.lexsort((ledger.decided_seq[pos], ledger.decided_at[pos]))]
            batch = ledger.member_batch[pos].astype(np.int64)
            member = ledger.member_index[pos].astype(np.int64)
            queue = self.desk.project.queue
            wanted: dict[int, str] = {}  # row of ``pos`` -> its decision's event id
            touched: dict[int, list[int]] = {}  # batch -> rows decided by a touched member
            for i in np.flatnonzero(batch < 0).tolist():
                eid = ledger.decisions[queue[int(pos[i])]].event_id
                f = ledger.batch_of(eid)
                if f is None:
                    wanted[i] = eid
                else:
                    touched.setdefault(f.index, []).append(i)
            for b, rows in touched.items():
                f = ledger.batches[b]
                inverse = np.full(len(queue), -1, dtype=np.int64)  # queue position -> member
                inverse[f.pos[f.pos >= 0]] = np.flatnonzero(f.pos >= 0)
                batch[rows], member[rows] = b, inverse[pos[rows]]
            events = self.desk.log.events_by_id(self.desk.project_id, wanted.values())
            counts = np.ones(len(pos), dtype=np.int64)
            several = {}
            if ledger.multi:
                at = np.flatnonzero(np.isin(pos, list(ledger.multi)))
                several = {int(i): ledger.multi[int(pos[i])] for i in at.tolist()}
                counts[at] = [len(chosen) for chosen in several.values()]
            starts = np.cumsum(counts) - counts
            # Arrow text, not a str per pair, unless a record accepts several.
            flat = ledger.accepted_right.arrow(pos)
            if several or flat.null_count:
                flat = np.repeat(ledger.accepted_right[pos], counts)
                for i, chosen in several.items():
                    flat[starts[i] : starts[i] + counts[i]] = chosen
            reasons, edits = dict(ledger.reasons), dict(ledger.edits)
            names = np.asarray([*ledger.reviewers, None], dtype=object)
            decided_at = ledger.decided_at[pos]
            who = names[ledger.decided_by[pos]]
            automatic = ledger.automatic[pos]

        # A pair per record unless some accept several: then no copy of each column
        # per pair (a million pairs make every copy 8 MB).
        one = len(several) == 0
        rows = np.arange(len(pos)) if one else np.repeat(np.arange(len(pos)), counts)

        def per_pair(values: np.ndarray) -> np.ndarray:
            return values if one else values[rows]

        score = np.full(len(rows), np.nan)
        thresholds = np.empty(len(rows), dtype=object)
        by_batch = per_pair(batch)
        for b in np.unique(by_batch[by_batch >= 0]).tolist():
            f = ledger.batches[b]
            at = np.flatnonzero(by_batch == b)
            score[at] = f.accepted_scores()[member[rows[at]]]
            thresholds[at] = f.batch.thresholds  # one mapping the batch's rows share
        if isinstance(flat, pa.Array):
            right_ids = flat.to_pandas()
            right_at = lambda j: flat[j].as_py()  # noqa: E731
        else:
            right_ids, right_at = pd.Series(flat, dtype=object), flat.__getitem__
        for i, eid in wanted.items():
            event = events[eid]
            for j in range(int(starts[i]), int(starts[i] + counts[i])):
                score[j] = event.scores.get(right_at(j), np.nan)
                thresholds[j] = event.thresholds
        row_pos = per_pair(pos)
        if hasattr(queue, "array"):  # Arrow text: no Python string per record
            lefts = queue.array.take(pa.array(row_pos)).to_pandas()
        else:
            lefts = pd.Series(np.asarray(queue, dtype=object)[row_pos], dtype=object)
        cells = np.full(len(rows), None, dtype=object)
        why = np.full(len(rows), None, dtype=object)
        for j in np.flatnonzero(np.isin(row_pos, [*edits, *reasons])).tolist():
            p = int(row_pos[j])
            why[j] = reasons.get(p)
            cells[j] = dict((edits.get(p) or {}).get(right_at(j), {})) or None
        return pd.DataFrame(
            {
                "left_id": lefts,
                "right_id": right_ids,
                "score": score,
                "reviewer": pd.Series(per_pair(who), dtype=object, copy=False),
                "decided_at": pd.to_datetime(per_pair(decided_at), unit="s", utc=True),
                "automatic": per_pair(automatic),
                "edits": pd.Series(cells, dtype=object, copy=False),
                "reason": pd.Series(why, dtype=object, copy=False),
                "thresholds": pd.Series(thresholds, dtype=object, copy=False),
            },
            copy=False,  # the columns are this call's own
        )
