"""Named projects in the browser: a lead re-runs the open project from its kept tables as
its next version, and a user signing in again in another browser finds their project."""

from __future__ import annotations

import pandas as pd
from dash.testing.wait import until
from selenium.webdriver.common.by import By

from matching.engine.spec import Field, Spec
from tests.e2e.test_project_menu import _menu_labels
from tests.e2e.test_sign_in import _sign_in
from tests.helpers import LABEL, button, project_id

TUTORIAL = "Tutorial: car owners ↔ cars"


def _open_signed_in(dash_duo, app, name: str, password: str) -> None:
    dash_duo.driver.get(dash_duo.server.url)
    dash_duo.wait_for_text_to_equal("h1", "matchdesk", timeout=15)
    _sign_in(dash_duo, name, password)


def test_a_lead_re_runs_the_open_project_with_a_changed_field_as_its_next_version(
    dash_duo, demo_app
):
    services = demo_app.matchdesk
    services.users.add("bo", "lead", "bo-pw")
    first = project_id(demo_app)
    dash_duo.start_server(demo_app, navigate=False)
    _open_signed_in(dash_duo, demo_app, "bo", "bo-pw")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=20)
    button(dash_duo, "Accept").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5", timeout=10)

    button(dash_duo, "Data").click()
    until(lambda: dash_duo.find_element("#rerun-project-button").is_displayed(), timeout=5)
    button(dash_duo, "Re-run this project").click()
    dash_duo.wait_for_contains_text("#upload-left-info", "kept with the project", timeout=10)
    until(
        lambda: dash_duo.find_element("#project-name-input").get_attribute("value") == TUTORIAL,
        timeout=10,
    )
    dash_duo.wait_for_contains_text("#project-name-note", "version 2 of this project", timeout=10)
    scorer = dash_duo.driver.find_element(
        By.CSS_SELECTOR, """[id='{"index":0,"type":"field-scorer"}']"""
    )
    dash_duo.select_dcc_dropdown(scorer, value="token_sort")
    button(dash_duo, "Run").click()
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=30)
    dash_duo.wait_for_contains_text("#data-message", f"Version 2 of {TUTORIAL}.", timeout=5)
    dash_duo.wait_for_contains_text("#data-message", "1 decisions carried over", timeout=5)

    projects = services.log.projects()
    assert len(projects) == 2
    new = projects[-1]
    settings = new["settings"]
    assert (new["name"], settings.version, settings.version_of) == (TUTORIAL, 2, first)
    assert settings.spec.fields[0].scorer == "token_sort"
    assert settings.sources.get("uploads", []) == []  # nothing was uploaded again
    decisions = services.log.state(new["project_id"]).decisions
    assert [(left, d.reviewer) for left, d in decisions.items()] == [("1", "bo")]

    dash_duo.find_element(".offcanvas .btn-close").click()
    until(lambda: not dash_duo.find_elements(".offcanvas.show"), timeout=5)
    labels = _menu_labels(dash_duo)
    assert labels[0] == TUTORIAL, labels
    assert labels[1].startswith(f"{TUTORIAL} · version 2 · "), labels
    assert labels[2].startswith(f"{TUTORIAL} · version 1 · "), labels
    assert dash_duo.get_logs() == []


def test_a_name_typed_and_run_at_once_names_the_new_project(dash_duo, demo_app):
    """The name box sends its value when it loses the focus (not at each key): a click on
    Run straight after typing still runs under the whole name. The same tables and
    set-up under another name open the project they made, under its own name."""
    services = demo_app.matchdesk
    services.users.add("bo", "lead", "bo-pw")
    dash_duo.start_server(demo_app, navigate=False)
    _open_signed_in(dash_duo, demo_app, "bo", "bo-pw")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=20)
    button(dash_duo, "Data").click()
    until(lambda: dash_duo.find_element("#rerun-project-button").is_displayed(), timeout=5)
    button(dash_duo, "Re-run this project").click()
    box = dash_duo.find_element("#project-name-input")
    until(lambda: box.get_attribute("value") == TUTORIAL, timeout=10)

    box.clear()
    box.send_keys("Owners of spring")
    button(dash_duo, "Run").click()
    dash_duo.wait_for_contains_text(
        "#data-message", f"Nothing changed: these tables and set-up are {TUTORIAL}", timeout=30
    )
    assert [p["name"] for p in services.log.projects()] == [TUTORIAL]

    scorer = dash_duo.driver.find_element(
        By.CSS_SELECTOR, """[id='{"index":0,"type":"field-scorer"}']"""
    )
    dash_duo.select_dcc_dropdown(scorer, value="token_sort")
    box.clear()
    box.send_keys("Owners of summer")
    button(dash_duo, "Run").click()
    until(lambda: len(services.log.projects()) == 2, timeout=30)
    assert services.log.projects()[-1]["name"] == "Owners of summer"
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=30)
    assert dash_duo.get_logs() == []


def _project_of(services, names: list[str], name: str) -> str:
    table = pd.DataFrame({"id": [f"r{i}" for i in range(len(names))], "name": names})
    spec = Spec((Field("name"),), left_id="id", right_id="id")
    return services.open_project(table, table, spec, name=name, keep=0.5, select=0.8).project_id


def test_a_user_signing_in_again_in_another_browser_opens_the_project_they_used_last(
    dash_duo, demo_app
):
    services = demo_app.matchdesk
    services.users.add("cy", "reviewer", "cy-pw")
    chosen = _project_of(services, ["Ann Lee", "Bob Ray", "Cy Kim"], "B")
    _project_of(services, ["Ann Lee", "Bob Ray", "Cy Kim", "Di Fox"], "C")  # the latest
    dash_duo.start_server(demo_app, navigate=False)
    _open_signed_in(dash_duo, demo_app, "cy", "cy-pw")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 4", timeout=20)  # C, the latest
    dash_duo.select_dcc_dropdown("#project-select", value="B")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 3", timeout=10)
    until(lambda: services.users.last_project("cy") == chosen, timeout=10)
    button(dash_duo, "Sign out").click()
    dash_duo.wait_for_text_to_equal("h1", "matchdesk", timeout=10)

    # Another browser: no cookie, nothing stored in the page.
    dash_duo.driver.delete_all_cookies()
    dash_duo.driver.execute_script("window.localStorage.clear(); window.sessionStorage.clear();")
    _open_signed_in(dash_duo, demo_app, "cy", "cy-pw")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 3", timeout=20)
    dash_duo.wait_for_contains_text("#project-select", "B", timeout=5)
    assert dash_duo.get_logs() == []
