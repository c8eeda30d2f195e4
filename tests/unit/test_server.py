"""A production server: ``gunicorn 'app:server'`` with two workers, and the start-up rules."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
import requests

from matching.decisions.log import DecisionLog
from matching.decisions.users import UserStore
from tests.conftest import ROOT
from tests.dash_http import callback_payload, response_values


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read()}")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or a worker still booting on a busy machine
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer in {seconds} s")


@pytest.fixture
def gunicorn_server(tmp_path):
    """``gunicorn -w 2 'app:server'`` (the app's own worker class) on a free port, a fresh
    database and one lead, ann."""
    db = f"sqlite:///{tmp_path / 'decisions.db'}"
    UserStore(db).add("ann", "lead", "ann's password")
    port = _free_port()
    env = {
        **os.environ,
        "MATCHDESK_ARGS": f"--db {db} --data-dir {tmp_path / 'data'}",
    }
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}"),
            *("-k", "server.gunicorn_worker.BufferingWorker", "--threads", "4", "app:server"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/health", proc)
        yield base, db
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_gunicorn_two_workers_serve_a_signed_in_decision(gunicorn_server):
    base, db = gunicorn_server
    web = requests.Session()
    web.headers["Origin"] = base
    assert web.get(f"{base}/", allow_redirects=False).status_code == 302
    signed = web.post(
        f"{base}/login", data={"username": "ann", "password": "ann's password", "next": "/"}
    )
    assert signed.status_code == 200 and "_dash-config" in signed.text
    deps = web.get(f"{base}/_dash-dependencies").json()
    project_id = DecisionLog(db).projects()[0]["project_id"]
    common = {"project-select.value": project_id, "tabs.active_tab": "review"}

    # Several requests, so both workers answer with the session made by one of them.
    for _ in range(4):
        first = web.post(
            f"{base}/_dash-update-component",
            json=callback_payload(deps, "view-store.data", common, ["project-select.value"]),
        )
        assert first.status_code == 200
    view = response_values(first.json())["view-store.data"]
    assert view["left_id"] == "1"

    values = {
        **common,
        "reviewer-name.value": "someone else",  # ignored: the session says who decides
        "accept-button.n_clicks": 1,
        "candidate-grid.selectedRows": [{"_right_id": "101"}],
        "candidate-grid.eventData": {"data": {"record": view["left_id"]}},  # on screen
        "view-store.data": view,
    }
    decided = web.post(
        f"{base}/_dash-update-component",
        json=callback_payload(deps, "view-store.data", values, ["accept-button.n_clicks"]),
    )
    assert decided.status_code == 200
    decision = DecisionLog(db).state(project_id).decisions["1"]
    assert decision.right_ids == ("101",)
    assert decision.reviewer == "ann"


def _run_app(tmp_path, *args, env=None):
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "MATCHDESK_PASSWORD"} | (env or {}),
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "python app.py user add NAME --role admin"),
        (["--debug", "--host", "0.0.0.0"], "--debug"),
        (["--behind-proxy"], "refusing to serve behind a proxy with no users"),
    ],
)
def test_unsafe_serving_options_refuse_to_start_with_one_line(tmp_path, args, message):
    proc = _run_app(tmp_path, *args, "--db", f"sqlite:///{tmp_path / 'd.db'}")
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_user_commands_add_list_password_remove(tmp_path):
    db = ["--db", f"sqlite:///{tmp_path / 'd.db'}"]
    pw = {"MATCHDESK_PASSWORD": "first"}
    assert _run_app(tmp_path, "user", *db, "add", "ann", "--role", "admin", env=pw).returncode == 0
    assert (
        _run_app(tmp_path, "user", *db, "add", "bo", "--role", "reviewer", env=pw).returncode == 0
    )
    listed = _run_app(tmp_path, "user", *db, "list")
    assert listed.stdout.splitlines() == ["ann\tadmin", "bo\treviewer"]
    store = UserStore(db[1])
    limits = {"idle_seconds": 3600, "lifetime_seconds": 3600}
    session = store.start_session("bo", **limits)
    changed = _run_app(tmp_path, "user", *db, "password", "bo", env={"MATCHDESK_PASSWORD": "2nd"})
    assert changed.returncode == 0
    assert store.check("bo", "2nd") is not None and store.check("bo", "first") is None
    assert store.session_user(session, **limits) is None  # signed out everywhere
    assert _run_app(tmp_path, "user", *db, "remove", "bo").returncode == 0
    again = _run_app(tmp_path, "user", *db, "remove", "bo")
    assert again.returncode == 2 and "no user 'bo'" in again.stderr
    bad = _run_app(tmp_path, "user", *db, "add", "cy", "--role", "boss", env=pw)
    assert bad.returncode == 2
    no_password = _run_app(tmp_path, "user", *db, "add", "cy", "--role", "lead")
    assert no_password.returncode == 2 and "MATCHDESK_PASSWORD" in no_password.stderr


def test_python_app_py_workers_serves_with_gunicorn(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "app.py"),
            "--workers",
            "2",
            "--port",
            str(port),
            "--db",
            f"sqlite:///{tmp_path / 'd.db'}",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/health", proc)
        page = requests.get(f"{base}/", timeout=10)
        assert page.status_code == 200
        assert page.headers["X-Frame-Options"] == "DENY"
    finally:
        proc.terminate()
        _, errors = proc.communicate(timeout=30)
    assert "gunicorn" in errors.lower() and "Booting worker" in errors


def test_a_process_serves_the_pages_scripts_even_when_its_first_request_fails(tmp_path):
    """Dash's set-up happens when the app is built, not on a process's first request.

    A worker whose first request failed (the layout could not be read, say the
    database was busy) used to answer every script request with 500 ("dash is not
    a registered library") until someone loaded the page through it.
    """
    import re

    from app import create_app, demo_config

    def config(name):
        return demo_config(db_url=f"sqlite:///{tmp_path / name}.db", data_dir=str(tmp_path / name))

    page = create_app(config("page")).server.test_client().get("/").get_data(as_text=True)
    scripts = re.findall(r'src="(/_dash-component-suites/[^"]+)"', page)
    assert scripts

    worker = create_app(config("worker"))

    def unreadable():
        raise RuntimeError("database is locked")

    worker.layout = unreadable
    client = worker.server.test_client()
    assert client.get("/_dash-layout").status_code == 500
    assert {path: client.get(path).status_code for path in scripts} == dict.fromkeys(scripts, 200)


def test_the_pages_scripts_and_layout_come_compressed_when_the_browser_accepts_it(tmp_path):
    import gzip
    import re

    from app import create_app, demo_config

    app = create_app(
        demo_config(db_url=f"sqlite:///{tmp_path / 'd.db'}", data_dir=str(tmp_path / "data"))
    )
    client = app.server.test_client()
    page = client.get("/").get_data(as_text=True)
    largest = max(
        re.findall(r'src="(/_dash-component-suites/[^"]+)"', page),
        key=lambda path: len(client.get(path).data),
    )
    for path in (largest, "/_dash-layout"):
        plain = client.get(path)
        packed = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert "Content-Encoding" not in plain.headers
        assert packed.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in packed.headers["Vary"]
        assert gzip.decompress(packed.data) == plain.data
        assert len(packed.data) < len(plain.data) / 2


def test_before_forking_workers_the_server_drops_the_tables_it_started_with(tmp_path):
    import gc

    from app import create_app, demo_config

    config = demo_config(db_url=f"sqlite:///{tmp_path / 'd.db'}", data_dir=str(tmp_path / "data"))
    services = create_app(config).matchdesk
    pid = services.project_options()[0]["value"]
    try:
        services.before_fork()
        assert config.left is None and config.right is None
        assert list(services._projects) == [pid]
        assert services.users.count() == 0  # connects again
    finally:
        gc.unfreeze()
