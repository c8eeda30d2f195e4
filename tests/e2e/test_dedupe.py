"""One table's duplicates in headless Chromium: the Data panel's one-table mode, review,
and the Clusters tab showing each cluster with its records."""

from __future__ import annotations

import time

from selenium.webdriver.common.by import By

from tests.helpers import LABEL, button, click, open_tab, start, tab

PEOPLE = (
    "pid,name,town,seen\n"
    "p1,Ann Lee,Leeds,2020-01-01\n"
    "p2,Anne Lee,Leeds,2023-05-01\n"
    "p3,Bob Ray,York,2019-01-01\n"
    "p4,Bob Rey,York,2022-02-02\n"
    "p5,Cy Li,Hull,2021-03-03\n"
    "p6,Dee Oh,Bath,2018-04-04\n"
    "p7,Ann Leigh,Leeds,2021-06-06\n"
)


def tick(dash_duo, record: str) -> None:
    """Tick a candidate's box in the review grid, as a person clicks it."""
    row = f"#candidate-grid .ag-center-cols-container [row-id='{record}']"
    dash_duo.wait_for_element(row)
    click(dash_duo, dash_duo.find_element(f"{row} input[type=checkbox]"))
    dash_duo.wait_for_element(f"{row}.ag-row-selected")


def test_one_table_run_reviewed_then_its_clusters_with_their_records(dash_duo, demo_app, tmp_path):
    table = tmp_path / "people.csv"
    table.write_text(PEOPLE, encoding="utf-8")
    start(dash_duo, demo_app)
    button(dash_duo, "Data").click()
    dash_duo.wait_for_element("#upload-left input")
    assert tab(dash_duo, "Clusters").is_displayed() is False  # two tables: no clusters
    dash_duo.driver.find_element(
        By.XPATH, "//label[contains(., 'One table (find duplicates)')]"
    ).click()
    dash_duo.wait_for_element("#data-panel.one-table", timeout=5)
    assert not dash_duo.find_element("#upload-right").is_displayed()  # one upload only
    assert not dash_duo.find_element("#right-id-select").is_displayed()
    dash_duo.find_element("#upload-left input").send_keys(str(table))
    dash_duo.wait_for_contains_text(
        "#pair-count", "21 pairs to score (each pair of the 7 records once)", timeout=15
    )
    dash_duo.wait_for_contains_text("#proposal-note", "Set-up proposed", timeout=10)
    dash_duo.select_dcc_dropdown("#left-id-select", value="pid")
    button(dash_duo, "Run").click()
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=30)
    dash_duo.find_element(".offcanvas .btn-close").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 3", timeout=15)
    # The left record and its candidates come from the one table, each pair once.
    for record, ticks in (("1", ["p2"]), ("2", ["p7"]), ("3", ["p4"])):
        dash_duo.wait_for_text_to_equal(LABEL, f"Record {record} of 3", timeout=10)
        for candidate in ticks:
            tick(dash_duo, candidate)
        button(dash_duo, "Accept").click()
    # p4, p5, p6 and p7 have no later candidate: their pairs were shown above.
    dash_duo.wait_for_text_to_equal("#queue-done-heading", "The queue is done.", timeout=10)
    open_tab(dash_duo, "Clusters")
    dash_duo.wait_for_contains_text(
        "#cluster-summary", "2 clusters of two or more records, holding 5 of 7", timeout=10
    )
    grid = "#cluster-grid .ag-center-cols-container"
    dash_duo.wait_for_contains_text(grid, "Ann Leigh", timeout=10)
    rows = [r.text.split("\n") for r in dash_duo.find_elements(f"{grid} .ag-row")]
    by_record = {cells[0]: cells for cells in rows}
    assert sorted(by_record) == ["p1", "p2", "p3", "p4", "p7"]
    assert by_record["p2"][1:3] == ["Anne Lee", "Leeds"]
    clusters = {
        r.get_attribute("row-id"): r.text.split("\n")[:2]
        for r in dash_duo.find_elements("#cluster-grid .ag-pinned-left-cols-container .ag-row")
    }
    assert clusters == {
        "p1": ["C0", "3"],
        "p2": ["C0", "3"],
        "p7": ["C0", "3"],
        "p3": ["C1", "2"],
        "p4": ["C1", "2"],
    }
    # p1 was shown p7 and not matched with it; p2 = p7 joins them: a lead sees why.
    dash_duo.wait_for_contains_text("#cluster-conflict-grid", "p1 = p2 = p7", timeout=10)
    time.sleep(0.3)
    assert dash_duo.get_logs() == []
