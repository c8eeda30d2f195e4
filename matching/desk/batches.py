"""The review desk's batches part: bulk rules and agreement patterns that decide many
records as one undoable automatic batch, and the list of those batches in force."""

from __future__ import annotations

import dataclasses
import gc
import time as _time
from collections.abc import Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np

from matching.decisions.events import Batch, Event, event_id
from matching.decisions.ledger import Ledger
from matching.decisions.ledger_views import index_positions
from matching.decisions.log import ProjectTransaction
from matching.decisions.roles import PermissionDenied, require
from matching.decisions.settings import CARDINALITIES
from matching.decisions.tuning import bulk_batch, pattern_events
from matching.desk.terms import Outcome

if TYPE_CHECKING:
    from matching.desk.desk import ReviewDesk

__all__ = ["Batches"]


class Batches:
    """Bulk and pattern batches of one :class:`~matching.desk.ReviewDesk` (``desk.batches``)."""

    def __init__(self, desk: ReviewDesk) -> None:
        self.desk = desk

    # -- audits of automatic decisions ----------------------------------------

    def automatic_batches(self) -> list[dict]:
        """The automatic batches in force: ``batch, kind, reviewer, time, records``."""
        ledger = self.desk.refresh()
        out = []
        for batch, members in ledger.by_batch.items():
            first = ledger.active.get(members[0]) if members else None
            if first is None or not first.automatic or first.kind not in ("accept", "reject"):
                continue
            out.append(
                {
                    "batch": batch,
                    "kind": first.kind,
                    "reviewer": first.reviewer,
                    "time": first.time,
                    "records": len(members),
                }
            )
        return out

    def bulk_preview(self, reviewer: str, kind: str, *, threshold: float, margin: float = 0.0):
        """How many undecided records a bulk rule would decide now (nothing is written)."""
        ledger = self.desk.refresh()
        batch = self._bulk_batch(ledger, reviewer, kind, threshold, margin, "x", 0)
        return len(self._without_conflicts(ledger, batch)[0])

    def _without_conflicts(self, ledger: Ledger, batch: Batch) -> tuple[Batch, int]:
        """The batch without the records whose accept would make a conflict, and how
        many were left out.

        Where each right record may be matched once, an automatic accept never
        takes a right record that is matched already, nor one that two records
        of the same batch would both take: those records are left for review.
        """
        if not CARDINALITIES[self.desk.cardinality()][1] or batch.kind != "accept":
            return batch, 0
        if not len(batch):
            return batch, 0
        shared = batch.right_ids.arrow.to_pandas().duplicated(keep=False).to_numpy()
        kept = ~shared & ~ledger.owned(batch.right_ids)
        return batch.subset(kept), int(len(kept) - kept.sum())

    def apply_bulk(
        self,
        reviewer: str,
        kind: str,
        *,
        threshold: float,
        margin: float = 0.0,
        batch: str | None = None,
        role: str = "reviewer",
        now: float | None = None,
    ) -> Outcome:
        """Decide every undecided record a threshold rule picks, as one undoable batch.

        ``kind`` is ``"accept"`` (best candidate at least ``threshold`` and ahead
        of the runner-up by ``margin``) or ``"reject"`` (best below
        ``threshold``). Records another reviewer holds are left to them. The
        same ``batch`` again writes nothing (a repeated confirm). The batch is
        written as one compact row (:class:`~matching.decisions.events.Batch`).
        """
        now = _time.time() if now is None else now
        try:
            require(role, "bulk")
        except PermissionDenied as exc:
            return Outcome.refused(str(exc).capitalize())
        values = (threshold, margin)
        if kind not in ("accept", "reject") or not all(
            isinstance(v, (int, float)) and 0.0 <= v <= 1.0 for v in values
        ):
            return Outcome.refused("A bulk rule needs thresholds between 0 and 1")

        # The batch is made before the lock is taken, from the ledger as it is
        # now, so reviewers wait only for the insert.
        ledger = self.desk.refresh()
        name = batch or f"auto-{kind}|{ledger.last_seq}|{threshold}|{margin}"
        made = self._bulk_batch(ledger, reviewer, kind, threshold, margin, name, now)
        return self._write_batch(reviewer, made, now)

    def _write_batch(self, reviewer: str, batch: Batch, now: float) -> Outcome:
        """Write one batch of automatic decisions, leaving out what a reviewer took meanwhile.

        Records decided or held by another reviewer since the batch was made,
        and accepts that would make a conflict, are dropped; the outcome's
        message says how many were left for review because of a conflict.
        """
        ledger = self.desk.ledger()
        batch, clashing = self._without_conflicts(ledger, batch)
        if self.desk.project.model_version:  # which model scored the records
            model = {"model": float(self.desk.project.model_version)}
            batch = dataclasses.replace(batch, thresholds={**batch.thresholds, **model})
        pos = self.desk.project.left_pos
        rows = index_positions(pos, batch.left_ids.arrow)

        def work(tx: ProjectTransaction, ledger: Ledger):
            held = [pos[x] for x in tx.busy(reviewer, now) if x in pos]
            keep = ledger.undecided[rows] & ~np.isin(rows, held)
            # Matched meanwhile by a reviewer: leave those for review too.
            if batch.kind == "accept":
                keep &= ~ledger.owned(batch.right_ids)
            still = batch.subset(keep)
            written = tx.insert_batch(still)
            if written:
                ledger.apply(still)
            return written

        written = self.desk.transaction(work)
        if written > 10_000:
            gc.freeze()  # as after a first read of the log: keep the collector off them
        note = None
        if clashing:
            records = "record was" if clashing == 1 else "records were"
            note = (
                f"{clashing:,} {records} left for review: their best candidate is matched "
                "to another record already, or is the best candidate of another record too."
            )
        return Outcome(True, note, written)

    def _decided(self, ledger: Ledger) -> set[str]:
        queue = np.asarray(self.desk.project.queue, dtype=object)
        return set(queue[~ledger.undecided].tolist())

    def _pattern_batch(self, ledger, reviewer, kind, conditions, batch, now) -> Batch:
        events = pattern_events(
            self.desk.project.candidates,
            SimpleNamespace(decisions=self._decided(ledger)),
            conditions,
            kind=kind,
            reviewer=reviewer,
            batch=batch,
            now=now,
        )
        return self._as_batch(events, kind=kind, reviewer=reviewer, batch=batch, now=now)

    def _as_batch(self, events: list[Event], *, kind, reviewer, batch, now) -> Batch:
        if events:
            return Batch.from_events(event_id(self.desk.project_id, "batch", batch, kind), events)
        return Batch.of(
            event_id(self.desk.project_id, "batch", batch, kind), kind, batch=batch,
            reviewer=reviewer, time=now, left_ids=[], right_ids=[], offsets=[0],
            cand_right=[], cand_score=[],
        )  # fmt: skip

    def pattern_preview(
        self, kind: str, conditions: Mapping[str, tuple[str, float]], *, sample: int = 10
    ) -> tuple[int, list[dict]]:
        """How many undecided records an agreement pattern would decide, and a few of them.

        Returns the count and up to ``sample`` rows ``left_id, right_id`` (None
        for a no match) and ``score``; ``ValueError`` names a bad condition.
        """
        ledger = self.desk.refresh()
        batch = self._pattern_batch(ledger, "", kind, conditions, "preview", 0.0)
        batch = self._without_conflicts(ledger, batch)[0]
        rows = []
        for e in batch.subset(np.arange(len(batch)) < sample).events():
            right = e.right_ids[0] if e.right_ids else None
            score = max(e.scores.values()) if e.scores else None
            rows.append({"left_id": e.left_id, "right_id": right, "score": score})
        return len(batch), rows

    def apply_pattern(
        self,
        reviewer: str,
        kind: str,
        conditions: Mapping[str, tuple[str, float]],
        *,
        role: str = "reviewer",
        now: float | None = None,
    ) -> Outcome:
        """Decide the records an agreement pattern picks, as one undoable automatic batch.

        See :func:`matching.decisions.tuning.pattern_events` for which records and which
        candidate; the rules of :meth:`apply_bulk` (a lead only, held and
        conflicting records left for review) apply.
        """
        now = _time.time() if now is None else now
        try:
            require(role, "bulk")
        except PermissionDenied as exc:
            return Outcome.refused(str(exc).capitalize())
        ledger = self.desk.refresh()
        text = " & ".join(f"{f} {op} {v}" for f, (op, v) in sorted(conditions.items()))
        name = f"pattern-{kind}|{ledger.last_seq}|{text}"
        try:
            batch = self._pattern_batch(ledger, reviewer, kind, conditions, name, now)
        except ValueError as exc:
            return Outcome.refused(str(exc).capitalize())
        return self._write_batch(reviewer, batch, now)

    def _bulk_batch(self, ledger, reviewer, kind, threshold, margin, batch, now) -> Batch:
        return bulk_batch(
            self.desk.project.candidates,
            self._decided(ledger),
            kind=kind,
            threshold=threshold,
            margin=margin,
            reviewer=reviewer,
            batch=batch,
            event_id=event_id(self.desk.project_id, "batch", batch, kind),
            now=now,
        )
