"""The review desk's page part: one request of the review page (what it showed, what was
pressed) checked and acted on, answered with the record to show next."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from matching.desk.terms import NOTHING_RECORDED, Outcome

if TYPE_CHECKING:
    from matching.desk.desk import ReviewDesk
    from matching.engine.project import Project

__all__ = ["PageRequest", "Page", "PAGE_ACTIONS", "position_problem"]

#: What the review page may ask for: "open" (the page opened or changed project),
#: "name" (the reviewer's name changed), "tab" (the Review tab came back into view),
#: "restart" (review skipped records), "redraw" (a display switch changed), "undo",
#: or one of the decisions.
DECISIONS = ("accept", "reject", "skip")
PAGE_ACTIONS = ("open", "name", "tab", "restart", "redraw", "undo", *DECISIONS)

_MISFIT_STORE = (
    "The position kept in this browser did not fit this project; the page resumed where the "
    "decision log says."
)


@dataclasses.dataclass(frozen=True)
class PageRequest:
    """One request of the review page, decoded; nothing in it is trusted.

    Attributes
    ----------
    reviewer, role : str
        Who acts, from the server's own knowledge of who is signed in.
    action : str
        One of :data:`PAGE_ACTIONS`.
    view : mapping or None
        What the page kept of the view it was served (``project_id``, ``left_id``,
        ``view_id``, ``position``, ``reviewer``, ``undo_target``, ``decided``...).
    shown : str or None
        The left record whose rows the candidate grid had on screen when the key
        or button was pressed (None when the grid said nothing, or was between
        two records). A decision is recorded only for the record shown.
    right_ids, edits, reason, comment
        The ticked candidates, the corrections per candidate, and the reason (one of
        the project's, checked in the decision's transaction) and comment kept with
        a decision.
    saved : mapping or None
        The position this browser kept for the project (``left_id``, ``position``).
    audit : bool
        Serve the records drawn for audits and record verdicts instead.
    """

    reviewer: str
    role: str = "reviewer"
    action: str = "open"
    view: Mapping | None = None
    shown: str | None = None
    right_ids: tuple[str, ...] = ()
    edits: Mapping = dataclasses.field(default_factory=dict)
    reason: str | None = None
    comment: str | None = None
    saved: Mapping | None = None
    audit: bool = False


def position_problem(project: Project, saved) -> str | None:
    """Why a position kept by the page does not fit ``project``, or None when it does."""
    if not isinstance(saved, Mapping):
        return "The page's position could not be read" + NOTHING_RECORDED
    left_id, position = saved.get("left_id"), saved.get("position")
    if not isinstance(left_id, str) or left_id not in project.left_pos:
        return "The page named a record this project does not have" + NOTHING_RECORDED
    if type(position) is not int or not 0 <= position < len(project.queue):
        return "The page's position is out of range for this project" + NOTHING_RECORDED
    if project.queue[position] != left_id:
        return "The page's position does not match its record" + NOTHING_RECORDED
    return None


def unseen_problem(view: Mapping, shown) -> str | None:
    """Why a decision on ``view`` was made on a page that did not show its candidates."""
    left = view.get("left_id")
    if shown == left:
        return None
    if isinstance(shown, str):
        return (
            f"The page still showed the candidates of record {shown!r} under record {left!r}"
            f"{NOTHING_RECORDED} Decide again now that its own candidates are shown."
        )
    return (
        f"The candidates of record {left!r} were not on screen yet{NOTHING_RECORDED} "
        "Decide again now that they are shown."
    )


class Page:
    """The review page's requests to one :class:`~matching.desk.ReviewDesk` (``desk.page``)."""

    def __init__(self, desk: ReviewDesk) -> None:
        self.desk = desk

    def answer(self, request: PageRequest) -> Outcome | None:
        """Act on ``request`` and return the record to show, or None when the page shows it.

        A decision (or audit verdict) is refused, with nothing written, when the
        page's view names a record or position the project does not have, or
        when ``request.shown`` is not the view's record: the key was pressed
        while the grid still held another record's candidates.

        Returns
        -------
        Outcome or None
            ``view`` is the record to show next and ``message`` what to say
            above it (``ok`` False for a refusal); None when the page already
            shows what it should (the same name typed again, the Review tab
            shown again over a record still open).
        """
        desk, who = self.desk, request.reviewer
        view = request.view
        if not isinstance(view, Mapping) or view.get("project_id") != desk.project_id:
            view = None
        previous = view.get("reviewer") if view else None
        if request.action == "name":
            if previous == who:
                return None  # the name did not change: keep the reviewer's ticks
            if previous:
                desk.release(previous)  # the record stays free for whoever types it next
        if request.action == "tab" and desk.still_showing(who, view):
            return None
        acting = request.action in (*DECISIONS, "undo")
        if request.audit:
            return self._audit_step(request, view if acting else None)
        if acting and view is not None:
            return self._decide(request, view)
        message = None
        if request.action == "open" and request.saved is not None:
            message = _MISFIT_STORE if position_problem(desk.project, request.saved) else None
        fresh = desk.next_view(who, restart=request.action == "restart", role=request.role)
        return Outcome(True, message, 0, fresh)

    def _decide(self, request: PageRequest, view: Mapping) -> Outcome:
        desk, who, role = self.desk, request.reviewer, request.role
        if request.action == "undo":
            return desk.undo(who, role=role, target=view.get("undo_target"))
        problem = position_problem(desk.project, view) or unseen_problem(view, request.shown)
        if problem:
            return Outcome(False, problem, 0, desk.next_view(who, role=role))
        return desk.decide(
            who,
            view,
            request.action,
            request.right_ids,
            request.edits,
            request.reason,
            comment=request.comment,
            role=role,
        )

    def _audit_step(self, request: PageRequest, view: Mapping | None) -> Outcome:
        """One step of a blind audit: record the verdict asked for, show the next drawn record."""
        desk, who, role = self.desk, request.reviewer, request.role
        audits = desk.audits
        if view is None or not view.get("audit"):
            return Outcome(True, None, 0, audits.next_audit_view(who, role=role))
        if request.action == "undo":
            outcome = desk.undo(who, role=role, target=view.get("undo_target"))
            return dataclasses.replace(outcome, view=audits.next_audit_view(who, role=role))
        problem = unseen_problem(view, request.shown)
        if problem:
            return Outcome(False, problem, 0, audits.next_audit_view(who, role=role))
        return audits.record_verdict(who, view, request.action, list(request.right_ids), role=role)
