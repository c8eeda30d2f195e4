"""Sign-in: every route needs a session once a user exists; open mode serves loopback only."""

from __future__ import annotations

import json

import pytest
from werkzeug.security import check_password_hash

from matching.decisions.users import UserStore, hash_password
from tests.dash_http import ORIGIN, callback_payload

PASSWORDS = {"ann": "ann-pw", "bo": "bo-pw", "cy": "cy-pw"}
ROLES = {"ann": "admin", "bo": "lead", "cy": "reviewer"}


@pytest.fixture
def signed_app(demo_app):
    """The demo app with an admin (ann), a lead (bo) and a reviewer (cy)."""
    for name, role in ROLES.items():
        demo_app.matchdesk.users.add(name, role, PASSWORDS[name])
    return demo_app


def sign_in(app, name: str, password: str | None = None, **extra):
    client = app.server.test_client()
    response = client.post(
        "/login",
        data={
            "username": name,
            "password": PASSWORDS.get(name, "") if password is None else password,
            **extra,
        },
        headers={"Origin": ORIGIN},
    )
    return client, response


DASH_ROUTES = [
    ("get", "/_dash-layout"),
    ("get", "/_dash-dependencies"),
    ("post", "/_dash-update-component"),
    ("get", "/_dash-component-suites/dash/deps/react@18.3.1.min.js"),
    ("get", "/_reload-hash"),
]


@pytest.mark.parametrize(("method", "path"), DASH_ROUTES)
def test_dash_routes_answer_401_without_a_session(signed_app, method, path):
    client = signed_app.server.test_client()
    response = getattr(client, method)(path, headers={"Origin": ORIGIN})
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/", "/any/page", "/assets/style.css", "/_favicon.ico"])
def test_pages_redirect_to_sign_in_without_a_session(signed_app, path):
    response = signed_app.server.test_client().get(path, headers={"Accept": "text/html"})
    assert response.status_code in (302, 401)
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/login?next=")


def test_every_route_but_health_and_sign_in_is_closed(signed_app):
    client = signed_app.server.test_client()
    open_paths = {"/health", "/login"}
    for rule in signed_app.server.url_map.iter_rules():
        path = str(rule).replace("<path:filename>", "style.css").replace("<path:path>", "x")
        path = path.replace("<string:package_name>", "dash").replace(
            "<path:fingerprinted_path>", "dash_renderer.min.js"
        )
        method = "get" if "GET" in rule.methods else "post"
        status = getattr(client, method)(path, headers={"Origin": ORIGIN}).status_code
        if path in open_paths or path == "/logout":
            assert status == 200, path  # /logout: its own page, a link to sign in
        elif path.startswith("/login/oidc"):
            assert status == 404, path  # no identity provider set up
        else:
            assert status in (302, 401, 405), (path, status)
    assert client.get("/assets/vendor/bootstrap.min.css").status_code == 200


def test_health_stays_public_and_says_nothing_else(signed_app):
    response = signed_app.server.test_client().get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"database": "ok"}


def test_sign_in_page_has_name_password_and_sign_in(signed_app):
    page = signed_app.server.test_client().get("/login").get_data(as_text=True)
    for text in (">Name<", ">Password<", ">Sign in<", 'name="username"', 'name="password"'):
        assert text in page


def test_wrong_password_is_refused_with_a_message(signed_app):
    client, response = sign_in(signed_app, "ann", "nope")
    assert "Wrong name or password." in response.get_data(as_text=True)
    _, response = sign_in(signed_app, "nobody", "nope")
    assert "Wrong name or password." in response.get_data(as_text=True)
    assert client.get("/_dash-layout").status_code == 401


def test_sign_in_opens_every_route_and_sign_out_closes_them(signed_app):
    client, response = sign_in(signed_app, "ann", next="/?x=1")
    assert response.status_code == 303
    assert response.headers["Location"] == "/?x=1"
    assert client.get("/").status_code == 200
    assert client.get("/_dash-layout").status_code == 200
    assert client.post("/logout", headers={"Origin": ORIGIN}).status_code == 303
    assert client.get("/_dash-layout").status_code == 401


def test_sign_in_never_redirects_to_another_site(signed_app):
    for bad in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        _, response = sign_in(signed_app, "ann", next=bad)
        assert response.headers["Location"] == "/"


def test_failed_sign_ins_are_rate_limited(signed_app):
    for _ in range(10):
        _, response = sign_in(signed_app, "ann", "guess")
        assert "Wrong name or password." in response.get_data(as_text=True)
    _, response = sign_in(signed_app, "ann")  # even the right password waits now
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.get_data(as_text=True)


def test_a_changed_password_ends_the_session(signed_app):
    client, _ = sign_in(signed_app, "cy")
    assert client.get("/_dash-layout").status_code == 200
    signed_app.matchdesk.users.set_password("cy", "new")
    assert client.get("/_dash-layout").status_code == 401


def test_a_removed_user_is_signed_out(signed_app):
    client, _ = sign_in(signed_app, "cy")
    signed_app.matchdesk.users.remove("cy")
    assert client.get("/_dash-layout").status_code == 401


def _layout_text(client) -> str:
    return json.dumps(client.get("/_dash-layout").get_json())


def test_with_sign_in_the_name_box_goes_and_sign_out_shows(signed_app):
    client, _ = sign_in(signed_app, "cy")
    layout = client.get("/_dash-layout").get_json()
    text = json.dumps(layout)
    assert "Sign out" in text and "cy (reviewer)" in text
    assert "Your name" not in text


def _style_of(layout, component_id):
    found = []

    def walk(node):
        if isinstance(node, dict):
            props = node.get("props", {})
            if props.get("id") == component_id:
                found.append(props.get("style") or {})
            for value in props.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(layout)
    assert found, component_id
    return found[0]


@pytest.mark.parametrize(
    ("name", "hidden", "shown"),
    [
        (
            "cy",
            [
                "data-button",
                "tuning-save-button",
                "auto-accept-button",
                "pattern-accept-button",
                "audit-draw-button",
                "conflict-keep-button",
            ],
            [],
        ),
        (
            "bo",
            ["upload-left", "upload-right", "delete-project-button"],
            ["data-button", "rerun-project-button", "tuning-save-button", "auto-accept-button"],
        ),
        ("ann", [], ["data-button", "upload-left", "delete-project-button", "auto-reject-button"]),
    ],
)
def test_the_page_hides_what_a_role_cannot_do(signed_app, name, hidden, shown):
    client, _ = sign_in(signed_app, name)
    layout = client.get("/_dash-layout").get_json()
    for component in hidden:
        assert _style_of(layout, component).get("display") == "none"
    for component in shown:
        assert _style_of(layout, component).get("display") != "none"


def test_open_mode_serves_loopback_only(demo_app):
    client = demo_app.server.test_client()
    assert client.get("/").status_code == 200
    assert "Your name" in _layout_text(client)
    remote = client.get("/", environ_overrides={"REMOTE_ADDR": "10.1.2.3"})
    assert remote.status_code == 403
    assert "python app.py user add NAME --role admin" in remote.get_data(as_text=True)
    rebound = client.get("/", headers={"Host": "evil.example:8050"})
    assert rebound.status_code == 403
    assert client.get("/health", environ_overrides={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200


def test_actor_is_the_session_user_whatever_name_is_typed(signed_app):
    services = signed_app.matchdesk
    client, _ = sign_in(signed_app, "bo")
    with client:
        client.get("/_dash-layout")
        assert services.actor("mallory") == ("bo", "lead")


def test_actor_in_open_mode_is_the_typed_name_as_admin(services):
    assert services.actor("  ann ") == ("ann", "admin")
    assert services.actor("") == ("anonymous", "admin")
    assert services.actor(None) == ("anonymous", "admin")


def test_actor_without_a_session_is_refused_once_users_exist(services):
    from matching.decisions.roles import PermissionDenied

    services.users.add("ann", "admin", "pw")
    with pytest.raises(PermissionDenied):
        services.actor("ann")


def test_passwords_are_scrypt_hashes_werkzeug_accepts(tmp_path):
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt:32768:8:1$")
    assert check_password_hash(stored, "correct horse")
    store = UserStore(f"sqlite:///{tmp_path / 'u.db'}")
    store.add("ann", "admin", "correct horse")
    assert "correct horse" not in (tmp_path / "u.db").read_bytes().decode("latin-1")


def test_session_cookie_is_httponly_lax_and_secure_over_https(signed_app):
    _, response = sign_in(signed_app, "ann")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    client = signed_app.server.test_client()
    secure = client.post(
        "/login",
        data={"username": "ann", "password": "ann-pw"},
        headers={"Origin": "https://localhost"},
        base_url="https://localhost",
    )
    assert "Secure" in secure.headers["Set-Cookie"]


def test_a_raw_callback_without_a_session_changes_nothing(signed_app, project):
    deps = sign_in(signed_app, "ann")[0].get("/_dash-dependencies").get_json()
    values = {
        "project-select.value": project.project_id,
        "tabs.active_tab": "review",
        "accept-button.n_clicks": 1,
        "view-store.data": {"project_id": project.project_id, "left_id": "1", "position": 0},
        "candidate-grid.selectedRows": [{"_right_id": "101"}],
    }
    response = signed_app.server.test_client().post(
        "/_dash-update-component",
        json=callback_payload(deps, "view-store.data", values, ["accept-button.n_clicks"]),
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 401
    assert signed_app.matchdesk.log.events(project.project_id) == []


def test_behind_a_proxy_the_forwarded_scheme_and_client_count(app_config):
    from app import create_app

    app_config.behind_proxy = True
    app = create_app(app_config)
    client = app.server.test_client()
    forwarded = {"X-Forwarded-For": "10.1.2.3", "X-Forwarded-Proto": "https"}
    assert client.get("/", headers=forwarded).status_code == 403  # open mode: loopback only
    app.matchdesk.users.add("ann", "admin", PASSWORDS["ann"])
    response = client.post(
        "/login",
        data={"username": "ann", "password": PASSWORDS["ann"]},
        headers={**forwarded, "Origin": "https://localhost"},
    )
    assert response.status_code == 303
    assert "Secure" in response.headers["Set-Cookie"]


def _page_callback(client):
    """A callback request as the open page sends it (assets/session.js marks it)."""
    return client.post(
        "/_dash-update-component",
        json={"output": "x.children", "outputs": {}, "inputs": [], "changedPropIds": []},
        headers={"Origin": ORIGIN, "X-Matchdesk-Page": "1"},
    )


def test_a_page_whose_session_ended_is_told_without_a_401(signed_app):
    client, _ = sign_in(signed_app, "cy")
    signed_app.matchdesk.users.set_password("cy", "new")
    response = _page_callback(client)
    assert response.status_code == 204  # Dash's "no update": nothing runs
    assert response.headers["X-Matchdesk-Session"] == "ended"
    assert _page_callback(signed_app.server.test_client()).headers["X-Matchdesk-Session"] == (
        "ended"
    )


def test_a_session_unchecked_for_a_database_outage_is_told_apart(signed_app, monkeypatch):
    from sqlalchemy.exc import OperationalError

    client, _ = sign_in(signed_app, "cy")

    def down(token, **limits):
        raise OperationalError("select", {}, Exception("database is locked"))

    monkeypatch.setattr(signed_app.matchdesk.users, "session_user", down)
    response = _page_callback(client)
    assert response.status_code == 204
    assert response.headers["X-Matchdesk-Session"] == "unavailable"
