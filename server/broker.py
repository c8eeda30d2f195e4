"""Runs on Celery workers through a broker (Redis) that may stop while a run goes on.

Dash's :class:`~dash.CeleryManager` asks the broker's result store for a run's
progress and result each time the page polls. With the broker stopped, each
question raised, the poll answered 500, and the page dropped the run: its progress
bar vanished with no message and Run was enabled again, while the worker went on
(or failed on its next progress report) and stored a result nobody asked for.

:class:`BrokerTolerantManager` answers a poll it cannot put to the broker with
"still running", and with progress that says the broker is unreachable, so the
page keeps the run (its progress bar, Cancel, the ticket) and asks again; once
the broker answers, the result is read and announced as usual. On the worker's
side, a finished run keeps its result on disk too, in the runs folder the app and
its workers share, and the page reads it from there when the broker has none (a
Redis restarted without its data) or cannot be asked; the worker then waits for
the broker to answer (up to :data:`RESULT_PATIENCE` seconds) before storing the
result there, instead of trying 20 times and failing. Progress is sent from a thread of
its own (see :func:`server.runs.reporter`), so a broker that does not answer never
holds up or fails the scoring. A Run clicked while the broker is away is refused
with a message (:func:`broker_answers`, asked when the Run is checked); a task is
never sent to a broker that does not answer (:class:`BrokerUnreachable`), which would
hold the request for minutes. A worker marks on disk each run it starts, and a run no
worker has taken for a minute says so (:data:`NOT_TAKEN`): a broker restarted without
its data loses the runs it held, and nothing else would tell.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import time
from collections import OrderedDict
from contextlib import suppress
from pathlib import Path

from dash import CeleryManager

__all__ = [
    "BrokerTolerantManager",
    "BrokerUnreachable",
    "broker_answers",
    "celery_manager",
    "BROKER_DOWN",
    "NOT_STARTED",
    "NOT_TAKEN",
    "NOT_TAKEN_AFTER",
    "RESULT_PATIENCE",
]

#: What the page shows under the progress bar while the broker does not answer.
BROKER_DOWN = (
    "⚠ The task broker (Redis) is unreachable. The run goes on and its state is kept;"
    " this page asks again every moment and shows the result once the broker is back."
)

#: How long a worker waits for the broker to store a finished run's result, in seconds.
RESULT_PATIENCE = 24 * 3600

#: Seconds to wait for a connection to the broker before calling it unreachable.
CONNECT_TIMEOUT = 5

#: Seconds a run may wait for a worker before the page says none has taken it.
NOT_TAKEN_AFTER = 60.0

#: What the page shows while no worker has taken a run for :data:`NOT_TAKEN_AFTER`.
NOT_TAKEN = (
    "⚠ No worker has taken this run for a minute: the workers may all be busy or"
    " stopped, or a task broker that restarted lost it. It starts when a worker takes it;"
    " Cancel gives it up."
)

#: What the page says of a Run clicked while the broker does not answer.
NOT_STARTED = (
    "the task broker (Redis) is unreachable, so the run was not started; try again once it is back"
)


def broker_answers(broker: str) -> bool:
    """Whether the Redis at ``broker`` answers a ping within :data:`CONNECT_TIMEOUT` s."""
    import redis

    client = redis.Redis.from_url(
        broker, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def celery_manager(broker: str, folder: str | Path) -> BrokerTolerantManager:
    """The manager of runs on Celery workers through ``broker`` (also the result store),
    keeping finished runs' results in ``folder`` as well (shared with the workers)."""
    from celery import Celery

    celery = Celery("matchdesk", broker=broker, backend=broker)
    celery.conf.broker_connection_retry_on_startup = True
    celery.conf.redis_socket_connect_timeout = CONNECT_TIMEOUT
    celery.conf.broker_connection_timeout = CONNECT_TIMEOUT
    return BrokerTolerantManager(celery, folder)


class BrokerUnreachable(RuntimeError):
    """The broker did not answer when a run was to be started."""


class BrokerTolerantManager(CeleryManager):
    """Dash's Celery manager, whose polls outlive a broker that stopped answering.

    Each question a poll puts to the broker (progress, result, whether the job
    runs, the properties it set) is answered as "nothing yet, still running" when
    the broker cannot be reached, and the progress says so (:data:`BROKER_DOWN`)
    beside the last bar this process showed. Cancel's termination order is dropped
    the same way: the ticket is cancelled on disk regardless, and the run finds it
    before it saves.
    """

    #: Runs whose last progress this process remembers (the bar stays where it was).
    REMEMBERED = 256

    #: Results on disk that no page came for are removed after this many seconds.
    KEPT_FOR = 7 * 24 * 3600

    def __init__(self, celery_app, folder: str | Path, cache_by=None, expire=None) -> None:
        super().__init__(celery_app, cache_by=cache_by, expire=expire)
        self.folder = Path(folder) / "results"
        from kombu.exceptions import OperationalError

        backend = celery_app.backend
        self._unreachable = (
            *getattr(backend, "connection_errors", ()),
            OperationalError,
            OSError,
            TimeoutError,
        )
        self._shown: OrderedDict[str, list] = OrderedDict()
        self._shown_lock = threading.Lock()

    def _remember(self, key: str, progress: list) -> None:
        with self._shown_lock:
            self._shown[key] = progress
            self._shown.move_to_end(key)
            while len(self._shown) > self.REMEMBERED:
                self._shown.popitem(last=False)

    def _broker_answers(self) -> bool:
        try:
            self.handle.backend.client.ping()
        except self._unreachable:
            return False
        return True

    @staticmethod
    def _run_id(callback_args) -> str:
        """The same id for a run's arguments in the app (its cache key's job) and in
        the worker (the callback's keyword arguments)."""
        text = json.dumps(callback_args, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def _write(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)

    def call_job_fn(self, key, job_fn, args, context):
        # Asked first: sending a task to a broker that is away tries for a long time.
        if not self._broker_answers():
            raise BrokerUnreachable(NOT_STARTED)
        cutoff = time.time() - self.KEPT_FOR
        for old in self.folder.glob("*"):
            with suppress(OSError):
                if old.stat().st_mtime < cutoff:
                    old.unlink()
        self._write(self.folder / f"{key}.job", self._run_id(args))
        return super().call_job_fn(key, job_fn, args, context)

    def make_job_fn(self, fn, progress, key=None):
        @functools.wraps(fn)
        def kept_then_stored(*args, **kwargs):
            run = self._run_id(kwargs or [a for a in args if not callable(a)])
            self._write(self.folder / f"{run}.started", "")
            outcome = fn(*args, **kwargs)
            self._write(self.folder / f"{run}.result", json.dumps(outcome, default=str))
            deadline = time.monotonic() + RESULT_PATIENCE
            while not self._broker_answers() and time.monotonic() < deadline:
                time.sleep(1)
            return outcome

        return super().make_job_fn(kept_then_stored, progress, key)

    def _kept_result(self, key: str):
        """The result the worker kept on disk for the run of cache key ``key``, taken
        (removed) as the page reads it; UNDEFINED when there is none (yet)."""
        job = self.folder / f"{key}.job"
        try:
            result = self.folder / f"{job.read_text(encoding='utf-8').strip()}.result"
            value = json.loads(result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return self.UNDEFINED
        for path in (result, result.with_suffix(".started"), job):
            path.unlink(missing_ok=True)
        with suppress(*self._unreachable):  # what the broker may still hold for it
            self.clear_cache_entry(key)
        return value

    def _forget(self, key: str) -> None:
        job = self.folder / f"{key}.job"
        with suppress(OSError, ValueError):
            run = job.read_text(encoding="utf-8").strip()
            for suffix in (".result", ".started"):
                (self.folder / f"{run}{suffix}").unlink(missing_ok=True)
        job.unlink(missing_ok=True)

    def _not_taken(self, key: str) -> bool:
        """Whether the run of cache key ``key`` was sent over :data:`NOT_TAKEN_AFTER`
        seconds ago and no worker has started it (the worker marks it on disk)."""
        job = self.folder / f"{key}.job"
        try:
            age = time.time() - job.stat().st_mtime
            run = job.read_text(encoding="utf-8").strip()
        except OSError:
            return False
        return age > NOT_TAKEN_AFTER and not (self.folder / f"{run}.started").exists()

    def get_progress(self, key):
        try:
            progress = super().get_progress(key)
        except self._unreachable:
            with self._shown_lock:
                value, label, *_ = self._shown.get(key) or [0, "", ""]
            return [value, label, BROKER_DOWN]
        if progress:
            self._remember(key, progress)
        elif self._not_taken(key):
            return [0, "", NOT_TAKEN]
        return progress

    def get_result(self, key, job):
        try:
            result = super().get_result(key, job)
        except self._unreachable:
            return self._kept_result(key)
        if result is self.UNDEFINED:  # not there (yet), or lost by a restarted broker
            return self._kept_result(key)
        self._forget(key)
        return result

    def result_ready(self, key):
        try:
            return super().result_ready(key)
        except self._unreachable:
            return False

    def job_running(self, job):
        try:
            return super().job_running(job)
        except self._unreachable:
            return True  # it cannot be asked: the page keeps the run and asks again

    def get_updated_props(self, key):
        try:
            return super().get_updated_props(key)
        except self._unreachable:
            return {}

    def terminate_job(self, job):
        # A quick question first: a broadcast to a broker that is away tries for seconds.
        if not self._broker_answers():
            return None
        try:
            return super().terminate_job(job)
        except self._unreachable:
            return None
