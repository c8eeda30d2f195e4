"""Cardinality and conflicts: a right record matched twice is a conflict a lead resolves."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from matching.decisions.log import DecisionLog
from matching.decisions.settings import ProjectSettings
from matching.desk import ReviewDesk
from matching.engine.project import build_project
from matching.engine.spec import Field, Spec


def twins_project():
    """Two left records (and a third) whose best candidate is the same right record."""
    left = pd.DataFrame({"id": ["L1", "L2", "L3"], "name": ["Ann Lee", "Anne Lee", "Bob Ray"]})
    right = pd.DataFrame({"id": ["R1", "R2", "R3"], "name": ["Ann Lee", "Bob Ray", "Ann Leigh"]})
    spec = Spec((Field("name"),), left_id="id", right_id="id")
    return build_project(left, right, spec, name="twins", keep=0.5, select=0.8)


PROJECT = twins_project()


def desk_for(tmp_path, cardinality="many-to-one", **kw) -> ReviewDesk:
    log = DecisionLog(f"sqlite:///{tmp_path / 'c.db'}")
    log.ensure_project(
        PROJECT.project_id, name="twins", settings=ProjectSettings(cardinality=cardinality)
    )
    return ReviewDesk(log, PROJECT, **kw)


def view(left: str, tag: str = "") -> dict:
    return {"left_id": left, "view_id": f"{left}{tag}"}


@pytest.mark.parametrize(
    ("cardinality", "conflict"),
    [("one-to-one", True), ("many-to-one", True), ("one-to-many", False), ("many-to-many", False)],
)
def test_a_right_record_accepted_twice_is_a_conflict_only_where_once_is_the_rule(
    tmp_path, cardinality, conflict
):
    desk = desk_for(tmp_path, cardinality, lease_seconds=0)
    assert desk.decide("ann", view("L1"), "accept", ["R1"]).message is None
    second = desk.decide("bob", view("L2"), "accept", ["R1"])
    assert second.ok  # recorded either way: never silently refused or allowed
    assert (second.message is not None) == conflict
    assert (desk.matches.conflicts() == {"R1": ["L1", "L2"]}) == conflict
    if conflict:
        assert "already matched to record 'L1' by ann" in second.message


@pytest.mark.parametrize(("cardinality", "refused"), [("one-to-one", True), ("many-to-one", False)])
def test_two_rights_for_one_left_only_where_many_are_allowed(tmp_path, cardinality, refused):
    desk = desk_for(tmp_path, cardinality)
    out = desk.decide("ann", desk.next_view("ann"), "accept", ["R1", "R3"])
    assert out.ok is not refused
    if refused:
        assert "tick one candidate" in out.message


def test_the_review_view_marks_a_candidate_matched_elsewhere(tmp_path):
    desk = desk_for(tmp_path, lease_seconds=0)
    desk.decide("ann", view("L1"), "accept", ["R1"])
    shown = desk.next_view("bob")
    assert shown["left_id"] == "L2"
    assert shown["taken"]["R1"] == {"left_id": "L1", "reviewer": "ann", "automatic": False}
    assert "R1" not in shown["selected"]  # never ticked for the reviewer
    assert shown["rows"][0]["_taken"] == "matched to L1 by ann"


def test_two_reviewers_racing_for_one_right_record_make_one_conflict(tmp_path):
    desks = [desk_for(tmp_path) for _ in range(2)]  # two workers' desks on one log
    views = [desks[0].next_view("r0"), desks[1].next_view("r1")]
    assert [v["left_id"] for v in views] == ["L1", "L2"]
    go = threading.Barrier(2)
    outs = {}

    def race(i, left):
        go.wait()
        outs[left] = desks[i].decide(f"r{i}", views[i], "accept", ["R1"])

    threads = [threading.Thread(target=race, args=a) for a in ((0, "L1"), (1, "L2"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(o.ok for o in outs.values())
    told = [left for left, o in outs.items() if o.message is not None]
    assert len(told) == 1  # the later one is told
    first = next(left for left in outs if left not in told)
    assert desks[0].matches.conflicts() == {"R1": [first, told[0]]}


@pytest.mark.parametrize(
    ("keep", "remaining"),
    [("L2", {"L2": ("R1",)}), ("*", {"L1": ("R1",), "L2": ("R1",)}), (None, {})],
)
def test_a_lead_resolves_a_conflict_and_undo_brings_it_back(tmp_path, keep, remaining):
    desk = desk_for(tmp_path, lease_seconds=0)
    desk.decide("ann", view("L1"), "accept", ["R1"])
    desk.decide("bob", view("L2"), "accept", ["R1"])
    assert not desk.matches.resolve_conflict("bob", "R1", keep, role="reviewer").ok
    out = desk.matches.resolve_conflict("lee", "R1", keep, role="lead")
    assert out.ok and out.written >= 1
    ledger = desk.refresh()
    assert desk.matches.conflicts() == {}
    assert {k: d.right_ids for k, d in ledger.decisions.items()} == remaining
    other = ReviewDesk(DecisionLog(str(desk.log.url)), PROJECT)  # another worker reads the log
    assert other.matches.conflicts() == {} and other.refresh().decisions == ledger.decisions
    again = desk.matches.resolve_conflict("lee", "R1", keep, role="lead")
    assert not again.ok and "not in conflict" in again.message
    assert desk.undo("lee", role="lead").ok  # the resolution is one batch: one undo
    assert desk.matches.conflicts() == {"R1": ["L1", "L2"]}
    # Resolved the same way after the undo: written again, as the log says to another desk.
    assert desk.matches.resolve_conflict("lee", "R1", keep, role="lead").written == out.written
    assert {k: d.right_ids for k, d in desk.refresh().decisions.items()} == remaining
    fresh = ReviewDesk(DecisionLog(str(desk.log.url)), PROJECT)
    assert fresh.refresh().decisions == desk.refresh().decisions


def test_bulk_auto_accept_never_makes_a_conflict_and_says_how_many_it_left(tmp_path):
    desk = desk_for(tmp_path)
    out = desk.batches.apply_bulk("lee", "accept", threshold=0.6, role="lead")
    assert out.ok and "left for review" in out.message
    ledger = desk.refresh()
    assert desk.matches.conflicts() == {}
    assert "L3" in ledger.decisions and "L1" not in ledger.decisions
    assert desk.batches.bulk_preview("lee", "accept", threshold=0.6) == 0


def test_conflicts_panel_resolves_for_a_lead_only(tmp_path):
    from app import create_app
    from callbacks.matched import update_conflicts
    from components.ids import ids
    from server.services import AppConfig

    app = create_app(
        AppConfig(
            left=PROJECT.left,
            right=PROJECT.right,
            spec=PROJECT.spec,
            keep=0.5,
            select=0.8,
            db_url=f"sqlite:///{tmp_path / 'app.db'}",
            data_dir=str(tmp_path / "data"),
        )
    )
    services = app.matchdesk
    project = services.project(services.project_options()[0]["value"])
    desk = services.desk(project)
    desk.decide("ann", view("L1"), "accept", ["R1"])
    desk.release("ann")  # ann was given L2 next; bob takes it
    assert desk.decide("bob", desk.next_view("bob"), "accept", ["R1"]).message

    def panel(trigger=None, selected=(), who="lee", cardinality="many-to-one", role="lead"):
        services.actor = lambda typed: (who, role)
        return update_conflicts(
            services, project.project_id, "matched", trigger, list(selected), who, cardinality
        )

    shown = panel()
    assert [(r["right_id"], r["left_id"], r["first"]) for r in shown["rows"]] == [
        ("R1", "L1", True),
        ("R1", "L2", False),
    ]
    assert "Ann Lee" in shown["rows"][0]["right"] and shown["cardinality"] == "many-to-one"
    refused = panel(ids.CONFLICT_KEEP, [shown["rows"][1]], who="bob", role="reviewer")
    assert "lead" in refused["summary"] and len(refused["rows"]) == 2
    kept = panel(ids.CONFLICT_KEEP, [shown["rows"][1]])
    assert kept["rows"] == [] and kept["done"]["written"] == 1
    assert {k: d.right_ids for k, d in desk.refresh().decisions.items()} == {"L2": ("R1",)}
    assert (
        "Not saved: only a lead"
        in panel(ids.CARDINALITY, cardinality="one-to-one", role="reviewer")["summary"]
    )
    assert panel(ids.CARDINALITY, cardinality="one-to-one")["cardinality"] == "one-to-one"
    assert desk.cardinality() == "one-to-one"


def test_the_review_grid_shows_which_candidates_are_matched_elsewhere(services, project):
    from components.ids import ids
    from tests.helpers import review_step

    first = review_step(services, project)
    second = review_step(services, project, ids.ACCEPT, first["view"], ["101"])
    third = review_step(services, project, ids.ACCEPT, second["view"], ["102", "103"])
    columns = [c.get("field") for c in third["columns"]]
    assert "_taken" in columns
    taken = {r["_right_id"]: r.get("_taken") for r in third["rows"]}
    assert taken["103"] == "matched to 2 by ann" and "103" not in third["selected"]["ids"]


def test_a_change_onto_a_right_record_a_bulk_accept_took_is_a_conflict_the_batch_undo_respects(
    tmp_path,
):
    desk = desk_for(tmp_path, lease_seconds=0)
    desk.decide("bob", view("L2"), "reject")
    assert desk.batches.apply_bulk("lee", "accept", threshold=0.6, role="lead").written == 2
    ledger = desk.refresh()
    assert ledger.member_batch[PROJECT.left_pos["L1"]] >= 0  # L1 is a batch record, columns only
    shown = desk.view_at("bob", PROJECT.left_pos["L2"])
    assert shown["taken"]["R1"] == {"left_id": "L1", "reviewer": "lee", "automatic": True}
    changed = desk.decide("bob", view("L2", "again"), "accept", ["R1"], change=True)
    assert "already matched to record 'L1' by lee" in changed.message
    assert desk.matches.conflicts() == {"R1": ["L1", "L2"]}
    other = ReviewDesk(DecisionLog(str(desk.log.url)), PROJECT)  # another worker reads the log
    assert other.matches.conflicts() == {"R1": ["L1", "L2"]}
    assert desk.matches.resolve_conflict("lee", "R1", "L2", role="lead").ok
    assert desk.matches.conflicts() == {} and "L1" not in desk.refresh().decisions
    assert desk.undo("lee", role="lead").ok  # the resolution
    assert desk.matches.conflicts() == {"R1": ["L1", "L2"]}
    assert desk.undo("lee", role="lead").ok  # the batch, at once
    ledger = desk.refresh()
    assert desk.matches.conflicts() == {}
    assert {k: d.right_ids for k, d in ledger.decisions.items()} == {"L2": ("R1",)}
    assert ledger.counts()["decided"] == 1


def test_undo_of_a_bulk_accept_is_refused_while_one_of_its_records_was_changed(tmp_path):
    desk = desk_for(tmp_path, lease_seconds=0)
    desk.decide("bob", view("L2"), "reject")
    assert desk.batches.apply_bulk("lee", "accept", threshold=0.6, role="lead").written == 2
    assert desk.decide("lee", view("L3", "x"), "reject", role="lead", change=True).ok
    assert desk.undo("lee", role="lead").ok  # lee's own change first
    assert desk.decide("bob", view("L3", "y"), "reject", role="lead", change=True).ok
    refused = desk.undo("lee", role="lead")
    assert not refused.ok and "1 records of that batch were changed since" in refused.message
    assert "record 'L3' by bob" in refused.message
    assert desk.refresh().counts()["decided"] == 3  # nothing undone
