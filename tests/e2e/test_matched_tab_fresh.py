"""The Matched tab shows the decisions as they are: an Undo brings back the conflict it
reverted, and decisions made elsewhere reach the accepted-pairs count without a reload."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.e2e.test_team_features import click, press
from tests.helpers import LABEL, button, open_tab, project_id, start


def _make_conflict(dash_duo) -> None:
    """Records 1 and 2 accepted, then record 3 takes car 103, already record 2's."""
    press(dash_duo, "a")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    press(dash_duo, "a")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 3 of 5")
    dash_duo.driver.execute_script(
        "dash_ag_grid.getApi('candidate-grid').forEachNode(n => {"
        " if (n.data && n.data._right_id === '103') n.setSelected(true); });"
    )
    press(dash_duo, "a")
    dash_duo.wait_for_contains_text("#page-message", "Recorded as a conflict", timeout=10)


def test_undo_of_a_kept_conflict_shows_the_conflict_again(dash_duo, demo_app):
    start(dash_duo, demo_app)
    _make_conflict(dash_duo)
    open_tab(dash_duo, "Matched")
    dash_duo.wait_for_contains_text("#conflict-summary", "1 right record is matched", timeout=10)
    dash_duo.driver.execute_script(
        "dash_ag_grid.getApi('conflict-grid').forEachNode(n => {"
        " if (n.data.left_id === '3') n.setSelected(true); });"
    )
    click(dash_duo, button(dash_duo, "Keep selected match"))
    dash_duo.wait_for_contains_text("#conflict-summary", "No conflicts.", timeout=10)
    dash_duo.wait_for_contains_text("#matched-summary", "accepted pairs", timeout=10)
    click(dash_duo, button(dash_duo, "Undo"))
    dash_duo.wait_for_contains_text("#matched-summary", "Undone.", timeout=10)
    dash_duo.wait_for_contains_text("#conflict-summary", "1 right record is matched", timeout=5)
    rows = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#conflict-grid .ag-row")
    assert len(rows) == 2
    assert dash_duo.get_logs() == []


def test_the_accepted_count_follows_decisions_made_elsewhere(dash_duo, demo_app):
    start(dash_duo, demo_app)
    press(dash_duo, "a")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    open_tab(dash_duo, "Matched")
    dash_duo.wait_for_text_to_equal("#matched-summary", "1 accepted pair", timeout=10)
    # Another reviewer accepts a record meanwhile, through the same server.
    services = demo_app.matchdesk
    desk = services.desk(services.project(project_id(demo_app)))
    view = desk.next_view("bob")
    assert desk.decide("bob", view, "accept", list(view["selected"])[:1]).ok
    dash_duo.wait_for_text_to_equal("#matched-summary", "2 accepted pairs", timeout=10)
    assert dash_duo.get_logs() == []
