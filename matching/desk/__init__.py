"""The review desk: one face (:class:`ReviewDesk`) over the parts that apply review rules."""

from matching.desk.audits import Audits
from matching.desk.batches import Batches
from matching.desk.choices import Choices
from matching.desk.clusters import Clusters
from matching.desk.desk import ReviewDesk
from matching.desk.matches import Matches
from matching.desk.page import Page, PageRequest
from matching.desk.terms import Outcome

__all__ = [
    "ReviewDesk",
    "Matches",
    "Batches",
    "Audits",
    "Choices",
    "Clusters",
    "Page",
    "PageRequest",
    "Outcome",
]
