"""Callbacks, one module per feature; :func:`register` wires them all to an app."""

from __future__ import annotations

from callbacks import (
    auth,
    data,
    export,
    matched,
    memory,
    propose,
    review,
    security,
    statistics,
    tuning,
    uploads,
)

__all__ = ["register"]


def register(app) -> None:
    # security and auth first: their request hooks must run before anything else
    features = (security, auth, review, matched, export, data, propose, uploads, tuning)
    for feature in (*features, statistics, memory):
        feature.register(app)
