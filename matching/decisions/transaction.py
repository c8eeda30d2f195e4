"""One project's write transaction on the decision log: the events, batches, leases and
settings a review step reads and writes atomically (:meth:`DecisionLog.transaction`)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from matching.decisions.events import Batch, Event
from matching.decisions.held_settings import HeldSettings
from matching.decisions.log_tables import (
    BATCH_KIND,
    CHUNK,
    batch_data_table,
    event_row,
    events_table,
    expand_rows,
    known_ids,
    leases_table,
    projects_table,
    read_rows,
)
from matching.decisions.settings import ProjectSettings

__all__ = ["ProjectTransaction"]


class ProjectTransaction:
    """What a rule may read and write inside :meth:`DecisionLog.transaction`."""

    def __init__(
        self,
        conn: Connection,
        project_id: str,
        settings: ProjectSettings,
        held: HeldSettings,
    ) -> None:
        self.conn = conn
        self.project_id = project_id
        #: The project's settings, as of the lock (the transaction's own once saved).
        self.settings = settings
        self._held = held

    def save_settings(self, settings: ProjectSettings) -> None:
        """Write the project's settings; they commit or roll back with the transaction."""
        row = self._held.row(settings)
        self.conn.execute(
            projects_table.update()
            .where(projects_table.c.project_id == self.project_id)
            .values(**row)
        )
        self.settings = settings
        # Held before the commit: were it rolled back, the version in the log differs
        # from this one, and the next read reads the settings again.
        self._held.hold(self.project_id, row["settings_version"], settings)

    def events_after(self, seq: int, *, compact: bool = False) -> list[tuple[int, Event | Batch]]:
        """The project's events after ``seq``, oldest first, with their seq; with
        ``compact``, a batch is one :class:`~matching.decisions.events.Batch` (see
        :meth:`DecisionLog.event_rows`)."""
        rows = read_rows(self.conn, self.project_id, seq)
        return rows if compact else expand_rows(rows)

    def insert_batch(self, batch: Batch) -> int:
        """Write a compact batch as one row (and its columns); returns how many records
        it decides, or 0 when the project has this batch already (a repeated confirm).
        An empty batch writes nothing."""
        query = sa.select(events_table.c.seq).where(
            events_table.c.project_id == self.project_id, events_table.c.batch == batch.batch
        )
        if not len(batch) or self.conn.execute(query.limit(1)).first() is not None:
            return 0
        row = {
            "project_id": self.project_id,
            "event_id": batch.event_id,
            "kind": BATCH_KIND,
            "left_id": None,
            "reviewer": batch.reviewer,
            "time": float(batch.time),
            "automatic": True,
            "batch": batch.batch,
            "payload": json.dumps(batch.header()),
        }
        self.conn.execute(events_table.insert().values(**row))
        # The columns go as a parameter, not in the statement: SQLAlchemy keeps the
        # statements it compiles, with their values (tens of MB for a large batch).
        self.conn.execute(
            batch_data_table.insert(),
            {"project_id": self.project_id, "event_id": batch.event_id, "data": batch.to_bytes()},
        )
        return len(batch)

    def last_seq(self) -> int:
        query = sa.select(sa.func.max(events_table.c.seq)).where(
            events_table.c.project_id == self.project_id
        )
        return int(self.conn.execute(query).scalar() or 0)

    def insert(self, events: list[Event]) -> int:
        """Insert the events whose ids the project does not have yet; returns how many.

        Events that all belong to one batch are written all or none: a batch is
        written in one transaction, so if any of its events is in the log, all
        of them are, and looking that up once replaces a look-up per event.
        """
        batches = {e.batch for e in events}
        if len(events) > CHUNK and len(batches) == 1 and None not in batches:
            query = sa.select(events_table.c.seq).where(
                events_table.c.project_id == self.project_id, events_table.c.batch == batches.pop()
            )
            if self.conn.execute(query.limit(1)).first() is not None:
                return 0
            fresh = events
        else:
            ids = [e.event_id for e in events]
            known = known_ids(self.conn, self.project_id, ids)
            fresh = [e for e in events if e.event_id not in known]
        columns = list(event_row(self.project_id, fresh[0])) if fresh else []
        # The driver's own executemany: compiling parameters row by row in SQLAlchemy
        # costs more than the insert itself for a batch of a million events.
        mark = "?" if self.conn.dialect.paramstyle == "qmark" else "%s"
        statement = (
            f"INSERT INTO {events_table.name} ({', '.join(columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))})"
        )
        for start in range(0, len(fresh), 50_000):
            rows = [
                tuple(event_row(self.project_id, e).values()) for e in fresh[start : start + 50_000]
            ]
            self.conn.exec_driver_sql(statement, rows)
        return len(fresh)

    def has_event(self, event_id: str) -> bool:
        query = sa.select(events_table.c.seq).where(
            events_table.c.project_id == self.project_id, events_table.c.event_id == event_id
        )
        return self.conn.execute(query).first() is not None

    def lease_holder(self, left_id: str) -> tuple[str, float] | None:
        """``(reviewer, expires)`` of the record's lease, or None when there is none."""
        query = sa.select(leases_table.c.reviewer, leases_table.c.expires).where(
            leases_table.c.project_id == self.project_id, leases_table.c.left_id == left_id
        )
        row = self.conn.execute(query).first()
        return None if row is None else (row.reviewer, float(row.expires))

    def busy(self, reviewer: str, now: float) -> set[str]:
        """Left ids other reviewers hold unexpired leases on."""
        query = sa.select(leases_table.c.left_id).where(
            leases_table.c.project_id == self.project_id,
            leases_table.c.reviewer != reviewer,
            leases_table.c.expires > now,
        )
        return set(self.conn.execute(query).scalars())

    def lease(self, left_id: str, reviewer: str, expires: float) -> None:
        """Give the record's lease to ``reviewer`` (the caller checked it may) and
        release the reviewer's other leases in the project."""
        mine = (leases_table.c.project_id == self.project_id) & (
            leases_table.c.reviewer == reviewer
        )
        self.conn.execute(leases_table.delete().where(mine))
        key = (leases_table.c.project_id == self.project_id) & (leases_table.c.left_id == left_id)
        self.conn.execute(leases_table.delete().where(key))
        self.conn.execute(
            leases_table.insert().values(
                project_id=self.project_id, left_id=left_id, reviewer=reviewer, expires=expires
            )
        )

    def release(self, reviewer: str) -> None:
        mine = (leases_table.c.project_id == self.project_id) & (
            leases_table.c.reviewer == reviewer
        )
        self.conn.execute(leases_table.delete().where(mine))
