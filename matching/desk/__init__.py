"""The review desk: one face (:class:`ReviewDesk`) over the parts that apply review rules."""

from matching.desk.desk import CARDINALITIES, DEFAULT_CARDINALITY, Ledger, ReviewDesk

__all__ = ["ReviewDesk", "Ledger", "CARDINALITIES", "DEFAULT_CARDINALITY"]
