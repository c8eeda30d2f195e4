"""The Data panel's Run in the background, in headless Chromium: progress, Cancel, failure.

The scorer is slowed in the server process before the app starts; the run's process
is forked from it, so each chunk of the run takes long enough to be seen and cancelled.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import psutil
import pytest
from dash.testing.wait import until

import matching.engine.full
from tests.helpers import LABEL, button, start

#: Rows of each generated table: 2,000 x 2,000 pairs are scored in four chunks.
ROWS = 2_000


@pytest.fixture
def slow_scorer(monkeypatch, tmp_path):
    """Make each chunk of the full comparison take ``seconds`` longer; returns the file
    where each chunk writes the id of the process that scored it."""
    scorers = tmp_path / "scorer-pids"

    def slow(seconds: float) -> Path:
        real = matching.engine.full.score_matrix

        def score_matrix(*args, **kwargs):
            with scorers.open("a") as out:
                out.write(f"{os.getpid()}\n")
            time.sleep(seconds)
            return real(*args, **kwargs)

        monkeypatch.setattr(matching.engine.full, "score_matrix", score_matrix)
        return scorers

    return slow


def _tables(tmp_path: Path, *, repeat_id: bool = False, rows: int = ROWS) -> tuple[Path, Path]:
    left, right = tmp_path / "people.csv", tmp_path / "customers.csv"
    ids = ["1", *map(str, range(1, rows))] if repeat_id else list(map(str, range(rows)))
    left.write_text(
        "name,id\n" + "".join(f"person {i},{n}\n" for i, n in enumerate(ids)), encoding="utf-8"
    )
    right.write_text(
        "name,id\n" + "".join(f"Person {i}x,c{i}\n" for i in range(rows)), encoding="utf-8"
    )
    return left, right


def _upload_and_run(dash_duo, left: Path, right: Path, *, rows: int = ROWS) -> None:
    button(dash_duo, "Data").click()
    dash_duo.wait_for_element("#upload-left input")
    dash_duo.find_element("#upload-left input").send_keys(str(left))
    dash_duo.wait_for_contains_text("#upload-left-info", f"{rows} rows", timeout=10)
    dash_duo.find_element("#upload-right input").send_keys(str(right))
    dash_duo.wait_for_contains_text("#pair-count", f"{rows * rows:,} pairs to score", timeout=10)
    dash_duo.select_dcc_dropdown("#left-id-select", value="id")
    dash_duo.select_dcc_dropdown("#right-id-select", value="id")
    button(dash_duo, "Run").click()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _project_folders(app) -> list[str]:
    data = Path(app.matchdesk.config.data_dir)
    return sorted(p.name for p in data.iterdir() if p.name not in ("uploads", "runs"))


def test_a_run_shows_its_progress_and_opens_the_new_project(
    dash_duo, demo_app, tmp_path, slow_scorer
):
    scorers = slow_scorer(0.8)
    start(dash_duo, demo_app)
    _upload_and_run(dash_duo, *_tables(tmp_path))
    midway = re.compile(rf"Scoring: [1-3],000,000 of {ROWS * ROWS:,} pairs")
    until(lambda: midway.search(dash_duo.find_element("#run-step").text), timeout=20)
    assert dash_duo.find_element("#run-status").is_displayed()
    assert dash_duo.find_element("#run-cancel-button").is_enabled()
    assert not dash_duo.find_element("#run-button").is_enabled()
    value = int(dash_duo.find_element("#run-progress .progress-bar").get_attribute("aria-valuenow"))
    assert 10 <= value < 100
    shot = os.environ.get("MATCHDESK_RUN_SCREENSHOT")
    if shot:
        dash_duo.driver.execute_script(
            "arguments[0].scrollIntoView();", dash_duo.find_element("#run-status")
        )
        dash_duo.driver.save_screenshot(shot)
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=20)
    assert f"for {ROWS:,} records" in dash_duo.find_element("#data-message").text
    until(lambda: not dash_duo.find_element("#run-status").is_displayed(), timeout=5)
    assert len(demo_app.matchdesk.project_options()) == 2
    pids = set(scorers.read_text().split())
    assert pids and str(os.getpid()) not in pids  # scored in a process of its own
    dash_duo.find_element(".offcanvas .btn-close").click()
    dash_duo.wait_for_text_to_equal(LABEL, f"Record 1 of {ROWS:,}", timeout=15)
    assert dash_duo.get_logs() == []


def test_cancel_stops_a_run_and_leaves_no_project(dash_duo, demo_app, tmp_path, slow_scorer):
    scorers = slow_scorer(5.0)
    before = _project_folders(demo_app)
    start(dash_duo, demo_app)
    _upload_and_run(dash_duo, *_tables(tmp_path))
    dash_duo.wait_for_contains_text("#run-step", "Scoring:", timeout=15)
    # Meanwhile the rest of the app answers: close the panel and decide a record.
    dash_duo.find_element(".offcanvas .btn-close").click()
    until(lambda: not dash_duo.find_elements(".offcanvas.show"), timeout=5)
    button(dash_duo, "Accept").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5", timeout=10)
    button(dash_duo, "Data").click()
    until(lambda: dash_duo.find_element("#run-cancel-button").is_displayed(), timeout=5)
    assert "Scoring:" in dash_duo.find_element("#run-step").text
    button(dash_duo, "Cancel").click()
    dash_duo.wait_for_contains_text("#data-message", "Run cancelled", timeout=10)
    until(lambda: not dash_duo.find_element("#run-status").is_displayed(), timeout=5)
    assert dash_duo.find_element("#run-button").is_enabled()
    pids = [int(p) for p in set(scorers.read_text().split())]
    until(lambda: not any(_alive(pid) for pid in pids), timeout=5)  # the run was stopped
    assert len(demo_app.matchdesk.project_options()) == 1
    # The run's own thread removes what it wrote once its scorer has stopped: soon after
    # the page says so, on a loaded machine not at once.
    until(lambda: _project_folders(demo_app) == before, timeout=15)
    runs = Path(demo_app.matchdesk.config.data_dir) / "runs"
    until(lambda: not [p.name for p in runs.iterdir() if p.is_file()], timeout=15)
    dash_duo.find_element(".offcanvas .btn-close").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5", timeout=10)
    assert dash_duo.get_logs() == []


def test_a_failing_run_says_why_and_keeps_the_open_project(dash_duo, demo_app, tmp_path):
    start(dash_duo, demo_app)
    before = _project_folders(demo_app)
    _upload_and_run(dash_duo, *_tables(tmp_path, repeat_id=True, rows=200), rows=200)
    dash_duo.wait_for_contains_text("#data-message", "Could not run:", timeout=20)
    assert "the left ID column 'id' repeats '1'" in dash_duo.find_element("#data-message").text
    assert dash_duo.find_element("#run-button").is_enabled()
    assert len(demo_app.matchdesk.project_options()) == 1
    assert _project_folders(demo_app) == before
    dash_duo.find_element(".offcanvas .btn-close").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=10)
    assert "Tutorial" in dash_duo.find_element("#project-select").text
    assert dash_duo.get_logs() == []


def test_a_signed_in_admin_runs_in_the_background(dash_duo, demo_app, tmp_path):
    from tests.e2e.test_sign_in import _sign_in

    demo_app.matchdesk.users.add("ann", "admin", "ann-pw")
    dash_duo.start_server(demo_app, navigate=False)
    dash_duo.driver.get(dash_duo.server.url)
    dash_duo.wait_for_text_to_equal("h1", "matchdesk", timeout=15)
    _sign_in(dash_duo, "ann", "ann-pw")
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 5", timeout=20)
    left, right = _tables(tmp_path, rows=200)
    _upload_and_run(dash_duo, left, right, rows=200)
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=30)
    assert len(demo_app.matchdesk.project_options()) == 2
    assert dash_duo.get_logs() == []


POSTGRES = os.environ.get("MATCHDESK_TEST_POSTGRES_URL")


@pytest.mark.skipif(not POSTGRES, reason="MATCHDESK_TEST_POSTGRES_URL is not set")
def test_a_run_with_the_log_on_postgresql_leaves_the_server_connections_working(
    dash_duo, app_config, tmp_path
):
    import sqlalchemy as sa

    from app import create_app

    engine = sa.create_engine(POSTGRES)
    tables = sa.MetaData()
    tables.reflect(engine)
    tables.drop_all(engine)
    engine.dispose()
    app_config.db_url = POSTGRES
    app = create_app(app_config)
    start(dash_duo, app)
    button(dash_duo, "Accept").click()  # the server's pool holds a connection from here on
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 5", timeout=10)
    _upload_and_run(dash_duo, *_tables(tmp_path, rows=200), rows=200)
    dash_duo.wait_for_contains_text("#data-message", "Ready", timeout=30)
    dash_duo.find_element(".offcanvas .btn-close").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 1 of 200", timeout=15)
    button(dash_duo, "Accept").click()
    dash_duo.wait_for_text_to_equal(LABEL, "Record 2 of 200", timeout=10)
    assert app.matchdesk.log.healthy()
    assert dash_duo.get_logs() == []
