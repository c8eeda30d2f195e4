"""A full disk, met by any route (an upload's chunk, an export's file), is answered with why.

Without this, an ``OSError`` for a full disk is Flask's bare HTML 500; with it,
the answer is ``507 Insufficient Storage`` and a sentence the page shows (JSON
``{"error": ...}`` for the page's own requests, plain text for a browser).
"""

from __future__ import annotations

import errno

from flask import Response, jsonify, request

__all__ = ["register", "disk_full_message", "DISK_FULL"]

DISK_FULL = (
    "the server's disk is full, so nothing could be written. Ask whoever runs matchdesk "
    "to free some space, then try again"
)


def disk_full_message(exc: BaseException) -> str | None:
    """The sentence for ``exc`` when it is a full disk (or quota), else None.

    >>> disk_full_message(OSError(errno.ENOSPC, "No space left on device")) == DISK_FULL
    True
    >>> disk_full_message(OSError(errno.EACCES, "Permission denied")) is None
    True
    """
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DISK_FULL
    return None


def register(app) -> None:
    @app.server.errorhandler(OSError)
    def disk_full(exc: OSError):
        message = disk_full_message(exc)
        if message is None:
            raise exc  # any other failure: Flask's 500, logged
        if request.accept_mimetypes.accept_html and not request.accept_mimetypes.accept_json:
            return Response(message[0].upper() + message[1:] + ".", 507, mimetype="text/plain")
        response = jsonify({"error": message})
        response.status_code = 507
        return response
