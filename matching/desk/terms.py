"""The terms every part of the review desk shares: what an action returns (:class:`Outcome`),
the words a refusal ends with, and the rule an accept keeps to (:func:`pairing_problem`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matching.decisions.settings import CARDINALITIES

__all__ = [
    "Outcome",
    "NOTHING_RECORDED",
    "MAX_EDIT_CHARS",
    "MAX_EDITS_CHARS",
    "pairing_problem",
]

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


def pairing_problem(cardinality: str, right_ids: Sequence[str]) -> str | None:
    """Why accepting ``right_ids`` for one left record breaks how records pair in the
    project (its ``cardinality``), or None.

    >>> pairing_problem("one-to-one", ["a", "b"])[:39]
    'This project pairs each left record wit'
    >>> pairing_problem("many-to-many", ["a", "b"]) is None
    True
    """
    if CARDINALITIES[cardinality][0] and len(set(map(str, right_ids))) > 1:
        return (
            f"This project pairs each left record with one right record ({cardinality})"
            "; tick one candidate"
        )
    return None
