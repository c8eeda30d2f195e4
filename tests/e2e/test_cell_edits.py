"""Correcting a value in the review grid is explicit: a shortcut key typed on a cell
decides the record and never edits it; a double-click corrects, the cell is marked, and
the export keeps the value before the correction beside it."""

from __future__ import annotations

import json
import time

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from matching.decisions.export import matched_table
from tests.helpers import LABEL, project_id, start

GRID = "#candidate-grid"
ROWS = f"{GRID} .ag-center-cols-container"


def _cell(dash_duo, right_id: str, column: str):
    return dash_duo.find_element(f"{ROWS} [row-id='{right_id}'] [col-id='{column}']")


def _editing(dash_duo) -> bool:
    return bool(dash_duo.driver.find_elements("css selector", f"{GRID} .ag-cell-inline-editing"))


def test_a_shortcut_key_on_a_clicked_cell_decides_and_never_edits(dash_duo, demo_app):
    start(dash_duo, demo_app)
    dash_duo.wait_for_element(f"{ROWS} [row-id='101']")
    _cell(dash_duo, "101", "CarName").click()
    for key in ("x", Keys.ENTER, Keys.BACKSPACE):  # keys that used to open the editor
        ActionChains(dash_duo.driver).send_keys(key).perform()
        time.sleep(0.2)
        assert not _editing(dash_duo)
    assert _cell(dash_duo, "101", "CarName").text == "Toyota Corolla"
    _cell(dash_duo, "101", "CarName").click()
    ActionChains(dash_duo.driver).send_keys("a").perform()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5", timeout=10)
    decision = demo_app.matchdesk.log.state(project_id(demo_app)).decisions["1"]
    assert decision.right_ids == ("101",)
    assert not decision.edits
    assert dash_duo.get_logs() == []


def test_a_double_clicked_correction_is_marked_and_exported_beside_the_original(dash_duo, demo_app):
    start(dash_duo, demo_app)
    dash_duo.wait_for_element(f"{ROWS} [row-id='101']")
    ActionChains(dash_duo.driver).double_click(_cell(dash_duo, "101", "CarName")).perform()
    dash_duo.wait_for_element(f"{GRID} .ag-cell-inline-editing input")
    editor = dash_duo.find_element(f"{GRID} .ag-cell-inline-editing input")
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys("Toyota Corolla Verso", Keys.ENTER)
    deadline = time.time() + 5
    while "cell-edited" not in _cell(dash_duo, "101", "CarName").get_attribute("class"):
        assert time.time() < deadline, "the corrected cell is not marked"
        time.sleep(0.1)
    assert "cell-edited" not in _cell(dash_duo, "101", "OwnerName").get_attribute("class")
    dash_duo.find_element(LABEL).click()
    ActionChains(dash_duo.driver).send_keys("a").perform()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5", timeout=10)
    services = demo_app.matchdesk
    project = services.project(project_id(demo_app))
    state = services.log.state(project.project_id)
    assert state.decisions["1"].edits == {"101": {"CarName": "Toyota Corolla Verso"}}
    table = matched_table(
        state,
        project.candidates,
        project.left,
        project.right,
        spec_left_id=project.spec.left_id,
        spec_right_id=project.spec.right_id,
    )
    row = table.set_index("right_id").loc["101"]
    assert row["right_CarName"] == "Toyota Corolla Verso"
    assert row["edited"] == "CarName"
    assert json.loads(row["original"]) == {"CarName": "Toyota Corolla"}
    assert dash_duo.get_logs() == []
