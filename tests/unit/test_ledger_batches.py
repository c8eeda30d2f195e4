"""A compact batch kept as columns in the ledger answers every question as its events would.

The reference is the same ledger fed the batch's events one by one (each an
ordinary entry of its dictionaries), and :func:`matching.decisions.events.replay`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.decisions.events import Batch, IdColumn, make_event, replay
from matching.decisions.ledger import Ledger

QUEUE = ["1", "2", "3", "4", "5"]
LEFTS = [*QUEUE, "9"]  # "9" is not in the queue
RIGHTS = ["a", "b", "c", "d"]

_manual = st.tuples(
    st.sampled_from(["accept", "reject", "skip", "unmatch", "undo"]),
    st.sampled_from(LEFTS),
    st.sets(st.sampled_from(RIGHTS), min_size=1, max_size=2),
    st.sampled_from(["ann", "bob"]),
    st.integers(0, 60),
    st.sampled_from([None, None, "shared"]),
)
_batch = st.tuples(
    st.just("batch"),
    st.sampled_from(["accept", "reject"]),
    st.lists(st.sampled_from(LEFTS), min_size=1, max_size=6, unique=True),
    st.lists(st.sampled_from(RIGHTS), min_size=6, max_size=6),
    st.sampled_from(["lee", "ann"]),
    st.sampled_from([None, None, "shared"]),  # a batch name used by other events too
)
_history = st.lists(st.one_of(_manual, _manual, _batch), max_size=30)


def _items(raw) -> list:
    """Events and compact batches; an undo names any event or batch member seen so far."""
    items, ids = [], []
    for i, step in enumerate(raw):
        if step[0] == "batch":
            _, kind, lefts, rights, who, name = step
            batch = Batch.of(
                f"b{i}", kind, batch=name or f"bulk{i}", reviewer=who, time=float(i),
                left_ids=lefts, right_ids=rights[: len(lefts)],
                offsets=list(range(len(lefts) + 1)), cand_right=rights[: len(lefts)],
                cand_score=[0.9] * len(lefts),
            )  # fmt: skip
            items.append(batch)
            ids.extend(batch.member_ids())
            continue
        kind, left, rights, who, target, name = step
        if kind == "undo":
            tid = ids[target % len(ids)] if ids else "none"
            items.append(make_event("undo", event_id=f"e{i}", reviewer=who, target=tid))
        else:
            items.append(
                make_event(
                    kind,
                    event_id=f"e{i}",
                    reviewer=who,
                    now=float(i),
                    left_id=left,
                    right_ids=sorted(rights) if kind in ("accept", "unmatch") else [],
                    reason="why" if target % 5 == 0 and kind != "skip" else None,
                    batch=name if kind in ("accept", "reject") else None,
                )
            )
        ids.append(items[-1].event_id)
    return items


def _ledgers(items, right_pos):
    pos = {k: i for i, k in enumerate(QUEUE)}
    lazy, eager = Ledger(QUEUE, pos, right_pos), Ledger(QUEUE, pos)
    expanded, in_order = [], True
    for item in items:
        lazy.apply(item)
        events = item.events() if isinstance(item, Batch) else [item]
        # A batch folds its records with no event in force first, then the others (as
        # before batches were columns): the owners of a right id come in another order.
        in_order &= not isinstance(item, Batch) or not any(eager.by_left.get(x) for x in LEFTS)
        for e in events:
            eager.apply(e)
        expanded.extend(events)
    return lazy, eager, expanded, in_order


def _assert_same(lazy: Ledger, eager: Ledger, expanded, in_order: bool) -> None:
    def listed(mapping):
        return list(mapping.items()) if in_order else sorted(mapping.items())

    assert list(lazy.decisions.items()) == list(eager.decisions.items())
    assert len(lazy.decisions) == len(eager.decisions)
    assert listed(lazy.right_owners) == listed(eager.right_owners)
    assert listed(lazy.conflicts()) == listed(eager.conflicts())
    assert lazy.skipped == eager.skipped
    assert lazy.counts() == eager.counts()
    ids = [e.event_id for e in expanded]
    for eid in ids:
        assert lazy.active.get(eid) == eager.active.get(eid), eid
        assert (eid in lazy.active) == (eid in eager.active)
        if eid in eager.active:
            assert lazy.order[eid] == eager.order[eid]
            assert lazy.undo_problem(eid) == eager.undo_problem(eid)
    # (An undone batch leaves no emptied lists behind; nothing reads those.)
    assert {k for k, v in lazy.by_left.items() if v} == {k for k, v in eager.by_left.items() if v}
    for left in LEFTS:
        assert list(lazy.by_left.get(left) or []) == list(eager.by_left.get(left) or [])
        assert lazy.decisions.get(left) == eager.decisions.get(left)
    for right in RIGHTS:
        got, want = lazy.right_owners.get(right), eager.right_owners.get(right)
        assert (list(got or ()) if in_order else set(got or ())) == (
            list(want or ()) if in_order else set(want or ())
        )
        assert (right in lazy.right_owners) == (right in eager.right_owners)
    assert lazy.owned(RIGHTS).tolist() == [r in eager.right_owners for r in RIGHTS]
    assert {k: list(v) for k, v in lazy.by_batch.items()} == {
        k: list(v) for k, v in eager.by_batch.items()
    }
    for name in eager.by_batch:
        assert lazy.batch_lefts(name) == eager.batch_lefts(name)
    for who in ("ann", "bob", "lee"):
        assert lazy.undo_target(who) == eager.undo_target(who)
        assert lazy.resume_after(who) == eager.resume_after(who)
    for column in ("status", "automatic", "decided_at", "undecided", "waiting"):
        assert np.array_equal(getattr(lazy, column), getattr(eager, column)), column
    names = [*lazy.reviewers, None], [*eager.reviewers, None]
    assert [names[0][c] for c in lazy.decided_by] == [names[1][c] for c in eager.decided_by]
    want = eager.accepted_right.tolist()
    assert lazy.accepted_right.tolist() == want
    assert [lazy.accepted_right[p] for p in range(len(QUEUE))] == want
    assert lazy.accepted_right.arrow().to_pylist() == want
    assert lazy.accepted_right.present().tolist() == [r is not None for r in want]
    some = np.array([3, 0, 3, 1])
    assert lazy.accepted_right[some].tolist() == [want[p] for p in some]
    accepted = eager.status == 1
    assert (
        lazy.accepted_right[accepted].tolist() == np.asarray(want, dtype=object)[accepted].tolist()
    )
    assert (lazy.multi, lazy.reasons, lazy.edits) == (eager.multi, eager.reasons, eager.edits)
    decided = eager.status > 0
    assert np.array_equal(
        np.argsort(lazy.decided_seq[decided], kind="stable"),
        np.argsort(eager.decided_seq[decided], kind="stable"),
    )


@given(_history, st.booleans())
@settings(max_examples=300, deadline=None)
def test_batch_members_kept_as_columns_answer_like_their_events(raw, indexed):
    items = _items(raw)
    right_pos = {r: i for i, r in enumerate(RIGHTS)} if indexed else None
    lazy, eager, expanded, in_order = _ledgers(items, right_pos)
    _assert_same(lazy, eager, expanded, in_order)
    state = replay(expanded)
    # The same decisions, in the replayed log's order (the order among equal times).
    assert [(k, d.status, d.right_ids, d.event_id) for k, d in state.decisions.items()] == [
        (k, d.status, d.right_ids, d.event_id) for k, d in lazy.decisions.items()
    ]


def test_a_manual_accept_of_a_right_a_batch_took_is_a_conflict_and_undo_clears_the_batch():
    pos = {k: i for i, k in enumerate(QUEUE)}
    ledger = Ledger(QUEUE, pos, {r: i for i, r in enumerate(RIGHTS)})
    batch = Batch.of(
        "b", "accept", batch="bulk", reviewer="lee", time=1.0, left_ids=["1", "2"],
        right_ids=["a", "b"], offsets=[0, 1, 2], cand_right=["a", "b"], cand_score=[0.9, 0.8],
    )  # fmt: skip
    ledger.apply(batch)
    assert ledger.member_batch.tolist() == [0, 0, -1, -1, -1]  # columns, no objects
    ledger.apply(make_event("accept", event_id="m", reviewer="ann", left_id="3", right_ids=["b"]))
    assert ledger.conflicts() == {"b": ["2", "3"]}
    assert ledger.member_batch.tolist() == [0, 0, -1, -1, -1]  # record 2 untouched still
    ledger.apply(make_event("unmatch", event_id="u", reviewer="ann", left_id="1", right_ids=["a"]))
    assert ledger.member_batch.tolist() == [-1, 0, -1, -1, -1]  # record 1 touched
    assert ledger.undo_problem("b/2") is not None  # record 1 was changed since
    ledger.apply(make_event("undo", event_id="x", reviewer="ann", target="u"))
    assert ledger.undo_problem("b/2") is None
    ledger.apply(make_event("undo", event_id="y", reviewer="lee", target="b/2"))
    assert dict(ledger.decisions) == {"3": ledger.decisions["3"]}
    assert ledger.conflicts() == {}
    assert ledger.counts() == {"decided": 1, "skipped": 0, "open": 4}


def test_two_batches_filed_under_one_name_are_undone_together():
    pos = {k: i for i, k in enumerate(QUEUE)}
    ledger = Ledger(QUEUE, pos, {r: i for i, r in enumerate(RIGHTS)})
    for n, (kind, left) in enumerate((("accept", "1"), ("reject", "2"))):
        batch = Batch.of(
            f"b{n}", kind, batch="same", reviewer="lee", time=float(n), left_ids=[left],
            right_ids=["a"], offsets=[0, 1], cand_right=["a"], cand_score=[0.9],
        )  # fmt: skip
        ledger.apply(batch)
    assert ledger.counts()["decided"] == 2
    assert list(ledger.by_batch["same"]) == ["b0/1", "b1/2"]
    ledger.apply(make_event("undo", event_id="u", reviewer="lee", target="b1/2"))
    assert ledger.counts()["decided"] == 0 and not ledger.decisions and not ledger.right_owners


def test_a_batch_read_from_the_log_keeps_its_ids_as_arrow_text_not_strings():
    made = Batch.of(
        "b", "accept", batch="bulk", reviewer="lee", time=1.0, left_ids=["1", "2", "9"],
        right_ids=["a", "b", "c"], offsets=[0, 2, 3, 4],
        cand_right=["a", "x", "b", "c"], cand_score=[0.9, 0.5, 0.8, 0.7],
    )  # fmt: skip
    batch = Batch.from_bytes(made.to_bytes())
    assert isinstance(batch.left_ids, IdColumn) and isinstance(batch.right_ids, IdColumn)
    assert batch.left_ids.arrow.type == pa.string() and batch.right_ids == ["a", "b", "c"]
    ledger = Ledger(
        QUEUE, {k: i for i, k in enumerate(QUEUE)}, {r: i for i, r in enumerate(RIGHTS)}
    )
    ledger.apply(batch)
    folded = ledger.batches[0]
    # The ledger keeps each member's accepted score, not every candidate's.
    assert len(folded.batch.cand_score) == 0 and len(folded.batch.cand_right) == 0
    assert folded.accepted_scores().tolist() == [0.9, 0.8, 0.7]
    # Untouched members' right ids stay in the batch's column, read when asked for.
    assert ledger.accepted_right.own.tolist() == [None] * len(QUEUE)
    assert ledger.accepted_right.tolist() == ["a", "b", None, None, None]
    assert ledger.accepted_right[1] == "b"
    ledger.apply(make_event("unmatch", event_id="u", reviewer="ann", left_id="2", right_ids=["b"]))
    assert ledger.accepted_right.tolist() == ["a", None, None, None, None]
    ledger.apply(make_event("skip", event_id="s", reviewer="ann", left_id="1"))  # touches record 1
    assert ledger.accepted_right.own.tolist() == ["a", None, None, None, None]
    assert ledger.accepted_right.arrow().to_pylist() == ["a", None, None, None, None]


def test_a_batch_of_arrow_columns_writes_the_bytes_of_one_of_lists():
    lists = dict(
        batch="bulk", reviewer="lee", time=1.0, left_ids=["1", "2", "é"], offsets=[0, 2, 2, 3],
        cand_right=["a", "x", "c"], cand_score=[0.9, 0.5, 0.7], thresholds={"auto_accept": 0.8},
    )  # fmt: skip
    arrow = {**lists, "left_ids": pa.array(lists["left_ids"], pa.large_string())}
    for kind in ("accept", "reject"):
        rights = ["a", "b", "c"]
        one = Batch.of("b", kind, right_ids=rights, **lists)
        two = Batch.of("b", kind, right_ids=pa.array(rights), **arrow)
        assert one.to_bytes() == two.to_bytes()
        back = Batch.from_bytes(two.to_bytes())
        assert back.events() == one.events() and back.to_bytes() == one.to_bytes()
        keep = np.array([True, False, True])
        assert (
            back.subset(keep).to_bytes()
            == Batch.from_events("b", one.subset(keep).events()).to_bytes()
        )
