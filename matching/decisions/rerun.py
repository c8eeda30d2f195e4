"""Re-runs keep the work: a new version of the tables inherits what still holds.

When a project is opened again with new versions of its tables (same ID
columns and fields; rows added, values changed), :func:`carry_over` compares
each left record of the new version with the old one. A record whose compared
values and candidates (each candidate's id and compared values) are unchanged
keeps its decision; a record that changed returns to the queue with a note of
who decided it before and when; a record the old version did not have is new.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from matching.decisions.events import Event, event_id, make_event
from matching.engine.project import Project

__all__ = ["CarryOver", "carry_over", "record_signatures"]


@dataclass
class CarryOver:
    """What a new version inherits from the old one.

    ``events`` re-record the unchanged records' decisions in the new version;
    ``changed`` maps a left id whose record changed to a note for the reviewer
    (``"changed since decided by alice on 2026-11-20"``); ``counts`` has
    ``carried``, ``came_back`` and ``new``.
    """

    events: list[Event] = field(default_factory=list)
    changed: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def record_signatures(project: Project) -> dict[str, str]:
    """A digest per left record of its compared values and its candidates' ids and values."""
    spec = project.spec
    left_cols = [f.left for f in spec.fields]
    right_cols = list(dict.fromkeys(f.right for f in spec.fields))
    # Missing values read from a project's files are NaN, from an upload None: both "".
    right_text = project.right[right_cols].fillna("").astype(str).agg("\x1f".join, axis=1).tolist()
    right_by_id = dict(zip(project.right_pos, (right_text[i] for i in project.right_pos.values())))
    left_text = project.left[left_cols].fillna("").astype(str).agg("\x1f".join, axis=1).tolist()
    cands = project.candidates
    by_left: dict[str, list[str]] = {}
    for left, right in zip(cands["left_id"].tolist(), cands["right_id"].tolist()):
        by_left.setdefault(left, []).append(f"{right}\x1e{right_by_id.get(right, '')}")
    out = {}
    for left, pos in project.left_pos.items():
        parts = [left_text[pos], *sorted(by_left.get(left, []))]
        out[left] = hashlib.blake2b("\x1d".join(parts).encode(), digest_size=12).hexdigest()
    return out


def carry_over(
    old: Project,
    decisions: Mapping[str, object],
    new: Project,
    *,
    reviewer: str,
) -> CarryOver:
    """The decisions of ``old`` that still hold in ``new``, and the records that came back.

    Parameters
    ----------
    old, new : Project
        Two versions of a project (same ID columns and fields).
    decisions : mapping
        The old version's decisions in force, left id -> an object with
        ``status, right_ids, reviewer, time, automatic`` (a ledger's ``Standing``).
    reviewer : str
        Who opened the new version; the carried decisions keep their own
        reviewer and time, and name this one in their reason.

    Returns
    -------
    CarryOver
        One batch of events, so one undo can revert the carry-over.
    """
    before, after = record_signatures(old), record_signatures(new)
    batch = event_id("carry", old.project_id, new.project_id)
    out = CarryOver()
    carried = came_back = fresh = 0
    for left in new.queue:
        if left not in before:
            fresh += 1
            continue
        d = decisions.get(left)
        if d is None:
            continue
        if before[left] == after.get(left):
            kind = "accept" if d.status == "accepted" else "reject"
            out.events.append(
                make_event(
                    kind,
                    event_id=event_id(batch, left),
                    reviewer=d.reviewer,
                    now=d.time,
                    automatic=d.automatic,
                    left_id=left,
                    right_ids=d.right_ids if kind == "accept" else (),
                    batch=batch,
                    reason=f"carried over from the earlier version by {reviewer}",
                )
            )
            carried += 1
        else:
            when = pd.Timestamp(d.time, unit="s", tz="UTC").strftime("%Y-%m-%d")
            out.changed[left] = f"changed since decided by {d.reviewer} on {when}"
            came_back += 1
    out.counts = {"carried": carried, "came_back": came_back, "new": fresh}
    return out
