"""The review desk's audits part: blind audits of automatic batches, double review of a
share of records, a lead's adjudication of disagreements, and agreement between reviewers."""

from __future__ import annotations

import dataclasses
import time as _time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from matching.decisions.agreement import cohen_kappa
from matching.decisions.audit import audit_sample_size, audited_errors, draw_sample
from matching.decisions.events import ADJUDICATED, DOUBLE_REVIEW, event_id, make_event
from matching.decisions.ledger import Ledger
from matching.decisions.log import ProjectTransaction
from matching.decisions.roles import PermissionDenied, allowed, require
from matching.desk.terms import NOTHING_RECORDED, Outcome, pairing_problem

if TYPE_CHECKING:
    from matching.desk.desk import ReviewDesk

__all__ = ["Audits"]


def _verdict_text(right_ids: Sequence[str]) -> str:
    return ", ".join(sorted(right_ids)) if right_ids else "no match"


class Audits:
    """Audits and double review of one :class:`~matching.desk.ReviewDesk` (``desk.audits``)."""

    def __init__(self, desk: ReviewDesk) -> None:
        self.desk = desk

    def draw_audit(
        self,
        reviewer: str,
        batch: str,
        *,
        margin: float = 0.03,
        confidence: float = 0.95,
        role: str = "reviewer",
        now: float | None = None,
    ) -> Outcome:
        """Draw a random sample of an automatic batch for blind review by auditors.

        The sample is as large as :func:`~matching.decisions.audit.audit_sample_size`
        says for ``margin`` at ``confidence``; the same batch and margin draw
        the same sample again (and write nothing more).
        """
        try:
            require(role, "bulk")
        except PermissionDenied as exc:
            return Outcome.refused(str(exc).capitalize())
        if not (isinstance(margin, (int, float)) and 0.001 <= margin <= 0.5):
            return Outcome.refused("The audit margin must be between 0.001 and 0.5")
        now = _time.time() if now is None else now
        ledger = self.desk.refresh()
        lefts = sorted(set(ledger.batch_lefts(batch)))
        if not lefts or batch not in {b["batch"] for b in self.desk.batches.automatic_batches()}:
            return Outcome.refused("There is no automatic batch of that name in force")
        size = audit_sample_size(len(lefts), margin=margin, confidence=confidence)
        seed = int(event_id(self.desk.project_id, "audit", batch)[2:14], 16)
        sample = draw_sample(lefts, size, seed=seed)
        event = make_event(
            "audit",
            event_id=event_id(self.desk.project_id, "audit", batch, margin, confidence),
            reviewer=reviewer,
            now=now,
            target=batch,
            sample=sample,
            thresholds={"margin": float(margin), "confidence": float(confidence)},
        )

        written = self.desk.write_new([event])
        return Outcome(
            True,
            f"{size:,} of {len(lefts):,} records drawn for a blind audit"
            f" (±{margin:.0%} at {confidence:.0%}).",
            written,
        )

    def _audit_next(self, ledger: Ledger, busy: set[str], reviewer: str) -> tuple[str, str] | None:
        """The first drawn record with no verdict that nobody else holds.

        A record drawn for double review waits until someone decided it, and
        is never given to the reviewer who did.
        """
        for audit_id, audit in ledger.audits.items():
            done = ledger.verdicts.get(audit_id, {})
            double = audit.target == DOUBLE_REVIEW
            for left in audit.sample:
                if left in done or left in busy or left not in self.desk.project.left_pos:
                    continue
                if double:
                    d = ledger.decisions.get(left)
                    if d is None or d.reviewer == reviewer or d.automatic:
                        continue
                return audit_id, left
        return None

    def next_audit_view(
        self, reviewer: str, *, role: str = "reviewer", now: float | None = None
    ) -> dict:
        """The next record of an open audit for ``reviewer``, leased to them, shown blind.

        Like :meth:`~matching.desk.ReviewDesk.next_view`, with ``audit`` (the audit's
        id) and ``blind`` True; ``left_id`` is None when every drawn record has a verdict.
        """
        if not allowed(role, "decide"):
            return {**self.desk.view_at(reviewer, None), "read_only": True}
        now = _time.time() if now is None else now
        pick = self.desk.transaction(lambda tx, ledger: self._take_audit(tx, ledger, reviewer, now))
        return self._audit_view(reviewer, pick)

    def _take_audit(
        self, tx: ProjectTransaction, ledger: Ledger, reviewer: str, now: float
    ) -> tuple[str, str] | None:
        """Lease the next drawn record for ``reviewer``: ``(audit id, left id)``, or None
        (and the reviewer's leases released) when none is open to them."""
        pick = self._audit_next(ledger, tx.busy(reviewer, now), reviewer)
        if pick is None:
            tx.release(reviewer)
            return None
        tx.lease(pick[1], reviewer, now + self.desk.lease_seconds)
        return pick

    def _audit_view(self, reviewer: str, pick: tuple[str, str] | None) -> dict:
        """What :meth:`next_audit_view` returns for the record ``pick`` leased."""
        ledger = self.desk.ledger()
        pending = sum(
            len([x for x in a.sample if x not in ledger.verdicts.get(k, {})])
            for k, a in ledger.audits.items()
        )
        if pick is None:
            view = self.desk.view_at(reviewer, None)
            view.update(audit=None, blind=True, audit_open=pending)
            return view
        view = self.desk.view_at(reviewer, self.desk.project.left_pos[pick[1]])
        view.update(audit=pick[0], blind=True, selected=[], audit_open=pending)
        return view

    def record_verdict(
        self,
        reviewer: str,
        view: Mapping,
        kind: str,
        right_ids: Sequence[str] = (),
        *,
        role: str = "reviewer",
        now: float | None = None,
    ) -> Outcome:
        """An auditor's blind answer on a drawn record; the first verdict wins.

        The record's decision is not changed. ``view`` is what
        :meth:`next_audit_view` returned; its ``audit`` and ``left_id`` are checked.
        """
        now = _time.time() if now is None else now
        audit_id = view.get("audit") if isinstance(view, Mapping) else None
        left_id = view.get("left_id") if isinstance(view, Mapping) else None
        problem = None
        if kind == "skip":
            return Outcome(True, None, 0, self.next_audit_view(reviewer, now=now))
        problem = self.desk.decision_problem(left_id, kind, right_ids, role)
        ledger = self.desk.refresh()
        audit = ledger.audits.get(audit_id) if isinstance(audit_id, str) else None
        if problem is None and (audit is None or left_id not in audit.sample):
            problem = "That record is not in an open audit"
        if problem:
            return Outcome.refused(problem, view=self.next_audit_view(reviewer, now=now))
        rights = list(dict.fromkeys(map(str, right_ids))) if kind == "accept" else []
        eid = event_id(
            self.desk.project_id, reviewer, "verdict", audit_id, left_id, view.get("view_id")
        )

        def judge(tx: ProjectTransaction, ledger: Ledger):
            if tx.has_event(eid):
                return True, None, 0
            problem = pairing_problem(tx.settings.cardinality, rights)
            if problem:
                return False, problem, 0
            earlier = ledger.verdicts.get(audit_id, {}).get(left_id)
            if earlier is not None:
                return False, f"Record {left_id!r} was audited by {earlier.reviewer} already", 0
            event = make_event(
                "verdict",
                event_id=eid,
                reviewer=reviewer,
                now=now,
                left_id=left_id,
                right_ids=rights,
                target=audit_id,
            )
            tx.insert([event])
            ledger.apply(event)
            return True, None, 1

        def work(tx: ProjectTransaction, ledger: Ledger):
            # The next drawn record is leased in the same transaction: one commit a key.
            return judge(tx, ledger), self._take_audit(tx, ledger, reviewer, now)

        (ok, message, written), pick = self.desk.transaction(work)
        if not ok:
            message += NOTHING_RECORDED
        return Outcome(ok, message, written, self._audit_view(reviewer, pick))

    def set_double_review(
        self,
        reviewer: str,
        share: float,
        *,
        role: str = "reviewer",
        now: float | None = None,
    ) -> Outcome:
        """Draw ``share`` of the project's records to be reviewed twice.

        Each drawn record, once decided, is offered to another reviewer with
        Audit on, blind to the first decision. Disagreements go to
        :meth:`adjudication` for a lead. Drawing again with another share adds
        a new draw; records already drawn keep their second reviews.
        """
        try:
            require(role, "bulk")
        except PermissionDenied as exc:
            return Outcome.refused(str(exc).capitalize())
        if not (isinstance(share, (int, float)) and 0.0 < share <= 1.0):
            return Outcome.refused("The share must be above 0% and at most 100%")
        now = _time.time() if now is None else now
        queue = list(self.desk.project.queue)
        size = max(1, round(share * len(queue)))
        seed = int(event_id(self.desk.project_id, DOUBLE_REVIEW, share)[2:14], 16)
        sample = draw_sample(queue, size, seed=seed)
        event = make_event(
            "audit",
            event_id=event_id(self.desk.project_id, DOUBLE_REVIEW, share),
            reviewer=reviewer,
            now=now,
            target=DOUBLE_REVIEW,
            sample=sample,
            thresholds={"share": float(share)},
        )

        written = self.desk.write_new([event])
        return Outcome(True, f"{size:,} records ({share:.0%}) will be reviewed twice.", written)

    def second_reviews(self) -> list[dict]:
        """Each double-reviewed record: ``left_id, first, second`` (reviewer names),
        ``first_verdict, second_verdict`` (``"no match"`` or the accepted right ids
        joined with ", "), ``first_ids, second_ids`` (those right ids), ``agree`` and
        ``adjudicated`` (True once a lead settled it)."""
        ledger = self.desk.refresh()
        out = []
        for audit_id, audit in ledger.audits.items():
            if audit.target != DOUBLE_REVIEW:
                continue
            settled = ledger.verdicts.get(ADJUDICATED + audit_id, {})
            for left, verdict in ledger.verdicts.get(audit_id, {}).items():
                # The decision the second reviewer answered blind, even if a lead changed it since.
                limit = ledger.order[verdict.event_id]
                earlier = [
                    ledger.active[i]
                    for i in ledger.by_left.get(left, ())
                    if ledger.active[i].kind in ("accept", "reject") and ledger.order[i] < limit
                ]
                if not earlier:
                    continue
                first = earlier[-1]
                one = _verdict_text(first.right_ids if first.kind == "accept" else ())
                two = _verdict_text(verdict.right_ids)
                out.append(
                    {
                        "audit": audit_id,
                        "left_id": left,
                        "first": first.reviewer,
                        "second": verdict.reviewer,
                        "first_verdict": one,
                        "second_verdict": two,
                        "first_ids": list(first.right_ids if first.kind == "accept" else ()),
                        "second_ids": list(verdict.right_ids),
                        "agree": one == two,
                        "adjudicated": left in settled,
                    }
                )
        return out

    def adjudication(self) -> list[dict]:
        """Double-reviewed records whose two reviews disagree and no lead has settled."""
        return [r for r in self.second_reviews() if not r["agree"] and not r["adjudicated"]]

    def adjudicate(
        self,
        reviewer: str,
        left_id: str,
        keep: str,
        *,
        role: str = "reviewer",
        now: float | None = None,
    ) -> Outcome:
        """A lead settles a disagreement: ``keep`` is ``"first"`` (the decision
        stands) or ``"second"`` (the decision becomes the second reviewer's)."""
        try:
            require(role, "change_others")
        except PermissionDenied as exc:
            return Outcome.refused(str(exc).capitalize())
        row = next((r for r in self.adjudication() if r["left_id"] == left_id), None)
        if row is None or keep not in ("first", "second"):
            return Outcome.refused(f"Record {left_id!r} is not waiting for a lead")
        now = _time.time() if now is None else now
        ledger = self.desk.ledger()
        second = ledger.verdicts[row["audit"]][left_id]
        standing = ledger.decisions[left_id]
        # The log's latest event in the ids: settling again after an undo is new events.
        seq = ledger.last_seq
        settle = make_event(
            "verdict",
            event_id=event_id(self.desk.project_id, "adjudicate", row["audit"], left_id, seq),
            reviewer=reviewer,
            now=now,
            left_id=left_id,
            right_ids=second.right_ids if keep == "second" else standing.right_ids,
            target=ADJUDICATED + row["audit"],
            reason=f"kept the {keep} review",
        )
        events = [settle]
        if keep == "second":
            kind = "accept" if second.right_ids else "reject"
            events.append(
                make_event(
                    kind,
                    event_id=event_id(
                        self.desk.project_id, "adjudicated", left_id, standing.event_id, seq
                    ),
                    reviewer=reviewer,
                    now=now,
                    left_id=left_id,
                    right_ids=second.right_ids,
                    replaces=standing.event_id,
                    reason=f"adjudicated: {row['second']}'s review kept",
                    batch=settle.event_id,
                )
            )
            events[0] = dataclasses.replace(settle, batch=settle.event_id)

        return Outcome(True, None, self.desk.write_new(events))

    def agreement(self) -> list[dict]:
        """Cohen's kappa per pair of reviewers, and over all pairs (``pair`` "all").

        Each row: ``pair``, and what :func:`matching.decisions.agreement.cohen_kappa`
        returns for their double-reviewed records.
        """
        rows = self.second_reviews()
        groups: dict[str, list[dict]] = {}
        for r in rows:
            pair = " & ".join(sorted((r["first"], r["second"])))
            groups.setdefault(pair, []).append(r)
        if rows:
            groups["all"] = rows
        return [
            {
                "pair": pair,
                **cohen_kappa([r["first_verdict"] for r in g], [r["second_verdict"] for r in g]),
            }
            for pair, g in groups.items()
        ]

    def audit_results(self, *, confidence: float = 0.95) -> list[dict]:
        """Each audit's findings: what the auditors found wrong, as a rate with its
        Wilson interval, and the wrong automatic decisions that makes in the batch.

        A verdict disagrees with an automatic accept when it says no match or
        accepts other candidates, and with an automatic no match when it accepts.
        """
        ledger = self.desk.refresh()
        batches = {b["batch"]: b for b in self.desk.batches.automatic_batches()}
        out = []
        for audit_id, audit in ledger.audits.items():
            batch = batches.get(audit.target)
            if batch is None:
                continue
            wrong = 0
            verdicts = ledger.verdicts.get(audit_id, {})
            for left, verdict in verdicts.items():
                auto = next(
                    (
                        ledger.active[i]
                        for i in ledger.by_left.get(left, ())
                        if ledger.active[i].batch == audit.target
                    ),
                    None,
                )
                if auto is None:
                    continue
                if auto.kind == "accept":
                    wrong += verdict.right_ids == () or set(verdict.right_ids) != set(
                        auto.right_ids
                    )
                else:
                    wrong += bool(verdict.right_ids)
            found = audited_errors(wrong, len(verdicts), batch["records"], confidence=confidence)
            out.append(
                {
                    "audit": audit_id,
                    "batch": audit.target,
                    "kind": batch["kind"],
                    "records": batch["records"],
                    "sampled": len(audit.sample),
                    **found,
                }
            )
        return out
