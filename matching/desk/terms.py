"""The terms every part of the review desk shares: what an action returns (:class:`Outcome`),
how records may pair (:data:`CARDINALITIES`), and the words a refusal ends with."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Outcome",
    "CARDINALITIES",
    "DEFAULT_CARDINALITY",
    "NOTHING_RECORDED",
    "MAX_EDIT_CHARS",
    "MAX_EDITS_CHARS",
]

#: How records may pair: (each left matched to at most one right, each right at most once).
CARDINALITIES = {
    "one-to-one": (True, True),
    "many-to-one": (False, True),
    "one-to-many": (True, False),
    "many-to-many": (False, False),
}

#: Each right record at most once, a left record any number of times: the tutorial's
#: cars each have one owner, and an owner may have several cars.
DEFAULT_CARDINALITY = "many-to-one"

#: The most characters a corrected value may have, as many as a reason kept with a
#: decision; and all the corrected values (with their column names) of one decision.
#: Every worker that reads the log holds them: one edit of 25 million characters,
#: sent six times, grew a log by 145 MB.
MAX_EDIT_CHARS = 2_000
MAX_EDITS_CHARS = 20_000

#: How the message of a refused action ends.
NOTHING_RECORDED = "; nothing was recorded."


@dataclass(frozen=True)
class Outcome:
    """What a desk action did.

    ``ok`` is False when the action was refused or nothing could be done, and
    ``message`` then says why, in words for the page. ``written`` counts the
    events written (0 for a repeated click). ``view`` is the record the
    reviewer should see next (see :meth:`~matching.desk.ReviewDesk.next_view`), or
    None for actions that do not move the reviewer.
    """

    ok: bool
    message: str | None = None
    written: int = 0
    view: dict | None = None

    @classmethod
    def refused(cls, problem: str, *, view: dict | None = None) -> Outcome:
        """An action refused for ``problem`` (a sentence without its full stop): nothing written."""
        return cls(False, problem + NOTHING_RECORDED, view=view)
