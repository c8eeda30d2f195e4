"""Data panel limits and project deletion in the browser."""

from __future__ import annotations

from dash.testing.wait import until
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.helpers import LABEL, button, start


def test_a_file_over_the_upload_limit_is_refused_in_the_page(dash_duo, app_config, tmp_path):
    from app import create_app

    app_config.max_upload_mb = 0.05  # 52 KB per request
    app = create_app(app_config)
    big = tmp_path / "big.csv"
    big.write_text("id,name\n" + "".join(f"{i},name {i}\n" for i in range(20_000)))
    start(dash_duo, app)
    button(dash_duo, "Data").click()
    dash_duo.wait_for_element("#upload-left input")
    dash_duo.find_element("#upload-left input").send_keys(str(big))
    dash_duo.wait_for_contains_text("#upload-left-info", "is more than this server takes", 10)
    assert "big.csv" in dash_duo.find_element("#upload-left-info").text
    assert dash_duo.get_logs() == []


def test_delete_the_open_project_after_confirming(dash_duo, demo_app):
    start(dash_duo, demo_app)
    button(dash_duo, "Data").click()
    dash_duo.wait_for_element("#upload-left input")
    until(lambda: dash_duo.find_element("#delete-project-button").is_displayed(), timeout=10)
    dash_duo.driver.execute_script(
        "arguments[0].scrollIntoView();", dash_duo.find_element("#delete-project-button")
    )
    button(dash_duo, "Delete this project").click()
    alert = WebDriverWait(dash_duo.driver, 10).until(expected_conditions.alert_is_present())
    assert "Delete the project 'Tutorial: car owners" in alert.text
    alert.accept()
    dash_duo.wait_for_contains_text("#data-message", "Project deleted.", timeout=10)
    assert demo_app.matchdesk.project_options() == []
    dash_duo.find_element(".offcanvas .btn-close").click()
    dash_duo.wait_for_text_to_equal(LABEL, "", timeout=10)
    assert dash_duo.get_logs() == []
