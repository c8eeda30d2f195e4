"""Runs of the Data panel in the background: where they run, their tickets, their progress.

A Run is checked in the request (who asks, what to score) and written down as
a *ticket*: a small JSON file under ``<data dir>/runs`` named by a random id,
which is all the browser holds. The background process reads the ticket from
there, never from the browser, checks the role again against the user store,
and scores. Cancel and the start of saving race for the ticket by renaming it,
so exactly one of them wins: a run cancelled before it saves records nothing
(and the project folder it made is removed), and a run that has begun saving
is let finish (the manager refuses to kill it) so that no project is left
half-written.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, suppress
from pathlib import Path

from dash import DiskcacheManager

from matching.decisions.roles import PermissionDenied, require
from matching.engine.candidates import StepProgress
from matching.engine.uploads import UPLOAD_ID
from server.services import AppConfig, Services

_log = logging.getLogger(__name__)

__all__ = [
    "RunManager",
    "manager_for",
    "runs_folder",
    "write_ticket",
    "Ticket",
    "RunCancelled",
    "cancel_ticket",
    "discard_unrecorded",
    "one_run_per_project",
    "run_status",
    "reporter",
]


class RunCancelled(Exception):
    """The run's ticket was cancelled before the run began saving."""


def runs_folder(config: AppConfig) -> Path:
    """Where tickets and the default manager's cache live: ``<data dir>/runs``."""
    return Path(config.data_dir) / "runs"


def _saving_marker(folder: Path, job: object) -> Path:
    return folder / f"saving-{job}"


class RunManager(DiskcacheManager):
    """Dash's :class:`~dash.DiskcacheManager`, which runs each job in a process of its
    own, except that a job that has begun saving is not killed: it finishes, and the
    process that started a job reaps it (no defunct process is left behind)."""

    def __init__(self, folder: Path) -> None:
        import diskcache

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        super().__init__(diskcache.Cache(str(self.folder / "cache")))

    def call_job_fn(self, key, job_fn, args, context):
        """Start the job's process, and reap it here when it ends: the request that
        reads its result (and would otherwise reap it) may reach another worker."""
        from multiprocess import Process

        process = Process(target=job_fn, args=(key, self._make_progress_key(key), args, context))
        process.start()
        threading.Thread(target=process.join, name=f"reap-{process.pid}", daemon=True).start()
        return process.pid

    def terminate_job(self, job) -> None:
        if job is not None and _saving_marker(self.folder, job).exists():
            return
        super().terminate_job(job)


def manager_for(config: AppConfig):
    """The background-callback manager of an app: Celery workers through
    ``config.celery_broker`` (also the result backend; see :mod:`server.broker`), else
    a :class:`RunManager` with its cache under the data folder."""
    if config.celery_broker:
        from server.broker import celery_manager

        return celery_manager(config.celery_broker, runs_folder(config))
    return RunManager(runs_folder(config))


def _ticket_path(config: AppConfig, ticket: object, suffix: str = ".json") -> Path | None:
    if not isinstance(ticket, str) or not UPLOAD_ID.fullmatch(ticket):
        return None
    return runs_folder(config) / f"{ticket}{suffix}"


def write_ticket(services: Services, order: dict, *, max_age: float = 86400.0) -> str:
    """Keep a checked Run on the server; returns the id the browser holds for it.

    Tickets left for ``max_age`` seconds (a page closed before its run
    started) are swept first.
    """
    folder = runs_folder(services.config)
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - max_age
    for old in folder.glob("*.json"):
        with suppress(OSError):
            if old.stat().st_mtime < cutoff:
                old.unlink()
    for marker in folder.glob("saving-*"):  # left by a run that died while saving
        with suppress(OSError, ValueError):
            if not _alive(int(marker.name.removeprefix("saving-"))):
                marker.unlink()
    ticket = secrets.token_hex(16)
    partial = folder / f"{ticket}.partial"
    partial.write_text(json.dumps(order), encoding="utf-8")
    partial.replace(folder / f"{ticket}.json")
    return ticket


class Ticket:
    """A Run's ticket, read by the process that runs it.

    ``order`` is what the request checked and wrote. :meth:`check_role` asks
    the user store again; :meth:`saving` is the point after which the run
    cannot be cancelled.
    """

    def __init__(self, services: Services, ticket: object) -> None:
        self.services = services
        self.path = _ticket_path(services.config, ticket)
        if self.path is None or not self.path.exists():
            raise ValueError("that run is not on the server (already run or cancelled)")
        self.order = json.loads(self.path.read_text(encoding="utf-8"))

    def started(self, folder: Path | None) -> None:
        """Note, beside the ticket, which process runs it and the project folder it
        makes (None: the folder was there before), so that Cancel can remove that
        folder once the process is gone; :class:`RunCancelled` when Cancel came first."""
        note = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "folder": str(folder) if folder else None,
        }
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(note), encoding="utf-8")
        partial.replace(self.path.with_suffix(".started"))
        # Cancel renames the ticket, then reads this note: a Cancel that came before
        # the note was written is seen here, before anything is written to the folder.
        if not self.path.exists():
            raise RunCancelled("the run was cancelled")

    def check_role(self) -> None:
        """Raise :class:`PermissionDenied` unless whoever asked may still make this run
        (create a project, or re-run one from its stored tables).

        The role was checked in the request; with sign-in on, it is read again
        from the user store, so a user removed or demoted meanwhile is refused.
        """
        name, role = self.order["actor"], self.order["role"]
        action = self.order.get("action", "create_project")
        require(role, action)
        if self.services.sign_in_required():
            user = self.services.users.get(name)
            if user is None:
                raise PermissionDenied(f"{name} is no longer a user")
            require(user.role, action)

    @contextmanager
    def saving(self):
        """Claim the ticket for saving; :class:`RunCancelled` when Cancel won.

        While inside, the :class:`RunManager` will not kill this process, and
        SIGTERM (how Celery stops a task) is ignored.
        """
        folder = self.path.parent
        marker = _saving_marker(folder, os.getpid())
        marker.touch()
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, signal.SIG_IGN) if main else None
        try:
            try:
                self.path.replace(self.path.with_suffix(".saving"))
            except FileNotFoundError:
                raise RunCancelled("the run was cancelled") from None
            yield
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            marker.unlink(missing_ok=True)

    def close(self) -> None:
        """Remove the ticket, whatever state it is in."""
        for suffix in (".json", ".saving", ".started"):
            self.path.with_suffix(suffix).unlink(missing_ok=True)


def discard_unrecorded(services: Services, folder: str | Path, *, locked: bool = False) -> bool:
    """Remove a project folder under the data folder that no project in the log owns
    (the tables a cancelled run wrote before scoring); True when it was removed.

    Unless the caller holds the project's run lock (``locked``), the folder is left
    alone while another run of the same project holds it: that run writes there.
    """
    data = Path(services.config.data_dir).resolve()
    folder = Path(folder).resolve()
    if folder.parent != data or not folder.is_dir() or services.log.project(folder.name):
        return False
    if not locked:
        with _project_lock(services.config, folder.name, wait=False) as held:
            return held and discard_unrecorded(services, folder, locked=True)
    shutil.rmtree(folder, ignore_errors=True)
    return True


@contextmanager
def _project_lock(config: AppConfig, project_id: str, *, wait: bool = True):
    """Hold the run lock of one project id (a file lock every process on this host
    sees); yields True when held. Without ``wait``, yields False at once when another
    process holds it. Where file locks are missing (not POSIX), it always yields True."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - POSIX here
        yield True
        return
    folder = runs_folder(config) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{project_id}.lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def one_run_per_project(
    services: Services, project_id: str, ticket: Ticket, report: StepProgress, *, poll=0.2
):
    """Run alone among the runs that make the same project.

    Two admins running the same set-up on the same tables make one project id and
    so one folder. The second waits (its progress says so) until the first has
    saved (it then finds the project made) or was cancelled (its folder removed),
    and goes on if its own ticket is not cancelled meanwhile. A folder found with
    no project in the log is what a run that was stopped left: it is removed first.
    """
    while True:
        with _project_lock(services.config, project_id, wait=False) as held:
            if held:
                folder = Path(services.config.data_dir) / project_id
                discard_unrecorded(services, folder, locked=True)
                yield
                return
        if not ticket.path.exists():
            raise RunCancelled("the run was cancelled")
        report("waiting", 0, 0)
        time.sleep(poll)


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _ended(pid: int, *, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def cancel_ticket(services: Services, ticket: object, *, wait: float = 5.0) -> bool:
    """Cancel a Run's ticket; True when the run had not begun saving (so it records
    nothing), False when it had (it finishes) or is over.

    Once the run's process has ended (waiting up to ``wait`` seconds for the
    manager to stop it), the tables it wrote before scoring are removed. A run in
    another process that was not stopped finds its ticket cancelled when it is
    about to save, and removes them itself.
    """
    path = _ticket_path(services.config, ticket)
    if path is None:
        return False
    try:
        path.replace(path.with_suffix(".cancelled"))
    except FileNotFoundError:
        return False
    path.with_suffix(".cancelled").unlink(missing_ok=True)
    started = path.with_suffix(".started")
    try:
        note = json.loads(started.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    here = note.get("host") == socket.gethostname()
    pid = int(note.get("pid") or 0)
    if note.get("folder") and here and pid != os.getpid() and _ended(pid, wait=wait):
        discard_unrecorded(services, note["folder"])
        started.unlink(missing_ok=True)
    return True


#: Each step's share of the progress bar, in percent.
_SPANS = {
    "waiting": (0, 0),
    "reading": (0, 5),
    "blocking": (5, 10),
    "blocking at most": (5, 10),
    "scoring": (10, 95),
    "scoring at most": (10, 95),
    "scoring records": (10, 95),
    "saving": (95, 100),
}


def run_status(step: str, done: int, total: int) -> tuple[int, str, str]:
    """The progress bar's value and label and the words for a step of a run.

    >>> run_status("scoring", 500, 1000)
    (52, '52%', 'Scoring: 500 of 1,000 pairs')
    >>> run_status("scoring at most", 500, 1000)[2]
    'Scoring: 500 of at most 1,000 pairs'
    """
    low, high = _SPANS.get(step, (0, 100))
    share = min(done / total, 1.0) if total > 0 else 0.0
    value = round(low + (high - low) * share)
    if step == "waiting":
        text = "Waiting: another run is making this same project (same tables and set-up)"
    elif step == "reading":
        text = f"Reading the tables ({done} of {total})"
    elif step == "blocking":
        text = f"Blocking: {total:,} pairs to score" if total else "Blocking: finding the pairs"
    elif step == "blocking at most":
        text = f"Blocking: at most {total:,} pairs to score (the rules overlap)"
    elif step == "scoring":
        text = f"Scoring: {done:,} of {total:,} pairs"
    elif step == "scoring at most":
        text = f"Scoring: {done:,} of at most {total:,} pairs"
    elif step == "scoring records":
        text = f"Scoring: {done:,} of {total:,} records"
    elif step == "saving":
        text = "Saving the project (it can no longer be cancelled)"
    else:
        text = step
    return value, f"{value}%", text


def reporter(
    set_progress: Callable[[tuple], None], *, every: float = 0.2, in_thread: bool = False
) -> StepProgress:
    """A ``progress(step, done, total)`` that sends :func:`run_status` to the page:
    on every new step, at the end of a step, and otherwise at most every ``every`` s.

    With ``in_thread``, a thread of its own sends the latest status, so a
    ``set_progress`` that waits or fails (a broker that stopped answering) neither
    holds up nor fails the run; the run's own steps never wait for the page.
    """
    last = {"step": None, "at": 0.0}
    send = _Latest(set_progress).put if in_thread else set_progress

    def progress(step: str, done: int, total: int) -> None:
        now = time.monotonic()
        if step == last["step"] and now - last["at"] < every and not (total and done >= total):
            return
        last.update(step=step, at=now)
        send(run_status(step, done, total))

    return progress


class _Latest:
    """The latest value put, handed to ``send`` by a thread of its own.

    Values put while a send is going on replace each other: only the latest is
    sent next. A send that raises is logged once and forgotten (the next value
    tries again). The thread ends after ``idle`` seconds with nothing to send and
    starts again with the next value.
    """

    def __init__(self, send: Callable[[tuple], None], *, idle: float = 5.0) -> None:
        self._send = send
        self._idle = idle
        self._ready = threading.Condition()
        self._value: tuple | None = None
        self._thread: threading.Thread | None = None
        self._failed = False

    def put(self, value: tuple) -> None:
        with self._ready:
            self._value = value
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="run-progress", daemon=True)
                self._thread.start()
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                if self._value is None:
                    self._ready.wait(self._idle)
                if self._value is None:
                    self._thread = None
                    return
                value, self._value = self._value, None
            try:
                self._send(value)
            except Exception as exc:  # the broker is away: the run goes on without the page
                if not self._failed:
                    _log.warning("progress not sent (%r); the run goes on", exc)
                self._failed = True
