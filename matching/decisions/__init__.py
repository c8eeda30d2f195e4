"""Decisions: events, the ledger, the decision log, settings and the pure views over them."""
