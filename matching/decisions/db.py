"""The one database of an install: the :data:`metadata` every table of the decision log
and of the users is declared on, and the :class:`Database` (one engine) they share.

SQLite is opened in WAL mode (readers never wait for the writer), with a busy
timeout, and every write runs in a ``BEGIN IMMEDIATE`` transaction: a writer
takes the write lock when it starts, so it waits its turn (up to the timeout)
instead of failing with "database is locked" when two transactions both try to
upgrade a read lock. ``synchronous=FULL`` makes a commit survive a power cut,
not just a crash of the process: the log is what a reviewer is told is saved,
and a human clicks at most a few times a second, so one fsync a commit is cheap.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

__all__ = ["Database", "DatabaseGone", "metadata", "BUSY_TIMEOUT", "sqlite_file"]

#: Every table of the database: the decision log's and the users'.
metadata = sa.MetaData()

#: Seconds a SQLite writer waits for the write lock before giving up.
BUSY_TIMEOUT = 30.0


class DatabaseGone(SQLAlchemyError):
    """The SQLite file the database opened was deleted or replaced while the app ran.

    Writing on would put decisions in a file nobody reads again (or in a new
    empty one), so every write is refused until the server is restarted.
    """


def sqlite_file(url: sa.URL) -> str | None:
    """The path of a SQLite database file, or None (in memory, or not SQLite)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or "mode=memory" in str(url):
        return None
    if database.startswith("file:"):
        database = database[5:].split("?", 1)[0]
    return os.path.abspath(database)


def _add_missing_columns(conn: Connection, table: sa.Table) -> None:
    """Add the columns with a server default (which the table's rows take) that a table
    made by an earlier version lacks."""
    have = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
    for column in table.columns:
        if column.name in have or column.server_default is None:
            continue
        definition = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
        # Several processes may start at once; PostgreSQL can let the later one pass.
        exists = "IF NOT EXISTS " if conn.dialect.name == "postgresql" else ""
        conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {exists}{definition}")


def _sqlite_engine(url: sa.URL, *, busy_timeout: float) -> Engine:
    memory = url.database in (None, "", ":memory:") or "mode=memory" in str(url)
    options: dict = {"connect_args": {"timeout": busy_timeout, "check_same_thread": False}}
    if memory:
        # One shared connection, or each pooled connection would see its own empty database.
        options["poolclass"] = StaticPool
    engine = sa.create_engine(url, **options)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Leave transactions to the "begin" listener below (SQLAlchemy's pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if not memory:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("matchdesk_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class Database:
    """One engine on one database, shared by the decision log and the users' store.

    Parameters
    ----------
    url : str or sqlalchemy.URL
        ``sqlite:///path.db``, ``sqlite://`` (in memory: one shared connection,
        for single-threaded tests) or a server database such as
        ``postgresql+psycopg://user@host/db``.
    busy_timeout : float
        SQLite only: seconds a writer waits for another writer to finish.

    Notes
    -----
    Nothing touches the database until the first :meth:`read` or :meth:`write`;
    then every table of :data:`metadata` is made if missing. One instance is safe
    to share between the threads of a process; make one per process, after any
    fork (or call :meth:`forget_connections` in the child).

    Examples
    --------
    >>> db = Database("sqlite://")
    >>> with db.read() as conn:
    ...     sorted(metadata.tables) == sorted(sa.inspect(conn).get_table_names())
    True
    """

    def __init__(self, url: str | sa.URL, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.url = make_url(url)
        if self.url.get_backend_name() == "sqlite":
            self.engine = _sqlite_engine(self.url, busy_timeout=busy_timeout)
        else:
            self.engine = sa.create_engine(self.url, pool_pre_ping=True)
        #: The engine with the option that makes SQLite begin with ``BEGIN IMMEDIATE``.
        self.writer = self.engine.execution_options(matchdesk_write=True)
        self.file = sqlite_file(self.url)
        self._identity: tuple[int, int] | None = None
        self._made = 0  # how many tables of ``metadata`` were made (or found) so far
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        """Close the pooled connections; they reopen when used again."""
        self.engine.dispose()

    def forget_connections(self) -> None:
        """After a fork, in the child: new connections from here on, leaving the
        parent's pooled ones open for the parent (SQLAlchemy's multiprocessing advice)."""
        self.engine.dispose(close=False)
        self._lock = threading.Lock()

    def setup(self) -> None:
        """Make every table of :data:`metadata`, and any column or index an earlier
        version lacked."""
        if self._made == len(metadata.tables):
            return
        with self._lock:
            if self._made == len(metadata.tables):
                return
            made = len(metadata.tables)  # tables a module declares later are made then
            try:
                with self.writer.begin() as conn:
                    metadata.create_all(conn)
            except SQLAlchemyError:
                # Another process may have created the tables between check and create.
                with self.writer.begin() as conn:
                    metadata.create_all(conn)
            with self.writer.begin() as conn:
                for table in metadata.sorted_tables:
                    _add_missing_columns(conn, table)
                    for index in table.indexes:
                        index.create(conn, checkfirst=True)
            self._made = made

    def check_file(self) -> None:
        """Raise :class:`DatabaseGone` when the SQLite file is not the one first opened."""
        if self.file is None:
            return
        try:
            st = os.stat(self.file)
        except OSError:
            raise DatabaseGone(f"the database file {self.file} is gone") from None
        identity = (st.st_dev, st.st_ino)
        if self._identity is None:
            self._identity = identity
        elif identity != self._identity:
            raise DatabaseGone(f"the database file {self.file} was replaced")

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite), refused when the file is gone."""
        self.setup()
        self.check_file()
        with self.writer.begin() as conn:
            yield conn
            # Checked again before the commit: a file deleted meanwhile must not
            # take an acknowledged decision with it.
            self.check_file()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction."""
        self.setup()
        with self.engine.begin() as conn:
            yield conn
