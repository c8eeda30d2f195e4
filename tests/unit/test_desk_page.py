"""The desk's page part: a decision is recorded only for the record the page had on screen."""

from __future__ import annotations

import pytest

from matching.desk import PageRequest
from tests.unit.test_desk import open_desk


@pytest.fixture
def desk(tmp_path):
    return open_desk(f"sqlite:///{tmp_path / 'page.db'}")


def opened(desk, reviewer="ann") -> dict:
    return desk.page.answer(PageRequest(reviewer)).view


def press(desk, view, kind, shown, right_ids=(), reviewer="ann", **more):
    return desk.page.answer(
        PageRequest(reviewer, action=kind, view=view, shown=shown, right_ids=right_ids, **more)
    )


@pytest.mark.parametrize("kind", ["accept", "reject", "skip"])
@pytest.mark.parametrize("shown", ["2", None, ""])
def test_a_decision_on_a_record_not_on_screen_is_refused(desk, kind, shown):
    view = opened(desk)
    assert view["left_id"] == "1"
    outcome = press(desk, view, kind, shown, ["101"])
    assert not outcome.ok and outcome.written == 0
    assert "nothing was recorded" in outcome.message
    assert ("still showed the candidates of record '2'" in outcome.message) == (shown == "2")
    assert outcome.view["left_id"] == "1"  # the record stays, to be decided when seen
    assert desk.log.events(desk.project_id) == []


def test_the_record_on_screen_is_decided(desk):
    view = opened(desk)
    outcome = press(desk, view, "accept", "1", ["101"])
    assert outcome.ok and outcome.written == 1
    assert outcome.view["left_id"] == "2"
    assert desk.refresh().decisions["1"].right_ids == ("101",)


def test_undo_needs_no_record_on_screen(desk):
    view = press(desk, opened(desk), "reject", "1").view
    outcome = press(desk, view, "undo", None)
    assert outcome.ok and outcome.written == 1
    assert outcome.view["left_id"] == "1"
    assert "1" not in desk.refresh().decisions


def test_an_audit_verdict_on_a_record_not_on_screen_is_refused(desk):
    assert desk.batches.apply_bulk("ann", "accept", threshold=0.3, role="lead").written == 5
    (batch,) = desk.batches.automatic_batches()
    assert desk.audits.draw_audit("ann", batch["batch"], margin=0.5, role="lead").ok
    view = desk.page.answer(PageRequest("cy", audit=True)).view
    other = "2" if view["left_id"] != "2" else "3"
    events = len(desk.log.events(desk.project_id))
    refused = press(desk, view, "reject", other, reviewer="cy", audit=True)
    assert not refused.ok and "nothing was recorded" in refused.message
    assert len(desk.log.events(desk.project_id)) == events
    done = press(desk, view, "reject", view["left_id"], reviewer="cy", audit=True)
    assert done.ok and done.written == 1


def test_the_same_name_again_or_the_tab_over_an_open_record_changes_nothing(desk):
    view = opened(desk)
    assert desk.page.answer(PageRequest("ann", action="name", view=view)) is None
    assert desk.page.answer(PageRequest("ann", action="tab", view=view)) is None
    # Another name frees the record for whoever comes next.
    bob = desk.page.answer(PageRequest("bob", action="name", view=view)).view
    assert bob["left_id"] == "1"


@pytest.mark.parametrize(
    "view",
    [
        {"left_id": "nope", "position": 0},
        {"left_id": "1", "position": 3},
        {"left_id": "1", "position": "0"},
    ],
)
def test_a_view_naming_what_the_project_lacks_records_nothing(desk, view):
    page_view = {**opened(desk), **view}
    outcome = press(desk, page_view, "reject", page_view["left_id"])
    assert not outcome.ok and "nothing was recorded" in outcome.message
    assert desk.log.events(desk.project_id) == []
