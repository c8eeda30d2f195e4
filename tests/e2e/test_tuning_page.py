"""The Tuning and Statistics tabs in headless Chromium, driven by visible labels and keys."""

from __future__ import annotations

from dash.testing.wait import until
from selenium.webdriver.common.keys import Keys

from matching.decisions.events import make_event
from tests.helpers import LABEL, button, click, open_tab, project_id, start

COUNTS = "#tuning-counts"


def open_tuning(dash_duo) -> None:
    open_tab(dash_duo, "Tuning")
    dash_duo.wait_for_contains_text(COUNTS, "Pairs kept", timeout=10)


def count(dash_duo, key: str) -> str:
    """The number shown on a counts tile (tiles carry the count's name as a tooltip)."""
    return dash_duo.find_element(f"{COUNTS} [title='{key}'] .fs-4").text


def chart_lines(dash_duo) -> list[float]:
    return dash_duo.driver.execute_script(
        "const g = document.querySelector('#tuning-chart .js-plotly-plot');"
        "return g ? g.layout.shapes.map(s => s.x0) : [];"
    )


def test_keyboard_on_the_keep_slider_changes_counts_and_chart(dash_duo, demo_app):
    start(dash_duo, demo_app)
    open_tuning(dash_duo)
    dash_duo.wait_for_text_to_equal(f"{COUNTS} [title='pairs_kept'] .fs-4", "13")
    until(lambda: chart_lines(dash_duo)[:1] == [0.26], timeout=10)

    handle = dash_duo.find_element("#tuning-keep-slider [role='slider']")
    handle.click()
    handle.send_keys(Keys.END)
    dash_duo.wait_for_text_to_equal(f"{COUNTS} [title='pairs_kept'] .fs-4", "2")
    until(lambda: chart_lines(dash_duo)[:1] == [1], timeout=10)
    assert count(dash_duo, "records_with_candidate") == "2"

    handle.send_keys(Keys.ARROW_LEFT * 15)
    until(lambda: chart_lines(dash_duo)[:1] == [0.85], timeout=10)
    dash_duo.wait_for_text_to_equal(f"{COUNTS} [title='pairs_kept'] .fs-4", "4")
    assert dash_duo.get_logs() == []


def test_apply_auto_accept_confirm_then_review_undo_restores_decisions(dash_duo, demo_app):
    start(dash_duo, demo_app)
    button(dash_duo, "Accept").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    log = demo_app.matchdesk.log
    before = dict(log.state(project_id(demo_app)).decisions)

    open_tuning(dash_duo)
    button(dash_duo, "Apply auto-accept").click()
    dash_duo.wait_for_contains_text("#bulk-modal-text", "of 3 undecided records", timeout=10)
    button(dash_duo, "Confirm").click()
    dash_duo.wait_for_text_to_equal(
        "#bulk-result-text", "3 records accepted automatically by anonymous.", timeout=10
    )
    after = log.state(project_id(demo_app)).decisions
    assert len(after) == 4 and sum(d.automatic for d in after.values()) == 3
    legend = "#tuning-chart .legend"
    dash_duo.wait_for_contains_text(legend, "accepted", timeout=10)

    open_tab(dash_duo, "Review")
    button(dash_duo, "Undo").click()
    dash_duo.wait_for_text_to_equal("#review-progress", "1 of 5 decided", timeout=10)
    assert dict(log.state(project_id(demo_app)).decisions) == before
    assert dash_duo.get_logs() == []


def test_cancel_closes_the_dialog_and_writes_nothing(dash_duo, demo_app):
    start(dash_duo, demo_app)
    open_tuning(dash_duo)
    button(dash_duo, "Apply auto-reject").click()
    dash_duo.wait_for_contains_text("#bulk-modal-text", "nothing to apply", timeout=10)
    assert not button(dash_duo, "Confirm").is_enabled()
    button(dash_duo, "Cancel").click()
    dash_duo.wait_for_no_elements("#bulk-modal-text", timeout=10)
    assert demo_app.matchdesk.log.events(project_id(demo_app)) == []
    assert dash_duo.get_logs() == []


def test_use_these_thresholds_changes_what_the_reviewer_sees_next(dash_duo, demo_app):
    start(dash_duo, demo_app)
    open_tuning(dash_duo)
    handle = dash_duo.find_element("#tuning-select-slider [role='slider']")
    handle.click()
    handle.send_keys(Keys.END)
    until(lambda: chart_lines(dash_duo)[1:2] == [1], timeout=10)
    button(dash_duo, "Use these thresholds for review").click()
    dash_duo.wait_for_contains_text("#tuning-saved-text", "pre-selected from 1.00", timeout=10)
    services = demo_app.matchdesk
    assert services.desk(services.project(project_id(demo_app))).thresholds()["select"] == 1.0
    assert dash_duo.get_logs() == []


def test_keep_below_the_floor_is_refused_and_the_page_says_why(dash_duo, demo_app):
    start(dash_duo, demo_app)
    open_tuning(dash_duo)
    dash_duo.wait_for_contains_text("#tuning-floor-text", "scored from 0.26", timeout=10)
    handle = dash_duo.find_element("#tuning-keep-slider [role='slider']")
    handle.click()
    handle.send_keys(Keys.HOME)
    until(lambda: chart_lines(dash_duo)[:1] == [0], timeout=10)
    button(dash_duo, "Use these thresholds for review").click()
    dash_duo.wait_for_contains_text(
        "#tuning-saved-text", "Not saved: keep cannot go below 0.26", timeout=10
    )
    services = demo_app.matchdesk
    assert services.desk(services.project(project_id(demo_app))).thresholds()["keep"] == 0.26
    assert dash_duo.get_logs() == []


def test_a_lead_writes_the_reasons_and_the_review_tab_offers_them(dash_duo, demo_app):
    start(dash_duo, demo_app)
    open_tuning(dash_duo)
    reasons = dash_duo.find_element("#reasons-text")
    until(lambda: "unsure" in reasons.get_attribute("value"), timeout=10)
    reasons.send_keys(Keys.CONTROL, "a")  # what a person does: clear() bypasses React
    reasons.send_keys(Keys.DELETE, "twins", Keys.ENTER, "moved away")
    click(dash_duo, button(dash_duo, "Save reasons"))
    dash_duo.wait_for_text_to_equal(
        "#reasons-saved-text", "Saved: reviewers now pick from twins, moved away.", timeout=10
    )
    open_tab(dash_duo, "Review")
    dash_duo.wait_for_contains_text("#reason-choice", "2 moved away", timeout=10)
    assert "unsure" not in dash_duo.find_element("#reason-choice").text
    click(dash_duo, dash_duo.find_element("#reason-choice input[value='twins']"))
    click(dash_duo, button(dash_duo, "No match"))
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    state = demo_app.matchdesk.log.state(project_id(demo_app))
    assert state.decisions["1"].reason == "twins"
    assert dash_duo.get_logs() == []


def test_statistics_tab_shows_progress_and_refreshes_while_open(dash_duo, demo_app):
    start(dash_duo, demo_app)
    button(dash_duo, "Accept").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    open_tab(dash_duo, "Statistics")
    dash_duo.wait_for_contains_text("#stats-progress", "1 / 5", timeout=10)
    dash_duo.wait_for_contains_text("#stats-reviewers", "anonymous", timeout=10)

    # Another reviewer decides meanwhile: the open tab picks it up by itself.
    event = make_event("reject", event_id="bob-1", reviewer="bob", left_id="3")
    demo_app.matchdesk.log.append(project_id(demo_app), event)
    dash_duo.wait_for_contains_text("#stats-progress", "2 / 5", timeout=15)
    dash_duo.wait_for_contains_text("#stats-reviewers", "bob", timeout=10)
    assert dash_duo.get_logs() == []
