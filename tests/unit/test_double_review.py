"""Double review: a share of records reviewed twice, blind; agreement and adjudication."""

from __future__ import annotations

import pandas as pd

from matching.decisions.log import DecisionLog
from matching.desk import ReviewDesk
from matching.engine.project import build_project
from matching.engine.spec import Field, Spec, parse_block


def _desk(tmp_path, n=40) -> ReviewDesk:
    names = [f"person {i:03d}" for i in range(n)]
    left = pd.DataFrame({"id": [f"L{i:03d}" for i in range(n)], "name": names})
    right = pd.DataFrame({"id": [f"R{i:03d}" for i in range(n)], "name": names})
    spec = Spec((Field("name"),), left_id="id", right_id="id", block=(parse_block("exact:name"),))
    project = build_project(left, right, spec, name="twice", keep=0.5, select=0.9)
    log = DecisionLog(f"sqlite:///{tmp_path / 'd.db'}")
    log.ensure_project(project.project_id, name="twice")
    return ReviewDesk(log, project)


def test_a_share_is_reviewed_twice_blind_by_someone_else_then_adjudicated(tmp_path):
    desk = _desk(tmp_path)
    assert not desk.audits.set_double_review("ann", 0.25, role="reviewer").ok
    drawn = desk.audits.set_double_review("lee", 0.25, role="lead")
    assert drawn.ok and "10 records" in drawn.message
    (sample,) = [a.sample for a in desk.refresh().audits.values()]
    # ann decides every record: accept, except "no match" on every fourth.
    view = desk.next_view("ann")
    while view["left_id"] is not None:
        i = int(view["left_id"][1:])
        right = [view["rows"][0]["_right_id"]] if i % 4 else []
        view = desk.decide("ann", view, "accept" if right else "reject", right).view
    assert desk.audits.next_audit_view("ann")["left_id"] is None  # never her own decisions
    bob = desk.audits.next_audit_view("bob")
    assert bob["blind"] and bob["left_id"] in sample and bob["selected"] == []
    while bob["left_id"] is not None:  # bob accepts everything
        bob = desk.audits.record_verdict("bob", bob, "accept", [bob["rows"][0]["_right_id"]]).view
    reviews = desk.audits.second_reviews()
    assert len(reviews) == 10 and {r["second"] for r in reviews} == {"bob"}
    disagree = [r for r in reviews if not r["agree"]]
    assert disagree and all(int(r["left_id"][1:]) % 4 == 0 for r in disagree)
    assert desk.audits.adjudication() == disagree

    (pair, overall) = desk.audits.agreement()
    assert pair["pair"] == "ann & bob" and overall["pair"] == "all"
    assert pair["n"] == 10 and pair["observed"] == (10 - len(disagree)) / 10

    first = disagree[0]["left_id"]
    assert not desk.audits.adjudicate("bob", first, "second", role="reviewer").ok
    assert desk.audits.adjudicate("lee", first, "second", role="lead").ok
    assert desk.refresh().decisions[first].status == "accepted"
    assert first not in [r["left_id"] for r in desk.audits.adjudication()]
    # kappa keeps the blind answers
    assert desk.audits.agreement()[0]["observed"] == pair["observed"]
    assert desk.undo("lee", role="lead").ok  # one undo: the decision and the settlement
    assert desk.refresh().decisions[first].status == "rejected"
    assert first in [r["left_id"] for r in desk.audits.adjudication()]
    # Settled again after the undo: recorded again, as the log says to another desk.
    assert desk.audits.adjudicate("lee", first, "second", role="lead").written == 2
    assert first not in [r["left_id"] for r in desk.audits.adjudication()]
    other = ReviewDesk(DecisionLog(str(desk.log.url)), desk.project)
    assert other.refresh().decisions[first].status == "accepted"


def test_double_review_through_the_tabs(services, project):
    from callbacks.matched import update_adjudication
    from callbacks.statistics import update_statistics
    from callbacks.tuning import update_audits
    from components.ids import ids

    pid = project.project_id
    drawn = update_audits(services, pid, "tuning", ids.DOUBLE_DRAW, None, 3, "lee", 100)
    assert "5 records (100%) will be reviewed twice" in drawn["message"]
    assert (
        "between 1% and 100%"
        in update_audits(services, pid, "tuning", ids.DOUBLE_DRAW, None, 3, "lee", 0)["message"]
    )
    desk = services.desk(project)
    view = desk.next_view("ann")
    while view["left_id"] is not None:
        view = desk.decide("ann", view, "reject").view
    bob = desk.audits.next_audit_view("bob")
    while bob["left_id"] is not None:
        rights = [bob["rows"][0]["_right_id"]] if bob["rows"] else []
        bob = desk.audits.record_verdict("bob", bob, "accept" if rights else "reject", rights).view
    panel = update_adjudication(services, pid, "matched", None, [], "lee")
    assert len(panel["rows"]) >= 1 and "reviews disagree" in panel["summary"]
    settled = update_adjudication(
        services, pid, "matched", ids.KEEP_FIRST, panel["rows"][:1], "lee"
    )
    assert len(settled["rows"]) == len(panel["rows"]) - 1 and settled["done"]["written"] == 1
    stats = update_statistics(services, pid, "statistics", None)
    assert "ann &amp; bob" in str(stats[2]) or "ann & bob" in str(stats[2])
