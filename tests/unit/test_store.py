from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from matching.decisions.events import Batch, make_event
from matching.decisions.log import DecisionLog
from matching.decisions.settings import ProjectSettings
from tests.helpers import write_from_threads

ROOT = Path(__file__).resolve().parents[2]

# Appends events to a project, printing each event's id once its commit has returned.
WRITER = """
import sys
from matching.decisions.events import make_event
from matching.decisions.log import DecisionLog

url, project, prefix, count = sys.argv[1:]
log = DecisionLog(url)
log.ensure_project(project, name="shared")
for i in range(int(count)):
    event_id = f"{prefix}-{i}"
    log.append(project, make_event("reject", event_id=event_id, left_id=str(i), reviewer=prefix))
    print(event_id, flush=True)
"""


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _python(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", WRITER, *args], env=env, cwd=ROOT, **kwargs)


@pytest.fixture
def log(tmp_path: Path) -> DecisionLog:
    log = DecisionLog(_url(tmp_path / "log.db"))
    log.ensure_project("p", name="Project", settings=ProjectSettings(floor=0.5))
    yield log
    log.close()


def accept(event_id: str, left: str, *rights: str, reviewer: str = "ann", now: float = 1.0):
    return make_event(
        "accept",
        event_id=event_id,
        left_id=left,
        right_ids=rights,
        reviewer=reviewer,
        now=now,
        scores={r: 0.9 for r in rights},
        edits={rights[0]: {"name": "=fixed"}} if rights else {},
    )


def test_triple_click_records_one_event(log):
    event = accept("click-1", "L1", "R1")
    assert [log.append("p", event) for _ in range(3)] == [True, False, False]
    assert log.events("p") == [event]


def test_same_event_id_in_another_project_is_a_different_event(log):
    log.ensure_project("q", name="Other")
    assert log.append("p", accept("e", "L1", "R1"))
    assert log.append("q", accept("e", "L1", "R1"))


def test_append_many_writes_only_new_ids(log):
    log.append("p", accept("a", "L1", "R1"))
    batch = [accept("a", "L1", "R1"), accept("b", "L2", "R2"), accept("b", "L2", "R2")]
    batch.append(accept("c", "L3", "R3"))
    assert log.append_many("p", batch) == 2
    assert [e.event_id for e in log.events("p")] == ["a", "b", "c"]
    assert [e.event_id for e in log.events("p", after_seq=1)] == ["b", "c"]


def test_append_to_unknown_project_is_refused(log):
    with pytest.raises(ValueError, match="no project 'nope'"):
        log.append("nope", accept("a", "L1", "R1"))
    assert log.events("nope") == []


def test_events_keep_every_field(log):
    event = make_event(
        "accept",
        event_id="e1",
        left_id="7",
        right_ids=("r1", "r2"),
        edits={"r1": {"city": "Zürich 🚀"}},
        reviewer="ann",
        now=1700000000.25,
        automatic=True,
        batch="bulk-1",
        scores={"r1": 0.75, "r2": 0.5},
        thresholds={"keep": 0.4, "select": 0.8},
    )
    log.append("p", event)
    assert log.events("p") == [event]


def test_state_is_rebuilt_after_reopening_the_file(tmp_path):
    url = _url(tmp_path / "log.db")
    first = DecisionLog(url)
    first.ensure_project("p", name="Project")
    first.append("p", accept("a", "L1", "R1"))
    first.append("p", make_event("reject", event_id="b", left_id="L2", reviewer="ann", now=2))
    first.append("p", make_event("undo", event_id="c", target="a", reviewer="ann", now=3))
    expected = first.state("p")
    first.close()

    second = DecisionLog(url)
    assert second.ensure_project("p", name="Project") is False
    state = second.state("p")
    assert state == expected
    assert set(state.decisions) == {"L2"}
    assert state.version == 3


def test_state_sees_events_written_by_another_instance(tmp_path, log):
    other = DecisionLog(log.url.render_as_string(hide_password=False))
    log.append("p", accept("a", "L1", "R1"))
    assert set(log.state("p").decisions) == {"L1"}
    other.append("p", accept("b", "L2", "R2"))
    assert set(log.state("p").decisions) == {"L1", "L2"}
    assert log.state("p") is log.state("p")


def test_projects_are_listed_and_their_settings_changed(log):
    assert log.ensure_project("q", name="Second") is True
    log.append("q", accept("a", "L1", "R1", now=42.0))
    log.change_settings("p", lambda s: s.with_thresholds(show_from=0.6, select=0.7))
    listed = {p["project_id"]: p for p in log.projects()}
    assert [p["project_id"] for p in log.projects()] == ["p", "q"]
    assert listed["p"]["settings"] == ProjectSettings(floor=0.5, show_from=0.6, select=0.7)
    assert (listed["p"]["events"], listed["q"]["events"]) == (0, 1)
    assert listed["q"]["last_event"] == 42.0
    assert log.project("q")["name"] == "Second"
    assert log.project("missing") is None
    with pytest.raises(ValueError, match="no project 'missing'"):
        log.change_settings("missing", lambda s: s)


def test_sqlite_runs_in_wal_mode_with_full_sync_and_busy_timeout(log):
    log.healthy()
    with log.database.engine.connect() as conn:
        journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    assert (journal, sync, timeout) == ("wal", 2, 30000)


def test_twenty_threads_write_at_once(log):
    errors = write_from_threads(
        log, lambda w, i: accept(f"t{w}-{i}", f"L{i}", "R1", reviewer=f"r{w}"), per_writer=25
    )
    assert errors == []
    assert len({e.event_id for e in log.events("p")}) == 20 * 25


def _write_in_process(url: str, prefix: str, count: int, go, errors: Path) -> None:
    try:
        log = DecisionLog(url)
        log.ensure_project("p", name="shared")
        go.wait(60)
        for i in range(count):
            log.append("p", accept(f"{prefix}-{i}", f"L{i}", "R1", reviewer=prefix))
    except BaseException as error:
        errors.write_text(repr(error))
        raise


def test_twenty_processes_write_at_once(tmp_path):
    # Forked, so the writers start at once without importing pandas twenty times;
    # each creates the tables and the project if it is first.
    fork = multiprocessing.get_context("fork")
    url = _url(tmp_path / "shared.db")
    go = fork.Event()
    procs = [
        fork.Process(target=_write_in_process, args=(url, f"w{n}", 25, go, tmp_path / f"w{n}.err"))
        for n in range(20)
    ]
    for proc in procs:
        proc.start()
    go.set()
    for proc in procs:
        proc.join(120)
    errors = [path.read_text() for path in sorted(tmp_path.glob("*.err"))]
    assert errors == []
    assert [proc.exitcode for proc in procs] == [0] * 20
    ids = {e.event_id for e in DecisionLog(url).events("p")}
    assert ids == {f"w{n}-{i}" for n in range(20) for i in range(25)}


def test_kill_9_mid_review_loses_no_acknowledged_event(tmp_path):
    path = tmp_path / "crash.db"
    proc = _python(_url(path), "p", "crash", "100000", stdout=subprocess.PIPE, text=True)
    acknowledged = [proc.stdout.readline().strip() for _ in range(200)]
    os.kill(proc.pid, signal.SIGKILL)
    acknowledged += [line.strip() for line in proc.stdout if line.strip()]
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    log = DecisionLog(_url(path))
    stored = [e.event_id for e in log.events("p")]
    assert set(acknowledged) <= set(stored)
    assert stored == [f"crash-{i}" for i in range(len(stored))]
    assert log.append("p", make_event("skip", event_id="after", left_id="1"))


def test_lease_keeps_a_record_from_another_reviewer_until_it_expires(log):
    assert log.acquire_lease("p", "L1", "ann", ttl=300, now=1000)
    assert not log.acquire_lease("p", "L1", "bob", ttl=300, now=1299)
    assert log.busy_records("p", "bob", now=1299) == {"L1"}
    assert log.busy_records("p", "ann", now=1299) == set()
    assert log.busy_records("p", "bob", now=1300) == set()
    assert log.acquire_lease("p", "L1", "bob", ttl=300, now=1300)
    assert log.busy_records("p", "ann", now=1300) == {"L1"}


def test_same_reviewer_renews_their_lease(log):
    assert log.acquire_lease("p", "L1", "ann", ttl=60, now=0)
    assert log.acquire_lease("p", "L1", "ann", ttl=60, now=50)
    assert log.busy_records("p", "bob", now=100) == {"L1"}


def test_a_reviewer_holds_one_lease_unless_asked_otherwise(log):
    log.acquire_lease("p", "L1", "ann", now=0)
    log.acquire_lease("p", "L2", "ann", now=0)
    assert log.busy_records("p", "bob", now=1) == {"L2"}
    log.acquire_lease("p", "L3", "ann", now=0, exclusive=False)
    assert log.busy_records("p", "bob", now=1) == {"L2", "L3"}
    log.acquire_lease("p", "L9", "bob", now=0)
    log.release_leases("p", "ann")
    assert log.busy_records("p", "bob", now=1) == set()
    assert log.busy_records("p", "ann", now=1) == {"L9"}


def test_leases_are_per_project(log):
    log.ensure_project("q", name="Other")
    assert log.acquire_lease("p", "L1", "ann", now=0)
    assert log.acquire_lease("q", "L1", "bob", now=0)
    assert log.busy_records("q", "ann", now=1) == {"L1"}


def test_healthy_when_the_database_accepts_a_write(log):
    assert log.healthy()
    assert log.healthy()


def test_unhealthy_on_a_read_only_database(tmp_path, log):
    log.healthy()
    path = tmp_path / "log.db"
    read_only = DecisionLog(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert read_only.healthy() is False
    assert log.healthy() is True


def test_unhealthy_on_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "broken.db"
    path.write_bytes(b"this is not a database" * 100)
    assert DecisionLog(_url(path)).healthy() is False


def test_unhealthy_when_the_folder_is_missing(tmp_path):
    assert DecisionLog(_url(tmp_path / "missing" / "log.db")).healthy() is False


def test_recovers_once_the_database_is_reachable(tmp_path):
    folder = tmp_path / "later"
    log = DecisionLog(_url(folder / "log.db"))
    assert log.healthy() is False
    folder.mkdir()
    assert log.healthy() is True
    assert log.ensure_project("p", name="Project")


def test_engine_imports_no_web_framework():
    code = (
        "import sys, matching.decisions.log, matching.decisions.export; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dash', 'flask')))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_a_written_batch_leaves_no_copy_of_its_columns_in_the_statement_cache(log):
    batch = Batch.of(
        "b", "accept", batch="bulk", reviewer="lee", time=1.0,
        left_ids=[f"L{i}" for i in range(2000)], right_ids=[f"R{i}" for i in range(2000)],
        offsets=range(2001), cand_right=[f"R{i}" for i in range(2000)], cand_score=[0.9] * 2000,
    )  # fmt: skip
    with log.transaction("p") as tx:
        assert tx.insert_batch(batch) == 2000
    # SQLAlchemy keeps each statement it compiles, with the values written into it.
    cached = [
        bind.value
        for compiled in log.database.engine._compiled_cache.values()
        for bind in getattr(compiled, "binds", {}).values()
    ]
    assert not [v for v in cached if isinstance(v, bytes) and len(v) > 1000]
    [(_, back)] = log.event_rows("p", compact=True)
    assert back.to_bytes() == batch.to_bytes()
