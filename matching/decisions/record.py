"""The full decision record of a project: every left record's standing, and the log itself.

:func:`decision_record` is one row per left record, decided or not: its status, how
and by whom it was decided, the reason, the accepted right ids, each corrected cell
with its original value, and what audits and double review answered about it.
:func:`log_rows` is the decision log as rows, one per event (a bulk batch's members
each a row naming the batch), for lineage; :func:`write_log_jsonl` and
:func:`write_log_parquet` write it. Both are pure functions of the project's events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from matching.decisions.events import ADJUDICATED, DOUBLE_REVIEW, Event, replay

__all__ = [
    "RECORD_COLUMNS",
    "LOG_COLUMNS",
    "decision_record",
    "log_rows",
    "write_log_jsonl",
    "write_log_parquet",
]

#: The columns of :func:`decision_record`, in order.
RECORD_COLUMNS = (
    "left_id",
    "status",
    "decided_by",
    "batch",
    "reviewer",
    "time",
    "reason",
    "right_ids",
    "scores",
    "edits",
    "exception",
    "replaces",
    "event_id",
    "skipped_by",
    "audit_verdicts",
    "second_reviewer",
    "second_verdict",
    "adjudication",
)

#: The columns of :func:`log_rows`, in order (nested values as JSON text).
LOG_COLUMNS = (
    "seq",
    "event_id",
    "kind",
    "left_id",
    "right_ids",
    "reviewer",
    "time",
    "automatic",
    "batch",
    "target",
    "replaces",
    "reason",
    "exception",
    "edits",
    "scores",
    "thresholds",
    "sample",
)

_STATUS = {"accepted": "accepted", "rejected": "no match"}


def _iso(when: float | None) -> str:
    if not when:
        return ""
    return pd.Timestamp(when, unit="s", tz="UTC").isoformat(timespec="seconds")


def _verdict(event: Event) -> str:
    return "; ".join(event.right_ids) if event.right_ids else "no match"


def _edits_with_originals(
    edits: Mapping[str, Mapping[str, str]], right: pd.DataFrame | None, right_pos: Mapping
) -> str:
    """``{right_id: {column: {"original": ..., "edited": ...}}}`` as JSON ("" when none)."""
    if not edits:
        return ""
    out: dict[str, dict[str, dict[str, str | None]]] = {}
    for right_id, cells in edits.items():
        row = right_pos.get(right_id) if right is not None else None
        out[right_id] = {}
        for column, value in cells.items():
            original = None
            if row is not None and column in right.columns:
                cell = right[column].iloc[row]
                original = None if pd.isna(cell) else str(cell)
            out[right_id][column] = {"original": original, "edited": value}
    return json.dumps(out, ensure_ascii=False, sort_keys=True)


def decision_record(
    events: Iterable[Event],
    left_ids: Sequence[str],
    *,
    right: pd.DataFrame | None = None,
    right_pos: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Every left record with its standing decision and everything said about it.

    Parameters
    ----------
    events
        The project's events, oldest first (a batch expanded into its members).
    left_ids
        Every left record id, in the order of the rows returned.
    right, right_pos
        The right table and its id -> row position, to give each corrected cell its
        original value; without them ``original`` is null.

    Returns
    -------
    pandas.DataFrame
        One row per left id, columns :data:`RECORD_COLUMNS`: ``status`` is
        ``accepted``, ``no match``, ``skipped`` or ``undecided``; ``decided_by``
        ``manual`` or ``automatic`` (empty when undecided); ``batch`` the bulk batch
        that decided it; ``time`` ISO 8601 in UTC; ``right_ids`` and ``scores`` the
        accepted right ids and their scores joined by ``"; "``; ``edits`` JSON
        ``{right_id: {column: {"original", "edited"}}}``; ``skipped_by`` who skipped
        it last while undecided; ``audit_verdicts`` each audit's blind answer as
        ``"auditor: answer"`` joined by ``"; "``; ``second_reviewer`` and
        ``second_verdict`` the double review's; ``adjudication`` a lead's settlement.

    Examples
    --------
    >>> from matching.decisions.events import make_event
    >>> log = [make_event("accept", event_id="e1", reviewer="ann", now=0.0,
    ...                   left_id="L1", right_ids=["R1"], scores={"R1": 0.9}),
    ...        make_event("skip", event_id="e2", reviewer="bob", now=1.0, left_id="L2")]
    >>> decision_record(log, ["L1", "L2", "L3"])[["left_id", "status", "reviewer"]]
      left_id     status reviewer
    0      L1   accepted      ann
    1      L2    skipped
    2      L3  undecided
    """
    events = list(events)
    state = replay(events)
    right_pos = right_pos or {}
    skipped_by: dict[str, str] = {}
    audits: dict[str, Event] = {}
    verdicts: dict[str, list[Event]] = {}
    for e in state.active:
        if e.kind == "skip" and e.left_id is not None:
            skipped_by[e.left_id] = e.reviewer
        elif e.kind == "audit":
            audits[e.event_id] = e
        elif e.kind == "verdict" and e.left_id is not None:
            verdicts.setdefault(e.left_id, []).append(e)
    by_id = {e.event_id: e for e in events}
    rows = []
    for left in left_ids:
        d = state.decisions.get(left)
        row = dict.fromkeys(RECORD_COLUMNS, "")
        row["left_id"] = left
        row["exception"] = False
        if d is not None:
            row["status"] = _STATUS[d.status]
            row["decided_by"] = "automatic" if d.automatic else "manual"
            row["reviewer"] = d.reviewer
            row["time"] = _iso(d.time)
            row["reason"] = d.reason or ""
            row["right_ids"] = "; ".join(d.right_ids)
            row["scores"] = "; ".join(
                f"{d.scores[r]:.4f}" if r in d.scores else "" for r in d.right_ids
            )
            row["edits"] = _edits_with_originals(d.edits, right, right_pos)
            row["exception"] = bool(d.exception)
            row["event_id"] = d.event_id
        elif left in state.skipped:
            row["status"] = "skipped"
            row["skipped_by"] = skipped_by.get(left, "")
        else:
            row["status"] = "undecided"
        if d is not None:
            made = by_id.get(d.event_id)
            if made is not None:
                row["batch"] = made.batch or ""
                row["replaces"] = made.replaces or ""
        answers = []
        for v in verdicts.get(left, ()):
            audit = audits.get(v.target or "")
            if v.target and v.target.startswith(ADJUDICATED):
                row["adjudication"] = f"{v.reviewer}: {_verdict(v)}"
            elif audit is not None and audit.target == DOUBLE_REVIEW:
                row["second_reviewer"] = v.reviewer
                row["second_verdict"] = _verdict(v)
            else:
                answers.append(f"{v.reviewer}: {_verdict(v)}")
        row["audit_verdicts"] = "; ".join(answers)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(RECORD_COLUMNS))
    frame["exception"] = frame["exception"].astype(bool)
    return frame


def log_rows(rows: Iterable[tuple[int, Event]]) -> pd.DataFrame:
    """The decision log as a table, one row per event, oldest first.

    ``rows`` are ``(seq, event)`` pairs as the log reads them (a batch expanded into
    its members, which share its ``seq``). Columns :data:`LOG_COLUMNS`; ``time`` is
    ISO 8601 in UTC and nested values (``right_ids``, ``edits``, ``scores``,
    ``thresholds``, ``sample``) are JSON text, so the table reads back anywhere.
    """
    out = []
    for seq, e in rows:
        out.append(
            {
                "seq": int(seq),
                "event_id": e.event_id,
                "kind": e.kind,
                "left_id": e.left_id,
                "right_ids": json.dumps(list(e.right_ids)),
                "reviewer": e.reviewer,
                "time": _iso(e.time),
                "automatic": bool(e.automatic),
                "batch": e.batch,
                "target": e.target,
                "replaces": e.replaces,
                "reason": e.reason,
                "exception": bool(e.exception),
                "edits": json.dumps({k: dict(v) for k, v in e.edits.items()}, sort_keys=True),
                "scores": json.dumps(dict(e.scores), sort_keys=True),
                "thresholds": json.dumps(dict(e.thresholds), sort_keys=True),
                "sample": json.dumps(list(e.sample)),
            }
        )
    return pd.DataFrame(out, columns=list(LOG_COLUMNS))


def write_log_jsonl(rows: Iterable[tuple[int, Event]], out: BinaryIO) -> int:
    """Write each event as one JSON object per line (``Event.to_dict`` plus ``seq``).

    Returns the number of lines written. ``Event.from_dict`` reads a line back.
    """
    n = 0
    for seq, e in rows:
        out.write(json.dumps({"seq": int(seq), **e.to_dict()}, ensure_ascii=False).encode())
        out.write(b"\n")
        n += 1
    return n


def write_log_parquet(rows: Iterable[tuple[int, Event]], out: BinaryIO) -> int:
    """Write :func:`log_rows` as one Parquet file; returns the number of rows."""
    frame = log_rows(rows)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), out)
    return len(frame)
