"""A gunicorn worker that reads each request in its event loop before a thread serves it.

gunicorn's threaded worker (``gthread``) hands a connection to a thread as soon
as its first bytes arrive, and the thread then waits for the rest of the head
and the body: a client that sends them a byte at a time holds the thread, and a
few dozen such clients hold every thread of every worker. :class:`BufferingWorker`
is ``gthread`` that first collects, in the worker's event loop (where waiting
costs no thread), the request's head and a body of up to ``BODY_LIMIT`` bytes;
only a complete request goes to a thread. The collecting must keep up: the
head and body are given ``seconds`` plus one second per ``min_rate`` bytes
received, or the client is answered 408 and dropped. Larger bodies (upload
chunks) and chunked ones go to a thread after the head, where
:class:`server.body_deadline.BodyDeadline` times them.

Plain HTTP/1 only: with TLS or HTTP/2 in gunicorn itself it behaves as ``gthread``
(put TLS in a proxy in front, ``deploy/nginx.conf``).
"""

from __future__ import annotations

import contextlib
import re
import selectors
import time
from functools import partial

from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import ThreadWorker

__all__ = ["BufferingWorker", "BODY_LIMIT", "request_complete"]

#: Bodies up to this size are read whole in the event loop; larger ones by a thread.
BODY_LIMIT = 1024 * 1024
#: A head longer than this goes to a thread as it is (gunicorn refuses it there).
HEAD_LIMIT = 64 * 1024

_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*(\d+)[ \t]*(?=\r\n|$)", re.IGNORECASE)
_HANDED_OVER = re.compile(rb"\r\n(transfer-encoding|expect)[ \t]*:", re.IGNORECASE)

_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 37\r\n\r\nthe request did not arrive in time.\r\n"
)


def request_complete(data: bytes) -> bool:
    """Whether ``data`` holds enough of a request for a thread to serve it without waiting.

    True once the head is complete and its body (``Content-Length``) has
    arrived; right after the head for a body over ``BODY_LIMIT``, a chunked one
    or one behind ``Expect: 100-continue`` (a thread reads those); and for a
    head over ``HEAD_LIMIT``.

    >>> request_complete(b"GET /health HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n")
    True
    >>> head = b"POST /login HTTP/1.1\\r\\nContent-Length: 5\\r\\n\\r\\n"
    >>> request_complete(head + b"ab"), request_complete(head + b"abcde")
    (False, True)
    >>> request_complete(b"POST /x HTTP/1.1\\r\\nContent-Length: 9999999\\r\\n\\r\\n")
    True
    >>> request_complete(b"GET / HTTP/1.1\\r\\nHost: a\\r\\n")
    False
    """
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return len(data) > HEAD_LIMIT
    head = data[:end]
    if _HANDED_OVER.search(head):
        return True
    match = _LENGTH.search(head)
    length = int(match.group(1)) if match else 0
    return length > BODY_LIMIT or len(data) >= end + 4 + length


class _Arriving:
    """A connection whose request is still arriving, with what came so far."""

    def __init__(self, conn, data: bytes, seconds: float, min_rate: float) -> None:
        self.conn = conn
        self.data = bytearray(data)
        self.start = time.monotonic()
        self.seconds = seconds
        self.min_rate = min_rate

    def deadline(self) -> float:
        return self.start + self.seconds + len(self.data) / self.min_rate


class BufferingWorker(ThreadWorker):
    """``gthread`` that hands a thread only requests that have arrived (see the module)."""

    #: The app's ``--body-timeout`` replaces it (see :meth:`load_wsgi`).
    seconds: float = 10.0
    min_rate: float = 500.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._arriving: list[_Arriving] = []

    def load_wsgi(self) -> None:
        """Load the app, and take its body timeout (the Flask setting ``BODY_TIMEOUT``)."""
        super().load_wsgi()
        config = getattr(self.wsgi, "config", None) or {}
        self.seconds = float(config.get("BODY_TIMEOUT", self.seconds))

    def enqueue_req(self, conn) -> None:
        buffering = not (
            self.cfg.is_ssl
            or conn.is_http2
            or negotiation.prior_knowledge_allowed(self.cfg, conn.client)
        )
        if not buffering:
            return super().enqueue_req(conn)
        conn.init()  # plain HTTP/1: makes the parser, reads nothing
        arriving = _Arriving(
            conn, conn.parser.unreader.take_buffered(), self.seconds, self.min_rate
        )
        if arriving.data and request_complete(bytes(arriving.data)):
            return self._hand_over(arriving, registered=False)
        conn.sock.setblocking(False)
        self._arriving.append(arriving)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, arriving))
        return None

    def _on_readable(self, arriving: _Arriving, sock) -> None:
        try:
            chunk = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(arriving, answer=None)
            return
        arriving.data += chunk
        if request_complete(bytes(arriving.data)):
            self._hand_over(arriving, registered=True)

    def _hand_over(self, arriving: _Arriving, *, registered: bool) -> None:
        conn = arriving.conn
        if registered:
            self._forget(arriving)
        conn.sock.setblocking(True)
        conn.parser.unreader.unread(bytes(arriving.data))
        super().enqueue_req(conn)

    def _forget(self, arriving: _Arriving) -> None:
        with contextlib.suppress(OSError, KeyError, ValueError):
            self.poller.unregister(arriving.conn.sock)
        with contextlib.suppress(ValueError):
            self._arriving.remove(arriving)

    def _drop(self, arriving: _Arriving, *, answer: bytes | None) -> None:
        self._forget(arriving)
        if answer is not None:
            with contextlib.suppress(OSError):
                arriving.conn.sock.send(answer)
        self.nr_conns -= 1
        arriving.conn.close()

    def murder_pending(self) -> None:
        """gunicorn's own, then drop with 408 every request that did not arrive in time."""
        super().murder_pending()
        now = time.monotonic()
        for arriving in [a for a in self._arriving if a.deadline() < now]:
            self._drop(arriving, answer=_TIMED_OUT)
