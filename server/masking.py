"""Passwords inside URLs (``scheme://user:password@host``) are masked in every message and log.

A database or broker URL carries its password; an error that quotes the URL
(a refused connection, a URL that does not parse) must not print it to the
terminal, the server's log or the page.
"""

from __future__ import annotations

import logging
import re

__all__ = ["hide_passwords", "mask_logs"]

_PASSWORD = re.compile(r"(://[^:/@\s'\"]*:)[^@\s'\"]+@")


def hide_passwords(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` replaced by ``***``.

    >>> hide_passwords("cannot open postgresql+psycopg://u:PW@127.0.0.1:1/x: refused")
    'cannot open postgresql+psycopg://u:***@127.0.0.1:1/x: refused'
    >>> hide_passwords("redis://:s3cret@host:6379/0 and sqlite:///a.db")
    'redis://:***@host:6379/0 and sqlite:///a.db'
    """
    return _PASSWORD.sub(r"\1***@", text)


_installed = False
_FORMATTER = logging.Formatter()


def mask_logs() -> None:
    """From now on, every log record of this process has its URLs' passwords masked."""
    global _installed
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def masked(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: leave it
            return record
        if "://" in message:
            record.msg, record.args = hide_passwords(message), None
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set: the traceback, masked.
            record.exc_text = hide_passwords(_FORMATTER.formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(masked)
