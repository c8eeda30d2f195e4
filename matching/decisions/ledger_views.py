"""The pieces a :class:`~matching.decisions.ledger.Ledger` is made of: the part of an
event the review rules read (:class:`Act`), the decision in force on a record
(:class:`Standing`), a compact batch kept as columns (:class:`FoldedBatch`), and the
read views that show a batch's untouched members as if they were ordinary entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from matching.decisions.events import Batch, Event

if TYPE_CHECKING:
    from matching.decisions.ledger import Ledger

__all__ = [
    "Act",
    "Standing",
    "FoldedBatch",
    "BatchMembers",
    "RightCodes",
    "ActiveView",
    "OrderView",
    "ByLeftView",
    "DecisionsView",
    "RightOwnersView",
    "AcceptedRight",
    "index_positions",
]


class Act(NamedTuple):
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
    def of(cls, e: Event) -> Act:
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


class FoldedBatch:
    """A compact batch in the ledger: its members stay columns until a later event
    touches their record (see :class:`~matching.decisions.ledger.Ledger`)."""

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

    def act(self, k: int) -> Act:
        b = self.batch
        left = b.left_ids[k]
        rights = (b.right_ids[k],) if b.kind == "accept" else ()
        return Act(
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


class BatchMembers(Sequence[str]):
    """The event ids filed under a compact batch's name, made on demand."""

    def __init__(self, ledger: Ledger, folded: FoldedBatch) -> None:
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
        ks = np.flatnonzero(~self._ledger.lazy_members(f))
        return [f.prefix + x for x in f.batch.left_ids.take(ks)] + list(f.extra)


class RightCodes:
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
            return index_positions(self._index, rights)
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

    def _of_member(self, folded: FoldedBatch, k: int):
        raise NotImplementedError

    def get(self, event_id, default=None):
        hit = self._real.get(event_id, _MISSING)
        if hit is not _MISSING:
            return hit
        member = self._ledger.lazy_member(event_id)
        return default if member is None else self._of_member(*member)

    def __iter__(self):
        yield from self._real
        for f, ks in self._ledger.lazy_by_batch():
            yield from (f.prefix + x for x in f.batch.left_ids.take(ks))

    def __len__(self) -> int:
        return len(self._real) + self._ledger.lazy_total


class ActiveView(_EventView):
    __slots__ = ()

    def _of_member(self, folded: FoldedBatch, k: int) -> Act:
        return folded.act(k)


class OrderView(_EventView):
    __slots__ = ()

    def _of_member(self, folded: FoldedBatch, k: int) -> int:
        return folded.start + k


class ByLeftView(_View):
    def get(self, left, default=None):
        lazy = self._ledger.lazy_at(left)
        if lazy is not None:
            return [lazy[0].prefix + left]
        return self._real.get(left, default)

    def __iter__(self):
        # A record decided by an untouched batch member may keep an emptied list.
        yield from (k for k in self._real if self._ledger.lazy_at(k) is None)
        yield from (left for left, _ in self._ledger.lazy_decisions())

    def __len__(self) -> int:
        return sum(1 for _ in self)


class DecisionsView(_View):
    def get(self, left, default=None):
        lazy = self._ledger.lazy_at(left)
        if lazy is not None:
            return lazy[0].standing(lazy[1])
        return self._real.get(left, default)

    def items(self):
        """(left id, decision) in the order decisions entered, as a dict of them would be."""
        ledger = self._ledger
        if not ledger.lazy_total:
            yield from ((k, self._real[k]) for k in ledger.ordinary_decision_order())
            return
        real = ledger.ordinary_decision_order()
        seq = np.asarray([ledger.decision_seq(k) for k in real], dtype=np.int64)
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
        return len(self._real) + self._ledger.lazy_total


class RightOwnersView(_View):
    def get(self, right, default=None):
        ledger = self._ledger
        real = self._real.get(right)
        lazy = ledger.lazy_owners(right) if ledger.lazy_total else ()
        if not lazy:
            if real is None:
                return default
            if len(real) < 2:
                return dict(real)
            return dict.fromkeys(sorted(real, key=ledger.settle_seq))
        owners = [*(real or ()), *(ledger.queue[p] for p in lazy)]
        return dict.fromkeys(sorted(owners, key=ledger.settle_seq))

    def __iter__(self):
        return iter(self._ledger.owned_rights())

    def __len__(self) -> int:
        return len(self._ledger.owned_rights())


class AcceptedRight:
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
            b = ledger.member_batch[key] if ledger.lazy_total else -1
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
        if not ledger.lazy_total:
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


def index_positions(index: Mapping[str, int], ids: Sequence[str] | pa.Array) -> np.ndarray:
    """Positions of ``ids`` in ``index`` (-1 where unknown), all at once where it can."""
    many = getattr(index, "positions", None)
    if many is not None:
        return np.asarray(many(ids), dtype=np.int64)
    if isinstance(ids, (pa.Array, pa.ChunkedArray)):
        ids = ids.to_pylist()
    get = index.get
    return np.fromiter((get(x, -1) for x in ids), np.int64, len(ids))
