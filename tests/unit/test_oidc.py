"""OpenID Connect sign-in against a real (small, fake) provider served in a thread."""

from __future__ import annotations

import json
import socket
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc.jwk import RSAKey

from server.oidc import oidc_settings
from tests.fake_oidc import FakeProvider


@pytest.fixture(scope="module")
def provider():
    fake = FakeProvider()
    yield fake
    fake.close()


@pytest.fixture
def oidc_config(app_config, provider):
    provider.reset()
    app_config.oidc_issuer = provider.issuer
    app_config.oidc_client_id = provider.client_id
    app_config.oidc_client_secret = provider.client_secret
    app_config.oidc_name = "Example ID"
    return app_config


@pytest.fixture
def oidc_app(oidc_config):
    from app import create_app

    app = create_app(oidc_config)
    app.matchdesk.users.add("ann", "lead", "ann-pw")
    return app


def _through_provider(client, *, next_url="/?tab=review"):
    """Press "Sign in with ...", let the provider send the browser back: the callback's path."""
    start = client.get("/login/oidc?" + urlencode({"next": next_url}))
    assert start.status_code == 302, start.get_data(as_text=True)
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    parts = urlsplit(back.headers["Location"])
    assert parts.path == "/login/oidc/callback"
    return f"{parts.path}?{parts.query}"


def _login_message(client, response) -> str:
    """The /login page a refused sign-in lands on."""
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _signed_in_as(client) -> str | None:
    layout = client.get("/_dash-layout")
    if layout.status_code != 200:
        return None
    text = json.dumps(layout.get_json())
    for role in ("reviewer", "lead", "admin"):
        marker = f" ({role})"
        if marker in text:
            return text.split(marker)[0].rsplit('"', 1)[-1] + marker
    return "?"


def test_the_login_page_offers_the_provider_beside_the_password_form(oidc_app):
    page = oidc_app.server.test_client().get("/login?next=/x").get_data(as_text=True)
    assert ">Name<" in page and ">Password<" in page
    assert "Sign in with Example ID" in page
    assert 'href="/login/oidc?next=%2Fx"' in page


def test_a_known_user_signs_in_with_the_role_matchdesk_gives_them(oidc_app, provider):
    client = oidc_app.server.test_client()
    done = client.get(_through_provider(client))
    assert done.status_code == 303
    assert done.headers["Location"] == "/?tab=review"
    assert _signed_in_as(client) == "ann (lead)"
    asked = provider.authorizations[-1]
    assert asked["code_challenge_method"] == "S256" and asked["nonce"] and asked["state"]
    assert "openid" in asked["scope"].split()


def test_email_is_the_fallback_when_preferred_username_is_nobody(oidc_app, provider):
    oidc_app.matchdesk.users.add("bo@example.org", "reviewer", "bo-pw")
    provider.claims = {"sub": "u-bo", "preferred_username": "bob", "email": "bo@example.org"}
    client = oidc_app.server.test_client()
    assert client.get(_through_provider(client)).status_code == 303
    assert _signed_in_as(client) == "bo@example.org (reviewer)"


def test_an_unknown_person_is_refused_with_how_to_add_them(oidc_app, provider):
    provider.claims = {"sub": "u-zed", "preferred_username": "zed", "email": "zed@example.org"}
    client = oidc_app.server.test_client()
    page = _login_message(client, client.get(_through_provider(client)))
    assert "Signed in with Example ID, but zed has no matchdesk account." in page
    assert "python app.py user add zed --role reviewer" in page
    assert _signed_in_as(client) is None
    assert oidc_app.matchdesk.users.get("zed") is None


def test_an_unverified_email_does_not_name_a_user(oidc_app, provider):
    provider.claims = {"sub": "x", "email": "ann", "email_verified": False}
    client = oidc_app.server.test_client()
    page = _login_message(client, client.get(_through_provider(client)))
    assert "cannot tell who you are" in page
    assert _signed_in_as(client) is None


def test_with_a_new_role_an_unknown_person_is_added(oidc_config, provider):
    from app import create_app

    oidc_config.oidc_new_role = "reviewer"
    app = create_app(oidc_config)
    app.matchdesk.users.add("ann", "admin", "ann-pw")
    provider.claims = {"sub": "u-zed", "preferred_username": "zed"}
    client = app.server.test_client()
    assert client.get(_through_provider(client)).status_code == 303
    assert _signed_in_as(client) == "zed (reviewer)"
    assert app.matchdesk.users.get("zed").role == "reviewer"
    assert app.matchdesk.users.check("zed", "") is None  # no password sign-in


def test_a_forged_state_is_refused(oidc_app):
    client = oidc_app.server.test_client()
    path, query = _through_provider(client).split("?")
    params = parse_qs(query)
    forged = urlencode({"code": params["code"][0], "state": "forged-state"})
    page = _login_message(client, client.get(f"{path}?{forged}"))
    assert "Sign-in with Example ID failed" in page
    assert "did not match" in page
    assert _signed_in_as(client) is None


def test_a_code_sent_into_another_browser_is_refused(oidc_app):
    """Login CSRF: an attacker's own code and state, pushed into a victim's browser."""
    attacker = oidc_app.server.test_client()
    callback = _through_provider(attacker)
    victim = oidc_app.server.test_client()
    page = _login_message(victim, victim.get(callback))
    assert "did not match" in page
    assert _signed_in_as(victim) is None


def test_an_id_token_signed_by_another_key_is_refused(oidc_app, provider):
    provider.signing_key = RSAKey.generate_key(2048, parameters={"kid": "main"})
    client = oidc_app.server.test_client()
    page = _login_message(client, client.get(_through_provider(client)))
    assert "did not check out: bad_signature" in page
    assert _signed_in_as(client) is None


def test_an_id_token_for_another_client_is_refused(oidc_app, provider):
    provider.audience = "someone-else"
    client = oidc_app.server.test_client()
    page = _login_message(client, client.get(_through_provider(client)))
    assert "Sign-in with Example ID failed (its ID token did not check out" in page
    assert _signed_in_as(client) is None


def test_a_provider_that_does_not_answer_is_said_so(oidc_config):
    from app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))  # a port where nothing listens
        oidc_config.oidc_issuer = f"http://127.0.0.1:{probe.getsockname()[1]}"
        app = create_app(oidc_config)
        app.matchdesk.users.add("ann", "lead", "ann-pw")
        client = app.server.test_client()
        page = _login_message(client, client.get("/login/oidc"))
    assert "Cannot reach Example ID to sign in (no answer from the provider)" in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"oidc_client_id": None}, "--oidc-issuer needs --oidc-client-id"),
        ({"oidc_issuer": "http://idp.example.org"}, "must be an https:// URL"),
        ({"oidc_new_role": "boss"}, "--oidc-new-role 'boss' is not a role"),
    ],
)
def test_a_bad_configuration_is_refused_naming_the_option(oidc_config, changes, message):
    for name, value in changes.items():
        setattr(oidc_config, name, value)
    with pytest.raises(ValueError, match=message):
        oidc_settings(oidc_config)


def test_the_command_line_and_the_environment_configure_it(monkeypatch):
    from app import config_from_args

    monkeypatch.setenv("MATCHDESK_OIDC_CLIENT_SECRET", "from-env")
    config, _ = config_from_args(
        [
            "--oidc-issuer",
            "https://idp.example.org/realms/x",
            "--oidc-client-id",
            "md",
            "--oidc-new-role",
            "reviewer",
        ]
    )
    settings = oidc_settings(config)
    assert settings.client_secret == "from-env"
    assert settings.name == "idp.example.org"
    assert settings.new_role == "reviewer"
    assert settings.discovery_url == (
        "https://idp.example.org/realms/x/.well-known/openid-configuration"
    )


@pytest.mark.parametrize(
    "forged", [{"nonce": "replayed-nonce"}, {"iss": "https://evil.example"}, {"exp": 1}]
)
def test_an_id_token_with_a_wrong_nonce_issuer_or_expiry_is_refused(oidc_app, provider, forged):
    provider.claims = {**provider.claims, **forged}
    client = oidc_app.server.test_client()
    page = _login_message(client, client.get(_through_provider(client)))
    assert "Sign-in with Example ID failed (its ID token did not check out" in page
    assert _signed_in_as(client) is None
