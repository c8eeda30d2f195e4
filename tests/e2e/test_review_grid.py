"""The review grid at 1440 x 900 on a six-field project, as a reviewer sees it."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains

from matching.engine.demo import GENERATED_FIELDS
from tests.helpers import LABEL, generated_app

GRID = "#candidate-grid"
PINNED = f"{GRID} .ag-floating-top .ag-row"
ROWS = f"{GRID} .ag-center-cols-container"


def press(dash_duo, keys: str) -> None:
    ActionChains(dash_duo.driver).send_keys(keys).perform()


def viewport(dash_duo, width: int = 1440, height: int = 900) -> None:
    """Make the page's viewport ``width`` x ``height``."""
    driver = dash_duo.driver
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight];")
    driver.set_window_size(2 * width - inner[0], 2 * height - inner[1])


def seen_whole(dash_duo, selector: str) -> bool:
    """True when the element is inside the window and its grid's visible columns, uncut."""
    return dash_duo.driver.execute_script(
        """
        const el = document.querySelector(arguments[0]);
        if (!el) { return false; }
        const r = el.getBoundingClientRect();
        const view = el.closest('.ag-center-cols-viewport, .ag-floating-top-viewport');
        const v = view ? view.getBoundingClientRect() : {left: 0, right: window.innerWidth};
        const uncut = r.width > 0 && el.scrollWidth <= el.clientWidth + 1;
        return uncut && r.left >= v.left - 1 && r.right <= v.right + 1 &&
            r.top >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth;
        """,
        selector,
    )


def classes(dash_duo, selector: str) -> set[str]:
    return set(dash_duo.find_element(selector).get_attribute("class").split())


@pytest.fixture
def six_app(tmp_path):
    return generated_app(tmp_path)


def test_left_record_and_first_candidate_are_seen_whole_at_1440_by_900(dash_duo, six_app):
    dash_duo.start_server(six_app)
    viewport(dash_duo)
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 40", timeout=15)
    dash_duo.wait_for_element(PINNED)
    left = six_app.matchdesk.project(six_app.matchdesk.project_options()[0]["value"]).left
    first = six_app.matchdesk.project(six_app.matchdesk.project_options()[0]["value"])
    first_right = first.candidate_rows("O0000001")["right_id"].iloc[0]
    row = f"{ROWS} [row-id='{first_right}']"
    dash_duo.wait_for_element(row)
    assert "Left record" in dash_duo.find_element(f"{PINNED} [col-id='score']").text
    assert "left-record-row" in classes(dash_duo, PINNED)
    for col in (*GENERATED_FIELDS, "car_id"):
        pinned_cell = f"{PINNED} [col-id='{col}']"
        value = left.loc[0, "owner_id" if col == "car_id" else col]
        assert dash_duo.find_element(pinned_cell).text == value
        assert seen_whole(dash_duo, pinned_cell), f"left record's {col} is cut or off screen"
        assert seen_whole(dash_duo, f"{row} [col-id='{col}']"), f"candidate's {col} is cut"
    headers = dash_duo.driver.execute_script(
        """
        return [...document.querySelectorAll('#candidate-grid .ag-header-cell-text')]
            .map(e => [e.textContent, e.scrollWidth <= e.clientWidth + 1]);
        """
    )
    assert all(whole for _, whole in headers), f"a header is cut: {headers}"
    header_names = [name.replace("\u200b", "") for name, _ in headers if name]
    assert header_names[:8] == ["Score", *GENERATED_FIELDS, "car_id"]
    cell = f"{row} [col-id='surname']"
    assert classes(dash_duo, cell) & {"sim-0", "sim-1", "sim-2", "sim-3", "sim-4"}
    # WQLLIS against the left record's Willis: the Q is marked.
    assert dash_duo.find_element(f"{cell} mark.char-diff").text == "Q"
    ActionChains(dash_duo.driver).move_to_element(dash_duo.find_element(cell)).perform()
    deadline = time.time() + 5
    while "similarity" not in (dash_duo.find_element(cell).get_attribute("title") or ""):
        assert time.time() < deadline, "hovering a compared cell shows no score"
        time.sleep(0.1)
    assert "ag-row-selected" in classes(dash_duo, row), "the best candidate is pre-selected"
    noise = [e for e in dash_duo.driver.get_log("browser") if e["level"] != "INFO"]
    assert noise == [], "the console has warnings"
    assert dash_duo.get_logs() == []


def test_keys_move_and_tick_candidates_never_the_left_record_nor_edit_it(dash_duo, six_app):
    dash_duo.start_server(six_app)
    viewport(dash_duo)
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 40", timeout=15)
    project = six_app.matchdesk.project(six_app.matchdesk.project_options()[0]["value"])
    ids_ = project.candidate_rows("O0000001")["right_id"].tolist()
    first, second = (f"{ROWS} [row-id='{r}']" for r in ids_[:2])
    dash_duo.wait_for_element(second)
    press(dash_duo, "k")  # already at the top: stays on the first candidate
    press(dash_duo, "j")
    press(dash_duo, " ")
    deadline = time.time() + 5
    while "ag-row-selected" not in classes(dash_duo, second):
        assert time.time() < deadline, "space did not tick the highlighted candidate"
        time.sleep(0.1)
    assert "ag-row-selected" in classes(dash_duo, first)
    press(dash_duo, "k")
    press(dash_duo, " ")
    deadline = time.time() + 5
    while "ag-row-selected" in classes(dash_duo, first):
        assert time.time() < deadline, "space did not clear the highlighted candidate"
        time.sleep(0.1)
    assert "ag-row-selected" not in classes(dash_duo, PINNED)
    pinned_cell = dash_duo.find_element(f"{PINNED} [col-id='surname']")
    ActionChains(dash_duo.driver).double_click(pinned_cell).perform()
    time.sleep(0.3)
    assert not dash_duo.driver.find_elements("css selector", f"{GRID} .ag-cell-inline-editing")
    dash_duo.find_element(LABEL).click()
    press(dash_duo, "a")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 40")
    state = six_app.matchdesk.log.state(project.project_id)
    assert state.decisions["O0000001"].right_ids == (ids_[1],)
    assert dash_duo.get_logs() == []


def test_blind_switch_hides_tint_scores_and_ticks_and_keeps_the_layout(dash_duo, six_app):
    dash_duo.start_server(six_app)
    viewport(dash_duo)
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 40", timeout=15)
    project = six_app.matchdesk.project(six_app.matchdesk.project_options()[0]["value"])
    best = project.candidate_rows("O0000001")["right_id"].iloc[0]
    row = f"{ROWS} [row-id='{best}']"
    dash_duo.wait_for_element(f"{row} .score-with-bar")
    dash_duo.find_element("label[for='blind-switch']").click()
    deadline = time.time() + 10
    while dash_duo.driver.find_elements("css selector", f"{row} .score-with-bar"):
        assert time.time() < deadline, "blind mode still shows the score"
        time.sleep(0.1)
    tinted = dash_duo.driver.find_elements("css selector", f"{GRID} [class*='sim-']")
    assert [
        e for e in tinted if e.is_displayed() and "legend" not in e.get_attribute("class")
    ] == []
    assert "ag-row-selected" not in classes(dash_duo, row)
    assert dash_duo.find_element(LABEL).text == "Record 1 of 40"
    assert (
        dash_duo.find_element(f"{PINNED} [col-id='surname']").text == project.left.loc[0, "surname"]
    )
    dash_duo.find_element("label[for='blind-switch']").click()
    dash_duo.wait_for_element(f"{row} .score-with-bar")
    assert dash_duo.get_logs() == []


def test_eight_compared_fields_fit_1440_with_headers_and_ids_readable(dash_duo, tmp_path):
    app = generated_app(tmp_path, eight=True, keep=0.4)
    project = app.matchdesk.project(app.matchdesk.project_options()[0]["value"])
    compared = [f.right for f in project.spec.fields]
    assert len(compared) == 8
    dash_duo.start_server(app)
    viewport(dash_duo)
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 40", timeout=15)
    best = project.candidate_rows("O0000001")["right_id"].iloc[0]
    row = f"{ROWS} [row-id='{best}']"
    dash_duo.wait_for_element(row)
    headers = dash_duo.driver.execute_script(
        """
        return [...document.querySelectorAll('#candidate-grid .ag-header-cell-text')]
            .map(e => [e.textContent.replace(/\\u200b/g, ''), e.scrollWidth <= e.clientWidth + 1]);
        """
    )
    names = [name for name, _ in headers if name]
    assert names[: len(compared) + 2] == ["Score", *compared, "car_id"]
    assert all(whole for _, whole in headers), f"a header is cut: {headers}"
    assert seen_whole(dash_duo, f"{row} [col-id='car_id']"), "the candidate's id is cut"
    assert seen_whole(dash_duo, f"{PINNED} [col-id='car_id']"), "the left record's id is cut"
    right_edge = dash_duo.driver.execute_script(
        """
        const view = document.querySelector('#candidate-grid .ag-center-cols-viewport');
        const cells = [...document.querySelectorAll(arguments[0])];
        return [view.getBoundingClientRect().right, window.innerWidth,
                Math.max(...cells.map(c => c.getBoundingClientRect().right))];
        """,
        ", ".join(f"{row} [col-id='{c}']" for c in compared),
    )
    view_right, window_width, cells_right = right_edge
    assert cells_right <= min(view_right, window_width) + 1, "compared fields need a scroll"
    assert dash_duo.get_logs() == []


def test_show_scores_writes_field_scores_in_the_cells_and_keeps_the_ticks(dash_duo, six_app):
    dash_duo.start_server(six_app)
    viewport(dash_duo)
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 40", timeout=15)
    project = six_app.matchdesk.project(six_app.matchdesk.project_options()[0]["value"])
    second = f"{ROWS} [row-id='{project.candidate_rows('O0000001')['right_id'].iloc[1]}']"
    dash_duo.wait_for_element(second)
    press(dash_duo, "jj ")
    deadline = time.time() + 5
    while "ag-row-selected" not in classes(dash_duo, second):
        assert time.time() < deadline, "space did not tick the second candidate"
        time.sleep(0.1)
    assert not dash_duo.driver.find_elements("css selector", f"{second} .cell-score")
    dash_duo.find_element("label[for='show-scores-switch']").click()
    dash_duo.wait_for_element(f"{second} [col-id='surname'] .cell-score")
    assert "ag-row-selected" in classes(dash_duo, second), "turning on scores lost a tick"
    assert dash_duo.find_element(LABEL).text == "Record 1 of 40"
    assert dash_duo.get_logs() == []
