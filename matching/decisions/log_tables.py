"""The decision log's tables, and how their rows become events: the schema the log
(:mod:`matching.decisions.log`) and its transactions
(:mod:`matching.decisions.transaction`) share."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from matching.decisions.db import metadata
from matching.decisions.events import Batch, Event

__all__ = [
    "ID_TYPE",
    "projects_table",
    "events_table",
    "batch_data_table",
    "leases_table",
    "heartbeat_table",
    "BATCH_KIND",
    "FACTS",
    "CHUNK",
    "batches_of",
    "read_rows",
    "expand_rows",
    "event_row",
    "known_ids",
]

ID_TYPE = sa.String(200)

projects_table = sa.Table(
    "projects",
    metadata,
    sa.Column("project_id", ID_TYPE, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    # The project's settings (matching.decisions.settings), read and written as one.
    sa.Column("meta", sa.Text, nullable=False),
    # A new value with every write of meta: a process reads meta again only when the
    # version differs from the one it holds.
    sa.Column("settings_version", sa.String(32), nullable=False, server_default=""),
)

events_table = sa.Table(
    "events",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("project_id", ID_TYPE, sa.ForeignKey("projects.project_id"), nullable=False),
    sa.Column("event_id", ID_TYPE, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("left_id", sa.Text),
    sa.Column("reviewer", sa.Text, nullable=False),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("automatic", sa.Boolean, nullable=False),
    sa.Column("batch", sa.Text),
    sa.Column("payload", sa.Text, nullable=False),
    sa.UniqueConstraint("project_id", "event_id", name="uq_events_project_event"),
    sa.Index("ix_events_project_seq", "project_id", "seq"),
    sa.Index("ix_events_project_batch", "project_id", "batch"),
    sqlite_autoincrement=True,
)

# The columns of a compact batch (see matching.decisions.events.Batch), beside its one events row.
batch_data_table = sa.Table(
    "batch_data",
    metadata,
    sa.Column("project_id", ID_TYPE, sa.ForeignKey("projects.project_id"), primary_key=True),
    sa.Column("event_id", ID_TYPE, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

#: The ``kind`` of the events row that stands for a compact batch.
BATCH_KIND = "batch"

leases_table = sa.Table(
    "leases",
    metadata,
    sa.Column("project_id", ID_TYPE, primary_key=True),
    sa.Column("left_id", sa.Text, primary_key=True),
    sa.Column("reviewer", sa.Text, nullable=False),
    sa.Column("expires", sa.Float, nullable=False),
)

heartbeat_table = sa.Table(
    "heartbeat",
    metadata,
    sa.Column("writer", sa.String(100), primary_key=True),
    sa.Column("time", sa.Float, nullable=False),
)


# The fields of an event's JSON payload that the review rules read.
FACTS = ("right_ids", "target", "edits", "exception", "sample", "reason")

# SQLite allows 32766 bound parameters; stay far below it on every backend.
CHUNK = 500


def batches_of(conn: Connection, project_id: str, event_ids: list[str]) -> dict[str, Batch]:
    """The compact batches with these ids, read from their columns."""
    out = {}
    for start in range(0, len(event_ids), CHUNK):
        query = sa.select(batch_data_table.c.event_id, batch_data_table.c.data).where(
            batch_data_table.c.project_id == project_id,
            batch_data_table.c.event_id.in_(event_ids[start : start + CHUNK]),
        )
        for eid, data in conn.execute(query):
            out[eid] = Batch.from_bytes(bytes(data))
    return out


def read_rows(conn: Connection, project_id: str, after_seq: int) -> list[tuple[int, Event | Batch]]:
    """``(seq, event or batch)`` of the project's rows after ``after_seq``, oldest first."""
    c = events_table.c
    query = (
        sa.select(c.seq, c.event_id, c.kind, c.payload)
        .where(c.project_id == project_id, c.seq > after_seq)
        .order_by(c.seq)
    )
    rows = conn.execute(query).all()
    batches = batches_of(conn, project_id, [r.event_id for r in rows if r.kind == BATCH_KIND])
    return [
        (seq, batches[eid] if kind == BATCH_KIND else Event.from_dict(json.loads(payload)))
        for seq, eid, kind, payload in rows
    ]


def expand_rows(rows: list[tuple[int, Event | Batch]]) -> list[tuple[int, Event]]:
    """Rows with each compact batch replaced by the events it stands for."""
    if not any(isinstance(e, Batch) for _, e in rows):
        return rows
    out: list[tuple[int, Event]] = []
    for seq, e in rows:
        if isinstance(e, Batch):
            out.extend((seq, m) for m in e.events())
        else:
            out.append((seq, e))
    return out


def event_row(project_id: str, event: Event) -> dict:
    return {
        "project_id": project_id,
        "event_id": event.event_id,
        "kind": event.kind,
        "left_id": event.left_id,
        "reviewer": event.reviewer,
        "time": float(event.time),
        "automatic": bool(event.automatic),
        "batch": event.batch,
        "payload": json.dumps(event.to_dict()),
    }


def known_ids(conn: Connection, project_id: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` the project's events already have."""
    known: set[str] = set()
    for start in range(0, len(ids), CHUNK):
        query = sa.select(events_table.c.event_id).where(
            events_table.c.project_id == project_id,
            events_table.c.event_id.in_(ids[start : start + CHUNK]),
        )
        known.update(conn.execute(query).scalars())
    return known
