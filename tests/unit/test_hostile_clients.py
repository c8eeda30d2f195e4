"""A real server (``python app.py --workers 2``) against hostile clients: slow bodies, copied
session cookies, lockouts from other addresses, parallel guesses, redirects to other sites,
paths outside the sign-in gate; and start-up messages that must not print a password."""

from __future__ import annotations

import errno
import http.client
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
import requests

from matching.decisions.users import UserStore
from tests.conftest import ROOT
from tests.unit.test_server import _free_port, _run_app, _wait_for

PASSWORD = "the right password"
IDLE_MINUTES = 0.1  # sessions end after 6 s without a request


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``python app.py --workers 2`` with a 2 s body deadline and users ann, admin1, bo, cy, di."""
    folder = tmp_path_factory.mktemp("hostile")
    db = f"sqlite:///{folder / 'd.db'}"
    store = UserStore(db)
    for name in ("ann", "admin1", "bo", "cy", "di"):
        store.add(name, "admin", PASSWORD)
    store.close()
    port = _free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, str(ROOT / "app.py"), "--workers", "2", "--port", str(port)),
            *("--db", db, "--data-dir", str(folder / "data"), "--body-timeout", "2"),
            *("--session-idle-minutes", str(IDLE_MINUTES)),
        ],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/health", proc)
        yield base, port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _signed_in(base: str, name: str) -> requests.Session:
    web = requests.Session()
    web.headers["Origin"] = base
    answer = web.post(
        f"{base}/login", data={"username": name, "password": PASSWORD}, allow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return web


def _sign_in_from(address: str, port: int, name: str, password: str) -> tuple[int, str]:
    """POST /login from a loopback ``address`` of our choosing: ``(status, body)``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(address, 0))
    try:
        body = urlencode({"username": name, "password": password})
        conn.request(
            "POST",
            "/login",
            body,
            {
                "Origin": f"http://127.0.0.1:{port}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


# -- 3: slow request bodies ------------------------------------------------------


def test_slow_bodies_neither_stop_health_nor_keep_their_thread(server):
    """48 clients trickling ``POST /login`` bodies (Content-Length 100000, a byte every
    0.25 s), more than the 2 workers' 32 threads, and 4 trickling bodies too large to be
    collected before a thread reads them (2 MB): /health keeps answering at once, and
    every slow client is answered 408 once its body is late (2 s here)."""
    base, port = server

    def head(length: int, kind: str) -> bytes:
        return (
            f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {base}\r\n"
            f"Content-Type: {kind}\r\nContent-Length: {length}\r\n\r\n"
        ).encode()

    slow = []
    form, parts = "application/x-www-form-urlencoded", "multipart/form-data; boundary=b"
    for request in [head(100_000, form)] * 48 + [head(2_000_000, parts)] * 4:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(request)
        slow.append(sock)
    try:
        worst = 0.0
        started = time.monotonic()
        while time.monotonic() - started < 1.5:
            for sock in slow:
                sock.sendall(b"a")
            ask = time.monotonic()
            assert requests.get(f"{base}/health", timeout=10).status_code == 200
            worst = max(worst, time.monotonic() - ask)
            time.sleep(0.25)
        assert worst < 1.0, f"/health took {worst:.2f} s"
        for sock in slow:
            answer = b""
            while b"\r\n" not in answer:
                part = sock.recv(4096)
                if not part:
                    break
                answer += part
            assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    finally:
        for sock in slow:
            sock.close()


# -- 4: sign-out ends the session ------------------------------------------------


def test_a_copied_cookie_is_dead_after_sign_out(server):
    base, _ = server
    web = _signed_in(base, "ann")
    copy = dict(web.cookies)
    assert requests.get(f"{base}/_dash-layout", cookies=copy).status_code == 200
    assert web.post(f"{base}/logout", allow_redirects=False).status_code == 303
    assert requests.get(f"{base}/_dash-layout", cookies=copy).status_code == 401


def test_a_session_ends_after_its_idle_time(server):
    base, _ = server
    web = _signed_in(base, "cy")
    assert web.get(f"{base}/_dash-layout").status_code == 200
    time.sleep(IDLE_MINUTES * 60 + 1.5)
    assert web.get(f"{base}/_dash-layout").status_code == 401


def test_a_session_ends_at_its_lifetime_and_with_a_new_password(tmp_path):
    store = UserStore(f"sqlite:///{tmp_path / 'u.db'}", cost=(2, 1, 1))
    store.add("ann", "admin", "pw")
    limits = {"idle_seconds": 600, "lifetime_seconds": 3600}
    token = store.start_session("ann", now=0.0, **limits)
    for minute in range(1, 60, 5):  # used every 5 minutes: never idle ...
        assert store.session_user(token, now=minute * 60.0, **limits).name == "ann"
    assert store.session_user(token, now=3601.0, **limits) is None  # ... but too old
    again = store.start_session("ann", **limits)
    assert store.session_user(again, **limits) is not None
    store.set_password("ann", "new")
    assert store.session_user(again, **limits) is None and store.sessions("ann") == 0


# -- 5, 6: sign-in limits ---------------------------------------------------------


def test_a_stranger_cannot_lock_out_a_user(server):
    """20 wrong passwords for admin1 (from 127.0.0.2 and 127.0.0.4) reach the name's limit;
    admin1's right password from 127.0.0.3, which never failed, still signs in."""
    _, port = server
    for address in ("127.0.0.2", "127.0.0.4"):
        for _ in range(10):
            status, text = _sign_in_from(address, port, "admin1", "guess")
            assert status == 200 and "Wrong name or password." in text
    assert _sign_in_from("127.0.0.2", port, "admin1", PASSWORD)[0] == 429
    assert _sign_in_from("127.0.0.3", port, "admin1", PASSWORD)[0] == 303


def test_parallel_guesses_get_no_more_checks_than_the_limit(server):
    """40 wrong passwords at once from one address: at most the limit's 10 are checked."""
    _, port = server
    with ThreadPoolExecutor(40) as pool:
        answers = list(
            pool.map(lambda _: _sign_in_from("127.0.0.5", port, "bo", "guess"), range(40))
        )
    checked = sum("Wrong name or password." in text for _, text in answers)
    assert checked <= 10, f"{checked} passwords checked against a limit of 10"
    assert sum(status == 429 for status, _ in answers) == 40 - checked


# -- 7: open redirect --------------------------------------------------------------


@pytest.mark.parametrize("next_url", ["/\t/evil.example", "/\x7f/evil.example", "/\r\nX: y"])
def test_sign_in_goes_back_only_to_a_path_on_this_site(server, next_url):
    base, _ = server
    web = requests.Session()
    web.headers["Origin"] = base
    answer = web.post(
        f"{base}/login",
        data={"username": "di", "password": PASSWORD, "next": next_url},
        allow_redirects=False,
    )
    assert answer.status_code == 303
    location = answer.headers["Location"]
    assert location.startswith("/") and not location.startswith("//"), location
    assert "evil" not in location


def test_the_sign_in_page_keeps_no_return_address_to_another_site(server):
    base, _ = server
    for query in ("next=/%09/evil.example", "next=/%0a/evil.example", "next=%2F%7F%2Fevil.example"):
        page = requests.get(f"{base}/login?{query}")
        assert page.status_code == 200 and "evil.example" not in page.text, query


# -- 12: paths outside the gate ---------------------------------------------------


def test_sign_out_and_identity_provider_paths_answer_their_own_pages(server):
    base, _ = server
    signed_out = requests.get(f"{base}/logout")
    assert signed_out.status_code == 200 and "_dash-config" not in signed_out.text
    assert 'href="/login"' in signed_out.text
    signed_in = _signed_in(base, "ann").get(f"{base}/logout")
    assert 'action="/logout"' in signed_in.text and "_dash-config" not in signed_in.text
    for path in ("/login/oidc", "/login/oidc/callback?code=x&state=y"):
        answer = requests.get(f"{base}{path}")
        assert answer.status_code == 404 and "_dash-config" not in answer.text
        assert "not set up" in answer.text


def test_a_full_disk_during_an_upload_or_export_says_so(demo_app, project, monkeypatch):
    import matching.engine.uploads
    import server.export

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    client = demo_app.server.test_client()
    origin = {"Origin": "http://localhost"}
    started = client.post("/upload/start", json={"name": "t.csv", "size": 10}, headers=origin)
    upload_id = started.get_json()["upload_id"]
    monkeypatch.setattr(matching.engine.uploads.ChunkedUploads, "append", full)
    chunk = client.post(
        f"/upload/chunk?upload_id={upload_id}&offset=0",
        data=b"id\n1\n2\n3\n",
        headers={**origin, "Content-Type": "application/octet-stream"},
    )
    assert chunk.status_code == 507 and "disk is full" in chunk.get_json()["error"]
    monkeypatch.setattr(server.export.tempfile, "TemporaryFile", full)
    export = client.get(
        f"/export/{project.project_id}/matches.csv",
        headers={"Sec-Fetch-Site": "same-origin", "Accept": "application/json"},
    )
    assert export.status_code == 507 and "disk is full" in export.get_json()["error"]


def test_a_full_disk_in_a_callback_is_said_in_the_page():
    from callbacks.errors import error_message

    full = error_message(OSError(errno.ENOSPC, "No space left on device"))
    assert full.startswith("The server's disk is full") and "nothing was recorded" in full
    assert "disk" not in error_message(OSError(errno.EACCES, "Permission denied"))


# -- 11: passwords in messages -----------------------------------------------------


def test_a_database_password_is_never_printed(tmp_path):
    url = "postgresql+psycopg://u:PW-secret@127.0.0.1:1/x"
    by_option = _run_app(tmp_path, "--db", url)
    port = str(_free_port())
    by_env = _run_app(tmp_path, "--port", port, env={"MATCHDESK_DB": url})
    for run in (by_option, by_env):
        assert run.returncode == 2, run.stderr
        assert "PW-secret" not in run.stderr + run.stdout
        assert "postgresql+psycopg://u:***@127.0.0.1:1/x" in run.stderr


def test_log_lines_and_tracebacks_mask_passwords(caplog):
    import logging

    from server.masking import mask_logs

    mask_logs()
    log = logging.getLogger("matchdesk.test")
    try:
        raise ValueError("cannot parse redis://:s3cret@host:6379/0")
    except ValueError:
        log.exception("broker %s failed", "redis://:s3cret@host:6379/0")
    text = caplog.text
    assert "s3cret" not in text and "redis://:***@host:6379/0" in text


def test_user_commands_take_db_before_or_after_the_command(tmp_path):
    db = f"sqlite:///{tmp_path / 'd.db'}"
    pw = {"MATCHDESK_PASSWORD": "pw"}
    added = _run_app(tmp_path, "user", "add", "ann", "--role", "admin", "--db", db, env=pw)
    assert added.returncode == 0, added.stderr
    assert UserStore(db).get("ann").role == "admin"
    listed = _run_app(tmp_path, "user", "list", env={"MATCHDESK_DB": db})
    assert listed.returncode == 0 and listed.stdout.splitlines() == ["ann\tadmin"]
    assert not os.path.exists(tmp_path / "matchdesk.db")


def test_a_form_over_the_form_limit_is_refused_naming_that_limit(demo_app):
    """A 600 KB sign-in form is within the 32 MB a request may have, not the 500 KB a
    form may: the refusal names the form's limit."""
    answer = demo_app.server.test_client().post(
        "/login",
        data={"username": "a" * 600_000, "password": "x"},
        headers={"Origin": "http://localhost"},
    )
    assert answer.status_code == 413
    assert answer.get_json()["error"] == "the form is larger than the 500 KB this server takes"


@pytest.mark.parametrize(
    "option", ["--threads", "--body-timeout", "--session-idle-minutes", "--session-max-hours"]
)
def test_serving_limits_must_be_more_than_zero(option, capsys):
    from app import config_from_args

    with pytest.raises(SystemExit) as stop:
        config_from_args([option, "0"])
    assert stop.value.code == 2
    assert f"{option} must be more than 0" in capsys.readouterr().err
