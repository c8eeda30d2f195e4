"""A request body must keep arriving, or the request ends with 408 and frees its thread.

Under gunicorn a request's body is read by the worker thread serving it, so a
client that sends its body a byte at a time would hold that thread for as long
as it likes; a few such clients hold them all and the server stops answering,
sign-in or not. :class:`BodyDeadline` gives each body ``seconds`` plus one
second per ``min_rate`` bytes received (Apache's ``mod_reqtimeout`` rule: a
slow but honest upload keeps going, a trickle does not); past that, a watchdog
thread shuts the socket's reading side, the blocked read returns, and the
request is answered ``408 Request Timeout``. A buffering proxy in front (see
``deploy/nginx.conf``) keeps slow clients away from the workers altogether.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

from werkzeug.exceptions import RequestTimeout

__all__ = ["BodyDeadline"]


class BodyDeadline:
    """WSGI middleware: bodies arrive within ``seconds`` + received bytes / ``min_rate``.

    Applies to requests with a body served by gunicorn (which hands the
    client's socket over as ``gunicorn.socket``); Flask's own server serves each
    connection in a thread of its own and is left alone.
    """

    def __init__(self, app, *, seconds: float = 10.0, min_rate: float = 500.0, tick: float = 0.25):
        self.app = app
        self.seconds = seconds
        self.min_rate = min_rate
        self.tick = tick
        self._reading: set[_TimedBody] = set()
        self._lock = threading.Lock()
        self._watchdog_pid: int | None = None

    def __call__(self, environ, start_response):
        sock = environ.get("gunicorn.socket")
        if sock is None or not _has_body(environ):
            return self.app(environ, start_response)
        body = _TimedBody(environ["wsgi.input"], sock, self.seconds, self.min_rate)
        environ["wsgi.input"] = body
        with self._lock:
            self._reading.add(body)
            if self._watchdog_pid != os.getpid():  # threads do not survive a fork
                self._watchdog_pid = os.getpid()
                threading.Thread(target=self._watch, name="body-deadline", daemon=True).start()
        try:
            return self.app(environ, start_response)
        finally:
            with self._lock:
                self._reading.discard(body)

    def _watch(self) -> None:
        while True:
            time.sleep(self.tick)
            now = time.monotonic()
            with self._lock:
                late = [body for body in self._reading if body.deadline() < now]
                self._reading.difference_update(late)
            for body in late:
                body.expire()


def _has_body(environ) -> bool:
    length = environ.get("CONTENT_LENGTH") or "0"
    return length.strip() not in ("", "0") or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "")


class _TimedBody:
    """``wsgi.input`` that counts what arrived; once expired, every read raises 408."""

    def __init__(self, stream, sock: socket.socket, seconds: float, min_rate: float) -> None:
        self._stream = stream
        self._sock = sock
        self._start = time.monotonic()
        self._seconds = seconds
        self._min_rate = min_rate
        self._received = 0
        self._expired = False

    def deadline(self) -> float:
        return self._start + self._seconds + self._received / self._min_rate

    def expire(self) -> None:
        self._expired = True
        with contextlib.suppress(OSError):  # already closed
            self._sock.shutdown(socket.SHUT_RD)  # a read blocked on it returns now

    def _check(self, data: bytes) -> bytes:
        if self._expired:
            raise RequestTimeout(
                f"the request's body did not arrive in time (at least {self._min_rate:g} "
                f"bytes a second after the first {self._seconds:g} seconds)"
            )
        self._received += len(data)
        return data

    def read(self, size: int = -1) -> bytes:
        return self._check(b"" if self._expired else self._stream.read(size))

    def readline(self, size: int = -1) -> bytes:
        return self._check(b"" if self._expired else self._stream.readline(size))

    def readlines(self, hint: int = -1) -> list[bytes]:
        return [self._check(line) for line in self._stream.readlines(hint)]

    def __iter__(self):
        while line := self.readline():
            yield line
