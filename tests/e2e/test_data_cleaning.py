"""Each field's cleaning in the Data panel, in headless Chromium: the proposal shows it, a
user changes it, and the run compares values cleaned as the panel says."""

from __future__ import annotations

from dash.testing.wait import until
from selenium.webdriver.common.by import By

from tests.helpers import button, upload_and_propose

BADGE = ".proposed-badge"


def _clean_as(dash_duo, index: int):
    """The "Clean as" dropdown of field row ``index``."""
    return dash_duo.driver.find_element(
        By.CSS_SELECTOR, f"""[id='{{"index":{index},"type":"field-clean"}}']"""
    )


def _rows(dash_duo) -> list[str]:
    return [row.text for row in dash_duo.find_elements("#fields-container .row")]


def _marked(dash_duo) -> list[bool]:
    rows = dash_duo.find_elements("#fields-container .row")
    return [bool(row.find_elements(By.CSS_SELECTOR, BADGE)) for row in rows]


def test_a_year_written_1999_0_and_1999_is_proposed_as_a_number_and_scores_1(
    dash_duo, demo_app, tmp_path
):
    left, right = tmp_path / "people.csv", tmp_path / "customers.csv"
    left.write_text(
        "pid,surname,year,phone\n"
        "a1,Lee,1999.0,(02) 9876-5432\n"
        "a2,Chen,1985.0,(03) 1111-2222\n"
        "a3,Diaz,2001.0,(07) 3333 4444\n",
        encoding="utf-8",
    )
    right.write_text(
        "cid,surname,year,phone\n"
        "b1,Lee,1999,02 9876 5432\n"
        "b2,Chen,1985,03 1111 2222\n"
        "b3,Dias,2001,07 3333 4444\n"
        "b4,Ng,1960,09 1234 5678\n",
        encoding="utf-8",
    )
    upload_and_propose(dash_duo, demo_app, left, right, 3)
    until(
        lambda: [r.split()[:1] for r in _rows(dash_duo)] == [["surname"], ["year"], ["phone"]],
        timeout=10,
    )
    assert [r.split()[2:4] for r in _rows(dash_duo)] == [
        ["jaro_winkler", "text"],
        ["levenshtein", "number"],
        ["levenshtein", "digits"],
    ]
    until(lambda: _marked(dash_duo) == [True, True, True], timeout=10)
    # Cleaned as text, the year is no longer the proposal's; as a number again, it is.
    dash_duo.select_dcc_dropdown(_clean_as(dash_duo, 1), value="text")
    until(lambda: _marked(dash_duo) == [True, False, True], timeout=10)
    dash_duo.select_dcc_dropdown(_clean_as(dash_duo, 1), value="number")
    until(lambda: _marked(dash_duo) == [True, True, True], timeout=10)

    button(dash_duo, "Run").click()
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=30)
    services = demo_app.matchdesk
    new = next(
        o["value"] for o in services.project_options() if o["label"] == "people.csv ↔ customers.csv"
    )
    project = services.project(new)
    year = project.spec.fields[1]
    assert (year.name, year.normalization.numbers) == ("year", True)
    pairs = project.candidates.set_index(["left_id", "right_id"])
    for pair in (("a1", "b1"), ("a2", "b2"), ("a3", "b3")):
        assert pairs.loc[pair, "score_year"] == 1.0
        assert pairs.loc[pair, "score_phone"] == 1.0
    assert dash_duo.get_logs() == []
