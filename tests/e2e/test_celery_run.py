"""A Run on a Celery worker through Redis (``--celery-broker``), in headless Chromium.

Needs ``redis-server`` (``bash scripts/test`` installs it); skipped, saying why, without it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from dash.testing.wait import until

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


def _redis(port: int) -> subprocess.Popen:
    return subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def celery_config(app_config, tmp_path):
    """The demo app's config with a Redis broker on a free loopback port, and one
    Celery worker started from the same options. ``redis`` is the Redis process
    (a test that stops it and starts another puts the new one there)."""
    port = _free_port()
    redis = _redis(port)
    broker = f"redis://127.0.0.1:{port}/0"
    args = f"--db {app_config.db_url} --data-dir {app_config.data_dir} --celery-broker {broker}"
    log = (tmp_path / "worker.log").open("w")
    worker = setup = None
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
        setup = SimpleNamespace(
            config=app_config, worker=worker, log=tmp_path / "worker.log", port=port, redis=redis
        )
        yield setup
    finally:
        for proc in (worker, setup.redis if setup else redis):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        log.close()


def _run_tables(dash_duo, app, tmp_path, rows: int) -> None:
    """Upload two tables of ``rows`` rows in the Data panel, choose the ids, click Run."""
    left, right = tmp_path / "people.csv", tmp_path / "customers.csv"
    left.write_text("name,id\n" + "".join(f"person {i},{i}\n" for i in range(rows)))
    right.write_text("name,id\n" + "".join(f"Person {i}x,c{i}\n" for i in range(rows)))
    start(dash_duo, app)
    button(dash_duo, "Data").click()
    dash_duo.wait_for_element("#upload-left input")
    dash_duo.find_element("#upload-left input").send_keys(str(left))
    dash_duo.wait_for_contains_text("#upload-left-info", f"{rows} rows", timeout=30)
    dash_duo.find_element("#upload-right input").send_keys(str(right))
    pairs = f"{rows * rows:,} pairs to score"
    dash_duo.wait_for_contains_text("#pair-count", pairs, timeout=30)
    dash_duo.select_dcc_dropdown("#left-id-select", value="id")
    dash_duo.select_dcc_dropdown("#right-id-select", value="id")
    run = button(dash_duo, "Run")
    until(run.is_enabled, timeout=120)  # while the proposal's weights are learned, Run waits
    run.click()


def test_a_run_on_a_celery_worker_shows_progress_and_opens_the_project(
    dash_duo, celery_config, tmp_path
):
    from app import create_app

    config, worker, worker_log = celery_config.config, celery_config.worker, celery_config.log
    app = create_app(config)
    _run_tables(dash_duo, app, tmp_path, 300)
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=60)
    assert worker.poll() is None
    log = Path(worker_log).read_text()
    assert "Task background_callback_" in log and " succeeded in " in log  # the worker ran it
    assert len(app.matchdesk.project_options()) == 2
    dash_duo.find_element(".offcanvas .btn-close").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 300", timeout=15)
    assert dash_duo.get_logs() == []


def test_a_broker_stopped_while_scoring_is_said_and_the_run_is_announced_after(
    dash_duo, celery_config, tmp_path
):
    """Redis stopped while "Scoring" shows: the page says the broker is unreachable and
    keeps the run (Run disabled, Cancel enabled); the run finishes meanwhile and is
    announced although Redis is still away; Redis back, the worker stores it there too."""
    from app import create_app
    from server.broker import BROKER_DOWN

    setup = celery_config
    app = create_app(setup.config)
    _run_tables(dash_duo, app, tmp_path, 4000)  # 16,000,000 pairs: seconds of scoring
    # Held still as soon as the worker has the task (scoring is fast enough to end before
    # "Scoring" shows). Held before it has it, the task would stay in the Redis about to
    # be stopped, and go with it.
    until(lambda: dash_duo.find_element("#run-status").is_displayed(), timeout=60)
    until(lambda: "] received" in Path(setup.log).read_text(), timeout=60)
    os.kill(setup.worker.pid, signal.SIGSTOP)
    try:
        setup.redis.terminate()
        setup.redis.wait(timeout=20)
        dash_duo.wait_for_text_to_equal("#run-step", BROKER_DOWN, timeout=20)
        time.sleep(2)  # the page keeps asking, and keeps the run
        assert dash_duo.find_element("#run-step").text == BROKER_DOWN
        assert dash_duo.find_element("#run-button").get_attribute("disabled") is not None
        assert dash_duo.find_element("#run-cancel-button").get_attribute("disabled") is None
        assert dash_duo.find_element("#run-status").is_displayed()
    finally:
        os.kill(setup.worker.pid, signal.SIGCONT)
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=180)
    assert len(app.matchdesk.project_options()) == 2
    setup.redis = _redis(setup.port)
    _wait_for_redis(setup.port, setup.redis)
    deadline = time.monotonic() + 60
    while " succeeded in " not in Path(setup.log).read_text():
        assert time.monotonic() < deadline, "the worker did not finish once Redis was back"
        time.sleep(0.5)
    assert setup.worker.poll() is None
    assert dash_duo.get_logs() == []


def test_a_run_lost_with_a_restarted_broker_says_no_worker_took_it_and_cancel_ends_it(
    dash_duo, celery_config, tmp_path, monkeypatch
):
    """The worker is held before it takes the task, and Redis is restarted without its
    data: the task is gone. The page says no worker has taken the run (after 3 s here,
    a minute by default) instead of waiting in silence, and Cancel gives it up."""
    from app import create_app
    from server import broker

    monkeypatch.setattr(broker, "NOT_TAKEN_AFTER", 3.0)
    setup = celery_config
    app = create_app(setup.config)
    until(lambda: "ready." in Path(setup.log).read_text(), timeout=60)
    os.kill(setup.worker.pid, signal.SIGSTOP)
    try:
        _run_tables(dash_duo, app, tmp_path, 300)
        until(lambda: dash_duo.find_element("#run-status").is_displayed(), timeout=60)
        setup.redis.terminate()
        setup.redis.wait(timeout=20)
        setup.redis = _redis(setup.port)
        _wait_for_redis(setup.port, setup.redis)
    finally:
        os.kill(setup.worker.pid, signal.SIGCONT)
    dash_duo.wait_for_text_to_equal("#run-step", broker.NOT_TAKEN, timeout=60)
    assert "] received" not in Path(setup.log).read_text()  # no worker had it
    button(dash_duo, "Cancel").click()
    dash_duo.wait_for_contains_text("#data-message", "Run cancelled", timeout=20)
    assert len(app.matchdesk.project_options()) == 1
    assert dash_duo.get_logs() == []
