"""The review queue and its decisions, as pure functions over an event log.

Every reviewer action is an :class:`Event` appended to a log: accept, reject
("no match"), skip, unmatch (remove one accepted pair) and undo. The state of
a review is never stored; :func:`replay` derives it from the events, so the
browser, the command line and a restarted server all agree on it.
"""

from __future__ import annotations

import hashlib
import io
import json
import time as _time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "EVENT_KINDS",
    "DOUBLE_REVIEW",
    "ADJUDICATED",
    "DEFAULT_REASONS",
    "Event",
    "Batch",
    "IdColumn",
    "Decision",
    "ReviewState",
    "replay",
    "make_event",
    "event_id",
    "accepted_pairs",
]

#: The reasons a project offers reviewers when it names none of its own.
DEFAULT_REASONS = ("different person", "same family", "moved address", "data error", "unsure")

#: The target of the draw of records to be reviewed twice, and the prefix of a lead's
#: settlements of its disagreements.
DOUBLE_REVIEW = "double-review"
ADJUDICATED = "adjudicated:"

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


class IdColumn(Sequence[str]):
    """Record ids (text, or None) held as one Arrow string array.

    A million ids cost their bytes, not a million Python strings: a ``str`` is
    made only for the id looked at (``column[i]``), or for the ones iterated
    over or taken (:meth:`take`). ``arrow`` is the array itself.

    >>> ids = IdColumn(["a", None, "c"])
    >>> ids[0], ids[-2], list(ids), ids.take([2, 0]), len(ids)
    ('a', None, ['a', None, 'c'], ['c', 'a'], 3)
    >>> ids == ["a", None, "c"], IdColumn(ids.arrow) == ids
    (True, True)
    """

    __slots__ = ("arrow",)

    def __init__(self, values) -> None:
        if isinstance(values, IdColumn):
            values = values.arrow
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if not isinstance(values, pa.Array):
            values = pa.array([None if v is None else str(v) for v in values], pa.string())
        if values.type != pa.string():
            values = values.cast(pa.string())
        self.arrow: pa.StringArray = values

    def __len__(self) -> int:
        return len(self.arrow)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.arrow[i].to_pylist()
        return self.arrow[int(i)].as_py()

    def __iter__(self):
        step = 1 << 16  # a slice's strings at a time, not the whole column's
        for start in range(0, len(self.arrow), step):
            yield from self.arrow.slice(start, step).to_pylist()

    def __eq__(self, other) -> bool:
        if isinstance(other, IdColumn):
            return self.arrow.equals(other.arrow)
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == len(self) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"IdColumn({self.arrow.to_pylist()!r})"

    def take(self, at) -> list[str | None]:
        """The ids at these positions (integers), as a list of str."""
        return self.arrow.take(pa.array(np.asarray(at, dtype=np.int64))).to_pylist()

    def subset(self, at) -> IdColumn:
        """The column of the ids at these positions."""
        return IdColumn(self.arrow.take(pa.array(np.asarray(at, dtype=np.int64))))


@dataclass(frozen=True, eq=False)
class Batch:
    """Automatic decisions of one kind on many records, written, read and undone as one.

    A bulk rule may decide a million records at once. As a million :class:`Event`
    objects (and log rows) that costs tens of seconds to write and to read back;
    a batch is one log row with its records as columns. It stands for exactly
    the events :meth:`events` returns, so :func:`replay` of the expanded log is
    unchanged: member ``i`` is an event with id ``member_id(left_ids[i])``, kind
    ``kind``, ``left_ids[i]``, ``right_ids[i]`` accepted (none for a reject),
    ``reviewer``, ``time``, ``automatic=True``, ``batch``, ``thresholds`` and the
    scores of that record's candidates (``cand_right``/``cand_score`` from
    ``offsets[i]`` to ``offsets[i + 1]``). ``left_ids`` and ``right_ids`` are
    :class:`IdColumn` (Arrow text): a batch of a million records holds no
    Python string per record.

    Examples
    --------
    >>> b = Batch.of("b-1", "accept", batch="auto", reviewer="lee", time=0.0,
    ...              left_ids=["1", "2"], right_ids=["a", "b"], offsets=[0, 2, 3],
    ...              cand_right=["a", "x", "b"], cand_score=[0.9, 0.5, 0.95])
    >>> [(e.event_id, e.left_id, e.right_ids, dict(e.scores)) for e in b.events()]
    [('b-1/1', '1', ('a',), {'a': 0.9, 'x': 0.5}), ('b-1/2', '2', ('b',), {'b': 0.95})]
    >>> Batch.from_bytes(b.to_bytes()).events() == b.events()
    True
    """

    event_id: str
    kind: str
    batch: str
    reviewer: str
    time: float
    thresholds: Mapping[str, float]
    left_ids: IdColumn
    right_ids: IdColumn
    offsets: np.ndarray
    cand_right: pa.Array
    cand_score: np.ndarray

    @classmethod
    def of(
        cls,
        event_id: str,
        kind: str,
        *,
        batch: str,
        reviewer: str,
        time: float,
        left_ids,
        right_ids,
        offsets,
        cand_right,
        cand_score,
        thresholds: Mapping[str, float] | None = None,
    ) -> Batch:
        """A batch from columns (lists or arrays); ``ValueError`` when they do not line up."""
        if kind not in ("accept", "reject"):
            raise ValueError(f"a batch accepts or rejects, not {kind!r}")
        if not batch:
            raise ValueError("batch must be a non-empty id, so one undo reverts the whole batch")
        lefts = IdColumn(left_ids)
        if kind == "reject":
            rights = IdColumn(pa.nulls(len(lefts), pa.string()))
        else:
            rights = IdColumn(right_ids)
        offs = np.asarray(offsets, dtype=np.int64)
        scores = np.asarray(cand_score, dtype=np.float64)
        cands = cand_right
        if not isinstance(cands, (pa.Array, pa.ChunkedArray)):
            cands = pa.array(cand_right, pa.string())
        if isinstance(cands, pa.ChunkedArray):
            cands = cands.combine_chunks()
        if (
            len(rights) != len(lefts)
            or len(offs) != len(lefts) + 1
            or offs[0] != 0
            or offs[-1] != len(scores)
            or len(cands) != len(scores)
            or np.any(np.diff(offs) < 0)
        ):
            raise ValueError("a batch's columns do not line up")
        if len(pc.unique(lefts.arrow)) != len(lefts):
            raise ValueError("a batch decides each record once")
        if kind == "accept" and rights.arrow.null_count:
            raise ValueError("every record of an accept batch names its right record")
        return cls(
            event_id, kind, batch, reviewer, float(time), dict(thresholds or {}),
            lefts, rights, offs, cands.cast(pa.string()), scores,
        )  # fmt: skip

    @classmethod
    def from_events(cls, event_id: str, events: list[Event]) -> Batch:
        """The batch of automatic events that share kind, batch, reviewer, time and
        thresholds, and accept at most one right record each; ``ValueError`` otherwise."""
        if not events:
            raise ValueError("a batch needs at least one event")
        first = events[0]
        head = (first.kind, first.batch, first.reviewer, first.time, dict(first.thresholds))
        lefts, rights, counts, cands, scores = [], [], [], [], []
        for e in events:
            if (e.kind, e.batch, e.reviewer, e.time, dict(e.thresholds)) != head:
                raise ValueError("the events of a batch share kind, batch, reviewer and time")
            if len(e.right_ids) > 1 or e.edits or e.replaces or e.reason or e.exception:
                raise ValueError("a batch's events accept one right record and nothing more")
            lefts.append(e.left_id)
            rights.append(e.right_ids[0] if e.right_ids else None)
            counts.append(len(e.scores))
            cands.extend(e.scores)
            scores.extend(e.scores.values())
        return cls.of(
            event_id, first.kind, batch=first.batch, reviewer=first.reviewer, time=first.time,
            left_ids=lefts, right_ids=rights, offsets=np.r_[0, np.cumsum(counts, dtype=np.int64)],
            cand_right=cands, cand_score=scores, thresholds=first.thresholds,
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.left_ids)

    def member_id(self, left_id: str) -> str:
        """The id of the event that decides ``left_id`` in this batch."""
        return f"{self.event_id}/{left_id}"

    def member_ids(self) -> list[str]:
        prefix = self.event_id + "/"
        return [prefix + x for x in self.left_ids]

    def subset(self, keep: np.ndarray) -> Batch:
        """The batch with only the records where ``keep`` (a boolean array) is True."""
        keep = np.asarray(keep, dtype=bool)
        if keep.all():
            return self
        picks = np.flatnonzero(keep)
        sizes = np.diff(self.offsets)[picks]
        starts = self.offsets[:-1][picks]
        rows = np.repeat(starts - np.r_[0, np.cumsum(sizes)[:-1]], sizes) + np.arange(sizes.sum())
        return replace(
            self,
            left_ids=self.left_ids.subset(picks),
            right_ids=self.right_ids.subset(picks),
            offsets=np.r_[0, np.cumsum(sizes, dtype=np.int64)],
            cand_right=self.cand_right.take(pa.array(rows, pa.int64())),
            cand_score=self.cand_score[rows],
        )

    def without_candidates(self) -> Batch:
        """The batch with no candidate scores (each member's ``scores`` empty): what a
        reader keeps when it needs the decisions but not the scores behind them."""
        return replace(
            self,
            offsets=np.zeros(len(self) + 1, dtype=np.int64),
            cand_right=pa.array([], pa.string()),
            cand_score=np.zeros(0),
        )

    def events(self) -> list[Event]:
        """The events this batch stands for, in order."""
        names = self.cand_right.to_pylist()
        scores = self.cand_score.tolist()
        offsets = self.offsets.tolist()
        accept = self.kind == "accept"
        out = []
        for i, (left, right) in enumerate(zip(self.left_ids, self.right_ids)):
            a, b = offsets[i], offsets[i + 1]
            out.append(
                Event(
                    event_id=self.member_id(left),
                    kind=self.kind,
                    left_id=left,
                    right_ids=(right,) if accept else (),
                    reviewer=self.reviewer,
                    time=self.time,
                    automatic=True,
                    batch=self.batch,
                    scores=dict(zip(names[a:b], scores[a:b])),
                    thresholds=dict(self.thresholds),
                )
            )
        return out

    def header(self) -> dict:
        """What the log keeps of the batch besides its columns (JSON-safe)."""
        return {
            "event_id": self.event_id,
            "kind": self.kind,
            "batch": self.batch,
            "reviewer": self.reviewer,
            "time": self.time,
            "thresholds": dict(self.thresholds),
            "records": len(self),
        }

    def to_bytes(self) -> bytes:
        """The whole batch as Arrow IPC (its header in the schema's metadata)."""
        sizes = np.diff(self.offsets)
        member = np.repeat(np.arange(len(self), dtype=np.int32), sizes)
        members = pa.table(
            {
                "left_id": self.left_ids.arrow,
                "right_id": self.right_ids.arrow,
            }
        )
        cands = pa.table(
            {
                "member": pa.array(member),
                "right_id": self.cand_right,
                "score": pa.array(self.cand_score),
            }
        )
        sink = io.BytesIO()
        meta = {b"matchdesk": json.dumps(self.header()).encode()}
        # LZ4 halves a million records' columns (ids repeat their prefixes) at
        # about the cost of copying them; zstd shrinks them more but is slower to read.
        options = pa.ipc.IpcWriteOptions(compression="lz4")
        for table in (members.replace_schema_metadata(meta), cands):
            with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
                writer.write_table(table)
        return sink.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Batch:
        """Reverse :meth:`to_bytes`."""
        source = pa.BufferReader(data)
        reader = pa.ipc.open_stream(source)
        members = reader.read_all()
        cands = pa.ipc.open_stream(source).read_all()
        head = json.loads(members.schema.metadata[b"matchdesk"])
        member = cands.column("member").to_numpy()
        counts = np.bincount(member, minlength=members.num_rows) if len(member) else None
        offsets = np.zeros(members.num_rows + 1, dtype=np.int64)
        if counts is not None:
            offsets[1:] = np.cumsum(counts)
        return cls(
            head["event_id"], head["kind"], head["batch"], head["reviewer"],
            float(head["time"]), head["thresholds"],
            IdColumn(members.column("left_id")), IdColumn(members.column("right_id")),
            offsets, cands.column("right_id").combine_chunks(),
            cands.column("score").to_numpy(),
        )  # fmt: skip


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
    columns = ["left_id", "right_id", "score", "reviewer", "decided_at", "automatic", "edits"]
    values: dict[str, list] = {c: [] for c in columns}
    lefts, rights, scores = values["left_id"], values["right_id"], values["score"]
    reviewers, times, automatic = values["reviewer"], values["decided_at"], values["automatic"]
    edits = values["edits"]
    for d in sorted(state.decisions.values(), key=lambda d: d.time):
        if d.status != "accepted":
            continue
        for r in d.right_ids:
            lefts.append(d.left_id)
            rights.append(r)
            scores.append(d.scores.get(r, float("nan")))
            reviewers.append(d.reviewer)
            times.append(d.time)
            automatic.append(d.automatic)
            edits.append(dict(d.edits.get(r, {})))
    if not lefts:
        return pd.DataFrame([], columns=columns)
    # One conversion for the column: a Timestamp per pair took most of an export's time.
    values["decided_at"] = pd.to_datetime(np.asarray(times, dtype=np.float64), unit="s", utc=True)
    return pd.DataFrame(values, columns=columns)
