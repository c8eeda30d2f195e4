"""Runs in steps: the engine's progress reports, run tickets, Cancel, failures, managers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dash import CeleryManager, no_update

import matching.engine.full
from app import config_from_args, create_app
from callbacks.data import CANCELLED, cancelled_run, finish_run, run_project, start_run
from callbacks.tables import read_upload
from matching.decisions.roles import PermissionDenied
from matching.engine.blocking import Blocking
from matching.engine.candidates import generate_candidates, score_in_steps
from matching.engine.project import build_project
from matching.engine.spec import Field, Spec, parse_block
from server.runs import (
    RunManager,
    cancel_ticket,
    discard_unrecorded,
    manager_for,
    reporter,
    run_status,
)


def _names(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    first = np.array(["ann", "bo", "cy", "dee", "eve", "fay", "gus", "hal"])
    last = np.array(["lee", "chen", "diaz", "ray", "moss", "park"])
    names = [f"{a} {b}" for a, b in zip(rng.choice(first, n), rng.choice(last, n))]
    return pd.DataFrame(
        {
            "name": names,
            "town": rng.choice(np.array(["york", "bath", "ely", "hull"]), n).tolist(),
            "initial": [name[0] for name in names],
        }
    )


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _names(300, 1), _names(250, 2)


def _steps(left, right, spec, **options):
    steps = []
    found = score_in_steps(left, right, spec, progress=lambda *s: steps.append(s), **options)
    return found, steps


def _check_scoring(steps, total):
    scoring = [s for s in steps if s[0] == "scoring"]
    assert scoring[0] == ("scoring", 0, total) and scoring[-1] == ("scoring", total, total)
    done = [d for _, d, _ in scoring]
    assert done == sorted(done) and all(t == total for *_, t in scoring)
    return scoring


def test_a_full_comparison_reports_every_pair_then_each_chunk_scored():
    left = pd.DataFrame({"name": [f"name {i}" for i in range(300)]})
    right = pd.DataFrame({"name": [f"Name {i}" for i in range(250)]})
    spec = Spec(fields=(Field("name"),))
    found, steps = _steps(left, right, spec, keep=0.3, chunk_elements=25_000)
    pairs = len(left) * len(right)
    assert steps[0] == ("blocking", pairs, pairs)
    assert len(_check_scoring(steps, pairs)) >= 3  # several chunks, each reported
    expected = generate_candidates(left, right, spec, keep=0.3, chunk_elements=25_000)
    pd.testing.assert_frame_equal(found, expected)


def test_one_blocking_rule_reports_its_pairs_and_scores_them_chunk_by_chunk(tables):
    left, right = tables
    rule = parse_block("exact:town")
    spec = Spec(fields=(Field("name"),), block=(rule,))
    found, steps = _steps(left, right, spec, keep=0.3, chunk_elements=2_000)
    pairs = sum(c.added for c in Blocking(left, right, [rule]).count())
    assert steps[:3] == [("blocking", 0, 0), ("blocking", pairs, pairs), ("scoring", 0, pairs)]
    assert len(_check_scoring(steps, pairs)) > 3
    expected = generate_candidates(left, right, spec, keep=0.3, chunk_elements=2_000)
    pd.testing.assert_frame_equal(found, expected)


def test_a_union_of_rules_reports_a_bound_of_its_pairs(tables):
    left, right = tables
    rules = (parse_block("exact:town"), parse_block("exact:initial"))
    spec = Spec(fields=(Field("name"),), block=rules)
    found, steps = _steps(left, right, spec, keep=0.3, chunk_elements=2_000)
    counts = Blocking(left, right, rules).count()
    union, bound = sum(c.added for c in counts), sum(c.pairs for c in counts)
    assert union < bound  # the rules overlap: the bound counts shared pairs twice
    assert steps[:2] == [("blocking", 0, 0), ("blocking at most", bound, bound)]
    scoring = [s for s in steps if s[0] == "scoring at most"]
    assert scoring[0] == ("scoring at most", 0, bound)
    assert scoring[-1] == ("scoring at most", bound, bound) and len(scoring) > 3
    done = [d for _, d, _ in scoring]
    assert done == sorted(done)
    expected = generate_candidates(left, right, spec, keep=0.3, chunk_elements=2_000)
    pd.testing.assert_frame_equal(found, expected)


def test_empty_tables_report_no_pairs_and_score_none():
    empty = pd.DataFrame({"name": pd.Series([], dtype=str)})
    found, steps = _steps(empty, _names(3, 0), Spec(fields=(Field("name"),)))
    assert steps == [("blocking", 0, 0), ("scoring", 0, 0)]  # no rules: every pair, none
    assert found.empty


def test_a_bad_spec_fails_before_any_step(tables):
    left, right = tables
    with pytest.raises(ValueError, match="no column 'nope'"):
        _steps(left, right, Spec(fields=(Field("nope"),)))
    with pytest.raises(ValueError, match="keep must be between 0 and 1"):
        _steps(left, right, Spec(fields=(Field("name"),)), keep=2.0)


def test_build_project_with_progress_gives_the_same_project(tables):
    left, right = tables
    spec = Spec(fields=(Field("name"), Field("town")), block=(parse_block("exact:initial"),))
    steps = []
    with_steps = build_project(
        left, right, spec, name="p", keep=0.4, progress=lambda *s: steps.append(s)
    )
    plain = build_project(left, right, spec, name="p", keep=0.4)
    pd.testing.assert_frame_equal(with_steps.candidates, plain.candidates)
    assert with_steps.project_id == plain.project_id
    assert {s[0] for s in steps} == {"blocking", "scoring"}


@pytest.mark.parametrize(
    ("step", "done", "total", "value", "text"),
    [
        ("reading", 1, 2, 2, "Reading the tables (1 of 2)"),
        ("blocking", 0, 0, 5, "Blocking: finding the pairs"),
        ("blocking", 9, 9, 10, "Blocking: 9 pairs to score"),
        ("blocking at most", 9, 9, 10, "Blocking: at most 9 pairs to score (the rules overlap)"),
        ("scoring at most", 3, 9, 38, "Scoring: 3 of at most 9 pairs"),
        ("scoring", 0, 4_000_000, 10, "Scoring: 0 of 4,000,000 pairs"),
        ("scoring", 4_000_000, 4_000_000, 95, "Scoring: 4,000,000 of 4,000,000 pairs"),
        ("scoring records", 5, 10, 52, "Scoring: 5 of 10 records"),
        ("saving", 0, 1, 95, "Saving the project (it can no longer be cancelled)"),
    ],
)
def test_each_step_has_its_place_on_the_bar_and_its_words(step, done, total, value, text):
    assert run_status(step, done, total) == (value, f"{value}%", text)


def test_the_page_hears_each_new_step_and_each_end_but_not_every_chunk():
    sent = []
    progress = reporter(sent.append, every=60)
    for done in range(0, 101, 10):
        progress("scoring", done, 100)
    progress("saving", 0, 1)
    assert [s[2] for s in sent] == [
        "Scoring: 0 of 100 pairs",
        "Scoring: 100 of 100 pairs",
        "Saving the project (it can no longer be cancelled)",
    ]


def test_progress_in_a_thread_never_holds_up_or_fails_the_run():
    """A broker that stops answering: the send waits (or raises); the run does not."""
    answering = threading.Event()
    sent = []

    def stuck(status):
        if not answering.wait(10):
            raise ConnectionError("the broker is unreachable")
        sent.append(status[2])

    progress = reporter(stuck, every=0, in_thread=True)
    began = time.monotonic()
    for done in range(0, 101, 10):
        progress("scoring", done, 100)
    progress("saving", 0, 1)
    assert time.monotonic() - began < 1
    answering.set()
    deadline = time.monotonic() + 10
    while "Saving the project (it can no longer be cancelled)" not in sent:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert len(sent) <= 2  # the first status, then only the latest
    failing = reporter(lambda status: 1 / 0, every=0, in_thread=True)
    failing("scoring", 1, 2)  # logged, not raised


# -- runs through tickets ------------------------------------------------------------


def _upload(services, rows, name, *, repeat=False):
    ids = ["1", *map(str, range(1, rows))] if repeat else list(map(str, range(rows)))
    path = Path(services.config.data_dir).parent / name
    path.write_text("id,name\n" + "".join(f"{i},name {j}\n" for j, i in enumerate(ids)))
    return read_upload(services, path, name)


FIELDS = (["name"], ["name"], ["qratio"], [1], ["text"], "id", "id")


@pytest.fixture
def uploads(services):
    return {"left": _upload(services, 30, "l.csv"), "right": _upload(services, 40, "r.csv")}


def _projects_on_disk(services) -> list[str]:
    data = Path(services.config.data_dir)
    return sorted(p.name for p in data.iterdir() if p.name not in ("uploads", "runs"))


def test_a_run_reports_reading_blocking_scoring_and_saving_in_order(services, uploads):
    steps = []
    options, project_id, message, color, _ = run_project(
        services, uploads, FIELDS, 0.5, 0.8, progress=lambda *s: steps.append(s)
    )
    assert color == "success", message
    order = list(dict.fromkeys(s[0] for s in steps))
    assert order == ["reading", "blocking", "scoring", "saving"]
    assert ("scoring", 1200, 1200) in steps
    assert project_id in [o["value"] for o in options]
    assert not list((Path(services.config.data_dir) / "runs").glob("*.*"))


def test_cancel_before_saving_leaves_no_project_and_no_files(services, uploads):
    before = (services.project_options(), _projects_on_disk(services))
    ticket = start_run(services, uploads, FIELDS, 0.5, 0.8)

    def cancel_while_scoring(step, done, total):
        if step == "scoring" and done == 0:
            assert cancelled_run(services, ticket)["message"] == CANCELLED

    out = finish_run(services, ticket, cancel_while_scoring)
    assert out["message"] == CANCELLED
    assert out["options"] is no_update and out["project"] is no_update
    assert (services.project_options(), _projects_on_disk(services)) == before
    assert not list((Path(services.config.data_dir) / "runs").glob("*.*"))


def test_cancel_once_saving_has_begun_lets_the_run_finish(services, uploads):
    ticket = start_run(services, uploads, FIELDS, 0.5, 0.8)
    answers = []

    def cancel_while_saving(step, done, total):
        if step == "saving":
            answers.append(cancelled_run(services, ticket))
            os.kill(os.getpid(), signal.SIGTERM)  # how Celery stops a task: ignored now

    out = finish_run(services, ticket, cancel_while_saving)
    assert out["color"] == "success"
    assert "already begun saving" in answers[0]["message"]
    assert out["project"] in [o["value"] for o in services.project_options()]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_ticket_is_used_once_and_a_made_up_one_names_nothing(services, uploads):
    ticket = start_run(services, uploads, FIELDS, 0.5, 0.8)
    assert finish_run(services, ticket)["color"] == "success"
    again = finish_run(services, ticket)
    assert again["message"].startswith("Could not run: that run is not on the server")
    for forged in ("../../etc/passwd", "0" * 32, None, 7):
        assert "not on the server" in finish_run(services, forged)["message"]
        assert cancel_ticket(services, forged) is False


def test_a_failing_run_says_why_and_keeps_the_projects(services, project):
    bad = {
        "left": _upload(services, 5, "l.csv", repeat=True),
        "right": _upload(services, 5, "r.csv"),
    }
    before = (services.project_options(), _projects_on_disk(services))
    options, selected, message, color, _ = run_project(services, bad, FIELDS, 0.5, 0.8)
    assert message == "Could not run: the left ID column 'id' repeats '1'; ids must be unique"
    assert (options, selected, color) == (no_update, no_update, "danger")
    assert (services.project_options(), _projects_on_disk(services)) == before


def test_a_scorer_error_is_shown_and_writes_nothing(services, uploads, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the scorer broke")

    monkeypatch.setattr(matching.engine.full, "score_matrix", broken)
    before = (services.project_options(), _projects_on_disk(services))
    _, _, message, color, _ = run_project(services, uploads, FIELDS, 0.5, 0.8)
    assert message == "Could not run: the scoring failed (RuntimeError: the scorer broke)"
    assert color == "danger"
    assert (services.project_options(), _projects_on_disk(services)) == before


def test_running_out_of_memory_is_a_message(services, uploads, monkeypatch):
    def too_big(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(matching.engine.full, "score_matrix", too_big)
    message = run_project(services, uploads, FIELDS, 0.5, 0.8)[2]
    assert message.startswith("Could not run: the server ran out of memory")


def test_the_run_checks_the_role_again_from_the_user_store(services, uploads, monkeypatch):
    services.users.add("ann", "admin", "pw")
    monkeypatch.setattr(services, "signed_in", lambda: ("ann", "admin"))
    ticket = start_run(services, uploads, FIELDS, 0.5, 0.8)
    services.users.set_role("ann", "lead")
    before = services.project_options()
    out = finish_run(services, ticket)
    assert out["message"] == ("Could not run: only an admin may create projects; you are a lead")
    assert services.project_options() == before


def test_only_an_admin_may_start_a_run(services, uploads, monkeypatch):
    services.users.add("bo", "lead", "pw")
    monkeypatch.setattr(services, "signed_in", lambda: ("bo", "lead"))
    with pytest.raises(PermissionDenied, match="may create project"):
        start_run(services, uploads, FIELDS, 0.5, 0.8)
    assert not list((Path(services.config.data_dir) / "runs").glob("*.json"))


# -- managers ------------------------------------------------------------------------


def test_the_default_manager_keeps_its_cache_under_the_data_folder(app_config):
    app = create_app(app_config)
    manager = app.matchdesk_runs
    assert isinstance(manager, RunManager)
    assert Path(manager.handle.directory) == Path(app_config.data_dir) / "runs" / "cache"


def test_a_celery_broker_gives_a_celery_manager(app_config):
    config, _ = config_from_args(["--celery-broker", "redis://127.0.0.1:6399/0"])
    assert config.celery_broker == "redis://127.0.0.1:6399/0"
    app_config.celery_broker = config.celery_broker
    manager = manager_for(app_config)
    assert isinstance(manager, CeleryManager)
    assert manager.handle.conf.broker_url == "redis://127.0.0.1:6399/0"
    assert str(manager.handle.backend.url).startswith("redis://127.0.0.1:6399/0")


def _nobody_listens() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{probe.getsockname()[1]}/0"


def test_polls_to_an_unreachable_broker_keep_the_run_and_say_so(app_config):
    from server.broker import BROKER_DOWN, BrokerUnreachable

    app_config.celery_broker = _nobody_listens()
    manager = manager_for(app_config)
    began = time.monotonic()
    assert manager.get_progress("key") == [0, "", BROKER_DOWN]
    assert manager.get_result("key", "job") is manager.UNDEFINED
    assert manager.job_running("job") is True  # not known: the page asks again
    assert manager.get_updated_props("key") == {}
    manager.terminate_job("job")  # Cancel's order is dropped; the ticket is what counts
    with pytest.raises(BrokerUnreachable):  # no task is sent (that would take minutes)
        manager.call_job_fn("key", None, (), {})
    assert time.monotonic() - began < 5


def test_a_run_no_worker_has_started_for_a_minute_says_so(app_config, monkeypatch):
    from server.broker import NOT_TAKEN, NOT_TAKEN_AFTER

    app_config.celery_broker = _nobody_listens()
    manager = manager_for(app_config)
    monkeypatch.setattr(CeleryManager, "get_progress", lambda self, key: None)  # no progress
    job = manager.folder / "key.job"
    job.parent.mkdir(parents=True, exist_ok=True)
    job.write_text("run1")
    assert manager.get_progress("key") is None  # just sent: a worker may take it yet
    old = time.time() - NOT_TAKEN_AFTER - 1
    os.utime(job, (old, old))
    assert manager.get_progress("key") == [0, "", NOT_TAKEN]
    (manager.folder / "run1.started").write_text("")  # a worker took it
    assert manager.get_progress("key") is None
    manager._forget("key")
    assert not any(manager.folder.iterdir())
    assert manager.get_progress("unknown") is None


def test_a_run_clicked_while_the_broker_is_away_is_refused_with_a_message(services, uploads):
    services.config.celery_broker = _nobody_listens()
    began = time.monotonic()
    out = run_project(services, uploads, FIELDS, 0.5, 0.8)
    assert out[2] == (
        "Could not run: the task broker (Redis) is unreachable, so the run was not started;"
        " try again once it is back"
    )
    assert time.monotonic() - began < 10
    assert not list((Path(services.config.data_dir) / "runs").glob("*.json"))  # no ticket


def test_a_saving_marker_of_a_process_that_is_gone_is_swept(services, uploads):
    runs = Path(services.config.data_dir) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (runs / f"saving-{gone.pid}").touch()
    (runs / f"saving-{os.getpid()}").touch()
    start_run(services, uploads, FIELDS, 0.5, 0.8)
    assert sorted(p.name for p in runs.glob("saving-*")) == [f"saving-{os.getpid()}"]


def test_a_run_that_is_saving_is_not_killed(tmp_path):
    manager = RunManager(tmp_path / "runs")
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        marker = tmp_path / "runs" / f"saving-{job.pid}"
        marker.touch()
        manager.terminate_job(job.pid)
        time.sleep(0.2)
        assert job.poll() is None
        marker.unlink()
        manager.terminate_job(job.pid)
        job.wait(timeout=5)  # ended, long before its 30 s
    finally:
        job.kill()
        job.wait()


# -- two runs of the same project ---------------------------------------------------


def _in_thread(work):
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("out", work()), daemon=True)
    thread.start()
    return thread, box


def _until(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


class _TwoRuns:
    """Two runs of one set-up on the same tables: the first held while it scores, the
    second started then, waiting for the first (its steps in ``heard``)."""

    def __init__(self, services, uploads) -> None:
        self.first, self.second = (start_run(services, uploads, FIELDS, 0.5, 0.8) for _ in range(2))
        scoring, self.go = threading.Event(), threading.Event()
        self.heard: list[tuple] = []

        def hold_while_scoring(step, done, total):
            if step == "scoring":
                scoring.set()
                self.go.wait(20)

        self.a, self.out_a = _in_thread(
            lambda: finish_run(services, self.first, hold_while_scoring)
        )
        assert scoring.wait(20)
        self.b, self.out_b = _in_thread(
            lambda: finish_run(services, self.second, lambda *s: self.heard.append(s))
        )
        _until(lambda: ("waiting", 0, 0) in self.heard)


def test_a_second_run_of_the_same_project_waits_and_a_cancelled_first_removes_nothing_of_it(
    services, uploads
):
    """The first run is cancelled while the second (same tables, same set-up, so the
    same project folder) waits: the first removes its folder while it holds the
    project, and the second then makes the whole project afresh."""
    runs = _TwoRuns(services, uploads)
    assert not any(s[0] == "scoring" for s in runs.heard)  # nothing written while it waits
    assert cancelled_run(services, runs.first)["message"] == CANCELLED
    runs.go.set()
    runs.a.join(20), runs.b.join(20)
    assert runs.out_a["out"]["message"] == CANCELLED
    assert runs.out_b["out"]["color"] == "success", runs.out_b["out"]["message"]
    project_id = runs.out_b["out"]["project"]
    assert project_id in [o["value"] for o in services.project_options()]
    project = services.project(project_id)
    assert len(project.queue) == 30 and len(project.candidates) > 0
    assert run_status("waiting", 0, 0)[2].startswith("Waiting: another run is making this")


def test_a_run_cancelled_while_it_waits_for_the_same_project_writes_nothing(services, uploads):
    runs = _TwoRuns(services, uploads)
    assert cancelled_run(services, runs.second)["message"] == CANCELLED
    runs.b.join(20)
    assert runs.out_b["out"]["message"] == CANCELLED
    runs.go.set()
    runs.a.join(20)
    assert runs.out_a["out"]["color"] == "success"  # the first run made the project
    assert len(services.project(runs.out_a["out"]["project"]).queue) == 30


def test_a_folder_left_by_a_stopped_run_is_removed_but_not_while_a_run_holds_it(services, uploads):
    ticket = start_run(services, uploads, FIELDS, 0.5, 0.8)
    seen = {}

    def look_while_scoring(step, done, total):
        if step == "scoring" and not seen:
            folder = next(
                p
                for p in Path(services.config.data_dir).iterdir()
                if p.name not in ("uploads", "runs")
            )
            seen["kept"] = not discard_unrecorded(services, folder) and folder.is_dir()
            seen["folder"] = folder

    out = finish_run(services, ticket, look_while_scoring)
    assert out["color"] == "success" and seen["kept"]
    # a folder with no project in the log (a run stopped before it recorded one)
    stale = Path(services.config.data_dir) / "0123abcd"
    stale.mkdir()
    (stale / "left.arrow").write_bytes(b"half")
    assert discard_unrecorded(services, stale) and not stale.exists()
