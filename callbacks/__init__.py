"""Callbacks, one module per feature; :func:`register` wires them all to an app."""

from __future__ import annotations

from callbacks import data, matched, review, statistics, tuning

__all__ = ["register"]


def register(app) -> None:
    for feature in (review, matched, data, tuning, statistics):
        feature.register(app)
