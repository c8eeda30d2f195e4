"""The review page in headless Chromium, driven by visible labels and keys."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.helpers import LABEL, button, open_tab, project_id, start


def press(dash_duo, keys: str) -> None:
    ActionChains(dash_duo.driver).send_keys(keys).perform()


def grid_cell(dash_duo, row_id: str, col: str):
    return dash_duo.find_element(
        f"#candidate-grid .ag-center-cols-container [row-id='{row_id}'] [col-id='{col}']"
    )


def test_decide_by_click_and_key_then_undo_three_times(dash_duo, demo_app):
    start(dash_duo, demo_app)
    button(dash_duo, "Accept").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    press(dash_duo, "a")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 3 of 5")
    button(dash_duo, "No match").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 4 of 5")
    button(dash_duo, "Skip").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 5 of 5")
    assert "3 of 5 decided" in dash_duo.find_element("#review-progress").text

    press(dash_duo, "u")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 4 of 5")
    button(dash_duo, "Undo").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 3 of 5")
    press(dash_duo, "u")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    dash_duo.wait_for_text_to_equal("#review-progress", "1 of 5 decided")
    state = demo_app.matchdesk.log.state(project_id(demo_app))
    assert sorted(state.decisions) == ["1"]
    assert state.decisions["1"].right_ids == ("101",)
    assert dash_duo.get_logs() == []


def test_keys_move_highlight_and_space_toggles_selection(dash_duo, demo_app):
    start(dash_duo, demo_app)
    press(dash_duo, "n")  # record 2: Johnson, with Jonson pre-selected
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    first = "#candidate-grid .ag-center-cols-container [row-id='102']"
    dash_duo.wait_for_element(first)
    assert "ag-row-selected" in dash_duo.find_element(first).get_attribute("class")
    name = dash_duo.find_element("#reviewer-name")
    name.click()
    press(dash_duo, "n")  # typing in a text field: the key does not decide anything
    time.sleep(0.5)
    assert dash_duo.find_element(LABEL).text == "Record 2 of 5"
    name.send_keys(Keys.BACKSPACE)
    dash_duo.find_element(".navbar-brand").click()
    dash_duo.wait_for_element(first)
    press(dash_duo, "j")
    press(dash_duo, " ")
    deadline = time.time() + 5
    while "ag-row-selected" in dash_duo.find_element(first).get_attribute("class"):
        assert time.time() < deadline, "space did not clear the highlighted candidate"
        time.sleep(0.1)
    # On the selection column's cell, space ticks the row once (not twice, back to as it was).
    dash_duo.driver.execute_script(
        "const api = dash_ag_grid.getApi('candidate-grid');"
        "api.setFocusedCell(api.getRowNode('102').rowIndex, 'ag-Grid-SelectionColumn');"
    )
    assert "ag-row-selected" not in dash_duo.find_element(first).get_attribute("class")
    press(dash_duo, " ")
    dash_duo.wait_for_element(f"{first}.ag-row-selected", timeout=5)
    time.sleep(0.3)
    assert "ag-row-selected" in dash_duo.find_element(first).get_attribute("class")
    press(dash_duo, "n")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 3 of 5")
    assert dash_duo.get_logs() == []


def test_edited_cell_reaches_matched_and_csv_export(dash_duo, demo_app):
    start(dash_duo, demo_app)
    cell = grid_cell(dash_duo, "101", "CarName")
    ActionChains(dash_duo.driver).double_click(cell).perform()
    editor = dash_duo.wait_for_element("#candidate-grid .ag-cell-inline-editing input")
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys("Toyota Yaris", Keys.ENTER)
    dash_duo.wait_for_text_to_equal(
        "#candidate-grid .ag-center-cols-container [row-id='101'] [col-id='CarName']",
        "Toyota Yaris",
    )
    dash_duo.find_element("body").click()
    press(dash_duo, "a")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")

    open_tab(dash_duo, "Matched")
    dash_duo.wait_for_contains_text("#matched-grid", "Toyota Yaris", timeout=10)
    button(dash_duo, "Export CSV").click()
    folder = Path(dash_duo.download_path)
    deadline = time.time() + 15
    while not list(folder.glob("*.csv")):
        assert time.time() < deadline, "no CSV was downloaded"
        time.sleep(0.2)
    time.sleep(0.5)
    exported = pd.read_csv(next(folder.glob("*.csv")), dtype=str, encoding="utf-8-sig")
    assert "Toyota Yaris" in exported.to_string()
    # The value before the correction is kept in its own column, and only there.
    assert "Toyota Corolla" not in exported.drop(columns=["original"]).to_string()
    assert "Toyota Corolla" in exported["original"].to_string()
    assert dash_duo.get_logs() == []


def test_refresh_resumes_at_the_same_record(dash_duo, demo_app):
    start(dash_duo, demo_app)
    press(dash_duo, "a")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    press(dash_duo, "s")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 3 of 5")
    dash_duo.driver.refresh()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 3 of 5", timeout=15)
    dash_duo.wait_for_text_to_equal("#review-progress", "1 of 5 decided")
    assert dash_duo.get_logs() == []


def test_done_queue_says_so_and_links_to_matched(dash_duo, demo_app):
    start(dash_duo, demo_app)
    for k in range(2, 6):
        press(dash_duo, "a")
        dash_duo.wait_for_text_to_equal(LABEL, f"Record {k} of 5")
    press(dash_duo, "s")
    dash_duo.wait_for_contains_text("#queue-done", "The queue is done", timeout=10)
    assert "1 skipped" in dash_duo.find_element("#queue-done").text
    button(dash_duo, "Review skipped records").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 5 of 5")
    press(dash_duo, "n")
    dash_duo.wait_for_contains_text("#queue-done", "The queue is done", timeout=10)
    button(dash_duo, "Open Matched").click()
    dash_duo.wait_for_contains_text("#matched-summary", "accepted pairs", timeout=10)
    assert dash_duo.get_logs() == []


def test_upload_two_csvs_and_run(dash_duo, demo_app, tmp_path):
    left = tmp_path / "people.csv"
    right = tmp_path / "customers.csv"
    left.write_text("pid;name\n007;Ann Lee\n008;Bo Chen\n009;Cy Diaz\n", encoding="utf-8")
    right.write_text("cid,name\nA1,ann lee\nA2,BO CHEN\nA3,Cy Dias\nA4,Dee Ray\n", encoding="utf-8")
    bad = tmp_path / "ragged.csv"
    bad.write_text("a,b\n1,2\n3\n", encoding="utf-8")
    start(dash_duo, demo_app)
    button(dash_duo, "Data").click()
    dash_duo.wait_for_element("#upload-left input")
    dash_duo.find_element("#upload-left input").send_keys(str(bad))
    dash_duo.wait_for_contains_text("#upload-left-info", "line 3", timeout=10)
    dash_duo.find_element("#upload-left input").send_keys(str(left))
    dash_duo.wait_for_contains_text("#upload-left-info", "3 rows", timeout=10)
    assert "delimiter ';'" in dash_duo.find_element("#upload-left-info").text
    dash_duo.find_element("#upload-right input").send_keys(str(right))
    dash_duo.wait_for_contains_text("#upload-right-info", "4 rows", timeout=10)
    dash_duo.wait_for_contains_text("#pair-count", "12 pairs to score", timeout=10)
    dash_duo.select_dcc_dropdown("#left-id-select", value="pid")
    dash_duo.select_dcc_dropdown("#right-id-select", value="cid")
    button(dash_duo, "Run").click()
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=20)
    dash_duo.find_element(".offcanvas .btn-close").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 3", timeout=15)
    assert "007" in dash_duo.find_element("#record-card").text
    dash_duo.wait_for_element("#candidate-grid [row-id='A1']")
    assert dash_duo.get_logs() == []


def test_space_after_the_data_panel_closes_does_not_open_it_again(dash_duo, demo_app):
    """Closing the panel gives the focus back to the Data button; a reviewer's next
    space (the key that ticks a candidate) opened the panel again."""
    start(dash_duo, demo_app)
    button(dash_duo, "Data").click()
    dash_duo.wait_for_element(".offcanvas.show")
    dash_duo.find_element(".offcanvas .btn-close").click()
    until_gone = time.time() + 10
    while dash_duo.driver.find_elements(By.CSS_SELECTOR, ".offcanvas.show"):
        assert time.time() < until_gone, "the panel did not close"
        time.sleep(0.1)
    time.sleep(1)  # past the closing slide, when the focus is handed back
    focused = dash_duo.driver.execute_script("return document.activeElement.id")
    assert focused != "data-button"
    press(dash_duo, " ")
    time.sleep(1)
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".offcanvas.show")
    press(dash_duo, "a")  # the keys still decide
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    assert dash_duo.get_logs() == []
