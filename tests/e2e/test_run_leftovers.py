"""A Data panel run leaves nothing behind: no tables after Cancel, no defunct process at its end."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
from dash.testing.wait import until

import server.runs
import server.services
from tests.e2e.test_background_run import _tables, _upload_and_run
from tests.e2e.test_background_run import slow_scorer as slow_scorer  # the fixture
from tests.helpers import button, start


def _arrow_files(app) -> set[str]:
    data = Path(app.matchdesk.config.data_dir)
    return {str(p.relative_to(data)) for p in data.rglob("*.arrow")}


def test_a_run_cancelled_while_it_reads_its_tables_leaves_no_tables(
    dash_duo, demo_app, tmp_path, slow_scorer, monkeypatch
):
    """Cancel while the run reads its tables, the process stopped only seconds later
    (a busy server): the run must not go on to write its tables meanwhile."""
    scorers = slow_scorer(3.0)
    here = os.getpid()
    real_uploaded = server.services.Services.uploaded
    real_terminate = server.runs.RunManager.terminate_job

    def slow_uploaded(self, info):
        if os.getpid() != here:  # in the run's process only
            time.sleep(1.0)
        return real_uploaded(self, info)

    def late_terminate(self, job):
        time.sleep(4.0)
        return real_terminate(self, job)

    monkeypatch.setattr(server.services.Services, "uploaded", slow_uploaded)
    monkeypatch.setattr(server.runs.RunManager, "terminate_job", late_terminate)
    before = _arrow_files(demo_app)
    start(dash_duo, demo_app)
    _upload_and_run(dash_duo, *_tables(tmp_path))
    dash_duo.wait_for_contains_text("#run-step", "Reading", timeout=20)
    button(dash_duo, "Cancel").click()
    dash_duo.wait_for_contains_text("#data-message", "Run cancelled", timeout=10)
    time.sleep(8.0)  # the late stop has come; a run that went on has written its tables
    pids = [int(p) for p in scorers.read_text().split()] if scorers.exists() else []
    until(lambda: not any(psutil.pid_exists(p) for p in pids), timeout=10)
    assert _arrow_files(demo_app) == before
    assert len(demo_app.matchdesk.project_options()) == 1
    assert dash_duo.get_logs() == []


def _defunct_children() -> list[int]:
    me = psutil.Process(os.getpid())
    return [c.pid for c in me.children(recursive=True) if c.status() == psutil.STATUS_ZOMBIE]


def test_a_finished_run_leaves_no_defunct_process_when_its_result_is_read_elsewhere(
    dash_duo, demo_app, tmp_path, monkeypatch
):
    """With several workers the page's result request may reach a worker other than
    the one that started the run: that one cannot reap it. Here no request reaps it."""
    monkeypatch.setattr(server.runs.DiskcacheManager, "terminate_job", lambda self, job: None)
    start(dash_duo, demo_app)
    _upload_and_run(dash_duo, *_tables(tmp_path, rows=200), rows=200)
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=30)
    until(lambda: not _defunct_children(), timeout=10)
    assert dash_duo.get_logs() == []
