"""A re-run under a project's name is its next version, listed under the name in the menu."""

from __future__ import annotations

from dash.testing.wait import until
from selenium.webdriver.common.by import By

from tests.e2e.test_background_run import _tables, _upload_and_run
from tests.helpers import button, start


def _menu_labels(dash_duo) -> list[str]:
    dash_duo.find_element("#project-select").click()
    until(lambda: dash_duo.driver.find_elements(By.CSS_SELECTOR, "[role='option']"), timeout=5)
    return [o.text for o in dash_duo.driver.find_elements(By.CSS_SELECTOR, "[role='option']")]


def test_a_re_run_with_a_changed_set_up_is_told_apart_in_the_menu(dash_duo, demo_app, tmp_path):
    start(dash_duo, demo_app)
    _upload_and_run(dash_duo, *_tables(tmp_path, rows=200), rows=200)
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=30)
    keep = dash_duo.find_element("#keep-input")
    keep.clear()
    keep.send_keys("0.3")  # the same tables, another set-up
    button(dash_duo, "Run").click()
    dash_duo.wait_for_contains_text(
        "#data-message", "Version 2 of people.csv ↔ customers.csv.", timeout=30
    )
    dash_duo.find_element(".offcanvas .btn-close").click()
    until(lambda: not dash_duo.find_elements(".offcanvas.show"), timeout=5)
    labels = [t for t in _menu_labels(dash_duo) if "people.csv ↔ customers.csv" in t]
    # The name, then its versions, newest first, each with the time it was made.
    assert len(labels) == 3, labels
    assert labels[0] == "people.csv ↔ customers.csv"
    assert labels[1].startswith("people.csv ↔ customers.csv · version 2 · ")
    assert labels[2].startswith("people.csv ↔ customers.csv · version 1 · ")
    assert dash_duo.get_logs() == []
