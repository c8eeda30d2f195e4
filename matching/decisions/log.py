"""The durable decision log: projects, review events and record leases in a database.

:class:`DecisionLog` keeps every :class:`~matching.decisions.events.Event` of every project
in an append-only table, so the review state of a project is always
``replay(log.events(project_id))``, whatever happened to the browser or the
server. It runs on SQLAlchemy Core: the embedded default is a SQLite file, and
any other SQLAlchemy URL (PostgreSQL) lets several app processes share one log.

The database, its engine and how SQLite is opened (WAL, ``BEGIN IMMEDIATE`` for
every write, ``synchronous=FULL``) are :mod:`matching.decisions.db`'s, shared with
the users' store.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time as _time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from matching.decisions.db import BUSY_TIMEOUT, Database
from matching.decisions.events import Batch, Event, ReviewState, replay
from matching.decisions.held_settings import HeldSettings
from matching.decisions.log_tables import (
    BATCH_KIND,
    CHUNK,
    FACTS,
    batch_data_table,
    batches_of,
    events_table,
    expand_rows,
    heartbeat_table,
    leases_table,
    projects_table,
    read_rows,
)
from matching.decisions.settings import ProjectSettings
from matching.decisions.transaction import ProjectTransaction

__all__ = ["DecisionLog", "ProjectTransaction", "DEFAULT_URL"]

#: The database used when none is given: a SQLite file in the working folder.
DEFAULT_URL = "sqlite:///matchdesk.db"

_T = TypeVar("_T")


@dataclass
class _Cache:
    """The events of one project read so far, and the state they replay to."""

    last_seq: int = 0
    events: list[Event] = field(default_factory=list)
    state: ReviewState | None = None
    rows: int = 0


class DecisionLog:
    """Projects, their append-only review events and record leases, in one database.

    Parameters
    ----------
    url : str
        A SQLAlchemy URL; ``sqlite:///path.db`` (the default is
        ``sqlite:///matchdesk.db`` in the working folder) or for example
        ``postgresql+psycopg://user@host/db``. The tables are created on first use.
    busy_timeout : float
        SQLite only: seconds a writer waits for another writer to finish.

    Notes
    -----
    One instance is safe to share between the threads of a process (its engine
    pools connections); make one per process, after any fork. An in-memory
    SQLite URL (``sqlite://``) shares one connection and suits single-threaded
    tests only. Nothing touches
    the database until the first call, so a server can start while its database
    is down and :meth:`healthy` reports it.

    Examples
    --------
    >>> from matching.decisions.events import make_event
    >>> log = DecisionLog("sqlite://")
    >>> log.ensure_project("p1", name="demo")
    True
    >>> log.append("p1", make_event("reject", event_id="e1", left_id="7", now=0.0))
    True
    >>> log.append("p1", make_event("reject", event_id="e1", left_id="7", now=0.0))
    False
    >>> sorted(log.state("p1").decisions)
    ['7']
    """

    def __init__(
        self, url: str | Database = DEFAULT_URL, *, busy_timeout: float = BUSY_TIMEOUT
    ) -> None:
        #: The database and its one engine (shared with a users' store made on it).
        self.database = (
            url if isinstance(url, Database) else Database(url, busy_timeout=busy_timeout)
        )
        self.url = self.database.url
        self._lock = threading.Lock()
        self._caches: dict[str, _Cache] = {}
        self._held = HeldSettings(projects_table.c.settings_version, projects_table.c.meta)

    def __repr__(self) -> str:
        return f"DecisionLog({self.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        """Close the pooled connections; the log reconnects if used again."""
        self.database.close()

    def forget_connections(self) -> None:
        """After a fork, in the child: new connections from here on, leaving the
        parent's pooled ones open for the parent (SQLAlchemy's multiprocessing advice)."""
        self.database.forget_connections()
        self._lock = threading.Lock()

    # -- transactions ------------------------------------------------------

    def check(self) -> None:
        """Open the database and make its tables; raises ``SQLAlchemyError`` when it cannot.

        A server calls this at start, so an unreadable database stops it with a
        message instead of failing on the first request.
        """
        self.database.setup()
        self.database.check_file()
        with self.database.read() as conn:
            conn.execute(sa.select(sa.func.count()).select_from(projects_table)).scalar()

    @contextmanager
    def transaction(self, project_id: str) -> Iterator[ProjectTransaction]:
        """A write transaction holding the project's lock, for read-check-write rules.

        Every writer of a project's events takes this lock first (on SQLite the
        whole database is locked by ``BEGIN IMMEDIATE``; on a server database the
        project's row is locked with ``SELECT ... FOR UPDATE``), so inside it
        nothing else changes the project's events or leases, and event sequence
        numbers grow in commit order: reading "events after seq n" never misses
        one that commits later.

        Raises
        ------
        ValueError
            When there is no such project.
        """
        with self.database.write() as conn:
            held = self._held.held(project_id)
            query = (
                self._held.select(held)
                .where(projects_table.c.project_id == project_id)
                .with_for_update()
            )
            row = conn.execute(query).first()
            if row is None:
                raise ValueError(f"there is no project {project_id!r}")
            settings = self._held.of(project_id, held, *row)
            yield ProjectTransaction(conn, project_id, settings, self._held)

    # -- projects ----------------------------------------------------------

    def ensure_project(
        self,
        project_id: str,
        *,
        name: str,
        settings: ProjectSettings | None = None,
        number: Callable[[list[dict]], int] | None = None,
    ) -> bool:
        """Create the project unless it exists.

        Parameters
        ----------
        project_id : str
            A stable id, for example built from the input tables' hashes and the
            spec's digest, so the same inputs reopen the same project.
        name : str
            The name shown in the project list.
        settings : ProjectSettings, optional
            Its spec, tables, floor and thresholds; unset ones when None.
        number : callable, optional
            Given the projects already named ``name`` (as :meth:`projects` lists
            them), the version this one gets; asked inside the transaction that
            creates it, so two projects made at once under one name never get the
            same version.

        Returns
        -------
        bool
            True when the project was created, False when it already existed (its
            name and settings are left as they were; see :meth:`change_settings`).
        """
        settings = settings or ProjectSettings()
        try:
            with self.database.write() as conn:
                if self._project_exists(conn, project_id):
                    return False
                if number is not None:
                    if conn.dialect.name == "postgresql":  # SQLite's write lock is whole
                        conn.execute(sa.text("LOCK TABLE projects IN SHARE ROW EXCLUSIVE MODE"))
                    same = self._project_rows(conn, projects_table.c.name == name)
                    settings = dataclasses.replace(settings, version=number(same))
                row = {
                    "project_id": project_id,
                    "name": name,
                    "created": _time.time(),
                    **self._held.row(settings),
                }
                conn.execute(projects_table.insert().values(**row))
        except IntegrityError:
            return False
        return True

    def projects(self) -> list[dict]:
        """Every project, oldest first.

        Returns
        -------
        list of dict
            Keys ``project_id, name, created`` (epoch seconds), ``settings``
            (:class:`~matching.decisions.settings.ProjectSettings`), ``events`` (how
            many events it has) and ``last_event`` (the time of its latest event, or
            None).
        """
        with self.database.read() as conn:
            return self._project_rows(conn)

    def _project_rows(self, conn: Connection, where=None) -> list[dict]:
        counts = (
            sa.select(
                events_table.c.project_id,
                sa.func.count().label("events"),
                sa.func.max(events_table.c.time).label("last_event"),
            )
            .group_by(events_table.c.project_id)
            .subquery()
        )
        query = (
            sa.select(projects_table, counts.c.events, counts.c.last_event)
            .select_from(
                projects_table.outerjoin(counts, counts.c.project_id == projects_table.c.project_id)
            )
            .order_by(projects_table.c.created, projects_table.c.project_id)
        )
        if where is not None:
            query = query.where(where)
        rows = conn.execute(query).mappings().all()
        return [
            {
                "project_id": r["project_id"],
                "name": r["name"],
                "created": r["created"],
                "settings": self._held.of(
                    r["project_id"],
                    self._held.held(r["project_id"]),
                    r["settings_version"],
                    r["meta"],
                ),
                "events": int(r["events"] or 0),
                "last_event": r["last_event"],
            }
            for r in rows
        ]

    def project(self, project_id: str) -> dict | None:
        """The project's ``project_id, name, created, settings``, or None when there is none."""
        held = self._held.held(project_id)
        c = projects_table.c
        query = self._held.select(held, c.name, c.created).where(c.project_id == project_id)
        with self.database.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        version, text, name, created = row
        settings = self._held.of(project_id, held, version, text)
        return {"project_id": project_id, "name": name, "created": created, "settings": settings}

    # -- settings ----------------------------------------------------------

    def settings(self, project_id: str) -> ProjectSettings:
        """The project's settings now: one short read, and the settings themselves are
        read and parsed only when they changed since this process last saw them.

        Raises
        ------
        ValueError
            When there is no such project.
        """
        held = self._held.held(project_id)
        query = self._held.select(held).where(projects_table.c.project_id == project_id)
        with self.database.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise ValueError(f"there is no project {project_id!r}")
        return self._held.of(project_id, held, *row)

    def change_settings(
        self, project_id: str, change: Callable[[ProjectSettings], ProjectSettings]
    ) -> ProjectSettings:
        """Write ``change(settings)`` in the project's transaction; returns what was written.

        The settings are read and written under the lock decisions are written
        under (see :meth:`transaction`), so two changes at once are applied one
        after the other and neither is lost. An exception from ``change`` (a
        ``ValueError`` saying what is wrong) writes nothing.

        Raises
        ------
        ValueError
            When there is no such project, or from ``change``.
        """
        with self.transaction(project_id) as tx:
            settings = change(tx.settings)
            tx.save_settings(settings)
        return settings

    @staticmethod
    def _project_exists(conn: Connection, project_id: str) -> bool:
        query = sa.select(projects_table.c.project_id).where(
            projects_table.c.project_id == project_id
        )
        return conn.execute(query).first() is not None

    # -- events ------------------------------------------------------------

    def append(self, project_id: str, event: Event) -> bool:
        """Record one event, durably, before returning.

        Returns
        -------
        bool
            True when written; False, and nothing written, when the project
            already has an event with this ``event_id`` (a double click).

        Raises
        ------
        ValueError
            When there is no such project.
        """
        return self.append_many(project_id, [event]) == 1

    def append_many(self, project_id: str, events: Iterable[Event]) -> int:
        """Record several events in one transaction: all of them or, on error, none.

        Events whose ``event_id`` the project already has, or that repeat an
        earlier id of ``events``, are left out.

        Returns
        -------
        int
            How many events were written.

        Raises
        ------
        ValueError
            When there is no such project.
        """
        unique = list({e.event_id: e for e in reversed(list(events))}.values())[::-1]
        return self._retry(lambda: self._append_new(project_id, unique))

    def _append_new(self, project_id: str, events: list[Event]) -> int:
        with self.transaction(project_id) as tx:
            return tx.insert(events)

    @staticmethod
    def _retry(write: Callable[[], _T]) -> _T:
        """Run ``write`` again when a concurrent transaction inserted the same key first.

        Only server databases get here: SQLite writers are serialised by
        ``BEGIN IMMEDIATE``, so their check-then-insert cannot race.
        """
        for attempt in range(3):
            try:
                return write()
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def events(self, project_id: str, *, after_seq: int = 0) -> list[Event]:
        """The project's events, oldest first; only those after ``after_seq`` when given.

        A compact batch is expanded into the events it stands for.
        """
        return [e for _, e in expand_rows(self._rows(project_id, after_seq=after_seq))]

    def events_by_id(self, project_id: str, event_ids: Iterable[str]) -> dict[str, Event]:
        """The project's events with these ids (compact batches' members are not rows
        and are not found), event id -> event; ids the log lacks are left out."""
        wanted = list(dict.fromkeys(event_ids))
        out: dict[str, Event] = {}
        c = events_table.c
        with self.database.read() as conn:
            for start in range(0, len(wanted), CHUNK):
                query = sa.select(c.event_id, c.payload).where(
                    c.project_id == project_id,
                    c.kind != BATCH_KIND,
                    c.event_id.in_(wanted[start : start + CHUNK]),
                )
                for eid, payload in conn.execute(query):
                    out[eid] = Event.from_dict(json.loads(payload))
        return out

    def event_rows(
        self, project_id: str, *, after_seq: int = 0, compact: bool = False
    ) -> list[tuple[int, Event | Batch]]:
        """``(seq, event)`` of the project's events after ``after_seq``, oldest first.

        With ``compact``, a batch is one :class:`~matching.decisions.events.Batch`;
        otherwise it is expanded into its events, which all carry its ``seq``.
        """
        rows = self._rows(project_id, after_seq=after_seq)
        return rows if compact else expand_rows(rows)

    def event_facts(self, project_id: str, *, after_seq: int = 0) -> Iterator[tuple]:
        """What review rules read of each event, without its scores and thresholds.

        Yields ``(seq, event_id, kind, left_id, right_ids, reviewer, time,
        automatic, batch, target, edits, exception, sample, reason)`` oldest first
        (``edits`` None when the event has none), and ``(seq, batch)`` for a
        compact :class:`~matching.decisions.events.Batch`. The database picks these fields
        out of the stored JSON, so reading a million events does not parse a
        million payloads in Python.
        """
        backend = self.url.get_backend_name()
        payload = events_table.c.payload
        if backend == "sqlite":
            picked = [sa.func.json_extract(payload, f"$.{k}") for k in FACTS]
        elif backend == "postgresql":
            as_json = sa.cast(payload, sa.JSON)
            picked = [sa.func.json_extract_path_text(as_json, k) for k in FACTS]
        else:
            for seq, e in self._rows(project_id, after_seq=after_seq):
                if isinstance(e, Batch):
                    yield seq, e
                    continue
                facts = (e.event_id, e.kind, e.left_id, e.right_ids, e.reviewer, e.time)
                extra = (e.edits or None, e.exception, e.sample, e.reason)
                yield (seq, *facts, e.automatic, e.batch, e.target, *extra)
            return
        c = events_table.c
        rights, target, edits, exception, sample, reason = picked
        query = (
            sa.select(c.seq, c.event_id, c.kind, c.left_id, rights, c.reviewer, c.time)
            .add_columns(c.automatic, c.batch, target, edits, exception, sample, reason)
            .where(c.project_id == project_id, c.seq > after_seq)
            .order_by(c.seq)
        )
        with self.database.read() as conn:
            rows = conn.execute(query).all()
            batches = batches_of(
                conn, project_id, [r.event_id for r in rows if r.kind == BATCH_KIND]
            )
        loads = json.loads
        for seq, eid, kind, left, right_ids, who, when, auto, batch, tgt, *more in rows:
            if kind == BATCH_KIND:
                yield seq, batches[eid]
                continue
            changed, exc, drawn, why = more
            rights_list = tuple(loads(right_ids)) if right_ids else ()
            cells = loads(changed) if changed and changed != "{}" else None
            kept = exc in (1, True, "true", "1")
            picks = tuple(loads(drawn)) if drawn and drawn != "[]" else ()
            facts = (eid, kind, left, rights_list, who, when, bool(auto), batch, tgt)
            yield (seq, *facts, cells, kept, picks, why)

    def last_seq(self, project_id: str) -> int:
        """The sequence number of the project's latest event (0 when it has none)."""
        query = sa.select(sa.func.max(events_table.c.seq)).where(
            events_table.c.project_id == project_id
        )
        with self.database.read() as conn:
            return int(conn.execute(query).scalar() or 0)

    def _rows(
        self, project_id: str, *, after_seq: int = 0, conn: Connection | None = None
    ) -> list[tuple[int, Event | Batch]]:
        if conn is None:
            with self.database.read() as conn:
                return read_rows(conn, project_id, after_seq)
        return read_rows(conn, project_id, after_seq)

    def state(self, project_id: str) -> ReviewState:
        """The project's review state: :func:`~matching.decisions.events.replay` of its events.

        Events read before are cached, so a call reads only the new ones.
        """
        with self._lock:
            cache = self._caches.get(project_id, _Cache())
        count_query = sa.select(sa.func.count()).where(events_table.c.project_id == project_id)
        with self.database.read() as conn:
            new = self._rows(project_id, after_seq=cache.last_seq, conn=conn)
            # Counting after reading: a total larger than expected means a
            # transaction committed an earlier seq late (possible on a server
            # database), so read everything again.
            total = conn.execute(count_query).scalar()
            if total != cache.rows + len(new):
                cache = _Cache()
                new = self._rows(project_id, conn=conn)
        if new or cache.state is None:
            events = cache.events + [e for _, e in expand_rows(new)]
            last = new[-1][0] if new else cache.last_seq
            cache = _Cache(last, events, replay(events), cache.rows + len(new))
            with self._lock:
                self._caches[project_id] = cache
        return cache.state

    # -- leases ------------------------------------------------------------

    def acquire_lease(
        self,
        project_id: str,
        left_id: str,
        reviewer: str,
        *,
        ttl: float = 300,
        now: float | None = None,
        exclusive: bool = True,
    ) -> bool:
        """Reserve a record for a reviewer for ``ttl`` seconds.

        Parameters
        ----------
        ttl : float
            Seconds the lease lasts from ``now``.
        now : float, optional
            The time (epoch seconds); the clock when None.
        exclusive : bool
            Release the reviewer's other leases in the project on success: a
            reviewer looks at one record at a time.

        Returns
        -------
        bool
            True when the reviewer now holds the lease (renewed when they held it
            already); False when another reviewer holds an unexpired lease on it.
        """
        now = _time.time() if now is None else now
        left_id = str(left_id)
        return self._retry(
            lambda: self._lease(project_id, left_id, reviewer, now + ttl, now, exclusive)
        )

    def _lease(
        self,
        project_id: str,
        left_id: str,
        reviewer: str,
        expires: float,
        now: float,
        exclusive: bool,
    ) -> bool:
        key = (leases_table.c.project_id == project_id) & (leases_table.c.left_id == left_id)
        with self.transaction(project_id) as tx:
            conn = tx.conn
            holder = conn.execute(
                sa.select(leases_table.c.reviewer, leases_table.c.expires).where(key)
            )
            holder = holder.first()
            if holder is not None and holder.reviewer != reviewer and holder.expires > now:
                return False
            if exclusive:
                conn.execute(
                    leases_table.delete().where(
                        leases_table.c.project_id == project_id,
                        leases_table.c.reviewer == reviewer,
                        leases_table.c.left_id != left_id,
                    )
                )
            values = {"reviewer": reviewer, "expires": expires}
            if holder is None:
                conn.execute(
                    leases_table.insert().values(project_id=project_id, left_id=left_id, **values)
                )
            else:
                conn.execute(leases_table.update().where(key).values(**values))

        return True

    def busy_records(self, project_id: str, reviewer: str, *, now: float | None = None) -> set[str]:
        """Left ids that other reviewers hold unexpired leases on."""
        now = _time.time() if now is None else now
        query = sa.select(leases_table.c.left_id).where(
            leases_table.c.project_id == project_id,
            leases_table.c.reviewer != reviewer,
            leases_table.c.expires > now,
        )
        with self.database.read() as conn:
            return set(conn.execute(query).scalars())

    def release_leases(self, project_id: str, reviewer: str) -> None:
        """Give up every lease the reviewer holds in the project."""
        with self.database.write() as conn:
            conn.execute(
                leases_table.delete().where(
                    leases_table.c.project_id == project_id, leases_table.c.reviewer == reviewer
                )
            )

    # -- health ------------------------------------------------------------

    def healthy(self) -> bool:
        """True when the database accepts a write now (a heartbeat row), False on any error.

        A SQLite file deleted or replaced since the log opened it is not healthy.
        """
        try:
            with self.database.write() as conn:
                row = {"time": _time.time()}
                done = conn.execute(
                    heartbeat_table.update()
                    .where(heartbeat_table.c.writer == "health")
                    .values(**row)
                )
                if done.rowcount == 0:
                    conn.execute(heartbeat_table.insert().values(writer="health", **row))
        except Exception:
            # Whatever the failure, the answer is "not healthy", never an error page.
            return False
        return True

    def delete_project(self, project_id: str) -> bool:
        """Delete a project with its events and leases; False when there was none."""
        with self.database.write() as conn:
            for table in (leases_table, batch_data_table, events_table):
                conn.execute(table.delete().where(table.c.project_id == project_id))
            done = conn.execute(
                projects_table.delete().where(projects_table.c.project_id == project_id)
            )
        with self._lock:
            self._caches.pop(project_id, None)
        self._held.forget(project_id)
        return done.rowcount > 0
