"""The review desk: every review rule in one place, atomic over the decision log.

A :class:`ReviewDesk` serves one project to many reviewers at once. The command
line, the tests and every callback go through it, so the rules hold whatever
the client:

- **First decision wins.** A decision is written only if, inside the same
  database transaction, the record is still undecided and no other reviewer
  holds its lease. A reviewer changes a standing decision only by saying so
  (``change=True``, or Undo), and only their own unless their role allows more;
  the event names the decision it replaces.
- **One record, one reviewer.** :meth:`ReviewDesk.next_view` leases the record
  it shows in the same transaction that checks the record is undecided.
- **A click is recorded once.** Event ids are made here, from the view the page
  showed (a random ``view_id`` per view), so a double click sends the same id
  twice and records one event, while another tab has its own view and is told
  the record was decided.
- **Undo reverts what it says**: the reviewer's latest decision in force, only
  while nobody changed its record since, and exactly back to the state before.

Each process keeps a :class:`Ledger` of the project's events and reads only the
new ones inside each transaction, so a review step costs the same at any queue
size.
"""

from __future__ import annotations

import dataclasses
import gc
import secrets
import threading
import time as _time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import NamedTuple, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matching.decisions.agreement import cohen_kappa
from matching.decisions.audit import audit_sample_size, audited_errors, draw_sample
from matching.decisions.events import Batch, Event, IdColumn, event_id, make_event
from matching.decisions.log import DecisionLog, ProjectTransaction
from matching.decisions.roles import PermissionDenied, require
from matching.decisions.statistics import Decisions
from matching.decisions.tuning import PairStatus, bulk_batch, pattern_events
from matching.engine.project import Project, record_view

__all__ = [
    "ReviewDesk",
    "Ledger",
    "Outcome",
    "DECISION_KINDS",
    "CARDINALITIES",
    "DEFAULT_CARDINALITY",
]

#: What a reviewer may decide about the record they are shown.
DECISION_KINDS = ("accept", "reject", "skip")

#: How records may pair: (each left matched to at most one right, each right at most once).
CARDINALITIES = {
    "one-to-one": (True, True),
    "many-to-one": (False, True),
    "one-to-many": (True, False),
    "many-to-many": (False, False),
}

#: Each right record at most once, a left record any number of times: the tutorial's
#: cars each have one owner, and an owner may have several cars.
DEFAULT_CARDINALITY = "many-to-one"

_NOTHING = "; nothing was recorded."

#: The target of the draw of records to be reviewed twice, and the prefix of a lead's
#: settlements of its disagreements.
DOUBLE_REVIEW = "double-review"
ADJUDICATED = "adjudicated:"


def _verdict_text(right_ids: Sequence[str]) -> str:
    return ", ".join(sorted(right_ids)) if right_ids else "no match"


_T = TypeVar("_T")


@dataclass(frozen=True)
class Outcome:
    """What a desk action did.

    ``ok`` is False when the action was refused or nothing could be done, and
    ``message`` then says why, in words for the page. ``written`` counts the
    events written (0 for a repeated click). ``view`` is the record the
    reviewer should see next (see :meth:`ReviewDesk.next_view`), or None for
    actions that do not move the reviewer.
    """

    ok: bool
    message: str | None = None
    written: int = 0
    view: dict | None = None


class _Act(NamedTuple):
    """The part of an :class:`~matching.decisions.events.Event` the review rules read."""

    event_id: str
    kind: str
    left_id: str | None
    right_ids: tuple[str, ...]
    reviewer: str
    time: float
    automatic: bool
    batch: str | None
    target: str | None
    edits: Mapping[str, Mapping[str, str]] | None = None
    exception: bool = False
    sample: tuple[str, ...] = ()
    reason: str | None = None

    @classmethod
    def of(cls, e: Event) -> _Act:
        return cls(
            e.event_id,
            e.kind,
            e.left_id,
            e.right_ids,
            e.reviewer,
            e.time,
            e.automatic,
            e.batch,
            e.target,
            e.edits or None,
            e.exception,
            e.sample,
            e.reason,
        )


class Standing(NamedTuple):
    """The decision in force on one record."""

    event_id: str
    status: str  # "accepted" or "rejected"
    right_ids: tuple[str, ...]
    reviewer: str
    time: float
    automatic: bool
    edits: Mapping[str, Mapping[str, str]] | None = None
    exception: bool = False
    reason: str | None = None


class _Folded:
    """A compact batch in the ledger: its members stay columns until a later event
    touches their record (see :class:`Ledger`)."""

    __slots__ = ("batch", "codes", "extra", "index", "pos", "prefix", "scores", "start")

    def __init__(self, batch: Batch, index: int, pos: np.ndarray, codes, start: int) -> None:
        #: Per member: the score of its accepted right id (None for a reject batch).
        #: The candidates' scores behind it are the log's: the ledger keeps this column.
        self.scores = _accepted_scores(batch) if batch.kind == "accept" else None
        self.batch = batch.without_candidates()
        self.index = index
        self.prefix = batch.event_id + "/"
        #: Per member: its record's queue position (-1 outside the queue), and the
        #: accepted right id's code (-1 unknown; None for a reject batch).
        self.pos = pos.astype(np.int32)  # half the memory of int64, per member
        self.codes = None if codes is None else codes.astype(np.int32)
        #: The order (see ``Ledger.order``) of its first member.
        self.start = start
        #: Ids of other events filed under the same batch name, if any.
        self.extra: list[str] = []

    def act(self, k: int) -> _Act:
        b = self.batch
        left = b.left_ids[k]
        rights = (b.right_ids[k],) if b.kind == "accept" else ()
        return _Act(
            self.prefix + left, b.kind, left, rights, b.reviewer, b.time, True, b.batch, None
        )

    def accepted_scores(self) -> np.ndarray:
        """Per member: the score recorded for its accepted right id (NaN for none), as
        its event's ``scores`` gives it (the last candidate of that id)."""
        if self.scores is None:
            return np.full(len(self.batch), np.nan)
        return self.scores

    def standing(self, k: int) -> Standing:
        b = self.batch
        left = b.left_ids[k]
        accept = b.kind == "accept"
        rights = (b.right_ids[k],) if accept else ()
        status = "accepted" if accept else "rejected"
        return Standing(self.prefix + left, status, rights, b.reviewer, b.time, True)


def _accepted_scores(b: Batch) -> np.ndarray:
    """Per member of an accept batch: the score its event's ``scores`` gives its
    accepted right id (the last candidate of that id), NaN for none."""
    out = np.full(len(b), np.nan)
    if not len(b.cand_score):
        return out
    member = np.repeat(np.arange(len(b)), np.diff(b.offsets))
    wanted = b.right_ids.arrow.take(pa.array(member))
    hit = pc.fill_null(pc.equal(b.cand_right, wanted), False).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(hit)
    of = member[rows]
    last = np.r_[of[1:] != of[:-1], True] if len(of) else np.zeros(0, dtype=bool)
    out[of[last]] = b.cand_score[rows[last]]
    return out


class _Members(Sequence[str]):
    """The event ids filed under a compact batch's name, made on demand."""

    def __init__(self, ledger: Ledger, folded: _Folded) -> None:
        self._ledger = ledger
        self.folded = folded

    def __len__(self) -> int:
        return len(self.folded.batch) + len(self.folded.extra)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n, size = len(self.folded.batch), len(self)
        if i < 0:
            i += size
        if not 0 <= i < size:
            raise IndexError(i)
        if i < n:
            return self.folded.prefix + self.folded.batch.left_ids[i]
        return self.folded.extra[i - n]

    def __iter__(self):
        prefix = self.folded.prefix
        yield from (prefix + x for x in self.folded.batch.left_ids)
        yield from self.folded.extra

    def append(self, event_id: str) -> None:
        self.folded.extra.append(event_id)

    def eager(self) -> list[str]:
        """The ids among these that are ordinary entries of the ledger's dictionaries."""
        f = self.folded
        ks = np.flatnonzero(~self._ledger._lazy_members(f))
        return [f.prefix + x for x in f.batch.left_ids.take(ks)] + list(f.extra)


class _RightCodes:
    """Right id -> a small integer, through the project's index of right ids when
    there is one, else through codes handed out as right ids are seen."""

    def __init__(self, index: Mapping[str, int] | None) -> None:
        self._index = index
        self._seen: dict[str, int] = {}

    def get(self, right: str) -> int:
        if self._index is not None:
            code = self._index.get(right)
            return -1 if code is None else int(code)
        return self._seen.get(right, -1)

    def many(self, rights: Sequence[str] | pa.Array, *, add: bool) -> np.ndarray:
        if self._index is not None:
            return _positions(self._index, rights)
        if isinstance(rights, pa.Array):
            rights = rights.to_pylist()
        seen = self._seen
        if add:
            for r in rights:
                if r not in seen:
                    seen[r] = len(seen)
        get = seen.get
        return np.fromiter((get(r, -1) for r in rights), np.int64, len(rights))


class _View(Mapping):
    """A read view of one of the ledger's dictionaries with a compact batch's
    untouched members in it as well. Read only: the ledger's folding changes the
    ordinary entries (``_real``), after making a touched member one (``Ledger._touch``)."""

    __slots__ = ("_ledger", "_real")

    def __init__(self, ledger: Ledger, real: dict) -> None:
        self._ledger = ledger
        self._real = real

    def __getitem__(self, key):
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key) -> bool:
        return self.get(key, _MISSING) is not _MISSING

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.items())!r})"


_MISSING = object()


class _EventView(_View):
    """A view keyed by event id: the ordinary entries, then the untouched batch members
    (their ids, and what :meth:`_of_member` makes of each)."""

    __slots__ = ()

    def _of_member(self, folded: _Folded, k: int):
        raise NotImplementedError

    def get(self, event_id, default=None):
        hit = self._real.get(event_id, _MISSING)
        if hit is not _MISSING:
            return hit
        member = self._ledger._lazy_member(event_id)
        return default if member is None else self._of_member(*member)

    def __iter__(self):
        yield from self._real
        for f, ks in self._ledger._lazy_by_batch():
            yield from (f.prefix + x for x in f.batch.left_ids.take(ks))

    def __len__(self) -> int:
        return len(self._real) + self._ledger._lazy_total


class _ActiveView(_EventView):
    __slots__ = ()

    def _of_member(self, folded: _Folded, k: int) -> _Act:
        return folded.act(k)


class _OrderView(_EventView):
    __slots__ = ()

    def _of_member(self, folded: _Folded, k: int) -> int:
        return folded.start + k


class _ByLeftView(_View):
    def get(self, left, default=None):
        lazy = self._ledger._lazy_at(left)
        if lazy is not None:
            return [lazy[0].prefix + left]
        return self._real.get(left, default)

    def __iter__(self):
        # A record decided by an untouched batch member may keep an emptied list.
        yield from (k for k in self._real if self._ledger._lazy_at(k) is None)
        yield from (left for left, _ in self._ledger._lazy_decisions())

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _DecisionsView(_View):
    def get(self, left, default=None):
        lazy = self._ledger._lazy_at(left)
        if lazy is not None:
            return lazy[0].standing(lazy[1])
        return self._real.get(left, default)

    def items(self):
        """(left id, decision) in the order decisions entered, as a dict of them would be."""
        ledger = self._ledger
        if not ledger._lazy_total:
            yield from ((k, self._real[k]) for k in ledger._real_decision_order())
            return
        real = ledger._real_decision_order()
        seq = np.asarray([ledger._decision_seq(k) for k in real], dtype=np.int64)
        lazy = np.flatnonzero(ledger.member_batch >= 0)
        keys = np.concatenate([seq, ledger.decided_seq[lazy]])
        at = np.argsort(keys, kind="stable")
        n = len(real)
        batches, member_batch, member_index = (
            ledger.batches,
            ledger.member_batch,
            ledger.member_index,
        )
        for i in at.tolist():
            if i < n:
                yield real[i], self._real[real[i]]
            else:
                p = int(lazy[i - n])
                f = batches[member_batch[p]]
                k = int(member_index[p])
                yield f.batch.left_ids[k], f.standing(k)

    def __iter__(self):
        return (k for k, _ in self.items())

    def values(self):
        return (v for _, v in self.items())

    def __len__(self) -> int:
        return len(self._real) + self._ledger._lazy_total


class _RightOwnersView(_View):
    def get(self, right, default=None):
        ledger = self._ledger
        real = self._real.get(right)
        lazy = ledger._lazy_owners(right) if ledger._lazy_total else ()
        if not lazy:
            if real is None:
                return default
            if len(real) < 2:
                return dict(real)
            return dict.fromkeys(sorted(real, key=ledger._settle_seq))
        owners = [*(real or ()), *(ledger.queue[p] for p in lazy)]
        return dict.fromkeys(sorted(owners, key=ledger._settle_seq))

    def __iter__(self):
        return iter(self._ledger._owned_rights())

    def __len__(self) -> int:
        return len(self._ledger._owned_rights())


class _AcceptedRight:
    """Per queue position: the id of the one accepted right record (None when none,
    or when the decision accepts several), as ``Ledger.accepted_right``.

    Reads like an object array (``[p]``, ``[positions]``, ``[mask]``, ``tolist()``)
    but an untouched batch member's id stays in its batch's Arrow column: a str is
    made only for the positions read. :meth:`arrow` and :meth:`present` read the
    whole queue without making any.
    """

    def __init__(self, ledger: Ledger, n: int) -> None:
        self._ledger = ledger
        #: The ids of decisions that are ordinary entries (None elsewhere).
        self.own = np.full(n, None, dtype=object)

    def __len__(self) -> int:
        return len(self.own)

    def __setitem__(self, key, value) -> None:
        self.own[key] = value

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            ledger = self._ledger
            b = ledger.member_batch[key] if ledger._lazy_total else -1
            if b >= 0 and ledger.batches[b].codes is not None:
                return ledger.batches[b].batch.right_ids[ledger.member_index[key]]
            return self.own[key]
        at = np.arange(len(self.own))[key]
        return np.asarray(self.arrow(at).to_numpy(zero_copy_only=False), dtype=object)

    def __array__(self, dtype=None, copy=None):
        return self[:] if dtype is None else self[:].astype(dtype)

    def tolist(self) -> list[str | None]:
        return self[:].tolist()

    def _members(self, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Of positions ``at``: the rows held by untouched members of accept batches,
        and those members' batches."""
        ledger = self._ledger
        if not ledger._lazy_total:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        b = ledger.member_batch[at]
        rows = np.flatnonzero(b >= 0)
        accepts = np.array([f.codes is not None for f in ledger.batches], dtype=bool)
        rows = rows[accepts[b[rows]]]
        return rows, b[rows].astype(np.int64)

    def present(self) -> np.ndarray:
        """Per queue position: True where there is one accepted right id (not None)."""
        out = np.not_equal(self.own, None)
        rows, _ = self._members(np.arange(len(self.own)))
        out[rows] = True
        return out

    def arrow(self, at: np.ndarray | None = None) -> pa.StringArray:
        """The ids at positions ``at`` (the whole queue by default) as Arrow text."""
        at = np.arange(len(self.own)) if at is None else np.asarray(at, dtype=np.int64)
        out = pa.array(self.own[at], pa.string(), from_pandas=True)
        rows, batch = self._members(at)
        if not len(rows):
            return out
        ledger = self._ledger
        index = np.arange(len(at), dtype=np.int64)
        parts, base = [out], len(at)
        for b in np.unique(batch).tolist():
            mine = rows[batch == b]
            ids = ledger.batches[b].batch.right_ids.arrow
            index[mine] = base + ledger.member_index[at[mine]]
            parts.append(ids)
            base += len(ids)
        return pa.concat_arrays(parts).take(pa.array(index))


class Ledger:
    """The review state of one project, kept up to date one event at a time.

    It folds events exactly as :func:`matching.decisions.events.replay` does (a test
    checks this on random histories), but keeps per-record lists and boolean
    arrays over the queue, so applying an event and finding the next open
    record never pass over the whole log or queue in Python.

    It also keeps the decisions in force as columns over the queue (``status``,
    ``automatic``, ``decided_at``, ``decided_by``, ``accepted_right``), so
    statistics over a million decisions are array operations (see
    :meth:`ReviewDesk.decisions`).

    A compact batch (:class:`~matching.decisions.events.Batch`) stays columns: per queue
    position, ``member_batch`` and ``member_index`` name the batch member that
    is the record's only event (-1 otherwise). Such a member is in ``active``,
    ``by_left``, ``decisions``, ``order``, ``right_owners`` and ``by_batch``
    when read, but has no Python object of its own until a later event touches
    its record (a change, an unmatch, an undo, another batch); then it becomes
    an ordinary entry. So folding a million-record batch, and undoing it, are
    array operations.
    """

    def __init__(
        self,
        queue: Sequence[str],
        left_pos: Mapping[str, int],
        right_pos: Mapping[str, int] | None = None,
    ) -> None:
        n = len(queue)
        self.queue = queue
        self.left_pos = left_pos
        #: Per queue position: 0 undecided, 1 accepted, 2 rejected.
        self.status = np.zeros(n, dtype=np.int8)
        self.automatic = np.zeros(n, dtype=bool)
        self.decided_at = np.zeros(n, dtype=np.float64)
        #: Per queue position: the decider's index in ``reviewers`` (-1 undecided).
        self.decided_by = np.full(n, -1, dtype=np.int32)
        self.reviewers: list[str] = []
        self._reviewer_code: dict[str, int] = {}
        #: Per queue position: the id of the one accepted right record; None when
        #: none, or when the decision accepts several (then they are in ``multi``).
        self.accepted_right = _AcceptedRight(self, n)
        self.multi: dict[int, tuple[str, ...]] = {}
        #: Per queue position: the reason given with the decision in force, if any.
        self.reasons: dict[int, str] = {}
        #: Per queue position: the reviewer's corrections of the decision in force, if any.
        self.edits: dict[int, Mapping[str, Mapping[str, str]]] = {}
        #: Per queue position: the ``order`` of the event that made its decision in force
        #: enter ``decisions`` (that dict's order, as in the replayed log: decision
        #: order among equal times); -1 undecided.
        self.decided_seq = np.full(n, -1, dtype=np.int64)
        self._extra_seq: dict[str, int] = {}  # the same, for records outside the queue
        self.last_seq = 0
        self.undecided = np.ones(n, dtype=bool)
        self.waiting = np.ones(n, dtype=bool)  # undecided and not skipped
        self._undecided_count = self._waiting_count = n
        #: Per queue position: the record has an event in force (in ``by_left``).
        self._has_events = np.zeros(n, dtype=bool)
        #: Compact batches folded so far, and per queue position the batch and member
        #: that is the record's only event, untouched since (-1 otherwise).
        self.batches: list[_Folded] = []
        self._batch_at: dict[str, int] = {}
        self.member_batch = np.full(n, -1, dtype=np.int32)
        self.member_index = np.full(n, -1, dtype=np.int32)
        self._lazy_total = 0
        #: Right code -> queue position of the one untouched batch member accepting
        #: it (-1 none, -2 several: then they are in ``_lazy_more``).
        self._right_codes = _RightCodes(right_pos)
        self._lazy_owner = np.full(len(right_pos) if right_pos else 0, -1, dtype=np.int64)
        self._lazy_more: dict[int, list[int]] = {}
        #: When each record's decision last entered ``right_owners`` (their order).
        self._settled = np.full(n, -1, dtype=np.int64)
        self._settled_extra: dict[str, int] = {}
        self._settle_next = 0
        #: Right id -> when its entry of ``right_owners`` began (that dict's order).
        self._born: dict[str, int] = {}
        #: The same, for right ids only untouched batch members hold now.
        self._born_kept: dict[str, int] = {}
        self._order_next = 0
        self._active: dict[str, _Act] = {}
        self._by_left: dict[str, list[str]] = {}
        self._decisions: dict[str, Standing] = {}
        self._right_owners: dict[str, dict[str, None]] = {}
        self._order: dict[str, int] = {}
        self.active: Mapping[str, _Act] = _ActiveView(self, self._active)
        self.by_left: Mapping[str, list[str]] = _ByLeftView(self, self._by_left)
        self.decisions: Mapping[str, Standing] = _DecisionsView(self, self._decisions)
        #: Right id -> the left ids whose decision in force accepts it.
        self.right_owners: Mapping[str, dict[str, None]] = _RightOwnersView(
            self, self._right_owners
        )
        #: Event id -> the order it was applied in (the log's commit order).
        self.order: Mapping[str, int] = _OrderView(self, self._order)
        self.by_batch: dict[str, list[str] | _Members] = {}
        self.stacks: dict[str, list[str]] = {}
        self.skipped: set[str] = set()
        #: Audit event id -> the audit event; and its verdicts, left id -> verdict event.
        self.audits: dict[str, _Act] = {}
        self.verdicts: dict[str, dict[str, _Act]] = {}

    # -- folding -------------------------------------------------------------

    def apply(self, event: Event | _Act | Batch) -> None:
        """Fold one event, or a compact batch (oldest first; the log guarantees unique ids)."""
        if isinstance(event, Batch):
            self._apply_batch(event)
            return
        act = event if isinstance(event, _Act) else _Act.of(event)
        if act.kind == "undo":
            self._undo(act)
            return
        self._active[act.event_id] = act
        self._order[act.event_id] = self._order_next
        self._order_next += 1
        if act.batch:
            self.by_batch.setdefault(act.batch, []).append(act.event_id)
        self.stacks.setdefault(act.reviewer, []).append(act.event_id)
        if act.kind == "audit":
            self.audits[act.event_id] = act
            self.verdicts.setdefault(act.event_id, {})
            return
        if act.kind == "verdict":
            self.verdicts.setdefault(act.target, {})[act.left_id] = act
            return
        if act.left_id is not None:
            pos = self._touch(act.left_id)
            self._by_left.setdefault(act.left_id, []).append(act.event_id)
            if pos is not None:
                self._has_events[pos] = True
            self._fold(act.left_id)

    def _apply_batch(self, batch: Batch) -> None:
        """Fold every member of a compact batch, as :meth:`apply` would one by one.

        A member whose record has no event in force (nearly all of them: a bulk
        rule decides undecided records) stays columns; the others go through
        the general fold.
        """
        n = len(batch)
        accept = batch.kind == "accept"
        pos = _positions(self.left_pos, batch.left_ids.arrow)
        inq = pos >= 0
        # A record an earlier batch decided and nothing touched since: an ordinary
        # entry first, so the general fold sees its event.
        for p in pos[inq][self.member_batch[pos[inq]] >= 0].tolist():
            self._materialise(p)
        codes = None
        if accept:
            codes = self._right_codes.many(batch.right_ids.arrow, add=True)
            self._grow_owners(int(codes.max(initial=-1)) + 1)
        folded = _Folded(batch, len(self.batches), pos, codes, self._order_next)
        self._order_next += n
        self.batches.append(folded)
        self._batch_at[batch.event_id] = folded.index
        ids = _Members(self, folded)
        held = self.by_batch.get(batch.batch)
        if held is None:
            self.by_batch[batch.batch] = ids
        else:  # a name used before (never by the desk's own batches): plain ids
            held.extend(ids) if isinstance(held, list) else held.folded.extra.extend(ids)
        if n:
            stack = self.stacks.setdefault(batch.reviewer, [])
            last_in_queue = np.flatnonzero(inq)
            if len(last_in_queue) and last_in_queue[-1] != n - 1:
                stack.append(ids[int(last_in_queue[-1])])
            stack.append(ids[n - 1])

        fresh = np.zeros(n, dtype=bool)
        fresh[inq] = ~self._has_events[pos[inq]]
        by_left = self._by_left
        outside = np.flatnonzero(~inq).tolist()
        for k in outside:
            fresh[k] = not by_left.get(batch.left_ids[k])
        lazy = fresh & inq
        if accept:
            lazy &= codes >= 0
        if held is not None:  # one undo takes the events of both: ordinary entries
            lazy[:] = False
        rank = np.cumsum(fresh) - 1  # each fresh member's place among them
        count = int(fresh.sum())

        at = pos[lazy]
        self.member_batch[at] = folded.index
        self.member_index[at] = np.flatnonzero(lazy)
        self._has_events[at] = True
        self._lazy_total += len(at)
        self._settled[at] = self._settle_next + rank[lazy]
        if accept:
            self._add_lazy_owners(codes[lazy], at)

        # Members folded the ordinary way: outside the queue, or with events before.
        kind, who, when, name = batch.kind, batch.reviewer, batch.time, batch.batch
        status = "accepted" if accept else "rejected"
        folds: list[str] = []
        ordinary = np.flatnonzero(~lazy)
        ordinary_rights = batch.right_ids.take(ordinary) if accept else None
        for i, (k, left) in enumerate(zip(ordinary.tolist(), batch.left_ids.take(ordinary))):
            eid = folded.prefix + left
            rights = (ordinary_rights[i],) if accept else ()
            self._active[eid] = _Act(eid, kind, left, rights, who, when, True, name, None)
            self._order[eid] = folded.start + k
            p = int(pos[k])
            if p >= 0:
                self._has_events[p] = True
            if not fresh[k]:
                by_left[left].append(eid)
                folds.append(left)
                continue
            by_left[left] = [eid]
            self._decisions[left] = Standing(eid, status, rights, who, when, True)
            seq = self._settle_next + int(rank[k])
            if p >= 0:
                self._settled[p] = seq
            else:
                self._settled_extra[left] = seq
                self._extra_seq[left] = folded.start + k
            for r in rights:
                self._own(r, left)

        settled = fresh & inq
        spos = pos[settled]
        self._settled[spos] = self._settle_next + rank[settled]
        self._settle_next += count
        self._mark_positions(spos, undecided=False)
        self.status[spos] = 1 if accept else 2
        self.automatic[spos] = True
        self.decided_at[spos] = when
        self.decided_by[spos] = self._code(who)
        self.decided_seq[spos] = folded.start + np.flatnonzero(settled)
        if accept:  # untouched members' ids stay in the batch's column (see _AcceptedRight)
            named = np.flatnonzero(settled & ~lazy)
            self.accepted_right[pos[named]] = batch.right_ids.take(named)
        for left in folds:
            self._fold(left)

    # -- the members of compact batches ------------------------------------------

    def _lazy_at(self, left: str) -> tuple[_Folded, int] | None:
        """The untouched batch member that is ``left``'s only event, if any."""
        if not self._lazy_total:
            return None
        pos = self.left_pos.get(left)
        if pos is None:
            return None
        b = self.member_batch[pos]
        return None if b < 0 else (self.batches[b], int(self.member_index[pos]))

    def _lazy_member(self, event_id) -> tuple[_Folded, int] | None:
        """The untouched batch member with this event id, if any."""
        if not self._lazy_total or not isinstance(event_id, str):
            return None
        cut = event_id.find("/")
        while cut >= 0:
            b = self._batch_at.get(event_id[:cut])
            if b is not None:
                hit = self._lazy_at(event_id[cut + 1 :])
                return hit if hit is not None and hit[0].index == b else None
            cut = event_id.find("/", cut + 1)
        return None

    def _lazy_members(self, folded: _Folded) -> np.ndarray:
        """Per member of ``folded``: True while it is untouched (columns only)."""
        pos = folded.pos
        return (pos >= 0) & (self.member_batch[np.maximum(pos, 0)] == folded.index)

    def _lazy_by_batch(self):
        for f in self.batches:
            if self._lazy_total:
                ks = np.flatnonzero(self._lazy_members(f))
                if len(ks):
                    yield f, ks

    def _lazy_decisions(self):
        for f, ks in self._lazy_by_batch():
            yield from zip(f.batch.left_ids.take(ks), ks.tolist())

    def _touch(self, left: str) -> int | None:
        """``left``'s queue position, its batch member made an ordinary entry first."""
        pos = self.left_pos.get(left)
        if pos is not None and self._lazy_total and self.member_batch[pos] >= 0:
            self._materialise(int(pos))
        return pos

    def _materialise(self, pos: int) -> None:
        """Make the untouched batch member at queue position ``pos`` ordinary entries."""
        f = self.batches[self.member_batch[pos]]
        k = int(self.member_index[pos])
        self.member_batch[pos] = self.member_index[pos] = -1
        self._lazy_total -= 1
        act = f.act(k)
        self.accepted_right[pos] = act.right_ids[0] if act.right_ids else None
        self._active[act.event_id] = act
        self._order[act.event_id] = f.start + k
        self._by_left[act.left_id] = [act.event_id]
        self._decisions[act.left_id] = f.standing(k)
        if f.codes is not None:
            self._drop_lazy_owner(int(f.codes[k]), pos)
            self._own(act.right_ids[0], act.left_id)

    def _clear_lazy(self, folded: _Folded) -> None:
        """Undo the untouched members of ``folded`` at once: undecided again."""
        lazy = self._lazy_members(folded)
        pos = folded.pos[lazy]
        if folded.codes is not None:
            codes = folded.codes[lazy]
            simple = self._lazy_owner[codes] == pos
            self._lazy_owner[codes[simple]] = -1
            for code, p in zip(codes[~simple].tolist(), pos[~simple].tolist()):
                self._drop_lazy_owner(code, p)
        self.member_batch[pos] = self.member_index[pos] = -1
        self._has_events[pos] = False
        self._lazy_total -= len(pos)
        for right in [r for r in self._born_kept if not self._lazy_owners(r)]:
            del self._born_kept[right]
        self._mark_positions(pos, undecided=True)

    def _grow_owners(self, size: int) -> None:
        if size > len(self._lazy_owner):
            grown = np.full(max(size, 2 * len(self._lazy_owner)), -1, dtype=np.int64)
            grown[: len(self._lazy_owner)] = self._lazy_owner
            self._lazy_owner = grown

    def _add_lazy_owners(self, codes: np.ndarray, pos: np.ndarray) -> None:
        owner = self._lazy_owner
        once = np.ones(len(codes), dtype=bool)
        if len(codes):
            _, first, counts = np.unique(codes, return_index=True, return_counts=True)
            once[:] = False
            once[first[counts == 1]] = True
        simple = once & (owner[codes] == -1)
        owner[codes[simple]] = pos[simple]
        for code, p in zip(codes[~simple].tolist(), pos[~simple].tolist()):
            held = int(owner[code])
            if held == -1:
                owner[code] = p
            elif held == -2:
                self._lazy_more[code].append(p)
            else:
                self._lazy_more[code] = [held, p]
                owner[code] = -2

    def _drop_lazy_owner(self, code: int, pos: int) -> None:
        held = int(self._lazy_owner[code])
        if held == pos:
            self._lazy_owner[code] = -1
        elif held == -2:
            more = self._lazy_more[code]
            more.remove(pos)
            if len(more) == 1:
                self._lazy_owner[code] = more[0]
                del self._lazy_more[code]

    def _lazy_owners(self, right: str) -> list[int]:
        """Queue positions of the untouched batch members accepting ``right``."""
        code = self._right_codes.get(right)
        if not 0 <= code < len(self._lazy_owner):
            return []
        held = int(self._lazy_owner[code])
        if held == -1:
            return []
        return list(self._lazy_more[code]) if held == -2 else [held]

    def _own(self, right: str, left: str) -> None:
        """Add ``left`` to the owners of ``right`` (their dict's entries, not the batches')."""
        owners = self._right_owners.get(right)
        if owners is None:
            owners = self._right_owners[right] = {}
            self._born[right] = min(self._settle_seq(left), self._lazy_born(right))
            self._born_kept.pop(right, None)
        owners[left] = None

    def _disown(self, right: str, left: str) -> None:
        owners = self._right_owners.get(right)
        if owners is not None:
            owners.pop(left, None)
            if not owners:
                del self._right_owners[right]
                born = self._born.pop(right)
                if self._lazy_total and self._lazy_owners(right):
                    self._born_kept[right] = born  # batch members hold it still

    def _lazy_born(self, right: str) -> float:
        """When the untouched batch members' hold on ``right`` began (inf: none hold it)."""
        lazy = self._lazy_owners(right) if self._lazy_total else ()
        if not lazy:
            return np.inf
        return min(self._born_kept.get(right, np.inf), *(int(self._settled[p]) for p in lazy))

    def _born_of(self, right: str) -> float:
        born = self._born.get(right)
        return self._lazy_born(right) if born is None else born

    def _settle_seq(self, left: str) -> int:
        pos = self.left_pos.get(left)
        return int(self._settled[pos]) if pos is not None else self._settled_extra.get(left, -1)

    def _decision_seq(self, left: str) -> int:
        pos = self.left_pos.get(left)
        return int(self.decided_seq[pos]) if pos is not None else self._extra_seq.get(left, -1)

    def _real_decision_order(self) -> list[str]:
        # Not the dict's own order: an undo or a batch member made an ordinary entry
        # late may put a record back where the replayed log has it.
        return sorted(self._decisions, key=self._decision_seq)

    def _owned_rights(self) -> list[str]:
        """Every right id some decision in force accepts, in ``right_owners``' order."""
        rights = set(self._right_owners)
        for f, ks in self._lazy_by_batch():
            if f.codes is not None:
                rights.update(f.batch.right_ids.take(ks))
        return sorted(rights, key=self._born_of)

    def owned(self, right_ids: Sequence[str]) -> np.ndarray:
        """Per right id: True when a decision in force accepts it (``in right_owners``)."""
        out = np.zeros(len(right_ids), dtype=bool)
        if not len(right_ids):
            return out
        if isinstance(right_ids, IdColumn):
            right_ids = right_ids.arrow
        if self._right_owners:
            values = pa.array(right_ids, pa.string())
            held = pa.array(list(self._right_owners), pa.string())
            out |= pc.fill_null(pc.is_in(values, value_set=held), False).to_numpy(
                zero_copy_only=False
            )
        if self._lazy_total:
            codes = self._right_codes.many(right_ids, add=False)
            known = (codes >= 0) & (codes < len(self._lazy_owner))
            out[known] |= self._lazy_owner[codes[known]] != -1
        return out

    def batch_of(self, event_id: str) -> _Folded | None:
        """The compact batch a batch member's event id (touched or not) belongs to,
        or None for any other event."""
        cut = event_id.find("/")
        while cut >= 0:
            b = self._batch_at.get(event_id[:cut])
            if b is not None:
                return self.batches[b]
            cut = event_id.find("/", cut + 1)
        return None

    def batch_lefts(self, batch: str) -> list[str]:
        """The records of the events in force filed under ``batch``."""
        members = self.by_batch.get(batch, [])
        if isinstance(members, _Members):
            extra = [self._active[m].left_id for m in members.folded.extra if m in self._active]
            return [*members.folded.batch.left_ids, *extra]
        return [self.active[m].left_id for m in members if m in self.active]

    # -- the general fold ------------------------------------------------------

    def _mark(self, lefts: list[str], *, undecided: bool) -> np.ndarray:
        pos = _positions(self.left_pos, lefts)
        return self._mark_positions(pos[pos >= 0], undecided=undecided)

    def _mark_positions(self, pos: np.ndarray, *, undecided: bool) -> np.ndarray:
        """Set the records (none skipped, none with a reason or several rights) decided
        or undecided in the queue's arrays."""
        flip = int((self.undecided[pos] != undecided).sum())
        wait = int((self.waiting[pos] != undecided).sum())
        sign = 1 if undecided else -1
        self._undecided_count += sign * flip
        self._waiting_count += sign * wait
        self.undecided[pos] = undecided
        self.waiting[pos] = undecided
        if undecided:
            self.status[pos] = 0
            self.accepted_right[pos] = None
            self.decided_by[pos] = -1
            self.decided_seq[pos] = -1
            for p in pos.tolist() if self.multi or self.reasons or self.edits else ():
                self.multi.pop(p, None)
                self.reasons.pop(p, None)
                self.edits.pop(p, None)
        return pos

    def _undo(self, act: _Act) -> None:
        hit = self.active.get(act.target) if act.target else None
        if hit is None:
            return
        if hit.batch:
            victims = self.by_batch.pop(hit.batch, [])
            if isinstance(victims, _Members):
                folded = victims.folded
                victims = victims.eager()
                self._clear_lazy(folded)
        else:
            victims = [hit.event_id]
        lefts = set()
        cleared: list[str] = []
        for v in victims:
            gone = self._active.pop(v, None)
            if gone is not None and gone.kind == "audit":
                self.audits.pop(v, None)
                self.verdicts.pop(v, None)
            elif gone is not None and gone.kind == "verdict":
                self.verdicts.get(gone.target, {}).pop(gone.left_id, None)
            elif gone is not None and gone.left_id is not None:
                events = self._by_left[gone.left_id]
                if len(events) == 1 and events[0] == v:
                    events.clear()
                    cleared.append(gone.left_id)
                else:
                    events.remove(v)
                    lefts.add(gone.left_id)
        # Records whose only event in force went: undecided again, and not skipped.
        for left in cleared:
            before = self._decisions.pop(left, None)
            for r in before.right_ids if before is not None else ():
                self._disown(r, left)
            self._extra_seq.pop(left, None)
        self.skipped.difference_update(cleared)
        self._has_events[self._mark(cleared, undecided=True)] = False
        for left in lefts:
            self._fold(left)

    def _fold(self, left: str) -> None:
        decision: Standing | None = None
        skipped = False
        entered = -1  # the event that made the decision enter ``decisions``
        for i in self._by_left.get(left, ()):
            a = self._active[i]
            if a.kind in ("accept", "reject"):
                accepted = a.kind == "accept"
                if decision is None:
                    entered = self._order[i]
                decision = Standing(
                    a.event_id,
                    "accepted" if accepted else "rejected",
                    a.right_ids if accepted else (),
                    a.reviewer,
                    a.time,
                    a.automatic,
                    a.edits,
                    a.exception,
                    a.reason,
                )
                skipped = False
            elif a.kind == "skip":
                skipped = skipped or decision is None
            elif a.kind == "unmatch" and decision is not None:
                remaining = tuple(r for r in decision.right_ids if r not in a.right_ids)
                decision = decision._replace(right_ids=remaining) if remaining else None
        self._settle(left, decision, skipped, entered)

    def _settle(self, left: str, decision: Standing | None, skipped: bool, entered: int) -> None:
        """Make ``decision`` (None: none) the record's decision in force, and set its
        skip; ``entered`` is the ``order`` of the event that made it enter ``decisions``."""
        before = self._decisions.get(left)
        for r in before.right_ids if before is not None else ():
            self._disown(r, left)
        pos = self.left_pos.get(left)
        if decision is None:
            self._decisions.pop(left, None)
            self._extra_seq.pop(left, None)
        else:
            if pos is None:
                self._extra_seq[left] = entered
            self._decisions[left] = decision
            if pos is None:
                self._settled_extra[left] = self._settle_next
            else:
                self._settled[pos] = self._settle_next
            self._settle_next += 1
            for r in decision.right_ids:
                self._own(r, left)
        if skipped:
            self.skipped.add(left)
        else:
            self.skipped.discard(left)
        if pos is not None:
            undecided, waiting = decision is None, decision is None and not skipped
            self._undecided_count += int(undecided) - int(self.undecided[pos])
            self._waiting_count += int(waiting) - int(self.waiting[pos])
            self.undecided[pos] = undecided
            self.waiting[pos] = waiting
            self._columns_at(pos, decision, entered)

    def _code(self, reviewer: str) -> int:
        code = self._reviewer_code.get(reviewer)
        if code is None:
            code = self._reviewer_code[reviewer] = len(self.reviewers)
            self.reviewers.append(reviewer)
        return code

    def _columns_at(self, pos: int, decision: Standing | None, entered: int) -> None:
        self.multi.pop(pos, None)
        self.reasons.pop(pos, None)
        self.edits.pop(pos, None)
        if decision is None:
            self.status[pos] = 0
            self.accepted_right[pos] = None
            self.decided_by[pos] = -1
            self.decided_seq[pos] = -1
            return
        self.decided_seq[pos] = entered
        self.status[pos] = 1 if decision.status == "accepted" else 2
        self.automatic[pos] = decision.automatic
        self.decided_at[pos] = decision.time
        self.decided_by[pos] = self._code(decision.reviewer)
        rights = decision.right_ids
        self.accepted_right[pos] = rights[0] if len(rights) == 1 else None
        if len(rights) > 1:
            self.multi[pos] = tuple(rights)
        if decision.reason:
            self.reasons[pos] = decision.reason
        if decision.edits:
            self.edits[pos] = decision.edits

    # -- questions -----------------------------------------------------------

    def undo_target(self, reviewer: str) -> str | None:
        """The id of the reviewer's latest event in force, or None."""
        stack = self.stacks.get(reviewer, [])
        while stack and stack[-1] not in self.active:
            stack.pop()
        return stack[-1] if stack else None

    def undo_problem(self, target: str) -> str | None:
        """Why undoing ``target`` would not restore its records, or None when it would.

        It would not when someone changed one of its records since: undoing
        then would silently drop or revive that later decision.
        """
        hit = self.active.get(target)
        if hit is None:
            return "that action was already undone"
        victims = self.by_batch.get(hit.batch, []) if hit.batch else [target]
        if isinstance(victims, _Members):
            victims = victims.eager()  # an untouched member has nothing after it
        changed = 0
        first = None
        for v in victims:
            a = self.active[v]
            if a.left_id is None or a.kind not in ("accept", "reject", "unmatch"):
                continue  # a skip, an audit or a verdict changes no decision
            if self.by_left[a.left_id][-1] == v:
                continue  # its record's latest event: nothing came after it
            later = [
                self.active[i] for i in self.by_left[a.left_id] if self.active[i].kind != "skip"
            ]
            if later and later[-1].event_id != v:
                changed += 1
                first = first or (a.left_id, later[-1].reviewer)
        if not changed:
            return None
        if hit.batch:
            return (
                f"{changed} records of that batch were changed since (record {first[0]!r} by "
                f"{first[1]}); change them back on the Matched tab before undoing the batch"
            )
        return f"record {first[0]!r} was changed by {first[1]} since"

    def resume_after(self, reviewer: str) -> int:
        """Queue position after the reviewer's latest accept, reject or skip in force."""
        for i in reversed(self.stacks.get(reviewer, [])):
            a = self.active.get(i)
            if a is not None and a.kind in DECISION_KINDS and a.left_id in self.left_pos:
                return self.left_pos[a.left_id] + 1
        return 0

    def find_open(self, start: int, *, restart: bool, exclude: Iterable[int] = ()) -> int | None:
        """First open queue position at or after ``start``, wrapping round; None when none.

        Open means undecided and, unless ``restart``, not skipped; positions in
        ``exclude`` (records other reviewers hold) are passed over.
        """
        mask = self.undecided if restart else self.waiting
        skip = set(exclude)
        n = len(mask)
        for lo, hi in ((start, n), (0, min(start, n))):
            i, step = lo, 1024
            while i < hi:
                end = min(i + step, hi)
                for hit in np.flatnonzero(mask[i:end]):
                    pos = int(hit) + i
                    if pos not in skip:
                        return pos
                i, step = end, min(step * 4, 1 << 20)
        return None

    def conflicts(self) -> dict[str, list[str]]:
        """Right ids accepted for more than one left record, with those left ids.

        A decision a lead marked as an exception does not count. Left ids are
        in the order their decisions were written (the first one matched it first).
        """
        rights = {
            r
            for r, owners in self._right_owners.items()
            if len(owners) > 1 or (self._lazy_total and self._lazy_owners(r))
        }
        for positions in self._lazy_more.values():
            p = positions[0]
            rights.add(self.batches[self.member_batch[p]].batch.right_ids[self.member_index[p]])
        return self.conflicts_of(sorted(rights, key=self._born_of))

    def conflicts_of(self, rights) -> dict[str, list[str]]:
        """:meth:`conflicts` among the right ids given only, so that checking one
        accept does not pass over every match."""
        out = {}
        for right in rights:
            owners = self.right_owners.get(right, ())
            if len(owners) > 1:
                live = [x for x in owners if not self.decisions[x].exception]
                if len(live) > 1:
                    out[right] = sorted(
                        owners, key=lambda x: self.order[self.decisions[x].event_id]
                    )
        return out

    def counts(self) -> dict[str, int]:
        """``decided``, ``skipped`` and ``open`` (neither) records of the queue."""
        undecided, waiting = self._undecided_count, self._waiting_count
        return {
            "decided": len(self.undecided) - undecided,
            "skipped": undecided - waiting,
            "open": waiting,
        }


def _positions(index: Mapping[str, int], ids: Sequence[str] | pa.Array) -> np.ndarray:
    """Positions of ``ids`` in ``index`` (-1 where unknown), all at once where it can."""
    many = getattr(index, "positions", None)
    if many is not None:
        return np.asarray(many(ids), dtype=np.int64)
    if isinstance(ids, (pa.Array, pa.ChunkedArray)):
        ids = ids.to_pylist()
    get = index.get
    return np.fromiter((get(x, -1) for x in ids), np.int64, len(ids))


def _ago(when: float, now: float) -> str:
    seconds = max(0.0, now - when)
    if seconds < 90:
        return "a moment ago"
    if seconds < 3600:
        return f"{round(seconds / 60)} minutes ago"
    return _time.strftime("on %Y-%m-%d at %H:%M UTC", _time.gmtime(when))


class ReviewDesk:
    """The review rules of one project, over a :class:`~matching.decisions.log.DecisionLog`.

    Parameters
    ----------
    log : DecisionLog
        Where decisions and leases live; the project must exist in it.
    project : Project
        Tables, queue and candidates.
    lease_seconds : float
        How long a shown record stays reserved for its reviewer.
    thresholds : callable, optional
        Returns ``{"keep": ..., "select": ...}`` in force (the Tuning tab may
        change them); the project's own when None.
    notes : callable, optional
        Returns a note per left id to show with its record, such as
        "changed since decided by alice on 2026-11-20" after a re-run.
    cardinality : str or callable
        How records may pair (see :data:`CARDINALITIES`), or a callable that
        returns it. An accept whose right record is already matched where the
        cardinality allows once is recorded as a conflict for a lead.

    Notes
    -----
    One desk per project and process; it is safe to share between threads.
    Every method takes the acting ``reviewer`` and ``role`` (see
    :mod:`matching.decisions.roles`) from the server's own knowledge of who is signed in,
    never from the page.

    Examples
    --------
    >>> import pandas as pd
    >>> from matching.engine.project import build_project
    >>> from matching.engine.spec import Field, Spec
    >>> left = pd.DataFrame({"id": ["1", "2"], "name": ["Ann", "Bob"]})
    >>> right = pd.DataFrame({"id": ["a", "b"], "name": ["Anne", "Bob"]})
    >>> project = build_project(left, right, Spec((Field("name"),), "id", "id"),
    ...                         name="demo", keep=0.5, select=0.8)
    >>> log = DecisionLog("sqlite://")
    >>> _ = log.ensure_project(project.project_id, name="demo", meta={})
    >>> desk = ReviewDesk(log, project)
    >>> view = desk.next_view("ann")
    >>> view["left_id"], view["selected"]
    ('1', ['a'])
    >>> desk.next_view("bob")["left_id"]   # ann holds record 1
    '2'
    >>> done = desk.decide("ann", view, "accept", ["a"])
    >>> done.ok, done.view["left_id"]      # bob holds 2, so ann is told she is done
    (True, None)
    >>> late = desk.decide("bob", view, "reject")
    >>> late.ok, late.message
    (False, "Record '1' was decided by ann a moment ago; nothing was recorded.")
    """

    def __init__(
        self,
        log: DecisionLog,
        project: Project,
        *,
        lease_seconds: float = 300,
        thresholds: Callable[[], Mapping[str, float]] | None = None,
        cardinality: str | Callable[[], str] = DEFAULT_CARDINALITY,
        notes: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.log = log
        self.project = project
        self.lease_seconds = lease_seconds
        self._thresholds = thresholds
        self._cardinality = cardinality
        self._notes = notes
        self._lock = threading.RLock()
        self._ledger: Ledger | None = None
        self._memo: dict[str, tuple[int, object]] = {}
        self._pair_codes: tuple[np.ndarray, pa.Array] | None = None

    @property
    def project_id(self) -> str:
        return self.project.project_id

    # -- the ledger ----------------------------------------------------------

    def _fresh_ledger(self) -> Ledger:
        ledger = Ledger(self.project.queue, self.project.left_pos, self.project.right_pos)
        for seq, *facts in self.log.event_facts(self.project_id):
            ledger.apply(facts[0] if len(facts) == 1 else _Act(*facts))
            ledger.last_seq = seq
        return ledger

    def ledger(self) -> Ledger:
        """The ledger as of the last transaction (read the log once on first use)."""
        with self._lock:
            if self._ledger is None:
                self._ledger = self._fresh_ledger()
                # A large log leaves millions of long-lived objects; Python's full
                # collections would walk them all, pausing a review step for tens of
                # milliseconds. Frozen objects are left out of those walks.
                gc.freeze()
            return self._ledger

    def _catch_up(self, tx: ProjectTransaction) -> Ledger:
        ledger = self.ledger()
        for seq, event in tx.events_after(ledger.last_seq, compact=True):
            ledger.apply(event)
            ledger.last_seq = seq
        return ledger

    def refresh(self) -> Ledger:
        """The ledger with every committed event applied (a read; no lock taken).

        Within a project, event sequence numbers grow in commit order (see
        :meth:`~matching.decisions.log.DecisionLog.transaction`), so reading the events
        after the last one seen misses none.
        """
        with self._lock:
            ledger = self.ledger()
            rows = self.log.event_rows(self.project_id, after_seq=ledger.last_seq, compact=True)
            for seq, event in rows:
                ledger.apply(event)
                ledger.last_seq = seq
            return ledger

    def memo(self, name: str, build: Callable[[Ledger], _T]) -> _T:
        """``build(ledger)``, kept until the log changes: one value per ``name``."""
        with self._lock:
            ledger = self.refresh()
            hit = self._memo.get(name)
            if hit is not None and hit[0] == ledger.last_seq:
                return hit[1]
            value = build(ledger)
            self._memo[name] = (ledger.last_seq, value)
            return value

    def _codes(self) -> tuple[np.ndarray, pa.Array]:
        """Per candidate row: its left record's queue position, and its right id."""
        if self._pair_codes is None:
            c = self.project.candidates
            lefts = self.project.pair_left
            if lefts is None:
                lefts = _positions(
                    self.project.left_pos, pa.array(c["left_id"].astype(str), from_pandas=True)
                )
            rights = pa.array(c["right_id"].astype(str), from_pandas=True)
            if isinstance(rights, pa.ChunkedArray):
                rights = rights.combine_chunks()
            self._pair_codes = (lefts.astype(np.int64, copy=False), rights)
        return self._pair_codes

    def pair_status(self) -> PairStatus:
        """Each candidate pair's review status now, from the ledger's columns (kept
        until the log changes); what :mod:`matching.decisions.tuning`'s counts take."""
        return self.memo("pair-status", self._pair_status)

    def _pair_status(self, ledger: Ledger) -> PairStatus:
        lefts, rights = self._codes()
        known = lefts >= 0
        at = np.maximum(lefts, 0)
        status = np.where(known, ledger.status[at], 0).astype(np.int8)
        chosen = ledger.accepted_right.arrow().take(at)
        hit = pc.fill_null(pc.equal(rights, chosen), False).to_numpy(zero_copy_only=False)
        hit &= status == 1
        for pos, several in ledger.multi.items():
            a, b = self.project.slices.get(self.project.queue[pos], (0, 0))
            hit[a:b] |= np.isin(np.asarray(rights[a:b].to_pylist(), dtype=object), several)
        status[(status == 1) & ~hit] = 2
        return PairStatus(status, known & ledger.automatic[at] & (status > 0))

    def decisions(self) -> Decisions:
        """The decisions in force as columns (kept until the log changes), for
        :mod:`matching.decisions.statistics`. Scores are the candidates' scores."""
        return self.memo("decisions", self._decisions)

    def _decisions(self, ledger: Ledger) -> Decisions:
        pos = np.flatnonzero(ledger.status > 0)
        accepted = ledger.status[pos] == 1
        pairs = accepted.astype(np.int64)
        reasons = [None] * len(pos)
        where = {}
        if ledger.multi or ledger.reasons:
            where = {int(p): i for i, p in enumerate(pos.tolist())}
        for p, chosen in ledger.multi.items():
            pairs[where[p]] = len(chosen)
        for p, text in ledger.reasons.items():
            reasons[where[p]] = text
        names = np.asarray([*ledger.reviewers, ""], dtype=object)
        frame = pd.DataFrame(
            {
                "status": np.where(accepted, "accepted", "rejected").astype(object),
                "pairs": pairs,
                "reviewer": names[ledger.decided_by[pos]],
                "time": ledger.decided_at[pos],
                "automatic": ledger.automatic[pos],
                "reason": pd.Series(reasons, dtype=object),
            }
        )
        status = self.memo("pair-status", self._pair_status).status
        scores = self.project.candidates["score"].to_numpy(np.float64)
        return Decisions(frame, scores[status == 1], scores[status == 2], len(ledger.skipped))

    def accepted_pairs(self) -> pd.DataFrame:
        """The accepted pairs in force, as :func:`matching.decisions.export.matched_chunks_of_pairs`
        takes them (the same rows, in the same order, as
        :func:`matching.decisions.export.accepted_pairs_of_state` of the replayed log).

        Built from the ledger's columns: a batch member's score and thresholds
        come from its batch's columns, and only the events of the other
        decisions in force are read from the log, by id.
        """
        with self._lock:
            ledger = self.refresh()
            pos = np.flatnonzero(ledger.status == 1)
            pos = pos[np.lexsort((ledger.decided_seq[pos], ledger.decided_at[pos]))]
            batch = ledger.member_batch[pos].astype(np.int64)
            member = ledger.member_index[pos].astype(np.int64)
            queue = self.project.queue
            wanted: dict[int, str] = {}  # row of ``pos`` -> its decision's event id
            touched: dict[int, list[int]] = {}  # batch -> rows decided by a touched member
            for i in np.flatnonzero(batch < 0).tolist():
                eid = ledger.decisions[queue[int(pos[i])]].event_id
                f = ledger.batch_of(eid)
                if f is None:
                    wanted[i] = eid
                else:
                    touched.setdefault(f.index, []).append(i)
            for b, rows in touched.items():
                f = ledger.batches[b]
                inverse = np.full(len(queue), -1, dtype=np.int64)  # queue position -> member
                inverse[f.pos[f.pos >= 0]] = np.flatnonzero(f.pos >= 0)
                batch[rows], member[rows] = b, inverse[pos[rows]]
            events = self.log.events_by_id(self.project_id, wanted.values())
            counts = np.ones(len(pos), dtype=np.int64)
            several = {}
            if ledger.multi:
                at = np.flatnonzero(np.isin(pos, list(ledger.multi)))
                several = {int(i): ledger.multi[int(pos[i])] for i in at.tolist()}
                counts[at] = [len(chosen) for chosen in several.values()]
            starts = np.cumsum(counts) - counts
            # Arrow text, not a str per pair, unless a record accepts several.
            flat = ledger.accepted_right.arrow(pos)
            if several or flat.null_count:
                flat = np.repeat(ledger.accepted_right[pos], counts)
                for i, chosen in several.items():
                    flat[starts[i] : starts[i] + counts[i]] = chosen
            reasons, edits = dict(ledger.reasons), dict(ledger.edits)
            names = np.asarray([*ledger.reviewers, None], dtype=object)
            decided_at = ledger.decided_at[pos]
            who = names[ledger.decided_by[pos]]
            automatic = ledger.automatic[pos]

        # A pair per record unless some accept several: then no copy of each column
        # per pair (a million pairs make every copy 8 MB).
        one = len(several) == 0
        rows = np.arange(len(pos)) if one else np.repeat(np.arange(len(pos)), counts)

        def per_pair(values: np.ndarray) -> np.ndarray:
            return values if one else values[rows]

        score = np.full(len(rows), np.nan)
        thresholds = np.empty(len(rows), dtype=object)
        by_batch = per_pair(batch)
        for b in np.unique(by_batch[by_batch >= 0]).tolist():
            f = ledger.batches[b]
            at = np.flatnonzero(by_batch == b)
            score[at] = f.accepted_scores()[member[rows[at]]]
            thresholds[at] = f.batch.thresholds  # one mapping the batch's rows share
        if isinstance(flat, pa.Array):
            right_ids = flat.to_pandas()
            right_at = lambda j: flat[j].as_py()  # noqa: E731
        else:
            right_ids, right_at = pd.Series(flat, dtype=object), flat.__getitem__
        for i, eid in wanted.items():
            event = events[eid]
            for j in range(int(starts[i]), int(starts[i] + counts[i])):
                score[j] = event.scores.get(right_at(j), np.nan)
                thresholds[j] = event.thresholds
        row_pos = per_pair(pos)
        if hasattr(queue, "array"):  # Arrow text: no Python string per record
            lefts = queue.array.take(pa.array(row_pos)).to_pandas()
        else:
            lefts = pd.Series(np.asarray(queue, dtype=object)[row_pos], dtype=object)
        cells = np.full(len(rows), None, dtype=object)
        why = np.full(len(rows), None, dtype=object)
        for j in np.flatnonzero(np.isin(row_pos, [*edits, *reasons])).tolist():
            p = int(row_pos[j])
            why[j] = reasons.get(p)
            cells[j] = dict((edits.get(p) or {}).get(right_at(j), {})) or None
        return pd.DataFrame(
            {
                "left_id": lefts,
                "right_id": right_ids,
                "score": score,
                "reviewer": pd.Series(per_pair(who), dtype=object, copy=False),
                "decided_at": pd.to_datetime(per_pair(decided_at), unit="s", utc=True),
                "automatic": per_pair(automatic),
                "edits": pd.Series(cells, dtype=object, copy=False),
                "reason": pd.Series(why, dtype=object, copy=False),
                "thresholds": pd.Series(thresholds, dtype=object, copy=False),
            },
            copy=False,  # the columns are this call's own
        )

    def still_showing(self, reviewer: str, view: Mapping | None) -> bool:
        """True when ``view`` is still what ``reviewer`` should see: its record is
        open and nothing was decided since it was drawn (another tab may decide)."""
        if not isinstance(view, Mapping) or view.get("reviewer") != reviewer:
            return False
        ledger = self.refresh()
        pos = self.project.left_pos.get(view.get("left_id"))
        if pos is None or not ledger.waiting[pos]:
            return False
        return view.get("decided") == ledger.counts()["decided"]

    def _transaction(self, work: Callable[[ProjectTransaction, Ledger], _T]) -> _T:
        """Run ``work`` inside the project's lock with the ledger caught up.

        ``work`` may apply what it writes to the ledger before the commit; if
        the transaction fails, the ledger is dropped and read again next time.
        """
        with self._lock:
            self.ledger()  # read the whole log, if need be, before taking the lock
            try:
                with self.log.transaction(self.project_id) as tx:
                    result = work(tx, self._catch_up(tx))
                    new_seq = tx.last_seq()
                self._ledger.last_seq = max(self._ledger.last_seq, new_seq)
                return result
            except BaseException:
                self._ledger = None
                raise

    # -- views ---------------------------------------------------------------

    def _take_next(
        self,
        tx: ProjectTransaction,
        ledger: Ledger,
        reviewer: str,
        *,
        restart: bool,
        prefer: int | None,
        now: float,
    ) -> int | None:
        busy = tx.busy(reviewer, now)
        held = {self.project.left_pos[b] for b in busy if b in self.project.left_pos}
        if prefer is not None and ledger.waiting[prefer] and prefer not in held:
            pos = prefer
        else:
            start = 0 if restart else ledger.resume_after(reviewer)
            pos = ledger.find_open(start, restart=restart, exclude=held)
        if pos is None:
            tx.release(reviewer)
        else:
            tx.lease(self.project.queue[pos], reviewer, now + self.lease_seconds)
        return pos

    def _view(self, reviewer: str, pos: int | None) -> dict:
        ledger = self.ledger()
        counts = ledger.counts()
        view = {
            "project_id": self.project_id,
            "view_id": secrets.token_hex(8),
            "reviewer": reviewer,
            "total": len(self.project.queue),
            "decided": counts["decided"],
            "skipped": counts["skipped"],
            "open": counts["open"],
            "undo_target": ledger.undo_target(reviewer),
            "left_id": None,
        }
        if pos is not None:
            th = self.thresholds()
            left_id = self.project.queue[pos]
            view.update(record_view(self.project, left_id, keep=th["keep"], select=th["select"]))
            view["position"] = pos
            note = (self._notes() if self._notes else {}).get(left_id)
            if note:
                view["note"] = note
            taken = self._taken(ledger, left_id, [r["_right_id"] for r in view["rows"]])
            view["taken"] = taken
            # A candidate matched elsewhere is never ticked for the reviewer: accepting it
            # would make a conflict, which should be a choice, not a default.
            view["selected"] = [r for r in view["selected"] if r not in taken]
            for row in view["rows"]:
                hit = taken.get(row["_right_id"])
                if hit is not None:
                    how = " automatically" if hit["automatic"] else ""
                    row["_taken"] = f"matched to {hit['left_id']}{how} by {hit['reviewer']}"
        return view

    def _taken(self, ledger: Ledger, left_id: str, rights: list[str]) -> dict[str, dict]:
        """The candidates already matched to other records, where that makes a conflict."""
        if not CARDINALITIES[self.cardinality()][1]:
            return {}
        out = {}
        for r in rights:
            others = [x for x in ledger.right_owners.get(r, ()) if x != left_id]
            if others:
                d = ledger.decisions[others[0]]
                out[r] = {"left_id": others[0], "reviewer": d.reviewer, "automatic": d.automatic}
        return out

    def thresholds(self) -> dict[str, float]:
        """Keep and select in force."""
        if self._thresholds is None:
            return {"keep": self.project.keep, "select": self.project.select}
        return dict(self._thresholds())

    def cardinality(self) -> str:
        """How records may pair in this project now (see :data:`CARDINALITIES`)."""
        value = self._cardinality() if callable(self._cardinality) else self._cardinality
        return value if value in CARDINALITIES else DEFAULT_CARDINALITY

    def next_view(self, reviewer: str, *, restart: bool = False, now: float | None = None) -> dict:
        """The record ``reviewer`` should see now, leased to them, as JSON-safe data.

        The reviewer resumes after their latest decision in force, passing over
        decided records, records other reviewers hold and (unless ``restart``)
        skipped ones, and wraps round to the top. The lease is taken in the
        transaction that finds the record open, so two reviewers are never
        shown the same record.

        Returns
        -------
        dict
            ``project_id, view_id, reviewer, total, decided, skipped, open,
            undo_target`` and ``left_id`` (None when no record is open to this
            reviewer; ``open`` then says how many other reviewers hold), plus,
            for a record, what :func:`matching.engine.project.record_view` returns and
            ``position``.
        """
        now = _time.time() if now is None else now
        pos = self._transaction(
            lambda tx, ledger: self._take_next(
                tx, ledger, reviewer, restart=restart, prefer=None, now=now
            )
        )
        return self._view(reviewer, pos)

    # -- decisions -----------------------------------------------------------

    def decide(
        self,
        reviewer: str,
        view: Mapping,
        kind: str,
        right_ids: Sequence[str] = (),
        edits: Mapping | None = None,
        reason: str | None = None,
        *,
        role: str = "reviewer",
        change: bool = False,
        now: float | None = None,
    ) -> Outcome:
        """Decide the record ``view`` showed, and lease the next one, atomically.

        Parameters
        ----------
        view : mapping
            What the page showed: its ``left_id`` and ``view_id`` are read
            (and checked); nothing else in it is trusted.
        kind : {"accept", "reject", "skip"}
        right_ids : sequence of str
            The candidates accepted; each must have been proposed for the record.
        edits : mapping, optional
            ``{right_id: {column: value}}`` corrections; only accepted
            candidates' columns of the right table are kept.
        reason : str, optional
            A reason or comment kept with the decision.
        change : bool
            Replace a standing decision (the reviewer's own, or anyone's for a
            role allowed to ``change_others``) instead of being refused.

        Returns
        -------
        Outcome
            Refused, with a message and nothing written, when the record is
            decided already (by anyone, in any tab), another reviewer holds it,
            the role does not allow it, or the view names what the project does
            not have. A repeated click is ``ok`` with ``written=0``. ``view`` is
            the next record in both cases.
        """
        now = _time.time() if now is None else now
        left_id = view.get("left_id") if isinstance(view, Mapping) else None
        view_id = str(view.get("view_id") or "") if isinstance(view, Mapping) else ""
        problem = self._decision_problem(left_id, kind, right_ids, role)
        if problem:
            return Outcome(False, problem + _NOTHING, view=self.next_view(reviewer, now=now))
        left_id = str(left_id)
        rights = list(dict.fromkeys(str(r) for r in right_ids)) if kind == "accept" else []
        eid = event_id(self.project_id, reviewer, kind, left_id, view_id)

        thresholds = self.thresholds()

        def judge(tx: ProjectTransaction, ledger: Ledger) -> tuple[bool, str | None, int]:
            if tx.has_event(eid):  # the same click again
                return True, None, 0
            standing = ledger.decisions.get(left_id)
            replaces = None
            if standing is not None:
                if not change:
                    return False, self._decided_message(left_id, standing, reviewer, now), 0
                if standing.reviewer != reviewer:
                    require(role, "change_others")
                replaces = standing.event_id
            elif change and kind == "skip":
                return False, f"Record {left_id!r} has no decision to change", 0
            holder = tx.lease_holder(left_id)
            if holder and holder[0] != reviewer and holder[1] > now:
                return False, f"Record {left_id!r} is open with {holder[0]}", 0
            event = self._decision_event(
                eid, kind, left_id, rights, edits, reason, reviewer, replaces, now, thresholds
            )
            tx.insert([event])
            ledger.apply(event)
            return True, self._conflict_note(ledger, left_id, rights), 1

        def work(tx: ProjectTransaction, ledger: Ledger):
            try:
                result = judge(tx, ledger)
            except PermissionDenied as exc:
                result = False, str(exc).capitalize(), 0
            # The next record is leased in the same transaction: one commit a step.
            return result, self._take_next(
                tx, ledger, reviewer, restart=False, prefer=None, now=now
            )

        (ok, message, written), pos = self._transaction(work)
        if not ok:
            message += _NOTHING
        return Outcome(ok, message, written, self._view(reviewer, pos))

    def _decision_problem(self, left_id, kind: str, right_ids, role: str) -> str | None:
        try:
            require(role, "decide")
        except PermissionDenied as exc:
            return str(exc).capitalize()
        if kind not in DECISION_KINDS:
            return f"{kind!r} is not a decision"
        if not isinstance(left_id, str) or left_id not in self.project.left_pos:
            return "The page named a record this project does not have"
        if kind != "accept":
            return None
        if not right_ids:
            return "Select at least one candidate to accept, or choose No match"
        if CARDINALITIES[self.cardinality()][0] and len(set(map(str, right_ids))) > 1:
            return (
                f"This project pairs each left record with one right record ({self.cardinality()})"
                "; tick one candidate"
            )
        proposed = set(self.project.candidate_rows(left_id)["right_id"])
        foreign = [str(r) for r in right_ids if str(r) not in proposed]
        if foreign:
            return f"{', '.join(foreign[:3])} was never proposed for record {left_id!r}"
        return None

    def _conflict_note(self, ledger: Ledger, left_id: str, rights: list[str]) -> str | None:
        """What to tell a reviewer whose accept made a conflict (None when it made none)."""
        if not CARDINALITIES[self.cardinality()][1]:
            return None
        clashes = ledger.conflicts_of(rights)
        hits = [(r, [x for x in clashes[r] if x != left_id]) for r in rights if r in clashes]
        if not hits:
            return None
        r, others = hits[0]
        d = ledger.decisions[others[0]]
        more = f" (and {len(hits) - 1} more)" if len(hits) > 1 else ""
        return (
            f"Recorded as a conflict: {r} is already matched to record {others[0]!r} by "
            f"{d.reviewer}{more}. A lead will choose which match stands."
        )

    def _decided_message(self, left_id: str, standing: Standing, reviewer: str, now: float):
        when = _ago(standing.time, now)
        if standing.reviewer == reviewer:
            return f"Record {left_id!r} was already decided by you {when} (in another tab?)"
        how = " automatically" if standing.automatic else ""
        return f"Record {left_id!r} was decided{how} by {standing.reviewer} {when}"

    def _decision_event(
        self, eid, kind, left_id, rights, edits, reason, reviewer, replaces, now, thresholds
    ) -> Event:
        cands = self.project.candidate_rows(left_id)
        scores = dict(zip(cands["right_id"], cands["score"].astype(float)))
        columns = set(map(str, self.project.right.columns))
        kept: dict[str, dict[str, str]] = {}
        for rid, cells in (edits or {}).items() if isinstance(edits, Mapping) else ():
            if str(rid) in rights and isinstance(cells, Mapping):
                clean = {str(c): str(v) for c, v in cells.items() if str(c) in columns}
                if clean:
                    kept[str(rid)] = clean
        return make_event(
            kind,
            event_id=eid,
            reviewer=reviewer,
            now=now,
            left_id=left_id,
            right_ids=rights,
            edits=kept,
            scores=scores,
            thresholds=thresholds,
            replaces=replaces,
            reason=(str(reason)[:2000] if reason else None),
        )

    # -- undo and changes ----------------------------------------------------

    def undo(
        self,
        reviewer: str,
        *,
        role: str = "reviewer",
        target: str | None = None,
        now: float | None = None,
    ) -> Outcome:
        """Revert the reviewer's latest event in force (a whole batch for a bulk action).

        ``target`` is the id the page's Undo named (``view["undo_target"]``):
        when given and already undone, nothing more is undone (a double press).
        The reviewer is shown the record the undo reopened.
        """
        require(role, "undo_own")
        now = _time.time() if now is None else now

        def work(tx: ProjectTransaction, ledger: Ledger):
            latest = ledger.undo_target(reviewer)
            if target and target != latest:
                if target not in ledger.active:
                    return True, "That was undone already.", 0, None
                return False, "You decided again in another tab; press Undo again for that", 0, None
            if latest is None:
                return False, "There is nothing of yours to undo", 0, None
            problem = ledger.undo_problem(latest)
            if problem:
                return False, problem[0].upper() + problem[1:], 0, None
            hit = ledger.active[latest]
            event = make_event(
                "undo",
                event_id=event_id(self.project_id, "undo", latest),
                reviewer=reviewer,
                now=now,
                target=latest,
            )
            tx.insert([event])
            ledger.apply(event)
            prefer = None if hit.batch else self.project.left_pos.get(hit.left_id)
            pos = self._take_next(tx, ledger, reviewer, restart=False, prefer=prefer, now=now)
            return True, None, 1, pos

        ok, message, written, pos = self._transaction(work)
        if not ok:
            message += _NOTHING
        view = self._view(reviewer, pos) if written else self.next_view(reviewer, now=now)
        return Outcome(ok, message, written, view)

    def unmatch(
        self,
        reviewer: str,
        pairs: Iterable[tuple[str, str]],
        *,
        role: str = "reviewer",
        now: float | None = None,
    ) -> Outcome:
        """Take accepted pairs out of the matches, all of them or none.

        A reviewer removes pairs of their own decisions; a role allowed to
        ``change_others`` removes anyone's. Each removal names the decision it
        changes, and Undo puts it back.
        """
        now = _time.time() if now is None else now
        pairs = [(str(a), str(b)) for a, b in pairs]
        if not pairs:
            return Outcome(False, "Select the matches to remove first" + _NOTHING)

        def work(tx: ProjectTransaction, ledger: Ledger):
            events = []
            for left, right in pairs:
                d = ledger.decisions.get(left)
                if d is None or right not in d.right_ids:
                    return f"The match {left} ↔ {right} is not recorded (removed already?)", 0
                if d.reviewer != reviewer:
                    try:
                        require(role, "change_others")
                    except PermissionDenied as exc:
                        return str(exc).capitalize(), 0
                events.append(self._unmatch_event(reviewer, now, left, right, d))
            written = tx.insert(events)
            for e in events:
                ledger.apply(e)
            return None, written

        problem, written = self._transaction(work)
        if problem:
            return Outcome(False, problem + _NOTHING)
        return Outcome(True, None, written)

    def _unmatch_event(
        self, reviewer: str, now: float, left: str, right: str, decision: Standing, **extra
    ) -> Event:
        """An event taking ``right`` out of ``decision`` on ``left``, naming the decision."""
        return make_event(
            "unmatch",
            event_id=event_id(self.project_id, "unmatch", left, right, decision.event_id),
            reviewer=reviewer,
            now=now,
            left_id=left,
            right_ids=[right],
            replaces=decision.event_id,
            **extra,
        )

    def _write_new(self, events: list[Event]) -> int:
        """Write events the caller made (none that a rule must check), and fold them in."""

        def work(tx: ProjectTransaction, ledger: Ledger):
            written = tx.insert(events)
            if written:
                for e in events:
                    ledger.apply(e)
            return written

        return self._transaction(work)

    def conflicts(self) -> dict[str, list[str]]:
        """Right ids matched to more than one left record where the project allows one,
        with those left ids in decision order (see :meth:`Ledger.conflicts`)."""
        if not CARDINALITIES[self.cardinality()][1]:
            return {}
        return self.refresh().conflicts()

    def resolve_conflict(
        self,
        reviewer: str,
        right_id: str,
        keep: str | None,
        *,
        role: str = "reviewer",
        now: float | None = None,
    ) -> Outcome:
        """A lead settles which records keep a right record that several accepted.

        ``keep`` is the left id whose match stands (the others lose this right
        record; a record left with none returns to the queue), ``"*"`` to keep
        them all as an exception, or None to send them all back: every one of
        them loses this right record and is reviewed again if it has no other.
        Each change is an ordinary, undoable event naming the decision it changes.
        """
        try:
            require(role, "change_others")
        except PermissionDenied as exc:
            return Outcome(False, str(exc).capitalize() + _NOTHING)
        now = _time.time() if now is None else now
        right_id = str(right_id)
        thresholds = self.thresholds()

        once = CARDINALITIES[self.cardinality()][1]

        def work(tx: ProjectTransaction, ledger: Ledger):
            owners = ledger.conflicts().get(right_id) if once else None
            if owners is None:
                return f"{right_id} is not in conflict (resolved already?)", 0
            if keep not in (None, "*") and keep not in owners:
                return f"Record {keep!r} does not claim {right_id}", 0
            events = []
            # One batch, so one undo puts the conflict back as it was.
            batch = event_id(self.project_id, "resolve", right_id, ledger.last_seq)
            for left in owners:
                d = ledger.decisions[left]
                if keep == "*":
                    if d.exception or left == owners[0]:
                        continue
                    eid = event_id(self.project_id, "keep-both", left, right_id, d.event_id)
                    events.append(
                        make_event(
                            "accept",
                            event_id=eid,
                            reviewer=reviewer,
                            now=now,
                            left_id=left,
                            right_ids=d.right_ids,
                            edits=d.edits or {},
                            replaces=d.event_id,
                            batch=batch,
                            exception=True,
                            thresholds=thresholds,
                            reason=f"kept with {owners[0]} as an exception",
                        )
                    )
                elif left != keep:
                    note = "conflict resolved" + (f": kept {keep}" if keep else "")
                    events.append(
                        self._unmatch_event(
                            reviewer, now, left, right_id, d, batch=batch, reason=note
                        )
                    )
            written = tx.insert(events)
            for e in events:
                ledger.apply(e)
            return None, written

        problem, written = self._transaction(work)
        if problem:
            return Outcome(False, problem + _NOTHING)
        return Outcome(True, None, written)

    # -- audits of automatic decisions ----------------------------------------

    def automatic_batches(self) -> list[dict]:
        """The automatic batches in force: ``batch, kind, reviewer, time, records``."""
        ledger = self.refresh()
        out = []
        for batch, members in ledger.by_batch.items():
            first = ledger.active.get(members[0]) if members else None
            if first is None or not first.automatic or first.kind not in ("accept", "reject"):
                continue
            out.append(
                {
                    "batch": batch,
                    "kind": first.kind,
                    "reviewer": first.reviewer,
                    "time": first.time,
                    "records": len(members),
                }
            )
        return out

    def draw_audit(
        self,
        reviewer: str,
        batch: str,
        *,
        margin: float = 0.03,
        confidence: float = 0.95,
        role: str = "reviewer",
        now: float | None = None,
    ) -> Outcome:
        """Draw a random sample of an automatic batch for blind review by auditors.

        The sample is as large as :func:`~matching.decisions.audit.audit_sample_size`
        says for ``margin`` at ``confidence``; the same batch and margin draw
        the same sample again (and write nothing more).
        """
        try:
            require(role, "bulk")
        except PermissionDenied as exc:
            return Outcome(False, str(exc).capitalize() + _NOTHING)
        if not (isinstance(margin, (int, float)) and 0.001 <= margin <= 0.5):
            return Outcome(False, "The audit margin must be between 0.001 and 0.5" + _NOTHING)
        now = _time.time() if now is None else now
        ledger = self.refresh()
        lefts = sorted(set(ledger.batch_lefts(batch)))
        if not lefts or batch not in {b["batch"] for b in self.automatic_batches()}:
            return Outcome(False, "There is no automatic batch of that name in force" + _NOTHING)
        size = audit_sample_size(len(lefts), margin=margin, confidence=confidence)
        seed = int(event_id(self.project_id, "audit", batch)[2:14], 16)
        sample = draw_sample(lefts, size, seed=seed)
        event = make_event(
            "audit",
            event_id=event_id(self.project_id, "audit", batch, margin, confidence),
            reviewer=reviewer,
            now=now,
            target=batch,
            sample=sample,
            thresholds={"margin": float(margin), "confidence": float(confidence)},
        )

        written = self._write_new([event])
        return Outcome(
            True,
            f"{size:,} of {len(lefts):,} records drawn for a blind audit"
            f" (±{margin:.0%} at {confidence:.0%}).",
            written,
        )

    def _audit_next(self, ledger: Ledger, busy: set[str], reviewer: str) -> tuple[str, str] | None:
        """The first drawn record with no verdict that nobody else holds.

        A record drawn for double review waits until someone decided it, and
        is never given to the reviewer who did.
        """
        for audit_id, audit in ledger.audits.items():
            done = ledger.verdicts.get(audit_id, {})
            double = audit.target == DOUBLE_REVIEW
            for left in audit.sample:
                if left in done or left in busy or left not in self.project.left_pos:
                    continue
                if double:
                    d = ledger.decisions.get(left)
                    if d is None or d.reviewer == reviewer or d.automatic:
                        continue
                return audit_id, left
        return None

    def next_audit_view(self, reviewer: str, *, now: float | None = None) -> dict:
        """The next record of an open audit for ``reviewer``, leased to them, shown blind.

        Like :meth:`next_view`, with ``audit`` (the audit's id) and ``blind``
        True; ``left_id`` is None when every drawn record has a verdict.
        """
        now = _time.time() if now is None else now

        def work(tx: ProjectTransaction, ledger: Ledger):
            pick = self._audit_next(ledger, tx.busy(reviewer, now), reviewer)
            if pick is None:
                tx.release(reviewer)
                return None
            tx.lease(pick[1], reviewer, now + self.lease_seconds)
            return pick

        pick = self._transaction(work)
        ledger = self.ledger()
        pending = sum(
            len([x for x in a.sample if x not in ledger.verdicts.get(k, {})])
            for k, a in ledger.audits.items()
        )
        if pick is None:
            view = self._view(reviewer, None)
            view.update(audit=None, blind=True, audit_open=pending)
            return view
        view = self._view(reviewer, self.project.left_pos[pick[1]])
        view.update(audit=pick[0], blind=True, selected=[], audit_open=pending)
        return view

    def record_verdict(
        self,
        reviewer: str,
        view: Mapping,
        kind: str,
        right_ids: Sequence[str] = (),
        *,
        role: str = "reviewer",
        now: float | None = None,
    ) -> Outcome:
        """An auditor's blind answer on a drawn record; the first verdict wins.

        The record's decision is not changed. ``view`` is what
        :meth:`next_audit_view` returned; its ``audit`` and ``left_id`` are checked.
        """
        now = _time.time() if now is None else now
        audit_id = view.get("audit") if isinstance(view, Mapping) else None
        left_id = view.get("left_id") if isinstance(view, Mapping) else None
        problem = None
        if kind == "skip":
            return Outcome(True, None, 0, self.next_audit_view(reviewer, now=now))
        problem = self._decision_problem(left_id, kind, right_ids, role)
        ledger = self.refresh()
        audit = ledger.audits.get(audit_id) if isinstance(audit_id, str) else None
        if problem is None and (audit is None or left_id not in audit.sample):
            problem = "That record is not in an open audit"
        if problem:
            return Outcome(False, problem + _NOTHING, view=self.next_audit_view(reviewer, now=now))
        rights = list(dict.fromkeys(map(str, right_ids))) if kind == "accept" else []
        eid = event_id(self.project_id, reviewer, "verdict", audit_id, left_id, view.get("view_id"))

        def work(tx: ProjectTransaction, ledger: Ledger):
            if tx.has_event(eid):
                return True, None, 0
            earlier = ledger.verdicts.get(audit_id, {}).get(left_id)
            if earlier is not None:
                return False, f"Record {left_id!r} was audited by {earlier.reviewer} already", 0
            event = make_event(
                "verdict",
                event_id=eid,
                reviewer=reviewer,
                now=now,
                left_id=left_id,
                right_ids=rights,
                target=audit_id,
            )
            tx.insert([event])
            ledger.apply(event)
            return True, None, 1

        ok, message, written = self._transaction(work)
        if not ok:
            message += _NOTHING
        return Outcome(ok, message, written, self.next_audit_view(reviewer, now=now))

    def set_double_review(
        self,
        reviewer: str,
        share: float,
        *,
        role: str = "reviewer",
        now: float | None = None,
    ) -> Outcome:
        """Draw ``share`` of the project's records to be reviewed twice.

        Each drawn record, once decided, is offered to another reviewer with
        Audit on, blind to the first decision. Disagreements go to
        :meth:`adjudication` for a lead. Drawing again with another share adds
        a new draw; records already drawn keep their second reviews.
        """
        try:
            require(role, "bulk")
        except PermissionDenied as exc:
            return Outcome(False, str(exc).capitalize() + _NOTHING)
        if not (isinstance(share, (int, float)) and 0.0 < share <= 1.0):
            return Outcome(False, "The share must be above 0% and at most 100%" + _NOTHING)
        now = _time.time() if now is None else now
        queue = list(self.project.queue)
        size = max(1, round(share * len(queue)))
        seed = int(event_id(self.project_id, DOUBLE_REVIEW, share)[2:14], 16)
        sample = draw_sample(queue, size, seed=seed)
        event = make_event(
            "audit",
            event_id=event_id(self.project_id, DOUBLE_REVIEW, share),
            reviewer=reviewer,
            now=now,
            target=DOUBLE_REVIEW,
            sample=sample,
            thresholds={"share": float(share)},
        )

        written = self._write_new([event])
        return Outcome(True, f"{size:,} records ({share:.0%}) will be reviewed twice.", written)

    def second_reviews(self) -> list[dict]:
        """Each double-reviewed record: ``left_id, first, second`` (reviewer names),
        ``first_verdict, second_verdict`` (``"no match"`` or the accepted right ids
        joined with ", "), ``agree`` and ``adjudicated`` (True once a lead settled it)."""
        ledger = self.refresh()
        out = []
        for audit_id, audit in ledger.audits.items():
            if audit.target != DOUBLE_REVIEW:
                continue
            settled = ledger.verdicts.get(ADJUDICATED + audit_id, {})
            for left, verdict in ledger.verdicts.get(audit_id, {}).items():
                # The decision the second reviewer answered blind, even if a lead changed it since.
                limit = ledger.order[verdict.event_id]
                earlier = [
                    ledger.active[i]
                    for i in ledger.by_left.get(left, ())
                    if ledger.active[i].kind in ("accept", "reject") and ledger.order[i] < limit
                ]
                if not earlier:
                    continue
                first = earlier[-1]
                one = _verdict_text(first.right_ids if first.kind == "accept" else ())
                two = _verdict_text(verdict.right_ids)
                out.append(
                    {
                        "audit": audit_id,
                        "left_id": left,
                        "first": first.reviewer,
                        "second": verdict.reviewer,
                        "first_verdict": one,
                        "second_verdict": two,
                        "agree": one == two,
                        "adjudicated": left in settled,
                    }
                )
        return out

    def adjudication(self) -> list[dict]:
        """Double-reviewed records whose two reviews disagree and no lead has settled."""
        return [r for r in self.second_reviews() if not r["agree"] and not r["adjudicated"]]

    def adjudicate(
        self,
        reviewer: str,
        left_id: str,
        keep: str,
        *,
        role: str = "reviewer",
        now: float | None = None,
    ) -> Outcome:
        """A lead settles a disagreement: ``keep`` is ``"first"`` (the decision
        stands) or ``"second"`` (the decision becomes the second reviewer's)."""
        try:
            require(role, "change_others")
        except PermissionDenied as exc:
            return Outcome(False, str(exc).capitalize() + _NOTHING)
        row = next((r for r in self.adjudication() if r["left_id"] == left_id), None)
        if row is None or keep not in ("first", "second"):
            return Outcome(False, f"Record {left_id!r} is not waiting for a lead" + _NOTHING)
        now = _time.time() if now is None else now
        ledger = self.ledger()
        second = ledger.verdicts[row["audit"]][left_id]
        standing = ledger.decisions[left_id]
        settle = make_event(
            "verdict",
            event_id=event_id(self.project_id, "adjudicate", row["audit"], left_id),
            reviewer=reviewer,
            now=now,
            left_id=left_id,
            right_ids=second.right_ids if keep == "second" else standing.right_ids,
            target=ADJUDICATED + row["audit"],
            reason=f"kept the {keep} review",
        )
        events = [settle]
        if keep == "second":
            kind = "accept" if second.right_ids else "reject"
            events.append(
                make_event(
                    kind,
                    event_id=event_id(self.project_id, "adjudicated", left_id, standing.event_id),
                    reviewer=reviewer,
                    now=now,
                    left_id=left_id,
                    right_ids=second.right_ids,
                    replaces=standing.event_id,
                    reason=f"adjudicated: {row['second']}'s review kept",
                    batch=settle.event_id,
                )
            )
            events[0] = dataclasses.replace(settle, batch=settle.event_id)

        def work(tx: ProjectTransaction, ledger: Ledger):
            written = tx.insert(events)
            for e in events:
                ledger.apply(e)
            return written

        return Outcome(True, None, self._transaction(work))

    def agreement(self) -> list[dict]:
        """Cohen's kappa per pair of reviewers, and over all pairs (``pair`` "all").

        Each row: ``pair``, and what :func:`matching.decisions.agreement.cohen_kappa`
        returns for their double-reviewed records.
        """
        rows = self.second_reviews()
        groups: dict[str, list[dict]] = {}
        for r in rows:
            pair = " & ".join(sorted((r["first"], r["second"])))
            groups.setdefault(pair, []).append(r)
        if rows:
            groups["all"] = rows
        return [
            {
                "pair": pair,
                **cohen_kappa([r["first_verdict"] for r in g], [r["second_verdict"] for r in g]),
            }
            for pair, g in groups.items()
        ]

    def audit_results(self, *, confidence: float = 0.95) -> list[dict]:
        """Each audit's findings: what the auditors found wrong, as a rate with its
        Wilson interval, and the wrong automatic decisions that makes in the batch.

        A verdict disagrees with an automatic accept when it says no match or
        accepts other candidates, and with an automatic no match when it accepts.
        """
        ledger = self.refresh()
        batches = {b["batch"]: b for b in self.automatic_batches()}
        out = []
        for audit_id, audit in ledger.audits.items():
            batch = batches.get(audit.target)
            if batch is None:
                continue
            wrong = 0
            verdicts = ledger.verdicts.get(audit_id, {})
            for left, verdict in verdicts.items():
                auto = next(
                    (
                        ledger.active[i]
                        for i in ledger.by_left.get(left, ())
                        if ledger.active[i].batch == audit.target
                    ),
                    None,
                )
                if auto is None:
                    continue
                if auto.kind == "accept":
                    wrong += verdict.right_ids == () or set(verdict.right_ids) != set(
                        auto.right_ids
                    )
                else:
                    wrong += bool(verdict.right_ids)
            found = audited_errors(wrong, len(verdicts), batch["records"], confidence=confidence)
            out.append(
                {
                    "audit": audit_id,
                    "batch": audit.target,
                    "kind": batch["kind"],
                    "records": batch["records"],
                    "sampled": len(audit.sample),
                    **found,
                }
            )
        return out

    # -- bulk ------------------------------------------------------------------

    def bulk_preview(self, reviewer: str, kind: str, *, threshold: float, margin: float = 0.0):
        """How many undecided records a bulk rule would decide now (nothing is written)."""
        ledger = self.refresh()
        batch = self._bulk_batch(ledger, reviewer, kind, threshold, margin, "x", 0)
        return len(self._without_conflicts(ledger, batch)[0])

    def _without_conflicts(self, ledger: Ledger, batch: Batch) -> tuple[Batch, int]:
        """The batch without the records whose accept would make a conflict, and how
        many were left out.

        Where each right record may be matched once, an automatic accept never
        takes a right record that is matched already, nor one that two records
        of the same batch would both take: those records are left for review.
        """
        if not CARDINALITIES[self.cardinality()][1] or batch.kind != "accept":
            return batch, 0
        if not len(batch):
            return batch, 0
        shared = batch.right_ids.arrow.to_pandas().duplicated(keep=False).to_numpy()
        kept = ~shared & ~ledger.owned(batch.right_ids)
        return batch.subset(kept), int(len(kept) - kept.sum())

    def apply_bulk(
        self,
        reviewer: str,
        kind: str,
        *,
        threshold: float,
        margin: float = 0.0,
        batch: str | None = None,
        role: str = "reviewer",
        now: float | None = None,
    ) -> Outcome:
        """Decide every undecided record a threshold rule picks, as one undoable batch.

        ``kind`` is ``"accept"`` (best candidate at least ``threshold`` and ahead
        of the runner-up by ``margin``) or ``"reject"`` (best below
        ``threshold``). Records another reviewer holds are left to them. The
        same ``batch`` again writes nothing (a repeated confirm). The batch is
        written as one compact row (:class:`~matching.decisions.events.Batch`).
        """
        now = _time.time() if now is None else now
        try:
            require(role, "bulk")
        except PermissionDenied as exc:
            return Outcome(False, str(exc).capitalize() + _NOTHING)
        values = (threshold, margin)
        if kind not in ("accept", "reject") or not all(
            isinstance(v, (int, float)) and 0.0 <= v <= 1.0 for v in values
        ):
            return Outcome(False, "A bulk rule needs thresholds between 0 and 1" + _NOTHING)

        # The batch is made before the lock is taken, from the ledger as it is
        # now, so reviewers wait only for the insert.
        ledger = self.refresh()
        name = batch or f"auto-{kind}|{ledger.last_seq}|{threshold}|{margin}"
        made = self._bulk_batch(ledger, reviewer, kind, threshold, margin, name, now)
        return self._write_batch(reviewer, made, now)

    def _write_batch(self, reviewer: str, batch: Batch, now: float) -> Outcome:
        """Write one batch of automatic decisions, leaving out what a reviewer took meanwhile.

        Records decided or held by another reviewer since the batch was made,
        and accepts that would make a conflict, are dropped; the outcome's
        message says how many were left for review because of a conflict.
        """
        ledger = self.ledger()
        batch, clashing = self._without_conflicts(ledger, batch)
        pos = self.project.left_pos
        rows = _positions(pos, batch.left_ids.arrow)

        def work(tx: ProjectTransaction, ledger: Ledger):
            held = [pos[x] for x in tx.busy(reviewer, now) if x in pos]
            keep = ledger.undecided[rows] & ~np.isin(rows, held)
            # Matched meanwhile by a reviewer: leave those for review too.
            if batch.kind == "accept":
                keep &= ~ledger.owned(batch.right_ids)
            still = batch.subset(keep)
            written = tx.insert_batch(still)
            if written:
                ledger.apply(still)
            return written

        written = self._transaction(work)
        if written > 10_000:
            gc.freeze()  # as after a first read of the log: keep the collector off them
        note = None
        if clashing:
            records = "record was" if clashing == 1 else "records were"
            note = (
                f"{clashing:,} {records} left for review: their best candidate is matched "
                "to another record already, or is the best candidate of another record too."
            )
        return Outcome(True, note, written)

    def _decided(self, ledger: Ledger) -> set[str]:
        queue = np.asarray(self.project.queue, dtype=object)
        return set(queue[~ledger.undecided].tolist())

    def _pattern_batch(self, ledger, reviewer, kind, conditions, batch, now) -> Batch:
        events = pattern_events(
            self.project.candidates,
            SimpleNamespace(decisions=self._decided(ledger)),
            conditions,
            kind=kind,
            reviewer=reviewer,
            batch=batch,
            now=now,
        )
        return self._as_batch(events, kind=kind, reviewer=reviewer, batch=batch, now=now)

    def _as_batch(self, events: list[Event], *, kind, reviewer, batch, now) -> Batch:
        if events:
            return Batch.from_events(event_id(self.project_id, "batch", batch, kind), events)
        return Batch.of(
            event_id(self.project_id, "batch", batch, kind), kind, batch=batch,
            reviewer=reviewer, time=now, left_ids=[], right_ids=[], offsets=[0],
            cand_right=[], cand_score=[],
        )  # fmt: skip

    def pattern_preview(
        self, kind: str, conditions: Mapping[str, tuple[str, float]], *, sample: int = 10
    ) -> tuple[int, list[dict]]:
        """How many undecided records an agreement pattern would decide, and a few of them.

        Returns the count and up to ``sample`` rows ``left_id, right_id`` (None
        for a no match) and ``score``; ``ValueError`` names a bad condition.
        """
        ledger = self.refresh()
        batch = self._pattern_batch(ledger, "", kind, conditions, "preview", 0.0)
        batch = self._without_conflicts(ledger, batch)[0]
        rows = []
        for e in batch.subset(np.arange(len(batch)) < sample).events():
            right = e.right_ids[0] if e.right_ids else None
            score = max(e.scores.values()) if e.scores else None
            rows.append({"left_id": e.left_id, "right_id": right, "score": score})
        return len(batch), rows

    def apply_pattern(
        self,
        reviewer: str,
        kind: str,
        conditions: Mapping[str, tuple[str, float]],
        *,
        role: str = "reviewer",
        now: float | None = None,
    ) -> Outcome:
        """Decide the records an agreement pattern picks, as one undoable automatic batch.

        See :func:`matching.decisions.tuning.pattern_events` for which records and which
        candidate; the rules of :meth:`apply_bulk` (a lead only, held and
        conflicting records left for review) apply.
        """
        now = _time.time() if now is None else now
        try:
            require(role, "bulk")
        except PermissionDenied as exc:
            return Outcome(False, str(exc).capitalize() + _NOTHING)
        ledger = self.refresh()
        text = " & ".join(f"{f} {op} {v}" for f, (op, v) in sorted(conditions.items()))
        name = f"pattern-{kind}|{ledger.last_seq}|{text}"
        try:
            batch = self._pattern_batch(ledger, reviewer, kind, conditions, name, now)
        except ValueError as exc:
            return Outcome(False, str(exc).capitalize() + _NOTHING)
        return self._write_batch(reviewer, batch, now)

    def _bulk_batch(self, ledger, reviewer, kind, threshold, margin, batch, now) -> Batch:
        return bulk_batch(
            self.project.candidates,
            self._decided(ledger),
            kind=kind,
            threshold=threshold,
            margin=margin,
            reviewer=reviewer,
            batch=batch,
            event_id=event_id(self.project_id, "batch", batch, kind),
            now=now,
        )

    def release(self, reviewer: str) -> None:
        """Free the record the reviewer holds, for whoever comes next."""
        self._transaction(lambda tx, ledger: tx.release(reviewer))
