"""Exports from the Matched tab: the page fetches the file from the export route and
says in the page what happened."""

from __future__ import annotations

from selenium.webdriver.common.action_chains import ActionChains

from tests.helpers import LABEL, button, open_tab, project_id, start


def _accept_first_record(dash_duo) -> None:
    dash_duo.find_element(".navbar-brand").click()
    ActionChains(dash_duo.driver).send_keys("a").perform()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5")


def test_export_csv_fetches_the_file_from_the_route(dash_duo, demo_app):
    start(dash_duo, demo_app)
    _accept_first_record(dash_duo)
    open_tab(dash_duo, "Matched")
    dash_duo.wait_for_contains_text("#matched-summary", "1 accepted pair", timeout=10)
    button(dash_duo, "Export CSV").click()
    name = f"matches-{project_id(demo_app)}.csv"
    dash_duo.wait_for_text_to_equal("#export-message", f"Exported {name}.", timeout=15)
    # What the page received is the route's file: fetch it again the same way.
    text = dash_duo.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"fetch('/export/{project_id(demo_app)}/matches.csv').then(r => r.text()).then(done);"
    )
    assert text.lstrip("\ufeff").startswith('"left_id","right_id","score"')
    assert '"1","101"' in text.splitlines()[1]
    assert dash_duo.get_logs() == []


def test_a_failed_export_says_why_in_the_page(dash_duo, demo_app, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr("server.export.write_export", full_disk)
    start(dash_duo, demo_app)
    open_tab(dash_duo, "Matched")
    # the tab is drawn and its callbacks have answered before the button is used
    dash_duo.wait_for_contains_text("#matched-summary", "0 accepted pairs", timeout=15)
    button(dash_duo, "Export Excel").click()
    dash_duo.wait_for_contains_text(
        "#export-message",
        "The export failed: could not write the file (OSError: No space left",
        timeout=20,
    )
    assert "text-danger" in dash_duo.find_element("#export-message").get_attribute("class")
    assert dash_duo.get_logs() == []


def test_the_full_decision_record_is_exported_from_its_menu(dash_duo, demo_app):
    start(dash_duo, demo_app)
    _accept_first_record(dash_duo)
    open_tab(dash_duo, "Matched")
    dash_duo.wait_for_contains_text("#matched-summary", "1 accepted pair", timeout=10)
    button(dash_duo, "Full record").click()
    dash_duo.wait_for_element("#export-record-csv-item", timeout=5).click()
    name = f"record-{project_id(demo_app)}.csv"
    dash_duo.wait_for_text_to_equal("#export-message", f"Exported {name}.", timeout=15)
    text = dash_duo.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"fetch('/export/{project_id(demo_app)}/record.csv').then(r => r.text()).then(done);"
    )
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith('"left_id","status","decided_by"')
    assert len(lines) == 6 and '"accepted","manual"' in lines[1]
    button(dash_duo, "Full record").click()
    dash_duo.wait_for_element("#export-log-jsonl-item", timeout=5).click()
    log = f"log-{project_id(demo_app)}.jsonl"
    dash_duo.wait_for_text_to_equal("#export-message", f"Exported {log}.", timeout=15)
    assert dash_duo.get_logs() == []
