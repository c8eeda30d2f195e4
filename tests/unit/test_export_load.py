"""Exports under load: a few at a time per user and in all, stopped when the client
leaves, and HEAD answered without writing the file; over real HTTP where it matters."""

from __future__ import annotations

import os
import socket
import threading
import time

import pandas as pd
import pytest
from werkzeug.serving import make_server

import server.export
from matching.decisions.users import UserStore
from tests.dash_http import ORIGIN

SAME_PAGE = {"Referer": f"{ORIGIN}/", "Sec-Fetch-Site": "same-origin"}


def test_head_answers_from_the_checks_without_writing_the_file(demo_app, project, monkeypatch):
    written = []
    monkeypatch.setattr(server.export, "write_export", lambda *a, **k: written.append(a))
    client = demo_app.server.test_client()
    url = f"/export/{project.project_id}/matches.xlsx"
    answer = client.head(url, headers=SAME_PAGE)
    assert answer.status_code == 200 and answer.data == b""
    assert answer.headers["Content-Disposition"] == (
        f"attachment; filename=matches-{project.project_id}.xlsx"
    )
    assert answer.mimetype.endswith("spreadsheetml.sheet")
    assert client.head(url, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert client.head(f"/export/{'0' * 16}/matches.csv", headers=SAME_PAGE).status_code == 404
    assert written == []


class _Held:
    """A CSV writer that holds its export until released, as a long export would."""

    def __init__(self) -> None:
        self.started = threading.Semaphore(0)
        self.release = threading.Event()

    def __call__(self, chunks, out) -> int:
        self.started.release()
        assert self.release.wait(30)
        out.write(b"id\n")
        return 0


@pytest.fixture
def held(monkeypatch):
    writer = _Held()
    monkeypatch.setitem(server.export.EXPORTS, "csv", (writer, "text/csv"))
    yield writer
    writer.release.set()


def _signed_in(app, name: str):
    client = app.server.test_client()
    client.post(
        "/login", data={"username": name, "password": f"{name}-pw"}, headers={"Origin": ORIGIN}
    )
    return client


def test_exports_are_limited_per_user_and_in_all_with_a_busy_answer(demo_app, project, held):
    users = UserStore(demo_app.matchdesk.config.db_url)
    for name in ("ann", "bo", "cy"):
        users.add(name, "reviewer", f"{name}-pw")
    config = demo_app.matchdesk.config
    config.max_exports, config.max_exports_per_user = 2, 1
    url = f"/export/{project.project_id}/matches.csv"
    ann, bo, cy = (_signed_in(demo_app, name) for name in ("ann", "bo", "cy"))
    answers = {}

    def export(name, client):
        answers[name] = client.get(url, headers=SAME_PAGE)

    going = [threading.Thread(target=export, args=(n, c)) for n, c in (("ann", ann), ("bo", bo))]
    for thread in going:
        thread.start()
        assert held.started.acquire(timeout=30)  # writing, and holding its slots
    again = ann.get(url, headers=SAME_PAGE)
    assert again.status_code == 429 and again.headers["Retry-After"] == "30"
    assert again.json["error"] == (
        "busy: your export is still being written; try again once the download has started"
    )
    third = cy.get(url, headers=SAME_PAGE)
    assert third.status_code == 429 and third.json["error"].startswith(
        "busy: the server is writing as many exports as it takes at once (2)"
    )
    held.release.set()
    for thread in going:
        thread.join(30)
    assert answers["ann"].status_code == answers["bo"].status_code == 200
    assert cy.get(url, headers=SAME_PAGE).status_code == 200  # the slots are free again


def test_an_export_stops_when_the_client_disconnects(demo_app, project, monkeypatch):
    """A real HTTP server and a client that closes its socket while the file is written."""
    made, closed = [], []

    def slow_chunks(*args, **kwargs):
        try:
            for i in range(200):  # 200 chunks at 50 ms: 10 s when nobody stops it
                time.sleep(0.05)
                made.append(i)
                yield pd.DataFrame({"left_id": [str(i)], "right_id": [str(i)]})
        finally:
            closed.append(len(made))

    monkeypatch.setattr(server.export, "matched_chunks_of_pairs", slow_chunks)
    http = make_server("127.0.0.1", 0, demo_app.server, threaded=True)
    serving = threading.Thread(target=http.serve_forever, daemon=True)
    serving.start()
    try:
        port = http.server_port
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(
            f"GET /export/{project.project_id}/matches.xlsx HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nSec-Fetch-Site: same-origin\r\n"
            f"Referer: http://127.0.0.1:{port}/\r\n\r\n".encode()
        )
        deadline = time.monotonic() + 30
        while len(made) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(made) >= 5
        client.close()
        time.sleep(1.0)
        after_close = len(made)
        time.sleep(0.5)
        assert len(made) == after_close < 100  # nothing more is made for nobody
        assert closed == [after_close]
    finally:
        http.shutdown()


def test_the_limits_are_options_of_the_server():
    from app import config_from_args

    config, _ = config_from_args(["--max-exports", "5", "--max-exports-per-user", "2"])
    assert (config.max_exports, config.max_exports_per_user) == (5, 2)
    with pytest.raises(SystemExit) as refused:
        config_from_args(["--max-exports-per-user", "0"])
    assert refused.value.code == 2


def test_a_client_that_left_is_seen_whatever_its_socket_number(demo_app):
    """A server with many connections holds sockets numbered past 1,023, which select()
    refuses; the check must still see the client leave."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.skip(f"this process may open only {hard} files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1100), hard))
    ours, theirs = socket.socketpair()
    sock = socket.socket(fileno=os.dup2(ours.fileno(), 1050))
    ours.close()
    try:
        assert sock.fileno() > 1023
        with demo_app.server.test_request_context(environ_base={"werkzeug.socket": sock}):
            gone = server.export.client_left()
            assert gone() is False
            theirs.close()
            assert gone() is True
    finally:
        sock.close()
        theirs.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
