"""Re-runs keep the work: a new version of a project inherits what still holds.

When a project is run again under its name (new versions of its tables, rows
added or values changed, or a changed set-up: other fields, scorers, weights,
rules), :func:`carry_over` compares each left record of the new version with
the old one. A decision still holds when the record's values are unchanged in
the columns either version compares, and every candidate the new version shows
for it was shown before, with the same values (so the reviewer judged each of
them), and an accepted record is still among them. A record that changed returns to the
queue with a note of who decided it before and when; a record the old version did
not have is new.
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


def _compared(old: Project, new: Project) -> tuple[list[str], list[str]]:
    """The columns either version compares, left and right."""
    fields = (*old.spec.fields, *new.spec.fields)
    return list(dict.fromkeys(f.left for f in fields)), list(dict.fromkeys(f.right for f in fields))


def _values(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """Each row's values in ``columns`` as one string; a column the table lacks reads as
    empty, and so does a missing value (NaN from a project's files, None from an upload)."""
    parts = [
        frame[c].fillna("").astype(str) if c in frame.columns else pd.Series("", index=frame.index)
        for c in columns
    ]
    if not parts:
        return [""] * len(frame)
    return pd.concat(parts, axis=1).agg("\x1f".join, axis=1).tolist()


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def record_signatures(
    project: Project, left_columns: list[str], right_columns: list[str]
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """A digest per left record of its values in ``left_columns``, and per left record
    its candidates (right id -> a digest of the candidate's values in ``right_columns``)."""
    right_text = _values(project.right, right_columns)
    right_by_id = {r: _digest(right_text[pos]) for r, pos in project.right_pos.items()}
    left_text = _values(project.left, left_columns)
    cands = project.candidates
    shown: dict[str, dict[str, str]] = {}
    for left, right in zip(cands["left_id"].tolist(), cands["right_id"].tolist()):
        shown.setdefault(left, {})[right] = right_by_id.get(right, "")
    records = {left: _digest(left_text[pos]) for left, pos in project.left_pos.items()}
    return records, shown


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
        Two versions of a project (same ID columns; the fields may differ).
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
    left_columns, right_columns = _compared(old, new)
    before, shown_before = record_signatures(old, left_columns, right_columns)
    after, shown_after = record_signatures(new, left_columns, right_columns)
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
        same = before[left] == after.get(left)
        if same and _still_holds(d, shown_before.get(left, {}), shown_after.get(left, {})):
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


def _still_holds(decision, shown_before: dict, shown_after: dict) -> bool:
    """True when a decision on an unchanged record holds in the new version: every
    candidate shown now was shown before with the same values, and a match accepted is
    still a candidate."""
    if any(shown_before.get(right) != digest for right, digest in shown_after.items()):
        return False
    return decision.status != "accepted" or all(r in shown_after for r in decision.right_ids)
