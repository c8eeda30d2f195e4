"""After a long request, the process gives its free memory back (see :mod:`matching.memory`)."""

from __future__ import annotations

import time

from flask import g

from matching.memory import release_memory

__all__ = ["register", "LONG_REQUEST_S"]

#: A request that took longer than this most likely built and freed large tables.
LONG_REQUEST_S = 0.25


def register(app) -> None:
    server = app.server

    @server.before_request
    def note_start():
        g.matchdesk_started = time.perf_counter()

    @server.teardown_request
    def give_back(_error=None):
        started = g.get("matchdesk_started")
        if started is not None and time.perf_counter() - started > LONG_REQUEST_S:
            release_memory()
