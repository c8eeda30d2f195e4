"""The review desk: one face (:class:`ReviewDesk`) over the parts that apply review rules."""

from matching.desk.audits import Audits
from matching.desk.batches import Batches
from matching.desk.desk import ReviewDesk
from matching.desk.matches import Matches
from matching.desk.page import Page, PageRequest
from matching.desk.terms import CARDINALITIES, DEFAULT_CARDINALITY, Outcome

__all__ = [
    "ReviewDesk",
    "Matches",
    "Batches",
    "Audits",
    "Page",
    "PageRequest",
    "Outcome",
    "CARDINALITIES",
    "DEFAULT_CARDINALITY",
]
