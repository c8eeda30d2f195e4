"""A lead's choices for a project: the thresholds reviewers see pairs with, how records
pair, the reasons reviewers pick from, how one table's clusters make their
representative records, and how the project learns from decisions.

Each is a change of the project's :class:`~matching.decisions.settings.ProjectSettings`
written in the project's transaction, the one decisions are written in: two leads
changing different settings at once both keep their change, and a reviewer's next
step sees the new settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from matching.decisions.clusters import RepresentativeRules
from matching.decisions.ledger import Ledger
from matching.decisions.log import ProjectTransaction
from matching.decisions.roles import PermissionDenied, require
from matching.decisions.settings import ProjectSettings
from matching.desk.terms import Outcome

if TYPE_CHECKING:
    from matching.desk.desk import ReviewDesk

__all__ = ["Choices"]


class Choices:
    """A lead's changes of a project's settings; ``desk.choices`` of a
    :class:`~matching.desk.ReviewDesk`.

    Every method returns an :class:`~matching.desk.terms.Outcome`: ``ok`` with a
    message for the page saying what reviewers see now ("Saved: ..."), or refused
    with nothing changed and a message saying why ("Not saved: ...": a role that
    may not, a value out of bounds).
    """

    def __init__(self, desk: ReviewDesk) -> None:
        self.desk = desk

    def _change(
        self,
        role: str,
        action: str,
        change: Callable[[ProjectSettings], ProjectSettings],
        done: Callable[[ProjectSettings], str],
    ) -> Outcome:
        try:
            require(role, action)
        except PermissionDenied as exc:
            return Outcome(False, f"Not saved: {exc}.")

        def work(tx: ProjectTransaction, _ledger: Ledger) -> ProjectSettings | str:
            try:
                settings = change(tx.settings)
            except ValueError as exc:  # said to the lead, not raised: the ledger stays
                return str(exc)
            tx.save_settings(settings)
            return settings

        settings = self.desk.transaction(work)
        if isinstance(settings, str):
            return Outcome(False, f"Not saved: {settings}.")
        return Outcome(True, done(settings))

    def set_thresholds(self, show_from: object, select: object, *, role: str) -> Outcome:
        """Show reviewers pairs scoring at least ``show_from`` and tick those from
        ``select``; never below the floor the project was scored from."""

        def done(settings: ProjectSettings) -> str:
            return (
                f"Saved: reviewers now see pairs scoring {settings.show_from:.2f} or more,"
                f" pre-selected from {settings.select:.2f}. Records already decided are"
                " unchanged."
            )

        return self._change(
            role,
            "save_thresholds",
            lambda s: s.with_thresholds(show_from=show_from, select=select),
            done,
        )

    def set_cardinality(self, cardinality: object, *, role: str) -> Outcome:
        """Pair records as ``cardinality`` (see
        :data:`~matching.decisions.settings.CARDINALITIES`) from the next decision on."""
        return self._change(
            role,
            "change_settings",
            lambda s: s.with_cardinality(cardinality),
            lambda s: f"Saved: records now pair {s.cardinality}.",
        )

    def set_reasons(self, reasons: Iterable[object], *, role: str) -> Outcome:
        """Offer reviewers ``reasons`` (one to nine short labels; none: the defaults)."""
        listed = list(reasons)

        def done(settings: ProjectSettings) -> str:
            which = "" if any(str(r).strip() for r in listed) else " the default reasons"
            return f"Saved: reviewers now pick from{which} {', '.join(settings.reasons)}."

        return self._change(role, "change_settings", lambda s: s.with_reasons(listed), done)

    def set_representatives(self, rules: RepresentativeRules, *, role: str) -> Outcome:
        """Build each cluster's representative record by ``rules`` (checked against the
        project's table: its columns, a date column for ``most recent``, a source for
        ``preferred source``)."""
        columns = [str(c) for c in self.desk.project.left.columns]

        def done(settings: ProjectSettings) -> str:
            chosen = settings.representatives.rules
            if not chosen:
                return "Saved: representative records take every field's most frequent value."
            named = ", ".join(f"{c}: {r}" for c, r in chosen.items())
            return (
                f"Saved: representative records take {named}; other fields their most"
                " frequent value."
            )

        return self._change(
            role,
            "change_settings",
            lambda s: dataclasses.replace(s, representatives=rules.checked(columns)),
            done,
        )

    def set_learning(self, every: object, order: object, *, role: str) -> Outcome:
        """Learn from decisions again every ``every`` decisions (0: only when a lead asks)
        and serve records in ``order`` (one of
        :data:`~matching.decisions.settings.QUEUE_ORDERS`)."""

        def done(settings: ProjectSettings) -> str:
            when = (
                f"every {settings.learn_every:,} decisions"
                if settings.learn_every
                else "when a lead asks"
            )
            order = (
                "the records the model is least sure of first"
                if settings.queue_order == "informative"
                else "records in table order"
            )
            return f"Saved: the project learns from decisions {when}; reviewers get {order}."

        return self._change(
            role, "change_settings", lambda s: s.with_learning(every=every, order=order), done
        )
