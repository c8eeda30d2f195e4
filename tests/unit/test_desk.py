"""The review desk: first decision wins, leases, explicit changes, undo, races."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from matching.decisions.db import DatabaseGone
from matching.decisions.events import Batch, make_event, replay
from matching.decisions.ledger import Ledger
from matching.decisions.log import DecisionLog
from matching.decisions.statistics import (
    per_reviewer,
    progress,
    progress_over_time,
    reasons_breakdown,
    score_distribution,
)
from matching.decisions.tuning import histogram_by_status, reviewed_pairs
from matching.desk import ReviewDesk
from matching.engine.demo import tutorial_cars, tutorial_owners
from matching.engine.project import Project, build_project
from matching.engine.spec import Field, Spec

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = os.environ.get("MATCHDESK_TEST_POSTGRES_URL")


def demo_project():
    spec = Spec(fields=(Field("OwnerSurname"),), left_id="OwnerID", right_id="CarID")
    return build_project(
        tutorial_owners(), tutorial_cars(), spec, name="demo", keep=0.26, select=0.33
    )


PROJECT = demo_project()


def open_desk(url: str, *, lease_seconds: float = 300, project=PROJECT) -> ReviewDesk:
    log = DecisionLog(url)
    log.ensure_project(project.project_id, name="demo")
    return ReviewDesk(log, project, lease_seconds=lease_seconds)


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'desk.db'}"


@pytest.fixture
def desk(url):
    return open_desk(url)


def standing(desk):
    return {k: (d.status, d.right_ids, d.reviewer) for k, d in desk.refresh().decisions.items()}


def test_two_tabs_of_one_reviewer_the_second_is_told(desk):
    tab_a = desk.next_view("ann")
    tab_b = desk.next_view("ann")
    assert tab_a["left_id"] == tab_b["left_id"] == "1"
    assert tab_a["view_id"] != tab_b["view_id"]
    assert desk.decide("ann", tab_a, "accept", ["101"]).ok
    late = desk.decide("ann", tab_b, "reject")
    assert not late.ok
    assert "already decided by you" in late.message and "nothing was recorded" in late.message
    assert standing(desk) == {"1": ("accepted", ("101",), "ann")}
    assert late.view["left_id"] == "2"


def test_double_click_records_once_and_moves_on(desk):
    view = desk.next_view("ann")
    first = desk.decide("ann", view, "accept", ["101"])
    again = desk.decide("ann", view, "accept", ["101"])
    assert (first.ok, first.written, again.ok, again.written) == (True, 1, True, 0)
    assert len(desk.log.events(PROJECT.project_id)) == 1
    assert again.view["left_id"] == first.view["left_id"] == "2"


def test_another_reviewers_decided_record_is_refused_with_who(desk):
    ann = desk.next_view("ann")
    desk.decide("ann", ann, "reject")
    forged = {"left_id": "1", "view_id": "bob-1"}
    out = desk.decide("bob", forged, "accept", ["101"])
    assert not out.ok and "decided by ann" in out.message
    assert standing(desk) == {"1": ("rejected", (), "ann")}


def test_a_record_held_by_another_reviewer_is_refused(desk):
    desk.next_view("ann")
    out = desk.decide("bob", {"left_id": "1", "view_id": "x"}, "reject")
    assert not out.ok and "open with ann" in out.message
    assert desk.log.events(PROJECT.project_id) == []


def test_reviewers_are_shown_different_records_and_wrap_round(desk):
    seen = [desk.next_view(name)["left_id"] for name in ("a", "b", "c", "d", "e")]
    assert sorted(seen) == ["1", "2", "3", "4", "5"]
    assert desk.next_view("f")["left_id"] is None
    assert desk.next_view("f")["open"] == 5  # all held by others: not "all done"


def test_resume_wraps_round_to_records_freed_earlier(desk):
    bob = desk.next_view("bob")  # bob holds 1
    ann = desk.next_view("ann")
    assert ann["left_id"] == "2"
    for _ in range(4):
        ann = desk.decide("ann", ann, "reject").view
    assert ann["left_id"] is None and ann["open"] == 1
    desk.release("bob")
    assert desk.next_view("ann")["left_id"] == bob["left_id"] == "1"


def test_changing_a_decision_is_explicit_and_names_what_it_replaces(desk):
    view = desk.next_view("ann")
    desk.decide("ann", view, "accept", ["101"])
    bob = {"left_id": "1", "view_id": "b"}
    assert "reviewer" in desk.decide("bob", bob, "reject", change=True).message
    lead = desk.decide("lee", bob, "reject", change=True, role="lead")
    assert lead.ok
    events = desk.log.events(PROJECT.project_id)
    assert events[-1].replaces == events[0].event_id and events[-1].reviewer == "lee"
    assert standing(desk)["1"] == ("rejected", (), "lee")
    own = desk.decide("lee", {"left_id": "1", "view_id": "c"}, "accept", ["101"], change=True)
    assert own.ok and standing(desk)["1"][0] == "accepted"


def test_undo_restores_the_record_and_refuses_when_changed_since(desk):
    view = desk.next_view("ann")
    desk.decide("ann", view, "accept", ["101"])
    desk.decide("lee", {"left_id": "1", "view_id": "l"}, "reject", change=True, role="lead")
    out = desk.undo("ann")
    assert not out.ok and "changed by lee" in out.message
    assert standing(desk)["1"][2] == "lee"
    assert desk.undo("lee").ok
    assert desk.undo("ann").ok
    assert standing(desk) == {}


def test_undo_shows_the_reopened_record_and_a_double_press_undoes_once(desk):
    v1 = desk.next_view("ann")
    v2 = desk.decide("ann", v1, "reject").view
    v3 = desk.decide("ann", v2, "reject").view
    assert v3["undo_target"] is not None
    back = desk.undo("ann", target=v3["undo_target"])
    again = desk.undo("ann", target=v3["undo_target"])
    assert back.view["left_id"] == "2"
    assert again.ok and again.written == 0
    assert standing(desk) == {"1": ("rejected", (), "ann")}


def test_unmatch_needs_the_decider_or_a_lead(desk):
    view = desk.next_view("ann")
    desk.decide("ann", view, "accept", ["101"])
    refused = desk.matches.unmatch("bob", [("1", "101")])
    assert not refused.ok and "lead" in refused.message
    assert desk.matches.unmatch("lee", [("1", "101")], role="lead").ok
    assert standing(desk) == {}
    assert not desk.matches.unmatch("lee", [("1", "101")], role="lead").ok  # already removed
    assert desk.undo("lee", role="lead").ok
    assert standing(desk) == {"1": ("accepted", ("101",), "ann")}
    # The same removal again after the undo is recorded, not taken for a repeat.
    assert desk.matches.unmatch("lee", [("1", "101")], role="lead").written == 1
    assert standing(desk) == {}
    assert standing(open_desk(str(desk.log.url))) == {}


def test_bulk_needs_a_lead_and_leaves_held_records(desk):
    held = desk.next_view("bob")["left_id"]
    refused = desk.batches.apply_bulk("ann", "accept", threshold=0.3, role="reviewer")
    assert not refused.ok and desk.log.events(PROJECT.project_id) == []
    forged = desk.batches.apply_bulk("lee", "reject", threshold=1.01, role="lead")
    assert not forged.ok and "between 0 and 1" in forged.message
    done = desk.batches.apply_bulk("lee", "accept", threshold=0.3, role="lead")
    assert done.ok and done.written == 4 and held not in standing(desk)
    assert desk.batches.apply_bulk("lee", "accept", threshold=0.3, role="lead").written == 0


def test_tampered_views_are_refused(desk):
    view = desk.next_view("ann")
    for bad in ({"left_id": "nope"}, {"left_id": 5}, {}, None, [1]):
        assert not desk.decide("ann", bad, "accept", ["101"]).ok
    assert "never proposed" in desk.decide("ann", view, "accept", ["999"]).message
    assert not desk.decide("ann", view, "delete").ok
    assert desk.log.events(PROJECT.project_id) == []


def test_edits_keep_only_accepted_candidates_and_real_columns(desk):
    view = desk.next_view("ann")
    edits = {"101": {"CarName": "Yaris", "nope": "x"}, "999": {"CarName": "y"}}
    desk.decide("ann", view, "accept", ["101"], edits)
    assert desk.log.events(PROJECT.project_id)[0].edits == {"101": {"CarName": "Yaris"}}


def test_names_and_ids_of_any_length_and_characters(tmp_path):
    left = pd.DataFrame({"id": ["x" * 300, "ü.ñ 'q'"], "First Name": ["Ann", "Bob"]})
    right = pd.DataFrame({"id": ["r" * 300, "s"], "First Name": ["Ann", "Bob"]})
    spec = Spec(fields=(Field("First Name"),), left_id="id", right_id="id")
    project = build_project(left, right, spec, name="odd", keep=0.5, select=0.8)
    desk = open_desk(f"sqlite:///{tmp_path / 'odd.db'}", project=project)
    name = "Ünïcode 'reviewer' " * 14
    view = desk.next_view(name)
    assert view["rows"][0]["score_First Name"] == 1.0
    assert desk.decide(name, view, "accept", [view["rows"][0]["_right_id"]]).ok


def test_a_deleted_database_file_refuses_decisions(tmp_path):
    path = tmp_path / "gone.db"
    desk = open_desk(f"sqlite:///{path}")
    view = desk.next_view("ann")
    path.unlink()
    with pytest.raises(DatabaseGone):
        desk.decide("ann", view, "accept", ["101"])
    assert desk.log.healthy() is False


def test_a_replaced_database_file_refuses_decisions(tmp_path):
    import shutil

    path = tmp_path / "live.db"
    desk = open_desk(f"sqlite:///{path}")
    view = desk.next_view("ann")
    other = tmp_path / "copy.db"
    shutil.copy(path, other)
    os.replace(other, path)  # a restore from backup under the running server
    assert desk.log.healthy() is False
    with pytest.raises(DatabaseGone):
        desk.decide("ann", view, "accept", ["101"])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_threads_racing_for_one_record_one_wins(url, backend):
    if backend == "postgresql":
        if not POSTGRES:
            pytest.skip("no PostgreSQL server (scripts/test starts one)")
        url = empty_postgres()
    desks = [open_desk(url, lease_seconds=0) for _ in range(8)]
    go = threading.Barrier(len(desks))
    results = []

    def race(i: int) -> None:
        go.wait()
        out = desks[i].decide(f"r{i}", {"left_id": "3", "view_id": f"v{i}"}, "reject")
        results.append(out.ok)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(desks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert len(DecisionLog(url).events(PROJECT.project_id)) == 1


RACER = """
import sys, time
sys.path.insert(0, sys.argv[3])
from tests.unit.test_desk import open_desk
desk = open_desk(sys.argv[1], lease_seconds=0)
desk.ledger()
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
out = desk.decide("p" + sys.argv[4], {"left_id": "4", "view_id": "x"}, "reject")
print("won" if out.ok else "lost", flush=True)
"""


def _race_processes(url: str, n: int = 4) -> list[str]:
    import time

    start = str(time.time() + 4.0)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, url, start, str(ROOT), str(i)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for i in range(n)
    ]
    return sorted(p.communicate(timeout=120)[0].strip() for p in procs)


def test_processes_racing_for_one_record_one_wins(url):
    assert _race_processes(url) == ["lost", "lost", "lost", "won"]
    assert len(DecisionLog(url).events(PROJECT.project_id)) == 1


def empty_postgres() -> str:
    """The test PostgreSQL database, emptied of matchdesk's tables."""
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES)
    with engine.begin() as conn:
        for table in ("leases", "batch_data", "events", "heartbeat", "projects"):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
    engine.dispose()
    return POSTGRES


@pytest.mark.skipif(not POSTGRES, reason="no PostgreSQL server (scripts/test starts one)")
def test_race_and_long_names_on_postgres():
    empty_postgres()
    assert _race_processes(POSTGRES) == ["lost", "lost", "lost", "won"]
    desk = open_desk(POSTGRES)
    name = "r" * 250
    view = desk.next_view(name)
    assert desk.decide(name, view, "accept", ["101"]).ok
    assert desk.log.state(PROJECT.project_id).decisions["1"].reviewer == name


def many_records(n: int):
    ids = [f"L{i}" for i in range(n)]
    left = pd.DataFrame({"id": ids, "name": [f"name {i}" for i in range(n)]})
    right = pd.DataFrame({"id": [f"R{i}" for i in range(n)], "name": left["name"]})
    spec = Spec((Field("name"),), left_id="id", right_id="id")
    return build_project(left, right, spec, name="many", keep=0.9, select=0.95, top_k=1)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_large_batch_is_written_once_read_back_and_undone(tmp_path, backend):
    if backend == "postgresql":
        if not POSTGRES:
            pytest.skip("no PostgreSQL server (scripts/test starts one)")
        url = empty_postgres()
    else:
        url = f"sqlite:///{tmp_path / 'many.db'}"
    project = many_records(1200)
    lead = open_desk(url, project=project)
    held = lead.next_view("bob")["left_id"]
    done = lead.batches.apply_bulk("lee", "accept", threshold=0.9, batch="b-1", role="lead")
    assert done.written == 1199
    assert (
        lead.batches.apply_bulk("lee", "accept", threshold=0.9, batch="b-1", role="lead").written
        == 0
    )
    fresh = open_desk(url, project=project)  # another worker reads the log
    assert fresh.ledger().counts() == {"decided": 1199, "skipped": 0, "open": 1}
    assert fresh.ledger().decisions["L7"].right_ids == ("R7",)
    assert fresh.next_view("bob")["left_id"] == held
    assert fresh.undo("lee", role="lead").ok
    assert lead.refresh().counts()["decided"] == 0


# -- the ledger against replay, and the rules under any interleaving -------------------

LEFTS = ["1", "2", "3"]
_events = st.lists(
    st.tuples(
        st.sampled_from(["accept", "reject", "skip", "unmatch", "undo"]),
        st.sampled_from(LEFTS),
        st.sets(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=2),
        st.sampled_from(["ann", "bob"]),
        st.sampled_from([None, "b1", "b2"]),
        st.integers(0, 40),
    ),
    max_size=40,
)


@given(_events)
@settings(max_examples=150, deadline=None)
def test_ledger_folds_exactly_like_replay(raw):
    events = []
    for i, (kind, left, rights, who, batch, target) in enumerate(raw):
        if kind == "undo":
            tid = events[target % len(events)].event_id if events else "none"
            events.append(make_event("undo", event_id=f"e{i}", reviewer=who, target=tid))
        else:
            events.append(
                make_event(
                    kind,
                    event_id=f"e{i}",
                    reviewer=who,
                    left_id=left,
                    right_ids=sorted(rights) if kind in ("accept", "unmatch") else [],
                    batch=batch if kind in ("accept", "reject") else None,
                )
            )
    ledger = Ledger(LEFTS, {k: i for i, k in enumerate(LEFTS)})
    for e in events:
        ledger.apply(e)
    state = replay(events)
    assert {k: (d.status, d.right_ids, d.event_id) for k, d in state.decisions.items()} == {
        k: (d.status, d.right_ids, d.event_id) for k, d in ledger.decisions.items()
    }
    assert set(state.skipped) == ledger.skipped
    owners: dict[str, set[str]] = {}
    for k, d in state.decisions.items():
        for r in d.right_ids:
            owners.setdefault(r, set()).add(k)
    assert owners == {r: set(lefts) for r, lefts in ledger.right_owners.items()}
    assert ledger.counts()["decided"] == len(state.decisions) == (~ledger.undecided).sum()
    assert ledger.counts()["open"] == ledger.waiting.sum()
    for who in ("ann", "bob"):
        expected = next((e.event_id for e in reversed(state.active) if e.reviewer == who), None)
        assert ledger.undo_target(who) == expected


_ops = st.lists(
    st.tuples(
        st.sampled_from(["accept", "reject", "skip", "undo", "unmatch", "change"]),
        st.sampled_from(["ann", "bob", "lee"]),
        st.sampled_from(["1", "2", "3", "4", "5"]),
    ),
    max_size=25,
)


def _snapshot(desk):
    ledger = desk.refresh()
    return dict(ledger.decisions), set(ledger.skipped)


@given(_ops)
# An unmatch undone and sent again under the same event id: the log refuses the
# repeat, and the ledger must not fold it either.
@example(
    [
        ("accept", "ann", "1"),
        ("accept", "ann", "1"),
        ("unmatch", "ann", "1"),
        ("unmatch", "ann", "1"),
    ]
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_interleaving_never_overwrites_silently_and_undo_restores(ops):
    desk = open_desk("sqlite://", lease_seconds=0)
    for i, (op, who, left) in enumerate(ops):
        role = "lead" if who == "lee" else "reviewer"
        before = _snapshot(desk)
        rights = desk.project.candidate_rows(left)["right_id"].tolist()[:1]
        view = {"left_id": left, "view_id": f"v{i}"}
        if op == "undo":
            out = desk.undo(who, role=role)
        elif op == "unmatch":
            out = desk.matches.unmatch(who, [(left, r) for r in rights], role=role)
        elif op == "change":
            out = desk.decide(who, view, "reject", role=role, change=True)
        else:
            kind = op if rights or op != "accept" else "reject"
            out = desk.decide(who, view, kind, rights if kind == "accept" else [], role=role)
        if out.written and op != "undo" and i % 2 == 0:
            assert desk.undo(who, role=role).ok
            assert _snapshot(desk) == before
    # Replaying the log: no accept or reject lands on a decided record unless it says
    # which decision it replaces, and then names the one in force.
    events = desk.log.events(desk.project_id)
    for i, e in enumerate(events):
        if e.kind in ("accept", "reject"):
            current = replay(events[:i]).decisions.get(e.left_id)
            assert e.replaces == (None if current is None else current.event_id)
    assert_columns_agree(desk, replay(events))


def assert_columns_agree(desk, state):
    """The desk's columns give every statistic and tuning count the state gives."""
    n, cands = len(desk.project.queue), desk.project.candidates
    columns = desk.views.decisions()
    assert progress(columns, n) == progress(state, n)
    pd.testing.assert_frame_equal(per_reviewer(columns), per_reviewer(state))
    pd.testing.assert_frame_equal(score_distribution(columns), score_distribution(state))
    pd.testing.assert_frame_equal(reasons_breakdown(columns), reasons_breakdown(state))
    pd.testing.assert_frame_equal(progress_over_time(columns), progress_over_time(state))
    pairs = desk.views.pair_status()
    pd.testing.assert_frame_equal(
        histogram_by_status(cands, pairs), histogram_by_status(cands, state)
    )
    for auto in (False, True):
        got, want = (
            reviewed_pairs(cands, pairs, include_automatic=auto),
            reviewed_pairs(cands, state, include_automatic=auto),
        )
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_statistics_from_the_desks_columns_match_the_replayed_log(url):
    desk = open_desk(url)
    pid = PROJECT.project_id
    two = desk.next_view("ann")
    rights = desk.project.candidate_rows(two["left_id"])["right_id"].tolist()
    assert desk.decide("ann", two, "accept", rights[:2], reason="same family", comment="twins").ok
    bob = desk.next_view("bob")
    assert desk.decide("bob", bob, "reject", reason="data error").ok
    assert desk.decide("bob", desk.next_view("bob"), "skip").ok
    assert desk.batches.apply_bulk("lee", "accept", threshold=0.3, role="lead").written
    assert_columns_agree(desk, desk.log.state(pid))
    assert desk.undo("lee", role="lead").ok
    assert_columns_agree(open_desk(url), desk.log.state(pid))


# -- compact batches: one row for a whole bulk decision --------------------------------


@given(_events, st.lists(st.tuples(st.integers(0, 40), st.sampled_from(["accept", "reject"]))))
@settings(max_examples=150, deadline=None)
def test_ledger_folds_compact_batches_exactly_like_replay_of_their_events(raw, batches):
    events = []
    for i, (kind, left, rights, who, _batch, target) in enumerate(raw):
        if kind == "undo":
            tid = events[target % len(events)].event_id if events else "none"
            events.append(make_event("undo", event_id=f"e{i}", reviewer=who, target=tid))
        else:
            events.append(
                make_event(
                    kind,
                    event_id=f"e{i}",
                    reviewer=who,
                    left_id=left,
                    right_ids=sorted(rights) if kind in ("accept", "unmatch") else [],
                )
            )
    # Compact batches slipped in anywhere, each deciding every record, then maybe undone.
    items: list = list(events)
    for n, (at, kind) in enumerate(batches):
        batch = Batch.of(
            f"b{n}", kind, batch=f"bulk{n}", reviewer="lee", time=float(n),
            left_ids=LEFTS, right_ids=["a", "b", "c"], offsets=[0, 1, 2, 3],
            cand_right=["a", "b", "c"], cand_score=[0.9, 0.8, 0.7],
        )  # fmt: skip
        items.insert(min(at, len(items)), batch)
        if at % 3 == 0:
            undo = make_event("undo", event_id=f"u{n}", reviewer="lee", target=f"b{n}/2")
            items.insert(min(at + 2, len(items)), undo)
    ledger = Ledger(LEFTS, {k: i for i, k in enumerate(LEFTS)})
    expanded = []
    for item in items:
        ledger.apply(item)
        expanded.extend(item.events() if isinstance(item, Batch) else [item])
    state = replay(expanded)
    assert {k: (d.status, d.right_ids, d.event_id) for k, d in state.decisions.items()} == {
        k: (d.status, d.right_ids, d.event_id) for k, d in ledger.decisions.items()
    }
    assert set(state.skipped) == ledger.skipped
    owners: dict[str, set[str]] = {}
    for k, d in state.decisions.items():
        for r in d.right_ids:
            owners.setdefault(r, set()).add(k)
    assert owners == {r: set(lefts) for r, lefts in ledger.right_owners.items()}
    assert ledger.counts()["decided"] == len(state.decisions) == (~ledger.undecided).sum()
    assert ledger.counts()["open"] == ledger.waiting.sum()
    for who in ("ann", "bob", "lee"):
        expected = next((e.event_id for e in reversed(state.active) if e.reviewer == who), None)
        assert ledger.undo_target(who) == expected


def synthetic_project(records: int, picked: int) -> Project:
    """``records`` left records with one candidate each; the first ``picked`` score 0.95."""
    ids = [f"L{i}" for i in range(records)]
    rids = [f"R{i}" for i in range(records)]
    names = [f"name {i}" for i in range(records)]
    score = [0.95 if i < picked else 0.6 for i in range(records)]
    return Project(
        project_id="big",
        name="big",
        left=pd.DataFrame({"id": ids, "name": names}),
        right=pd.DataFrame({"id": rids, "name": names}),
        spec=Spec((Field("name"),), left_id="id", right_id="id"),
        keep=0.5,
        select=0.8,
        top_k=1,
        candidates=pd.DataFrame(
            {"left_id": ids, "right_id": rids, "score": score, "score_name": score}
        ),
        queue=ids,
        left_pos={k: i for i, k in enumerate(ids)},
        right_pos={k: i for i, k in enumerate(rids)},
        slices={k: (i, i + 1) for i, k in enumerate(ids)},
    )


def test_a_big_batch_is_one_row_another_worker_catches_up_and_undo_loses_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'big.db'}"
    project = synthetic_project(50_000, 45_000)
    lead = open_desk(url, project=project)
    other = open_desk(url, project=project)  # another worker, its ledger read before the batch
    other.ledger()
    ann = other.next_view("ann")  # ann holds L0: the batch leaves it to her
    assert ann["left_id"] == "L0"
    done = lead.batches.apply_bulk("lee", "accept", threshold=0.9, batch="big-1", role="lead")
    assert done.ok and done.written == 44_999
    assert (
        lead.batches.apply_bulk("lee", "accept", threshold=0.9, batch="big-1", role="lead").written
        == 0
    )
    assert lead.log.projects()[0]["events"] == 1  # one row for the whole batch
    # Ann decides her record in the other worker, which first reads the batch.
    step = other.decide("ann", ann, "accept", ["R0"])
    assert step.ok and step.view["left_id"] == "L45000"
    expected = {f"L{i}": ("accepted", (f"R{i}",)) for i in range(45_000)}
    for desk in (lead, other, open_desk(url, project=project)):
        got = {k: (d.status, d.right_ids) for k, d in desk.refresh().decisions.items()}
        assert got == expected
    state = lead.log.state(project.project_id)
    assert {k: (d.status, d.right_ids) for k, d in state.decisions.items()} == expected
    assert state.decisions["L7"].automatic and state.decisions["L7"].scores == {"R7": 0.95}
    # The other worker undoes the batch; ann's decision stays, nothing else does.
    undone = other.undo("lee", role="lead")
    assert undone.ok, undone.message
    for desk in (lead, other, open_desk(url, project=project)):
        ledger = desk.refresh()
        assert {k: d.reviewer for k, d in ledger.decisions.items()} == {"L0": "ann"}
        assert ledger.counts() == {"decided": 1, "skipped": 0, "open": 49_999}
        assert ledger.right_owners == {"R0": {"L0": None}}
    assert set(lead.log.state(project.project_id).decisions) == {"L0"}
    assert lead.undo("lee", role="lead").message.startswith("There is nothing of yours to undo")
