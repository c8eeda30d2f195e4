"""deploy/nginx.conf, started as it is (its two CHANGE lines set), in front of the app:
slow clients are held by nginx, never by the app's few threads, and sign-in works through it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
import requests

from matching.decisions.users import UserStore
from tests.conftest import ROOT
from tests.unit.test_server import _free_port, _wait_for

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/test does)")


@pytest.fixture
def behind_nginx(tmp_path):
    """The app (2 workers of 2 threads, --behind-proxy) and nginx from deploy/nginx.conf."""
    db = f"sqlite:///{tmp_path / 'd.db'}"
    UserStore(db).add("ann", "admin", "ann's password")
    app_port, nginx_port = _free_port(), _free_port()
    app = subprocess.Popen(
        [
            *(sys.executable, str(ROOT / "app.py"), "--workers", "2", "--threads", "2"),
            *("--port", str(app_port), "--db", db, "--data-dir", str(tmp_path / "data")),
            "--behind-proxy",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    sample = (ROOT / "deploy" / "nginx.conf").read_text()
    assert sample.count("# CHANGE") == 2
    config = tmp_path / "nginx.conf"
    config.write_text(
        sample.replace("server 127.0.0.1:8050;", f"server 127.0.0.1:{app_port};").replace(
            "listen 8080;", f"listen 127.0.0.1:{nginx_port};"
        )
    )
    (tmp_path / "logs").mkdir()
    own = [f"pid {tmp_path / 'nginx.pid'};", "daemon off;"]
    if os.geteuid() == 0:
        own.append("user root;")  # its workers write the buffered bodies under /var/lib/nginx
    nginx = subprocess.Popen(
        [
            *(NGINX, "-p", f"{tmp_path}/", "-e", str(tmp_path / "logs" / "error.log")),
            *("-c", str(config), "-g", " ".join(own)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{nginx_port}"
    try:
        _wait_for(f"http://127.0.0.1:{app_port}/health", app)
        _wait_for(f"{base}/health", nginx)
        yield base, nginx_port
    finally:
        for proc in (nginx, app):
            proc.terminate()
            proc.wait(timeout=30)


def test_nginx_holds_slow_clients_and_passes_sign_in(behind_nginx):
    """16 slow ``POST /login`` bodies through nginx against 4 app threads in all: /health
    answers at once (nginx holds the bodies), and a sign-in through nginx works."""
    base, port = behind_nginx
    head = (
        f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {base}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    slow = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(16)]
    try:
        for sock in slow:
            sock.sendall(head)
        worst = 0.0
        started = time.monotonic()
        while time.monotonic() - started < 3.0:
            for sock in slow:
                sock.sendall(b"a")
            ask = time.monotonic()
            assert requests.get(f"{base}/health", timeout=10).status_code == 200
            worst = max(worst, time.monotonic() - ask)
            time.sleep(0.3)
        assert worst < 1.0, f"/health took {worst:.2f} s behind nginx"
        web = requests.Session()
        web.headers["Origin"] = base
        signed = web.post(
            f"{base}/login",
            data={"username": "ann", "password": "ann's password"},
            allow_redirects=False,
        )
        assert signed.status_code == 303
        assert web.get(f"{base}/_dash-layout").status_code == 200
    finally:
        for sock in slow:
            sock.close()
