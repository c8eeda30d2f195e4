"""The review state of one project as a :class:`Ledger`, kept up to date one event at a time.

Each process keeps a ledger of a project's events and reads only the new ones
inside each transaction, so a review step costs the same at any queue size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from matching.decisions.events import Batch, Event, IdColumn
from matching.decisions.ledger_views import (
    AcceptedRight,
    Act,
    ActiveView,
    BatchMembers,
    ByLeftView,
    DecisionsView,
    FoldedBatch,
    OrderView,
    RightCodes,
    RightOwnersView,
    Standing,
    index_positions,
)

__all__ = ["Ledger", "DECISION_KINDS"]

#: What a reviewer may decide about the record they are shown.
DECISION_KINDS = ("accept", "reject", "skip")


class Ledger:
    """The review state of one project, kept up to date one event at a time.

    It folds events exactly as :func:`matching.decisions.events.replay` does (a test
    checks this on random histories), but keeps per-record lists and boolean
    arrays over the queue, so applying an event and finding the next open
    record never pass over the whole log or queue in Python.

    It also keeps the decisions in force as columns over the queue (``status``,
    ``automatic``, ``decided_at``, ``decided_by``, ``accepted_right``), so
    statistics over a million decisions are array operations (see
    :meth:`matching.desk.ReviewDesk.decisions`).

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
        self.accepted_right = AcceptedRight(self, n)
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
        self.batches: list[FoldedBatch] = []
        self._batch_at: dict[str, int] = {}
        self.member_batch = np.full(n, -1, dtype=np.int32)
        self.member_index = np.full(n, -1, dtype=np.int32)
        self.lazy_total = 0
        #: Right code -> queue position of the one untouched batch member accepting
        #: it (-1 none, -2 several: then they are in ``_lazy_more``).
        self._right_codes = RightCodes(right_pos)
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
        self._active: dict[str, Act] = {}
        self._by_left: dict[str, list[str]] = {}
        self._decisions: dict[str, Standing] = {}
        self._right_owners: dict[str, dict[str, None]] = {}
        self._order: dict[str, int] = {}
        self.active: Mapping[str, Act] = ActiveView(self, self._active)
        self.by_left: Mapping[str, list[str]] = ByLeftView(self, self._by_left)
        self.decisions: Mapping[str, Standing] = DecisionsView(self, self._decisions)
        #: Right id -> the left ids whose decision in force accepts it.
        self.right_owners: Mapping[str, dict[str, None]] = RightOwnersView(self, self._right_owners)
        #: Event id -> the order it was applied in (the log's commit order).
        self.order: Mapping[str, int] = OrderView(self, self._order)
        self.by_batch: dict[str, list[str] | BatchMembers] = {}
        self.stacks: dict[str, list[str]] = {}
        self.skipped: set[str] = set()
        #: Audit event id -> the audit event; and its verdicts, left id -> verdict event.
        self.audits: dict[str, Act] = {}
        self.verdicts: dict[str, dict[str, Act]] = {}

    # -- folding -------------------------------------------------------------

    def apply(self, event: Event | Act | Batch) -> None:
        """Fold one event, or a compact batch, oldest first.

        An event whose id was folded before (in force or undone since) is passed
        over: the log keeps one event per id and refuses a repeat, so folding it
        again would make the ledger disagree with the log (an unmatch made, undone,
        and made again under the same id, say).
        """
        if isinstance(event, Batch):
            if event.event_id not in self._batch_at:
                self._apply_batch(event)
            return
        act = event if isinstance(event, Act) else Act.of(event)
        if act.kind == "undo":
            self._undo(act)
            return
        if act.event_id in self._order:
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
        pos = index_positions(self.left_pos, batch.left_ids.arrow)
        inq = pos >= 0
        # A record an earlier batch decided and nothing touched since: an ordinary
        # entry first, so the general fold sees its event.
        for p in pos[inq][self.member_batch[pos[inq]] >= 0].tolist():
            self._materialise(p)
        codes = None
        if accept:
            codes = self._right_codes.many(batch.right_ids.arrow, add=True)
            self._grow_owners(int(codes.max(initial=-1)) + 1)
        folded = FoldedBatch(batch, len(self.batches), pos, codes, self._order_next)
        self._order_next += n
        self.batches.append(folded)
        self._batch_at[batch.event_id] = folded.index
        ids = BatchMembers(self, folded)
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
        self.lazy_total += len(at)
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
            self._active[eid] = Act(eid, kind, left, rights, who, when, True, name, None)
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
        if accept:  # untouched members' ids stay in the batch's column (see AcceptedRight)
            named = np.flatnonzero(settled & ~lazy)
            self.accepted_right[pos[named]] = batch.right_ids.take(named)
        for left in folds:
            self._fold(left)

    # -- the members of compact batches ------------------------------------------

    def lazy_at(self, left: str) -> tuple[FoldedBatch, int] | None:
        """The untouched batch member that is ``left``'s only event, if any."""
        if not self.lazy_total:
            return None
        pos = self.left_pos.get(left)
        if pos is None:
            return None
        b = self.member_batch[pos]
        return None if b < 0 else (self.batches[b], int(self.member_index[pos]))

    def lazy_member(self, event_id) -> tuple[FoldedBatch, int] | None:
        """The untouched batch member with this event id, if any."""
        if not self.lazy_total or not isinstance(event_id, str):
            return None
        cut = event_id.find("/")
        while cut >= 0:
            b = self._batch_at.get(event_id[:cut])
            if b is not None:
                hit = self.lazy_at(event_id[cut + 1 :])
                return hit if hit is not None and hit[0].index == b else None
            cut = event_id.find("/", cut + 1)
        return None

    def lazy_members(self, folded: FoldedBatch) -> np.ndarray:
        """Per member of ``folded``: True while it is untouched (columns only)."""
        pos = folded.pos
        return (pos >= 0) & (self.member_batch[np.maximum(pos, 0)] == folded.index)

    def lazy_by_batch(self):
        for f in self.batches:
            if self.lazy_total:
                ks = np.flatnonzero(self.lazy_members(f))
                if len(ks):
                    yield f, ks

    def lazy_decisions(self):
        for f, ks in self.lazy_by_batch():
            yield from zip(f.batch.left_ids.take(ks), ks.tolist())

    def _touch(self, left: str) -> int | None:
        """``left``'s queue position, its batch member made an ordinary entry first."""
        pos = self.left_pos.get(left)
        if pos is not None and self.lazy_total and self.member_batch[pos] >= 0:
            self._materialise(int(pos))
        return pos

    def _materialise(self, pos: int) -> None:
        """Make the untouched batch member at queue position ``pos`` ordinary entries."""
        f = self.batches[self.member_batch[pos]]
        k = int(self.member_index[pos])
        self.member_batch[pos] = self.member_index[pos] = -1
        self.lazy_total -= 1
        act = f.act(k)
        self.accepted_right[pos] = act.right_ids[0] if act.right_ids else None
        self._active[act.event_id] = act
        self._order[act.event_id] = f.start + k
        self._by_left[act.left_id] = [act.event_id]
        self._decisions[act.left_id] = f.standing(k)
        if f.codes is not None:
            self._drop_lazy_owner(int(f.codes[k]), pos)
            self._own(act.right_ids[0], act.left_id)

    def _clear_lazy(self, folded: FoldedBatch) -> None:
        """Undo the untouched members of ``folded`` at once: undecided again."""
        lazy = self.lazy_members(folded)
        pos = folded.pos[lazy]
        if folded.codes is not None:
            codes = folded.codes[lazy]
            simple = self._lazy_owner[codes] == pos
            self._lazy_owner[codes[simple]] = -1
            for code, p in zip(codes[~simple].tolist(), pos[~simple].tolist()):
                self._drop_lazy_owner(code, p)
        self.member_batch[pos] = self.member_index[pos] = -1
        self._has_events[pos] = False
        self.lazy_total -= len(pos)
        for right in [r for r in self._born_kept if not self.lazy_owners(r)]:
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

    def lazy_owners(self, right: str) -> list[int]:
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
            self._born[right] = min(self.settle_seq(left), self._lazy_born(right))
            self._born_kept.pop(right, None)
        owners[left] = None

    def _disown(self, right: str, left: str) -> None:
        owners = self._right_owners.get(right)
        if owners is not None:
            owners.pop(left, None)
            if not owners:
                del self._right_owners[right]
                born = self._born.pop(right)
                if self.lazy_total and self.lazy_owners(right):
                    self._born_kept[right] = born  # batch members hold it still

    def _lazy_born(self, right: str) -> float:
        """When the untouched batch members' hold on ``right`` began (inf: none hold it)."""
        lazy = self.lazy_owners(right) if self.lazy_total else ()
        if not lazy:
            return np.inf
        return min(self._born_kept.get(right, np.inf), *(int(self._settled[p]) for p in lazy))

    def _born_of(self, right: str) -> float:
        born = self._born.get(right)
        return self._lazy_born(right) if born is None else born

    def settle_seq(self, left: str) -> int:
        pos = self.left_pos.get(left)
        return int(self._settled[pos]) if pos is not None else self._settled_extra.get(left, -1)

    def decision_seq(self, left: str) -> int:
        pos = self.left_pos.get(left)
        return int(self.decided_seq[pos]) if pos is not None else self._extra_seq.get(left, -1)

    def ordinary_decision_order(self) -> list[str]:
        # Not the dict's own order: an undo or a batch member made an ordinary entry
        # late may put a record back where the replayed log has it.
        return sorted(self._decisions, key=self.decision_seq)

    def owned_rights(self) -> list[str]:
        """Every right id some decision in force accepts, in ``right_owners``' order."""
        rights = set(self._right_owners)
        for f, ks in self.lazy_by_batch():
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
        if self.lazy_total:
            codes = self._right_codes.many(right_ids, add=False)
            known = (codes >= 0) & (codes < len(self._lazy_owner))
            out[known] |= self._lazy_owner[codes[known]] != -1
        return out

    def batch_of(self, event_id: str) -> FoldedBatch | None:
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
        if isinstance(members, BatchMembers):
            extra = [self._active[m].left_id for m in members.folded.extra if m in self._active]
            return [*members.folded.batch.left_ids, *extra]
        return [self.active[m].left_id for m in members if m in self.active]

    # -- the general fold ------------------------------------------------------

    def _mark(self, lefts: list[str], *, undecided: bool) -> np.ndarray:
        pos = index_positions(self.left_pos, lefts)
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

    def _undo(self, act: Act) -> None:
        hit = self.active.get(act.target) if act.target else None
        if hit is None:
            return
        if hit.batch:
            victims = self.by_batch.pop(hit.batch, [])
            if isinstance(victims, BatchMembers):
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
        if isinstance(victims, BatchMembers):
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

    def find_open(
        self,
        start: int,
        *,
        restart: bool,
        exclude: Iterable[int] = (),
        among: np.ndarray | None = None,
    ) -> int | None:
        """First open queue position at or after ``start``, wrapping round; None when none.

        Open means undecided and, unless ``restart``, not skipped; positions in
        ``exclude`` (records other reviewers hold) are passed over, and so are
        positions ``among`` (a mask over the queue, when given) leaves out.
        """
        mask = self.undecided if restart else self.waiting
        if among is not None:
            mask = mask & among
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
            if len(owners) > 1 or (self.lazy_total and self.lazy_owners(r))
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
