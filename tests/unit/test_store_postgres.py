"""The decision log on PostgreSQL, so several app processes can share one database.

``bash scripts/test`` starts a local PostgreSQL server and sets
``MATCHDESK_TEST_POSTGRES_URL``; without it these tests are skipped, and say so.
"""

from __future__ import annotations

import multiprocessing
import os

import pytest
import sqlalchemy as sa

from matching.decisions.events import make_event
from matching.decisions.log import DecisionLog
from tests.helpers import write_from_threads

URL = os.environ.get("MATCHDESK_TEST_POSTGRES_URL")

pytestmark = pytest.mark.skipif(
    not URL, reason="MATCHDESK_TEST_POSTGRES_URL is not set (bash scripts/test sets it)"
)


def reject(event_id: str, left: str, reviewer: str = "ann"):
    return make_event("reject", event_id=event_id, left_id=left, reviewer=reviewer, now=1.0)


@pytest.fixture
def log():
    engine = sa.create_engine(URL)
    with engine.begin() as conn:
        for table in ("batch_data", "events", "leases", "projects", "heartbeat"):
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    engine.dispose()
    log = DecisionLog(URL)
    log.ensure_project("p", name="Project")
    yield log
    log.close()


def test_triple_click_records_one_event_on_postgres(log):
    event = reject("click-1", "L1")
    assert [log.append("p", event) for _ in range(3)] == [True, False, False]
    assert log.events("p") == [event]


def test_another_process_sees_the_same_decisions(log):
    log.append("p", reject("e1", "L1"))
    other = DecisionLog(URL)
    assert set(other.state("p").decisions) == {"L1"}
    other.append("p", reject("e2", "L2", reviewer="bob"))
    assert set(log.state("p").decisions) == {"L1", "L2"}
    other.close()


def test_twenty_threads_write_at_once_on_postgres(log):
    errors = write_from_threads(log, lambda w, i: reject(f"t{w}-{i}", f"L{w}-{i}", f"r{w}"))
    assert errors == []
    assert len({e.event_id for e in log.events("p")}) == 200


def _write(prefix: str, go, errors) -> None:
    try:
        log = DecisionLog(URL)
        go.wait(60)
        for i in range(10):
            log.append("p", reject(f"{prefix}-{i}", f"{prefix}-{i}", prefix))
            log.append("p", reject(f"{prefix}-{i}", f"{prefix}-{i}", prefix))  # a double click
    except BaseException as error:
        errors.put(repr(error))
        raise


def test_twenty_processes_write_at_once_on_postgres(log):
    fork = multiprocessing.get_context("fork")
    go, errors = fork.Event(), fork.Queue()
    procs = [fork.Process(target=_write, args=(f"w{n}", go, errors)) for n in range(20)]
    for proc in procs:
        proc.start()
    go.set()
    for proc in procs:
        proc.join(120)
    assert errors.empty()
    assert [proc.exitcode for proc in procs] == [0] * 20
    ids = [e.event_id for e in log.events("p")]
    assert sorted(ids) == sorted(f"w{n}-{i}" for n in range(20) for i in range(10))


def test_leases_and_health_on_postgres(log):
    assert log.acquire_lease("p", "L1", "ann", now=100.0)
    assert not log.acquire_lease("p", "L1", "bob", now=101.0)
    assert log.busy_records("p", "bob", now=101.0) == {"L1"}
    assert log.acquire_lease("p", "L1", "bob", now=100.0 + 301)
    assert log.healthy()
