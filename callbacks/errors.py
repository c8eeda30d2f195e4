"""What the page shows when a callback fails: a message, never a silent blank.

Dash calls :func:`show_error` (given as ``Dash(on_error=...)``) with any
exception a callback raises; it logs the traceback for the operator and puts a
message in the page's alert, leaving every output as it was.
"""

from __future__ import annotations

import logging

from dash import set_props
from sqlalchemy.exc import SQLAlchemyError

from components.ids import ids
from matching.decisions.roles import PermissionDenied
from matching.workspace import ProjectUnavailable
from server.disk_full import disk_full_message

__all__ = ["show_error", "error_message"]

_log = logging.getLogger("matchdesk")


def error_message(exc: Exception) -> str:
    """Words for the page about a failed request; nothing in them comes from the data."""
    if isinstance(exc, PermissionDenied):
        return f"{str(exc).capitalize()}; nothing was recorded."
    if isinstance(exc, ProjectUnavailable):
        return str(exc)
    full = disk_full_message(exc)
    if full is not None:
        return f"{full[0].upper()}{full[1:]}; nothing was recorded."
    if isinstance(exc, SQLAlchemyError):
        return (
            "The decision log cannot be reached or written right now, so nothing was "
            "recorded. Your earlier decisions are safe; try again in a moment, or tell "
            "whoever runs matchdesk (/health says more)."
        )
    return (
        f"Something went wrong on the server ({type(exc).__name__}); nothing was recorded. "
        "Try again, or reload the page."
    )


def show_error(exc: Exception) -> None:
    """Log ``exc`` and show its message in the page's alert; outputs stay unchanged."""
    _log.error("callback failed", exc_info=exc)
    set_props(ids.MESSAGE, {"children": error_message(exc), "is_open": True, "color": "danger"})
