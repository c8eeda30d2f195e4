"""The record on screen is the record a key decides, even when the grid is slow to take
its rows (as on a large project, where the card changes seconds before the grid)."""

from __future__ import annotations

import time

from selenium.webdriver.common.action_chains import ActionChains

from components.ids import ids
from tests.helpers import LABEL, project_id, start

#: Holds back the candidate grid's part of every review answer for ``arguments[1]`` ms:
#: the card, the label and the page's view change at once, the grid's rows come later.
SLOW_GRID = """
const grid = arguments[0], wait = arguments[1];
const send = window.fetch;
window.fetch = function (input) {
    const url = typeof input === "string" ? input : (input && input.url) || "";
    const answer = send.apply(this, arguments);
    if (url.indexOf("_dash-update-component") === -1) { return answer; }
    return answer.then(function (response) {
        if (response.status !== 200) { return response; }
        return response.clone().json().then(function (body) {
            const late = body.response && body.response[grid];
            if (!late) { return response; }
            delete body.response[grid];
            setTimeout(function () { window.dash_clientside.set_props(grid, late); }, wait);
            return new Response(JSON.stringify(body),
                {status: 200, headers: {"Content-Type": "application/json"}});
        });
    });
};
"""

#: The record of the rows the grid holds (its pinned left row's).
GRID_RECORD = """
const api = dash_ag_grid.getApi(arguments[0]);
return api.getPinnedTopRowCount() ? api.getPinnedTopRow(0).data[arguments[1]] : null;
"""


def press(dash_duo, keys: str) -> None:
    ActionChains(dash_duo.driver).send_keys(keys).perform()


def grid_record(dash_duo):
    from components.review import RECORD_FIELD

    return dash_duo.driver.execute_script(GRID_RECORD, ids.CANDIDATE_GRID, RECORD_FIELD)


def decided(app) -> list[str]:
    return sorted(app.matchdesk.log.state(project_id(app)).decisions)


def test_a_key_pressed_before_the_grid_shows_the_record_decides_nothing(dash_duo, demo_app):
    start(dash_duo, demo_app)
    dash_duo.wait_for_element(f"#{ids.CANDIDATES_FRAME}:not(.candidates-pending)")
    dash_duo.driver.execute_script(SLOW_GRID, ids.CANDIDATE_GRID, 3000)
    press(dash_duo, "n")  # record 1, whose candidates are on screen
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")
    assert grid_record(dash_duo) == "1"  # the grid still holds record 1's rows
    press(dash_duo, "n")  # in the gap: record 2's candidates were never on screen
    dash_duo.wait_for_contains_text(f"#{ids.MESSAGE}", "nothing was recorded", timeout=5)
    assert (
        "still showed the candidates of record '1'" in dash_duo.find_element(f"#{ids.MESSAGE}").text
    )
    assert decided(demo_app) == ["1"]
    assert dash_duo.find_element(LABEL).text == "Record 2 of 5"

    # Meanwhile the grid is hidden rather than showing record 1's rows under record 2.
    time.sleep(0.3)
    frame = dash_duo.find_element(f"#{ids.CANDIDATES_FRAME}")
    assert grid_record(dash_duo) == "1"
    assert frame.value_of_css_property("visibility") == "hidden"

    # When the rows arrive, the grid shows record 2 and a key decides record 2.
    dash_duo.wait_for_element(f"#{ids.CANDIDATES_FRAME}:not(.candidates-pending)", timeout=10)
    assert grid_record(dash_duo) == "2"
    assert frame.value_of_css_property("visibility") == "visible"
    press(dash_duo, "n")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 3 of 5")
    assert decided(demo_app) == ["1", "2"]
    assert dash_duo.get_logs() == []
