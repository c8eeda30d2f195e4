"""The review desk's matches part: unmatch accepted pairs, list the conflicts where the
project allows a right record once, and let a lead resolve them."""

from __future__ import annotations

import time as _time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from matching.decisions.events import Event, event_id, make_event
from matching.decisions.ledger import Ledger
from matching.decisions.ledger_views import Standing
from matching.decisions.roles import PermissionDenied, require
from matching.decisions.settings import CARDINALITIES
from matching.desk.terms import Outcome

if TYPE_CHECKING:
    from matching.desk.desk import ReviewDesk

__all__ = ["Matches"]


class Matches:
    """Unmatching and conflicts of one :class:`~matching.desk.ReviewDesk` (``desk.matches``)."""

    def __init__(self, desk: ReviewDesk) -> None:
        self.desk = desk

    def unmatch(
        self,
        reviewer: str,
        pairs: Iterable[tuple[str, str]],
        *,
        role: str = "reviewer",
        now: float | None = None,
    ) -> Outcome:
        """Take accepted pairs out of the matches, all of them or none.

        A reviewer removes pairs of their own decisions; a role allowed to
        ``change_others`` removes anyone's. Each removal names the decision it
        changes, and Undo puts it back.
        """
        now = _time.time() if now is None else now
        pairs = [(str(a), str(b)) for a, b in pairs]
        try:
            require(role, "decide")
        except PermissionDenied as exc:
            return Outcome.refused(str(exc).capitalize())
        if not pairs:
            return Outcome.refused("Select the matches to remove first")

        def work(ledger: Ledger) -> str | list[Event]:
            events = []
            for left, right in pairs:
                d = ledger.decisions.get(left)
                if d is None or right not in d.right_ids:
                    return f"The match {left} ↔ {right} is not recorded (removed already?)"
                if d.reviewer != reviewer:
                    try:
                        require(role, "change_others")
                    except PermissionDenied as exc:
                        return str(exc).capitalize()
                events.append(self._unmatch_event(ledger, reviewer, now, left, right, d))
            return events

        return self.desk.write_checked(work)

    def _unmatch_event(
        self,
        ledger: Ledger,
        reviewer: str,
        now: float,
        left: str,
        right: str,
        decision: Standing,
        **extra,
    ) -> Event:
        """An event taking ``right`` out of ``decision`` on ``left``, naming the decision.

        Its id names the log's latest event too: the same removal made again after
        an undo is a new event, not a repeat the log refuses.
        """
        eid = event_id(
            self.desk.project_id, "unmatch", left, right, decision.event_id, ledger.last_seq
        )
        return make_event(
            "unmatch",
            event_id=eid,
            reviewer=reviewer,
            now=now,
            left_id=left,
            right_ids=[right],
            replaces=decision.event_id,
            **extra,
        )

    def conflicts(self) -> dict[str, list[str]]:
        """Right ids matched to more than one left record where the project allows one,
        with those left ids in decision order (see
        :meth:`~matching.decisions.ledger.Ledger.conflicts`)."""
        if not CARDINALITIES[self.desk.cardinality()][1]:
            return {}
        return self.desk.refresh().conflicts()

    def resolve_conflict(
        self,
        reviewer: str,
        right_id: str,
        keep: str | None,
        *,
        role: str = "reviewer",
        now: float | None = None,
    ) -> Outcome:
        """A lead settles which records keep a right record that several accepted.

        ``keep`` is the left id whose match stands (the others lose this right
        record; a record left with none returns to the queue), ``"*"`` to keep
        them all as an exception, or None to send them all back: every one of
        them loses this right record and is reviewed again if it has no other.
        Each change is an ordinary, undoable event naming the decision it changes.
        """
        try:
            require(role, "change_others")
        except PermissionDenied as exc:
            return Outcome.refused(str(exc).capitalize())
        now = _time.time() if now is None else now
        right_id = str(right_id)
        settings = self.desk.settings()
        thresholds = self.desk.thresholds(settings)
        once = CARDINALITIES[settings.cardinality][1]

        def work(ledger: Ledger) -> str | list[Event]:
            owners = ledger.conflicts().get(right_id) if once else None
            if owners is None:
                return f"{right_id} is not in conflict (resolved already?)"
            if keep not in (None, "*") and keep not in owners:
                return f"Record {keep!r} does not claim {right_id}"
            events = []
            # One batch, so one undo puts the conflict back as it was.
            batch = event_id(self.desk.project_id, "resolve", right_id, ledger.last_seq)
            for left in owners:
                d = ledger.decisions[left]
                if keep == "*":
                    if d.exception or left == owners[0]:
                        continue
                    eid = event_id(
                        self.desk.project_id, "keep-both", left, right_id, d.event_id, batch
                    )
                    events.append(
                        make_event(
                            "accept",
                            event_id=eid,
                            reviewer=reviewer,
                            now=now,
                            left_id=left,
                            right_ids=d.right_ids,
                            edits=d.edits or {},
                            replaces=d.event_id,
                            batch=batch,
                            exception=True,
                            thresholds=thresholds,
                            reason=f"kept with {owners[0]} as an exception",
                        )
                    )
                elif left != keep:
                    note = "conflict resolved" + (f": kept {keep}" if keep else "")
                    events.append(
                        self._unmatch_event(
                            ledger, reviewer, now, left, right_id, d, batch=batch, reason=note
                        )
                    )
            return events

        return self.desk.write_checked(work)
