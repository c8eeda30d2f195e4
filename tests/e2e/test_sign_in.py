"""Signing in and out in the browser, under the Content-Security-Policy, console clean."""

from __future__ import annotations

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from tests.helpers import LABEL, button, project_id


def _field(dash_duo, label: str):
    """The input labelled ``label`` on a plain HTML form."""
    driver = dash_duo.driver
    for element in driver.find_elements(By.TAG_NAME, "label"):
        if element.text.strip() == label:
            return driver.find_element(By.ID, element.get_attribute("for"))
    raise AssertionError(f"no field labelled {label!r}")


def _sign_in(dash_duo, name: str, password: str) -> None:
    _field(dash_duo, "Name").send_keys(name)
    _field(dash_duo, "Password").send_keys(password)
    button(dash_duo, "Sign in").click()


def test_sign_in_review_and_sign_out_with_a_clean_console(dash_duo, demo_app):
    demo_app.matchdesk.users.add("ann", "lead", "ann-pw")
    dash_duo.start_server(demo_app, navigate=False)
    dash_duo.driver.get(dash_duo.server.url)
    dash_duo.wait_for_text_to_equal("h1", "matchdesk", timeout=15)
    assert "/login" in dash_duo.driver.current_url

    _sign_in(dash_duo, "ann", "wrong")
    dash_duo.wait_for_contains_text(".alert-danger", "Wrong name or password.", timeout=10)
    _field(dash_duo, "Password").clear()
    _sign_in(dash_duo, "", "ann-pw")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=20)

    # The name box is gone: the page names the signed-in user instead.
    assert not [
        e for e in dash_duo.find_elements("input") if e.get_attribute("placeholder") == "Your name"
    ]
    dash_duo.wait_for_contains_text(".navbar", "ann (lead)")
    button(dash_duo, "Accept").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5", timeout=10)
    decision = demo_app.matchdesk.log.state(project_id(demo_app)).decisions["1"]
    assert decision.reviewer == "ann"

    button(dash_duo, "Sign out").click()
    dash_duo.wait_for_text_to_equal("h1", "matchdesk", timeout=10)
    assert "/login" in dash_duo.driver.current_url
    assert dash_duo.get_logs() == []


def test_a_session_ended_mid_page_says_so_with_a_link_to_sign_in(dash_duo, demo_app):
    users = demo_app.matchdesk.users
    users.add("ann", "lead", "ann-pw")
    dash_duo.start_server(demo_app, navigate=False)
    dash_duo.driver.get(dash_duo.server.url)
    dash_duo.wait_for_text_to_equal("h1", "matchdesk", timeout=15)
    _sign_in(dash_duo, "ann", "ann-pw")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=20)

    users.set_password("ann", "new-pw")  # ends ann's sessions on the server
    ActionChains(dash_duo.driver).send_keys("a").perform()  # Accept, by its key
    dash_duo.wait_for_contains_text(
        ".session-banner", "Your session has ended — sign in again.", timeout=10
    )
    assert demo_app.matchdesk.log.events(project_id(demo_app)) == []
    assert dash_duo.find_element(LABEL).text == "Record 1 of 5"

    dash_duo.driver.find_element(By.LINK_TEXT, "sign in again").click()
    dash_duo.wait_for_text_to_equal("h1", "matchdesk", timeout=10)
    _sign_in(dash_duo, "ann", "new-pw")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=20)
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, ".session-banner")
    assert dash_duo.get_logs() == []


def test_sign_in_with_an_openid_provider_from_the_login_page(dash_duo, app_config):
    from app import create_app
    from tests.fake_oidc import FakeProvider

    provider = FakeProvider()
    try:
        app_config.oidc_issuer = provider.issuer
        app_config.oidc_client_id = provider.client_id
        app_config.oidc_client_secret = provider.client_secret
        app_config.oidc_name = "Example ID"
        app = create_app(app_config)
        app.matchdesk.users.add("ann", "lead", "ann-pw")
        dash_duo.start_server(app, navigate=False)
        dash_duo.driver.get(dash_duo.server.url)
        dash_duo.wait_for_text_to_equal("h1", "matchdesk", timeout=15)
        dash_duo.driver.find_element(By.LINK_TEXT, "Sign in with Example ID").click()
        dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=20)
        dash_duo.wait_for_contains_text(".navbar", "ann (lead)")
        assert provider.authorizations[-1]["code_challenge_method"] == "S256"
        assert dash_duo.get_logs() == []
    finally:
        provider.close()
