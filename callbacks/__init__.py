"""Callbacks, one module per tab; :func:`register` wires them and the server's routes to an app."""

from __future__ import annotations

from callbacks import (
    clusters,
    data,
    learning,
    matched,
    projects,
    propose,
    review,
    statistics,
    tables,
    tuning,
    why,
)
from server import auth, disk_full, export, memory, security, uploads

__all__ = ["register"]


def register(app) -> None:
    # security and auth first: their request hooks must run before anything else
    features = (security, auth, review, matched, export, data, tables, propose, uploads, tuning)
    for feature in (*features, learning, projects, clusters, why, statistics, memory, disk_full):
        feature.register(app)
