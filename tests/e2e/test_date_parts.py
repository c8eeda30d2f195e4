"""Year, month and day columns in the Data panel, in headless Chromium: proposed as one date
field, offered in the column lists, and shown as one date in the review grid after a Run."""

from __future__ import annotations

from dash.testing.wait import until
from selenium.webdriver.common.by import By

from tests.helpers import LABEL, button, upload_and_propose

GRID = "#candidate-grid"


def _rows(dash_duo) -> list[list[str]]:
    return [row.text.split("\n") for row in dash_duo.find_elements("#fields-container .row")]


def _column(dash_duo, index: int, side: str):
    """The left or right column dropdown of field row ``index``."""
    return dash_duo.driver.find_element(
        By.CSS_SELECTOR, f"""[id='{{"index":{index},"type":"field-{side}"}}']"""
    )


def _proposed(dash_duo) -> list[bool]:
    rows = dash_duo.find_elements("#fields-container .row")
    return [bool(row.find_elements(By.CSS_SELECTOR, ".proposed-badge")) for row in rows]


def test_year_month_and_day_are_proposed_as_one_date_and_shown_after_a_run(
    dash_duo, demo_app, tmp_path
):
    left, right = tmp_path / "people.csv", tmp_path / "customers.csv"
    left.write_text(
        "pid,name,dob_year,dob_month,dob_day\n"
        "a1,Ann Lee,1990.0,5,6\n"
        "a2,Bo Chen,1985.0,12,1\n"
        "a3,Cy Diaz,1970.0,3,3\n",
        encoding="utf-8",
    )
    right.write_text(
        "cid,name,dob_year,dob_month,dob_day\n"
        "b1,Ann Lee,1990,5,6\n"
        "b2,Bo Chen,1985,12,2\n"
        "b3,Cy Dias,1970,3,3\n"
        "b4,Dee Ray,1960,7,7\n",
        encoding="utf-8",
    )
    upload_and_propose(dash_duo, demo_app, left, right, 3)
    until(lambda: [r[:3] for r in _rows(dash_duo)][-1:] == [["dob", "dob", "date"]], timeout=10)
    assert [r[0] for r in _rows(dash_duo)] == ["name", "dob"], "one date field, not three"
    note = dash_duo.find_element("#proposal-note").text
    assert "dob is made in the left table from dob_year, dob_month, dob_day" in note
    assert "dob is made in the right table from dob_year, dob_month, dob_day" in note
    until(lambda: _proposed(dash_duo) == [True, True], timeout=10)
    # The date is in the column list: picked by hand, the row is the proposal's again.
    dash_duo.select_dcc_dropdown(_column(dash_duo, 1, "left"), value="dob_year")
    until(lambda: _proposed(dash_duo) == [True, False], timeout=10)
    dash_duo.select_dcc_dropdown(_column(dash_duo, 1, "left"), value="dob")
    until(lambda: _proposed(dash_duo) == [True, True], timeout=10)

    button(dash_duo, "Run").click()
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=30)
    dash_duo.find_element(".offcanvas .btn-close").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 3", timeout=15)
    dash_duo.wait_for_text_to_equal(f"{GRID} .ag-floating-top [col-id='dob']", "1990-05-06")
    dash_duo.wait_for_text_to_equal(
        f"{GRID} .ag-center-cols-container [row-id='b1'] [col-id='dob']", "1990-05-06"
    )
    services = demo_app.matchdesk
    new = next(
        o["value"] for o in services.project_options() if o["label"] == "people.csv ↔ customers.csv"
    )
    project = services.project(new)
    assert project.left["dob"].tolist() == ["1990-05-06", "1985-12-01", "1970-03-03"]
    pairs = project.candidates.set_index(["left_id", "right_id"])
    assert pairs.loc[("a1", "b1"), "score_dob"] == 1.0
    assert dash_duo.get_logs() == []
