"""Conflicts, audits and agreement patterns, as leads and reviewers use them."""

from __future__ import annotations

import time

from dash.testing import errors as dash_errors
from dash.testing.wait import until
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.helpers import LABEL, button, click, open_tab, project_id, start


def press(dash_duo, keys: str) -> None:
    dash_duo.find_element(".navbar-brand").click()  # keys go to the page, not a field
    ActionChains(dash_duo.driver).send_keys(keys).perform()


def select_option(dash_duo, dropdown: str, text: str) -> None:
    """Open the dropdown ``dropdown`` (a CSS selector) and pick the option showing ``text``.

    The options may arrive from the server after the page draws the dropdown,
    so it is opened again until they are there.
    """
    trigger = f"{dropdown}.dash-dropdown, {dropdown} .dash-dropdown"

    def options():
        found = dash_duo.driver.find_elements(By.CSS_SELECTOR, "[role='option']")
        return [o for o in found if text in o.text and o.is_displayed()]

    for _ in range(5):
        click(dash_duo, dash_duo.find_element(trigger))
        try:
            until(options, timeout=3)
        except dash_errors.TestingTimeoutError:
            ActionChains(dash_duo.driver).send_keys(Keys.ESCAPE).perform()
            continue
        click(dash_duo, options()[0])
        return
    raise AssertionError(f"no option showing {text!r} in {dropdown}")


def test_a_car_accepted_for_two_owners_is_a_conflict_a_lead_resolves(dash_duo, demo_app):
    start(dash_duo, demo_app)
    press(dash_duo, "a")  # record 1: its car 101
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    press(dash_duo, "a")  # record 2: the pre-selected 102 and 103
    dash_duo.wait_for_text_to_equal(LABEL, "Record 3 of 5")
    # Record 3's cars 102 and 103 are taken: nothing is pre-selected for them.
    ticked = dash_duo.driver.execute_script(
        "return dash_ag_grid.getApi('candidate-grid').getSelectedRows().map(r => r._right_id);"
    )
    assert "102" not in ticked and "103" not in ticked
    dash_duo.driver.execute_script(
        "dash_ag_grid.getApi('candidate-grid').forEachNode(n => {"
        " if (n.data && n.data._right_id === '103') n.setSelected(true); });"
    )
    press(dash_duo, "a")
    dash_duo.wait_for_contains_text("#page-message", "Recorded as a conflict", timeout=10)

    open_tab(dash_duo, "Matched")
    dash_duo.wait_for_contains_text("#conflict-summary", "1 right record is matched", timeout=10)
    rows = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#conflict-grid .ag-row")
    assert len(rows) == 2
    assert any("Charlie" in r.text for r in rows)
    dash_duo.driver.execute_script(
        "dash_ag_grid.getApi('conflict-grid').forEachNode(n => {"
        " if (n.data.left_id === '3') n.setSelected(true); });"
    )
    click(dash_duo, button(dash_duo, "Keep selected match"))
    dash_duo.wait_for_contains_text("#conflict-summary", "No conflicts.", timeout=10)
    state = demo_app.matchdesk.log.state(project_id(demo_app))
    assert "103" in state.decisions["3"].right_ids
    assert "103" not in state.decisions["2"].right_ids
    assert dash_duo.get_logs() == []


def test_a_lead_audits_an_auto_accept_blind_and_sees_the_error_rate(dash_duo, demo_app):
    start(dash_duo, demo_app)
    open_tab(dash_duo, "Tuning")
    dash_duo.wait_for_contains_text("#tuning-counts", "Pairs kept", timeout=10)
    click(dash_duo, button(dash_duo, "Apply auto-accept"))
    dash_duo.wait_for_contains_text("#bulk-modal-text", "undecided records", timeout=10)
    click(dash_duo, button(dash_duo, "Confirm"))
    dash_duo.wait_for_contains_text("#bulk-result-text", "accepted automatically", timeout=10)
    time.sleep(0.5)
    select_option(dash_duo, "#audit-batch-select", "auto-accept of")
    click(dash_duo, button(dash_duo, "Draw audit"))
    dash_duo.wait_for_contains_text("#audit-message", "drawn for a blind audit", timeout=10)
    drawn = int(dash_duo.find_element("#audit-message").text.split()[0])

    open_tab(dash_duo, "Review")
    click(dash_duo, dash_duo.find_element("#audit-mode-switch"))
    dash_duo.wait_for_contains_text(LABEL, "Audit: record", timeout=10)
    assert dash_duo.find_element("#candidate-grid").text.count("0.") == 0  # no scores shown
    for _ in range(drawn):
        press(dash_duo, "n")
        time.sleep(0.3)
    dash_duo.wait_for_contains_text("#queue-done-text", "Every drawn record has a verdict", 10)

    open_tab(dash_duo, "Tuning")
    dash_duo.wait_for_contains_text("#audit-table", f"{drawn} of {drawn}", timeout=15)
    assert "100.0%" in dash_duo.find_element("#audit-table").text  # every one said no match
    assert dash_duo.get_logs() == []


def pattern_equal_one(dash_duo) -> None:
    """On the Tuning tab, an agreement pattern of the demo's one field = 1."""
    open_tab(dash_duo, "Tuning")
    dash_duo.wait_for_contains_text("#tuning-counts", "Pairs kept", timeout=10)
    select_option(dash_duo, "#pattern-fields", "=")
    value = dash_duo.find_element("#pattern-fields input[type='number']")
    value.clear()
    value.send_keys("1")


def test_a_lead_decides_by_agreement_pattern(dash_duo, demo_app):
    start(dash_duo, demo_app)
    pattern_equal_one(dash_duo)
    click(dash_duo, button(dash_duo, "Preview"))
    dash_duo.wait_for_contains_text("#pattern-result", "would be accepted", timeout=10)
    count = int(dash_duo.find_element("#pattern-result").text.split()[0])
    click(dash_duo, button(dash_duo, "Accept these"))
    dash_duo.wait_for_contains_text("#pattern-modal-text", f"of {count:,} undecided", timeout=10)
    click(dash_duo, button(dash_duo, "Confirm"))
    dash_duo.wait_for_contains_text("#pattern-result", "accepted automatically", timeout=10)
    state = demo_app.matchdesk.log.state(project_id(demo_app))
    assert len(state.decisions) == count > 0
    assert all(d.automatic for d in state.decisions.values())
    assert dash_duo.get_logs() == []


def test_a_digit_picks_the_reason_kept_with_the_next_decision(dash_duo, demo_app):
    start(dash_duo, demo_app)
    until(lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, "#reason-choice input"), 10)
    press(dash_duo, "2")
    until(
        lambda: dash_duo.find_element("#reason-choice input[value='same family']").is_selected(), 5
    )
    press(dash_duo, "n")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    until(
        lambda: (
            not dash_duo.find_element("#reason-choice input[value='same family']").is_selected()
        ),
        5,
    )
    state = demo_app.matchdesk.log.state(project_id(demo_app))
    assert state.decisions["1"].reason == "same family"
    assert dash_duo.get_logs() == []


def test_double_review_blind_then_adjudicated_and_counted(dash_duo, demo_app):
    start(dash_duo, demo_app)
    name = dash_duo.find_element("#reviewer-name")
    name.send_keys("ann\n")
    open_tab(dash_duo, "Tuning")
    dash_duo.wait_for_contains_text("#tuning-counts", "Pairs kept", timeout=10)
    share = dash_duo.find_element("#double-review-share")
    share.clear()
    share.send_keys("100")
    click(dash_duo, button(dash_duo, "Draw for double review"))
    dash_duo.wait_for_contains_text("#audit-message", "will be reviewed twice", timeout=10)

    open_tab(dash_duo, "Review")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=10)
    for i in range(5):  # ann: no match on everything
        press(dash_duo, "n")
        if i < 4:
            dash_duo.wait_for_text_to_equal(LABEL, f"Record {i + 2} of 5", timeout=10)
    dash_duo.wait_for_contains_text("#queue-done-text", "All 5 records", timeout=10)

    name.clear()
    name.send_keys("bob\n")
    click(dash_duo, dash_duo.find_element("#audit-mode-switch"))
    dash_duo.wait_for_contains_text(LABEL, "Audit: record", timeout=10)
    for _ in range(5):  # bob, blind, says No match too
        press(dash_duo, "n")
        time.sleep(0.3)
    dash_duo.wait_for_contains_text("#queue-done-text", "Every drawn record has a verdict", 10)

    open_tab(dash_duo, "Statistics")
    dash_duo.wait_for_contains_text("#stats-reviewers", "ann & bob", timeout=15)
    assert "100%" in dash_duo.find_element("#stats-reviewers").text  # they agreed on all
    open_tab(dash_duo, "Matched")
    dash_duo.wait_for_contains_text("#adjudication-summary", "No disagreements", timeout=10)
    assert dash_duo.get_logs() == []


def _upload(dash_duo, side: str, path) -> None:
    """Choose ``path`` in the side's upload field until the panel names it.

    The field can miss a file chosen while the panel is still opening.
    """
    for _ in range(3):
        dash_duo.find_element(f"#upload-{side} input").send_keys(str(path))
        try:
            until(lambda: path.name in dash_duo.find_element(f"#upload-{side}-info").text, 8)
            return
        except dash_errors.TestingTimeoutError:
            continue
    raise AssertionError(f"the {side} upload never showed {path.name}")


def _upload_and_run(dash_duo, left, right) -> None:
    click(dash_duo, button(dash_duo, "Data"))
    dash_duo.wait_for_element("#upload-left input")
    _upload(dash_duo, "left", left)
    _upload(dash_duo, "right", right)
    dash_duo.wait_for_contains_text("#pair-count", "pairs to score", timeout=10)
    dash_duo.select_dcc_dropdown("#left-id-select", value="pid")
    dash_duo.select_dcc_dropdown("#right-id-select", value="cid")
    click(dash_duo, button(dash_duo, "Run"))
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=20)


def test_a_new_version_of_the_tables_keeps_the_work(dash_duo, demo_app, tmp_path):
    versions = {"1": ("Ann Lee", "Bo Chen"), "2": ("Ann Lee", "Bob Chen")}
    for v, rows in versions.items():
        (tmp_path / f"people-v{v}.csv").write_text(
            "pid,name\n" + "".join(f"P{i},{n}\n" for i, n in enumerate(rows)), encoding="utf-8"
        )
        extra = "A3,eve ray\n" if v == "2" else ""  # a new customer in version 2
        (tmp_path / f"customers-v{v}.csv").write_text(
            "cid,name\nA1,ann lee\nA2,BO CHEN\n" + extra, encoding="utf-8"
        )
    start(dash_duo, demo_app)
    _upload_and_run(dash_duo, tmp_path / "people-v1.csv", tmp_path / "customers-v1.csv")
    click(dash_duo, dash_duo.find_element(".offcanvas .btn-close"))
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 2", timeout=15)
    press(dash_duo, "a")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 2", timeout=10)
    press(dash_duo, "a")
    dash_duo.wait_for_contains_text("#queue-done-text", "All 2 records", timeout=10)

    _upload_and_run(dash_duo, tmp_path / "people-v2.csv", tmp_path / "customers-v2.csv")
    dash_duo.wait_for_contains_text("#data-message", "carried over", timeout=20)
    message = dash_duo.find_element("#data-message").text
    assert "1 decisions carried over, 1 changed records back in the queue" in message
    click(dash_duo, dash_duo.find_element(".offcanvas .btn-close"))
    dash_duo.wait_for_contains_text(LABEL, "changed since decided by", timeout=15)
    assert "Record 2 of 2" in dash_duo.find_element(LABEL).text
    assert dash_duo.get_logs() == []
