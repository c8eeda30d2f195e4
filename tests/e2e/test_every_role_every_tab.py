"""Each role signs in and opens every tab it is shown, the Tuning tab's reasons and
learning panels pressed by a reviewer too: the page says what each may do, the
browser's console stays clean."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from components.ids import ids
from tests.e2e.test_sign_in import _sign_in

USERS = {"al": "admin", "le": "lead", "cy": "reviewer", "mo": "manager"}


def _tabs(dash_duo) -> list[str]:
    return [t.text for t in dash_duo.find_elements(".nav-tabs .nav-link") if t.text]


def _open(dash_duo, name: str) -> None:
    for tab in dash_duo.find_elements(".nav-tabs .nav-link"):
        if tab.text == name:
            dash_duo.driver.execute_script("window.scrollTo(0, 0); arguments[0].click();", tab)
            return
    raise AssertionError(f"no tab {name!r}")


def _press(dash_duo, ident: str) -> None:
    element = dash_duo.find_element(f"#{ident}")
    dash_duo.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element
    )


@pytest.mark.parametrize(("name", "role"), list(USERS.items()))
def test_each_role_opens_every_tab_with_a_clean_console(dash_duo, demo_app, name, role):
    demo_app.matchdesk.users.add(name, role, f"{name}-password")
    dash_duo.start_server(demo_app, navigate=False)
    dash_duo.driver.get(dash_duo.server.url)
    dash_duo.wait_for_text_to_equal("h1", "matchdesk", timeout=15)
    _sign_in(dash_duo, name, f"{name}-password")
    dash_duo.wait_for_contains_text(".navbar", f"{name} ({role})", timeout=20)
    tabs = _tabs(dash_duo)
    expected = ["Matched", "Statistics"] if role == "manager" else ["Review", "Matched"]
    assert set(expected) <= set(tabs), tabs
    for tab in tabs:
        _open(dash_duo, tab)
        dash_duo.wait_for_element(".nav-tabs .nav-link.active")
        assert dash_duo.find_element(".nav-tabs .nav-link.active").text == tab
        if tab == "Tuning":
            _press(dash_duo, ids.REASONS_SAVE)
            _press(dash_duo, ids.LEARN_SAVE)
            if role == "reviewer":
                dash_duo.wait_for_contains_text(
                    f"#{ids.REASONS_SAVED}",
                    "only a lead or above may change the project's settings",
                )
                dash_duo.wait_for_contains_text(
                    f"#{ids.LEARN_MESSAGE}",
                    "only a lead or above may change the project's settings",
                )
            else:
                dash_duo.wait_for_contains_text(f"#{ids.REASONS_SAVED}", "Saved:")
                dash_duo.wait_for_contains_text(f"#{ids.LEARN_MESSAGE}", "Saved:")
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, "#page-message.show")
    assert dash_duo.get_logs() == []
