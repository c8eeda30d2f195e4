"""A Run on a Celery worker through Redis (``--celery-broker``), in headless Chromium.

Needs ``redis-server`` (``bash scripts/test`` installs it); skipped, saying why, without it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import LABEL, button, start

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="no redis-server (bash scripts/test installs it)"
)


CELERY = [sys.executable, "-m", "celery", "-A", "app:celery_app"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_redis(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("redis-server exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("redis-server did not answer")


@pytest.fixture
def celery_config(app_config, tmp_path):
    """The demo app's config with a Redis broker on a free loopback port, and one
    Celery worker started from the same options."""
    port = _free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    broker = f"redis://127.0.0.1:{port}/0"
    args = f"--db {app_config.db_url} --data-dir {app_config.data_dir} --celery-broker {broker}"
    log = (tmp_path / "worker.log").open("w")
    worker = None
    try:
        _wait_for_redis(port, redis)
        worker = subprocess.Popen(
            [*CELERY, "worker", "--pool", "solo", "--loglevel", "info"],
            cwd=ROOT,
            env={**os.environ, "MATCHDESK_ARGS": args},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        app_config.celery_broker = broker
        yield app_config, worker, tmp_path / "worker.log"
    finally:
        for proc in (worker, redis):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        log.close()


def test_a_run_on_a_celery_worker_shows_progress_and_opens_the_project(
    dash_duo, celery_config, tmp_path
):
    from app import create_app

    config, worker, worker_log = celery_config
    app = create_app(config)
    left, right = tmp_path / "people.csv", tmp_path / "customers.csv"
    left.write_text("name,id\n" + "".join(f"person {i},{i}\n" for i in range(300)))
    right.write_text("name,id\n" + "".join(f"Person {i}x,c{i}\n" for i in range(300)))
    start(dash_duo, app)
    button(dash_duo, "Data").click()
    dash_duo.wait_for_element("#upload-left input")
    dash_duo.find_element("#upload-left input").send_keys(str(left))
    dash_duo.wait_for_contains_text("#upload-left-info", "300 rows", timeout=10)
    dash_duo.find_element("#upload-right input").send_keys(str(right))
    dash_duo.wait_for_contains_text("#pair-count", "90,000 pairs to score", timeout=10)
    dash_duo.select_dcc_dropdown("#left-id-select", value="id")
    dash_duo.select_dcc_dropdown("#right-id-select", value="id")
    button(dash_duo, "Run").click()
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=60)
    assert worker.poll() is None
    log = Path(worker_log).read_text()
    assert "Task background_callback_" in log and " succeeded in " in log  # the worker ran it
    assert len(app.matchdesk.project_options()) == 2
    dash_duo.find_element(".offcanvas .btn-close").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 300", timeout=15)
    assert dash_duo.get_logs() == []
