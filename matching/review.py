"""The review queue and its decisions, as pure functions over an event log.

Every reviewer action is an :class:`Event` appended to a log: accept, reject
("no match"), skip, unmatch (remove one accepted pair) and undo. The state of
a review is never stored; :func:`replay` derives it from the events, so the
browser, the command line and a restarted server all agree on it.
"""

from __future__ import annotations

import hashlib
import time as _time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import pandas as pd

__all__ = [
    "EVENT_KINDS",
    "DEFAULT_REASONS",
    "Event",
    "Decision",
    "ReviewState",
    "replay",
    "make_event",
    "event_id",
    "accepted_pairs",
]

#: The reasons a project offers reviewers when it names none of its own.
DEFAULT_REASONS = ("different person", "same family", "moved address", "data error", "unsure")

EVENT_KINDS = ("accept", "reject", "skip", "unmatch", "undo", "audit", "verdict")


@dataclass(frozen=True)
class Event:
    """One thing a reviewer (or a bulk rule) did.

    ``event_id`` is made by the client: the same id twice is one event.
    ``target`` is set on an undo: the id of the event it reverts (a whole batch
    when that event has a ``batch``). ``edits`` maps a right id to the cells the
    reviewer changed, ``scores`` a right id to its score when decided.
    ``replaces`` is set on an accept or reject that changes a standing decision:
    the id of the event that made it, so the log says who changed whose decision.
    ``reason`` is the reviewer's optional reason or comment. ``exception`` marks
    an accept a lead let stand although its right record is matched elsewhere
    (a conflict kept on purpose). An ``audit`` event lists in ``sample`` the
    records drawn from the automatic batch named by ``target``; a ``verdict``
    is an auditor's blind answer on one of them (``right_ids`` accepted, none
    for no match), ``target`` naming the audit. Neither changes a decision.
    """

    event_id: str
    kind: str
    left_id: str | None = None
    right_ids: tuple[str, ...] = ()
    edits: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    reviewer: str = ""
    time: float = 0.0
    automatic: bool = False
    batch: str | None = None
    target: str | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    replaces: str | None = None
    reason: str | None = None
    exception: bool = False
    sample: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}")
        object.__setattr__(self, "right_ids", tuple(str(r) for r in self.right_ids))
        object.__setattr__(self, "sample", tuple(str(r) for r in self.sample))
        if self.left_id is not None:
            object.__setattr__(self, "left_id", str(self.left_id))

    def to_dict(self) -> dict:
        """JSON-safe dict; :meth:`from_dict` reverses it."""
        return {
            "event_id": self.event_id,
            "kind": self.kind,
            "left_id": self.left_id,
            "right_ids": list(self.right_ids),
            "edits": {k: dict(v) for k, v in self.edits.items()},
            "reviewer": self.reviewer,
            "time": self.time,
            "automatic": self.automatic,
            "batch": self.batch,
            "target": self.target,
            "scores": dict(self.scores),
            "thresholds": dict(self.thresholds),
            "replaces": self.replaces,
            "reason": self.reason,
            "exception": self.exception,
            "sample": list(self.sample),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Event:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class Decision:
    """The standing decision on one left record."""

    left_id: str
    status: str  # "accepted" or "rejected"
    right_ids: tuple[str, ...]
    edits: Mapping[str, Mapping[str, str]]
    reviewer: str
    time: float
    automatic: bool
    scores: Mapping[str, float]
    thresholds: Mapping[str, float]
    event_id: str
    exception: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class ReviewState:
    """What the events add up to.

    ``decisions`` maps a left id to its standing decision; ``skipped`` holds
    left ids whose last action was a skip; ``active`` is the undo stack (events
    in force, oldest first); ``seen`` every event id in the log.
    """

    decisions: Mapping[str, Decision]
    skipped: frozenset[str]
    active: tuple[Event, ...]
    seen: frozenset[str]

    @property
    def version(self) -> int:
        """How many events the state was built from."""
        return len(self.seen)


def event_id(*parts: object) -> str:
    """A fixed-length event id from its parts, whatever their length or characters.

    Each part is length-prefixed before hashing, so ``("a|b", "c")`` and
    ``("a", "b|c")`` give different ids.

    >>> event_id("alice", "accept", "L1", "v1") == event_id("alice", "accept", "L1", "v1")
    True
    >>> len(event_id("x" * 1000)), event_id("a|b", "c") == event_id("a", "b|c")
    (34, False)
    """
    key = "|".join(f"{len(str(p))}:{p}" for p in parts)
    return "e-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def make_event(
    kind: str, *, event_id: str, reviewer: str = "", now: float | None = None, **values
) -> Event:
    """An :class:`Event` stamped with the time (``now`` or the clock)."""
    return Event(
        event_id=event_id,
        kind=kind,
        reviewer=reviewer,
        time=_time.time() if now is None else now,
        **values,
    )


def replay(events: Iterable[Event]) -> ReviewState:
    """Fold events, oldest first, into a :class:`ReviewState`.

    An event whose id was already seen is ignored (a double click). An undo
    removes its target, and every event of the target's batch, from the stack.
    """
    active: list[Event] = []
    seen: set[str] = set()
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        if event.kind == "undo":
            hit = next((e for e in active if e.event_id == event.target), None)
            if hit is not None:
                if hit.batch:
                    active = [e for e in active if e.batch != hit.batch]
                else:
                    active = [e for e in active if e.event_id != hit.event_id]
            continue
        active.append(event)
    decisions: dict[str, Decision] = {}
    skipped: set[str] = set()
    for e in active:
        if e.kind in ("accept", "reject"):
            decisions[e.left_id] = Decision(
                left_id=e.left_id,
                status="accepted" if e.kind == "accept" else "rejected",
                right_ids=e.right_ids if e.kind == "accept" else (),
                edits=e.edits,
                reviewer=e.reviewer,
                time=e.time,
                automatic=e.automatic,
                scores=e.scores,
                thresholds=e.thresholds,
                event_id=e.event_id,
                exception=e.exception,
                reason=e.reason,
            )
            skipped.discard(e.left_id)
        elif e.kind == "skip":
            if e.left_id not in decisions:
                skipped.add(e.left_id)
        elif e.kind == "unmatch" and e.left_id in decisions:
            d = decisions[e.left_id]
            remaining = tuple(r for r in d.right_ids if r not in e.right_ids)
            if remaining:
                decisions[e.left_id] = replace(d, right_ids=remaining)
            else:
                del decisions[e.left_id]
    return ReviewState(decisions, frozenset(skipped), tuple(active), frozenset(seen))


def accepted_pairs(state: ReviewState) -> pd.DataFrame:
    """One row per accepted pair, in decision order.

    Columns: ``left_id, right_id, score, reviewer, decided_at (UTC), automatic,
    edits`` (a dict of the edited cells of that right record, maybe empty).
    """
    rows = []
    for d in sorted(state.decisions.values(), key=lambda d: d.time):
        if d.status != "accepted":
            continue
        for r in d.right_ids:
            rows.append(
                {
                    "left_id": d.left_id,
                    "right_id": r,
                    "score": d.scores.get(r, float("nan")),
                    "reviewer": d.reviewer,
                    "decided_at": pd.Timestamp(d.time, unit="s", tz="UTC"),
                    "automatic": d.automatic,
                    "edits": dict(d.edits.get(r, {})),
                }
            )
    columns = [
        "left_id",
        "right_id",
        "score",
        "reviewer",
        "decided_at",
        "automatic",
        "edits",
    ]
    return pd.DataFrame(rows, columns=columns)
