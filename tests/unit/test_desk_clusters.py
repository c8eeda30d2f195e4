"""desk.clusters: one table's clusters, a conflict in one settled by a lead, Undo, and the
representative rules a lead saves."""

from __future__ import annotations

import pandas as pd
import pytest

from matching.decisions.clusters import RepresentativeRules
from matching.decisions.log import DecisionLog
from matching.decisions.settings import ProjectSettings
from matching.desk import ReviewDesk
from matching.engine.project import build_project
from matching.engine.spec import Field, Spec, parse_block

PEOPLE = pd.DataFrame(
    {
        "pid": ["p1", "p2", "p3", "p4", "p5"],
        "name": ["Ann Lee", "Anne Lee", "Ann Leigh", "Bob Ray", "Bob Rey"],
        "seen": ["2020-01-01", "2023-05-01", "2021-01-01", "2019-01-01", "2022-02-02"],
    }
)


@pytest.fixture
def desk():
    spec = Spec((Field("name"),), "pid", "pid", one_table=True)
    project = build_project(PEOPLE, PEOPLE, spec, name="people", keep=0.0, select=0.9)
    log = DecisionLog("sqlite://")
    log.ensure_project(
        project.project_id,
        name="people",
        settings=ProjectSettings(floor=0.0, spec=spec, cardinality="many-to-many"),
    )
    return ReviewDesk(log, project)


def decide(desk, who, left_id, kind, rights=()):
    view = desk.next_view(who)
    assert view["left_id"] == left_id
    outcome = desk.decide(who, view, kind, list(rights))
    assert outcome.ok, outcome.message
    desk.release(who)


def a_chain(desk):
    """p1 = p2 (p3 shown and left: p1 ≠ p3), p2 = p3, p4 = p5."""
    decide(desk, "ann", "p1", "accept", ["p2"])
    decide(desk, "ann", "p2", "accept", ["p3"])
    decide(desk, "ann", "p3", "reject")
    decide(desk, "ann", "p4", "accept", ["p5"])


def test_clusters_are_listed_largest_first_with_their_records(desk):
    a_chain(desk)
    page = desk.clusters.page("lee", role="lead")
    assert (page.clusters, page.clustered, page.listed) == (2, 5, 2)
    assert [(r["cluster_id"], r["cluster_size"], r["record_id"]) for r in page.rows] == [
        ("C0", 3, "p1"),
        ("C0", 3, "p2"),
        ("C0", 3, "p3"),
        ("C1", 2, "p4"),
        ("C1", 2, "p5"),
    ]
    assert (
        page.rows[1]["name"] == "Anne Lee" and [r["band"] for r in page.rows] == [0] * 3 + [1] * 2
    )
    assert page.columns == ["pid", "name", "seen"]
    assert desk.clusters.page("lee", role="lead", limit=1).rows[-1]["record_id"] == "p3"


def test_a_conflict_shows_its_chain_and_a_lead_removes_one_pair_of_it_then_undoes(desk):
    a_chain(desk)
    rows = desk.clusters.page("lee", role="lead").conflicts
    assert [(r["conflict"], r["path"], r["left_id"], r["right_id"]) for r in rows] == [
        ("p1 ≠ p3", "p1 = p2 = p3", "p1", "p2"),
        ("p1 ≠ p3", "p1 = p2 = p3", "p2", "p3"),
    ]
    assert rows[0]["left"] == "Ann Lee · 2020-01-01" and rows[0]["different_by"] == "ann"
    refused = desk.clusters.page("bo", role="reviewer", action="split", link=rows[1])
    assert "Only a lead or above" in refused.message and refused.conflicts == rows
    page = desk.clusters.page("lee", role="lead", action="split", link=rows[1])
    assert page.message == "Removed p2 = p3; Undo puts it back." and page.conflicts == []
    assert [r["record_id"] for r in page.rows] == ["p1", "p2", "p4", "p5"]
    again = desk.clusters.page("lee", role="lead", action="split", link=rows[1])
    assert "not recorded" in again.message  # a second click records nothing
    back = desk.clusters.page("lee", role="lead", action="undo", target=page.undo_target)
    assert back.message == "Undone." and back.conflicts == rows


def test_a_lead_keeps_the_cluster_and_the_records_said_different_become_one(desk):
    a_chain(desk)
    (row, _) = desk.clusters.page("lee", role="lead").conflicts
    page = desk.clusters.page("lee", role="lead", action="keep", link=row)
    assert page.message == "Kept: p1 and p3 are the same; Undo reverts it."
    assert page.conflicts == [] and page.rows[0]["cluster_size"] == 3
    decision = desk.refresh().decisions["p1"]
    assert decision.right_ids == ("p2", "p3") and decision.reviewer == "lee"
    assert (
        "differ any more" in desk.clusters.page("lee", role="lead", action="keep", link=row).message
    )
    undone = desk.clusters.page("lee", role="lead", action="undo", target=page.undo_target)
    assert undone.conflicts and desk.refresh().decisions["p1"].right_ids == ("p2",)


def test_a_selection_is_needed_and_the_table_keeps_every_record(desk):
    page = desk.clusters.page("lee", role="lead", action="split", link=None)
    assert page.message == "Select an accepted pair of a conflict first."
    assert page.rows == [] and page.clusters == 0
    table = desk.clusters.table()
    assert table["record_id"].tolist() == PEOPLE["pid"].tolist()
    assert table["cluster_size"].tolist() == [1] * 5


def test_representative_rules_are_saved_by_a_lead_and_checked(desk):
    rules = RepresentativeRules({"name": "longest", "pid": "most recent"}, date_column="seen")
    saved = desk.choices.set_representatives(rules, role="lead")
    assert saved.ok and "name: longest, pid: most recent" in saved.message
    assert desk.settings().representatives == rules
    assert ProjectSettings.from_dict(desk.settings().to_dict()).representatives == rules
    refused = desk.choices.set_representatives(rules, role="reviewer")
    assert not refused.ok and "lead" in refused.message
    bad = RepresentativeRules({"name": "most recent"})
    assert "needs a date column" in desk.choices.set_representatives(bad, role="lead").message
    nope = RepresentativeRules({"nope": "longest"})
    assert "no column 'nope'" in desk.choices.set_representatives(nope, role="lead").message
    assert desk.settings().representatives == rules  # a refused change keeps the last
    a_chain(desk)
    out = rules.apply(PEOPLE, desk.clusters.table()["cluster_id"])
    assert out[["cluster_id", "records", "name", "pid"]].values.tolist() == [
        ["C0", 3, "Ann Leigh", "p2"],
        ["C1", 2, "Bob Ray", "p5"],
    ]


def test_review_asks_only_about_records_with_a_later_candidate():
    """Each pair is shown once, under its earlier record: a record whose pairs were all
    shown under earlier ones (p3, p5) is not a question, nor counted in the queue."""
    spec = Spec((Field("name"),), "pid", "pid", block=(parse_block("exact:name[:1]"),),
                one_table=True)  # fmt: skip
    project = build_project(PEOPLE, PEOPLE, spec, name="people", keep=0.0, select=0.9)
    log = DecisionLog("sqlite://")
    log.ensure_project(
        project.project_id,
        name="people",
        settings=ProjectSettings(floor=0.0, spec=spec, cardinality="many-to-many"),
    )
    desk = ReviewDesk(log, project)
    seen = []
    view = desk.next_view("ann")
    assert view["total"] == 3 and view["open"] == 3
    while view["left_id"] is not None:
        seen.append(view["left_id"])
        assert view["rows"], "a record without candidates was asked about"
        view = desk.decide("ann", view, "reject").view
    assert seen == ["p1", "p2", "p4"]
    assert view["open"] == 0 and view["decided"] == 3
