"""One database, one engine: the decision log and the users' store share them, and
every write on SQLite, the users' too, takes the write lock when it begins."""

from __future__ import annotations

import os
import threading

import pytest
import sqlalchemy as sa

from matching.decisions.db import Database, DatabaseGone, metadata
from matching.decisions.events import make_event
from matching.decisions.log import DecisionLog
from matching.decisions.users import UserStore

POSTGRES = os.environ.get("MATCHDESK_TEST_POSTGRES_URL")


def statements(database: Database) -> list[str]:
    """Every SQL statement the database's engine sends from now on (a live list)."""
    seen: list[str] = []

    @sa.event.listens_for(database.engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(" ".join(statement.split()).upper())

    return seen


def test_the_log_and_the_users_are_tables_of_one_metadata():
    assert {"projects", "events", "leases", "users", "user_sessions", "sign_in_attempts"} <= set(
        metadata.tables
    )


def test_a_users_store_on_the_logs_database_shares_its_engine(tmp_path):
    log = DecisionLog(f"sqlite:///{tmp_path / 'one.db'}")
    store = UserStore(log.database, cost=(2, 1, 1))
    assert store.database.engine is log.database.engine
    store.add("ann", "lead", "pw")
    assert log.ensure_project("p", name="P")
    assert log.append("p", make_event("reject", event_id="e1", left_id="L1", now=1.0))
    # The same file read afresh holds both.
    again = DecisionLog(str(log.url))
    assert [u.name for u in UserStore(again.database).list()] == ["ann"]
    assert [e.event_id for e in again.events("p")] == ["e1"]


def test_the_apps_users_and_log_share_one_engine(services):
    assert services.users.database is services.log.database


LIMITS = {"address_limit": (1000, 60.0), "name_limit": (1000, 60.0)}


def test_users_writes_begin_immediate_and_reads_do_not(tmp_path):
    store = UserStore(f"sqlite:///{tmp_path / 'u.db'}", cost=(2, 1, 1))
    store.count()  # tables made first
    seen = statements(store.database)
    store.add("ann", "lead", "pw")
    store.begin_sign_in("ann", "10.0.0.1", **LIMITS)
    token = store.start_session("ann", idle_seconds=600, lifetime_seconds=3600, now=100.0)
    assert [s for s in seen if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE"] * 3, seen
    seen.clear()
    assert store.count() == 1 and store.get("ann").role == "lead"
    # A session seen a moment ago is only read; its last use is written when due.
    assert store.session_user(token, idle_seconds=600, lifetime_seconds=3600, now=101.0)
    assert [s for s in seen if s.startswith("BEGIN")] == ["BEGIN"] * 3, seen
    seen.clear()
    assert store.session_user(token, idle_seconds=600, lifetime_seconds=3600, now=200.0)
    assert [s for s in seen if s.startswith("BEGIN")] == ["BEGIN", "BEGIN IMMEDIATE"], seen
    store.end_session(token)
    assert store.session_user(token, idle_seconds=600, lifetime_seconds=3600, now=300.0) is None


def test_users_and_decisions_written_from_threads_at_once_all_land(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'busy.db'}", busy_timeout=30)
    log, store = DecisionLog(database), UserStore(database, cost=(2, 1, 1))
    log.ensure_project("p", name="P")
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(10):
                if i % 2:
                    store.begin_sign_in(f"u{i}", f"10.0.{i}.{j}", now=1.0 + j, **LIMITS)
                else:
                    event = make_event("reject", event_id=f"e{i}-{j}", left_id=f"L{i}-{j}")
                    log.append("p", event)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.failed_sign_ins() == 4 * 10
    assert len(log.events("p")) == 4 * 10


def test_users_refuse_a_deleted_database_file(tmp_path):
    path = tmp_path / "gone.db"
    store = UserStore(f"sqlite:///{path}", cost=(2, 1, 1))
    store.add("ann", "lead", "pw")
    path.unlink()
    with pytest.raises(DatabaseGone):
        store.add("bob", "reviewer", "pw")
    with pytest.raises(DatabaseGone):
        store.get("ann")
    assert not path.exists()  # no new, empty file made in its place


@pytest.mark.skipif(
    not POSTGRES, reason="MATCHDESK_TEST_POSTGRES_URL is not set (bash scripts/test sets it)"
)
def test_log_and_users_share_one_engine_on_postgresql():
    engine = sa.create_engine(POSTGRES)
    with engine.begin() as conn:
        conn.execute(sa.text('DROP TABLE IF EXISTS "sign_in_attempts"'))
    engine.dispose()
    log = DecisionLog(POSTGRES)
    store = UserStore(log.database, cost=(2, 1, 1))
    log.ensure_project("db-shared", name="P")
    assert store.begin_sign_in("ann", "10.0.0.9", now=1.0, **LIMITS).refused is None
    assert store.failed_sign_ins() == 1
    assert log.database.engine.pool.checkedout() == 0
    log.close()
