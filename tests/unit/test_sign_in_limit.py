"""Failed sign-ins are counted in the database, so their limit holds across processes."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from matching.decisions.users import UserStore, parse_limit
from tests.dash_http import ORIGIN


def _post(app, name: str, password: str, address: str = "127.0.0.1"):
    return app.server.test_client().post(
        "/login",
        data={"username": name, "password": password},
        headers={"Origin": ORIGIN},
        environ_overrides={"REMOTE_ADDR": address},
    )


@pytest.fixture
def two_apps(app_config):
    """Two app instances (two workers) on one database, with a user ann."""
    from app import create_app

    first, second = create_app(app_config), create_app(app_config)
    first.matchdesk.users.add("ann", "admin", "ann-pw")
    return first, second


def test_the_address_limit_holds_across_two_app_instances(two_apps):
    first, second = two_apps
    for attempt in range(10):
        app = (first, second)[attempt % 2]
        assert "Wrong name or password." in _post(app, "ann", "guess").get_data(as_text=True)
    for app in (first, second):
        refused = _post(app, "ann", "ann-pw")  # even the right password waits now
        assert refused.status_code == 429
        text = refused.get_data(as_text=True)
        assert "Too many failed sign-ins from this address. Wait a minute" in text
    # Another address is not held up by this one.
    assert _post(second, "ann", "ann-pw", address="10.0.0.7").status_code == 303


def test_the_name_limit_holds_across_addresses_and_instances(two_apps):
    first, second = two_apps
    for attempt in range(20):
        app = (first, second)[attempt % 2]
        response = _post(app, "ann", "guess", address=f"10.0.{attempt}.1")
        assert response.status_code == 200
    # The addresses that failed wait, on either instance, right password or not ...
    refused = _post(first, "ann", "ann-pw", address="10.0.3.1")
    assert refused.status_code == 429
    assert "Too many failed sign-ins for this name" in refused.get_data(as_text=True)
    assert _post(second, "ann", "guess", address="10.0.4.1").status_code == 429
    # ... a new address gets one guess, which then counts against it ...
    assert _post(second, "ann", "guess", address="10.9.9.8").status_code == 200
    assert _post(first, "ann", "ann-pw", address="10.9.9.8").status_code == 429
    # ... and ann, from an address with no failures, signs in: nobody locked her out.
    assert _post(first, "ann", "ann-pw", address="10.9.9.9").status_code == 303


def test_a_right_password_after_a_few_failures_still_signs_in(two_apps):
    first, second = two_apps
    for _ in range(9):
        _post(first, "ann", "guess")
    assert _post(second, "ann", "ann-pw").status_code == 303


def _fail(store, name, address, at, **limits):
    attempt = store.begin_sign_in(name, address, now=at, **limits)
    assert attempt.refused is None
    store.end_sign_in(attempt, succeeded=False)


def test_failures_wait_out_their_window_and_are_pruned(tmp_path):
    store = UserStore(f"sqlite:///{tmp_path / 'u.db'}", cost=(2, 1, 1))
    limits = {"address_limit": (3, 60.0), "name_limit": (5, 600.0)}
    for second in range(3):
        _fail(store, "ann", "1.2.3.4", 1000.0 + second, **limits)
    assert store.begin_sign_in("ann", "1.2.3.4", now=1003.0, **limits).refused == "address"
    ok = store.begin_sign_in("bo", "1.2.3.5", now=1003.0, **limits)
    assert ok.refused is None
    store.end_sign_in(ok, succeeded=True)  # a success no longer counts
    # A minute after the first failure, the address may try again.
    assert store.begin_sign_in("ann", "1.2.3.4", now=1061.0, **limits).refused is None
    assert store.failed_sign_ins() == 4
    _fail(store, "cy", "1.2.3.6", 1700.0, **limits)
    assert store.failed_sign_ins() == 1  # the old ones are gone


def test_the_name_limit_holds_only_where_the_name_failed(tmp_path):
    store = UserStore(f"sqlite:///{tmp_path / 'u.db'}", cost=(2, 1, 1))
    limits = {"address_limit": (100, 60.0), "name_limit": (2, 600.0)}
    _fail(store, "ann", "a", 0.0, **limits)
    _fail(store, "ann", "b", 500.0, **limits)
    assert store.begin_sign_in("ann", "b", now=550.0, **limits).refused == "name"
    assert store.begin_sign_in("ann", "b", now=601.0, **limits).refused is None
    assert store.begin_sign_in("Ann", "b", now=550.0, **limits).refused is None
    assert store.begin_sign_in("ann", "c", now=550.0, **limits).refused is None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_parallel_attempts_are_counted_before_the_password_is_checked(tmp_path, backend):
    """40 attempts at once from one address: exactly the limit's 10 go on to a check."""
    from concurrent.futures import ThreadPoolExecutor

    url = f"sqlite:///{tmp_path / 'u.db'}"
    if backend == "postgresql":
        url = os.environ.get("MATCHDESK_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("MATCHDESK_TEST_POSTGRES_URL is not set (bash scripts/test sets it)")
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text('DROP TABLE IF EXISTS "sign_in_attempts"'))
        engine.dispose()
    stores = [UserStore(url, cost=(2, 1, 1)) for _ in range(4)]
    limits = {"address_limit": (10, 60.0), "name_limit": (20, 600.0)}

    def attempt(i):
        return stores[i % 4].begin_sign_in("ann", "10.0.0.1", **limits).refused

    with ThreadPoolExecutor(16) as pool:
        refused = list(pool.map(attempt, range(40)))
    assert refused.count(None) == 10 and refused.count("address") == 30


@pytest.mark.parametrize("text", ["ten per minute", "10 per fortnight", "0 per minute", ""])
def test_a_bad_limit_is_refused_with_its_text(text):
    with pytest.raises(ValueError, match="is not a limit like"):
        parse_limit(text)


def test_a_bad_limit_stops_the_app_at_start(app_config):
    from app import create_app

    app_config.login_limit = "lots"
    with pytest.raises(ValueError, match="'lots' is not a limit"):
        create_app(app_config)


@pytest.mark.skipif(
    not os.environ.get("MATCHDESK_TEST_POSTGRES_URL"),
    reason="MATCHDESK_TEST_POSTGRES_URL is not set (bash scripts/test sets it)",
)
def test_two_stores_on_postgresql_share_the_count():
    url = os.environ["MATCHDESK_TEST_POSTGRES_URL"]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text('DROP TABLE IF EXISTS "sign_in_attempts"'))
    engine.dispose()
    first, second = UserStore(url, cost=(2, 1, 1)), UserStore(url, cost=(2, 1, 1))
    limits = {"address_limit": (4, 60.0), "name_limit": (100, 600.0)}
    for attempt in range(4):
        _fail((first, second)[attempt % 2], "ann", "10.0.0.1", 100.0 + attempt, **limits)
    assert first.begin_sign_in("ann", "10.0.0.1", now=104.0, **limits).refused == "address"
    assert second.begin_sign_in("ann", "10.0.0.1", now=104.0, **limits).refused == "address"
    first.close()
    second.close()


def test_sign_in_with_the_database_down_says_so(two_apps, monkeypatch):
    from sqlalchemy.exc import OperationalError

    first, _ = two_apps

    def down(*args, **kwargs):
        raise OperationalError("select", {}, Exception("no connection"))

    monkeypatch.setattr(first.matchdesk.users, "begin_sign_in", down)
    response = _post(first, "ann", "ann-pw")
    assert response.status_code == 503
    assert "cannot reach its user database" in response.get_data(as_text=True)
