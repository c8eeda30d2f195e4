"""People who may sign in, with their roles, in the same database as the decisions.

Passwords are kept only as scrypt hashes in werkzeug's format
(``scrypt:N:r:p$salt$hex``), computed with the standard library, so the engine
needs no web package and werkzeug's ``check_password_hash`` accepts them too.

The same database also keeps the project each user had open last (see
:meth:`UserStore.last_project`), the app's session-signing secret (see
:meth:`UserStore.secret`), so every process and host that shares the database
signs and accepts the same sessions; the sessions themselves (see
:meth:`UserStore.start_session`), so signing out, or an idle or old session,
ends it in every process at once; and the recent sign-in attempts (see
:meth:`UserStore.begin_sign_in`), so their limits hold across all of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
import shlex
import time as _time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from matching.decisions.db import Database, metadata
from matching.decisions.roles import ROLES

__all__ = [
    "User",
    "UserStore",
    "hash_password",
    "check_password",
    "valid_name",
    "parse_limit",
    "claimed_names",
    "UnknownUser",
    "Attempt",
]

_users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)

_settings = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

_attempts = sa.Table(
    "sign_in_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    #: the name typed and the client's address
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("address", sa.String(200), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_sign_in_attempts_name", "name", "at"),
    sa.Index("ix_sign_in_attempts_address", "address", "at"),
    sa.Index("ix_sign_in_attempts_at", "at"),
)

_sessions = sa.Table(
    "user_sessions",
    metadata,
    #: the SHA-256 of the session's token (the cookie holds the token itself)
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, index=True),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("seen", sa.Float, nullable=False),
)

_last_projects = sa.Table(
    "last_projects",
    metadata,
    #: a user's name, and the project they had open last (whichever browser or worker)
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("project_id", sa.String(200), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)

#: scrypt cost: werkzeug's default (2**15, 8, 1), about 50 ms and 32 MB per check.
SCRYPT = (2**15, 8, 1)

_NAME = re.compile(r"^[^\s:][^:]{0,98}[^\s:]$|^[^\s:]$")


def valid_name(name: str) -> bool:
    """A user name: 1-100 characters, no colon, no leading or trailing space, no
    control character (a new line, an escape, a right-to-left override).

    >>> valid_name("ann"), valid_name("Ann Lee"), valid_name(" ann"), valid_name("a:b")
    (True, True, False, False)
    >>> valid_name("ann" + chr(10) + "bo"), valid_name("Zoë Ngũgĩ")
    (False, True)
    """
    return bool(_NAME.match(name or "")) and name.isprintable()


_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT = re.compile(r"^\s*(\d+)\s*(?:per|/)\s*(\d+)?\s*(second|minute|hour|day)s?\s*$")


def parse_limit(text: str) -> tuple[int, float]:
    """``(count, seconds)`` of a limit written ``"10 per minute"`` or ``"20 per 10 minutes"``.

    >>> parse_limit("10 per minute"), parse_limit("20 per 10 minutes"), parse_limit("5/hour")
    ((10, 60.0), (20, 600.0), (5, 3600.0))
    >>> parse_limit("often")
    Traceback (most recent call last):
    ValueError: 'often' is not a limit like '10 per minute' or '20 per 10 minutes'
    """
    match = _LIMIT.match(text.lower())
    if not match or int(match.group(1)) < 1 or match.group(2) == "0":
        raise ValueError(f"{text!r} is not a limit like '10 per minute' or '20 per 10 minutes'")
    count, many, unit = match.groups()
    return int(count), float(int(many or 1) * _UNITS[unit])


def hash_password(password: str, *, cost: tuple[int, int, int] = SCRYPT) -> str:
    """A salted scrypt hash of ``password`` in werkzeug's format.

    >>> check_password(hash_password("s3cret", cost=(2, 1, 1)), "s3cret")
    True
    """
    n, r, p = cost
    salt = secrets.token_urlsafe(12)[:16]
    digest = hashlib.scrypt(
        password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=max(132 * n * r * p, 2**25)
    ).hex()
    return f"scrypt:{n}:{r}:{p}${salt}${digest}"


def check_password(stored: str, password: str) -> bool:
    """True when ``password`` matches the hash ``stored``; False for any malformed hash."""
    try:
        method, salt, digest = stored.split("$", 2)
        kind, n, r, p = method.split(":")
        if kind != "scrypt":
            return False
        n, r, p = int(n), int(r), int(p)
        computed = hashlib.scrypt(
            password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=max(132 * n * r * p, 2**25)
        ).hex()
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, digest)


class UnknownUser(LookupError):
    """Someone an identity provider vouches for has no matchdesk account."""


def claimed_names(claims: Mapping) -> list[str]:
    """The names an identity provider's claims offer, to look up in order.

    ``preferred_username``, then ``email``; an email the provider marks
    unverified (``email_verified`` false) is not offered, nor any value that
    is not a valid user name.

    >>> claimed_names({"preferred_username": "ann", "email": "ann@example.org"})
    ['ann', 'ann@example.org']
    >>> claimed_names({"email": "bo@example.org", "email_verified": False}), claimed_names({})
    ([], [])
    """
    names = []
    for claim in ("preferred_username", "email"):
        value = claims.get(claim)
        if claim == "email" and claims.get("email_verified") is False:
            continue
        if isinstance(value, str) and valid_name(value) and value not in names:
            names.append(value)
    return names


@dataclass(frozen=True)
class User:
    """A person who may sign in (their sessions: :meth:`UserStore.start_session`)."""

    name: str
    role: str
    password_hash: str


class UserStore:
    """Users and their roles, and the app's signing secret, in a SQLAlchemy database.

    Examples
    --------
    >>> store = UserStore("sqlite://", cost=(2, 1, 1))
    >>> store.add("ann", "lead", "pw")
    >>> store.check("ann", "pw").role, store.check("ann", "nope")
    ('lead', None)
    >>> [u.name for u in store.list()], store.count()
    (['ann'], 1)
    """

    def __init__(self, url: str | Database, *, cost: tuple[int, int, int] = SCRYPT) -> None:
        #: The database and its one engine: pass a decision log's ``database`` to share it.
        self.database = url if isinstance(url, Database) else Database(url)
        self._cost = cost

    def close(self) -> None:
        """Close pooled connections (before a fork); they reopen when used again."""
        self.database.close()

    def forget_connections(self) -> None:
        """After a fork, in the child: new connections from here on, leaving the
        parent's pooled ones open for the parent (SQLAlchemy's multiprocessing advice)."""
        self.database.forget_connections()

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        # A SQLite file deleted or replaced is refused: reading on would hide that it is gone.
        self.database.setup()
        self.database.check_file()
        with self.database.read() as conn:
            yield conn

    def count(self) -> int:
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(_users)).scalar())

    def list(self) -> list[User]:
        """Every user, by name."""
        with self._read() as conn:
            rows = conn.execute(sa.select(_users).order_by(_users.c.name)).mappings().all()
        return [User(r["name"], r["role"], r["password_hash"]) for r in rows]

    def get(self, name: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(sa.select(_users).where(_users.c.name == name)).mappings().first()
        return None if row is None else User(row["name"], row["role"], row["password_hash"])

    def add(self, name: str, role: str, password: str) -> None:
        """Add a user; ``ValueError`` for a bad name or role, an empty password or a taken name."""
        _check(name, role, password)
        row = {
            "name": name,
            "role": role,
            "password_hash": hash_password(password, cost=self._cost),
            "created": _time.time(),
        }
        try:
            with self.database.write() as conn:
                conn.execute(_users.insert().values(**row))
        except IntegrityError:
            raise ValueError(f"there is already a user {name!r}") from None

    def set_password(self, name: str, password: str) -> None:
        """Change a password, which signs the user out everywhere."""
        if not password:
            raise ValueError("the password is empty")
        self._update(name, password_hash=hash_password(password, cost=self._cost))
        with self.database.write() as conn:
            conn.execute(_sessions.delete().where(_sessions.c.name == name))

    def set_role(self, name: str, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
        self._update(name, role=role)

    def _update(self, name: str, **values) -> None:
        with self.database.write() as conn:
            done = conn.execute(_users.update().where(_users.c.name == name).values(**values))
        if done.rowcount == 0:
            raise ValueError(f"there is no user {name!r}")

    def remove(self, name: str) -> None:
        with self.database.write() as conn:
            done = conn.execute(_users.delete().where(_users.c.name == name))
            conn.execute(_sessions.delete().where(_sessions.c.name == name))
            conn.execute(_last_projects.delete().where(_last_projects.c.name == name))
        if done.rowcount == 0:
            raise ValueError(f"there is no user {name!r}")

    def check(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else None (unknown names cost the same)."""
        user = self.get(name or "")
        stored = user.password_hash if user else _DUMMY.get(self._cost)
        if stored is None:
            stored = _DUMMY[self._cost] = hash_password("", cost=self._cost)
        ok = check_password(stored, password or "")
        return user if user is not None and ok else None

    def remember_project(self, name: str, project_id: str) -> None:
        """Keep ``project_id`` as the project ``name`` had open last (see :meth:`last_project`)."""
        row = {"project_id": project_id, "at": _time.time()}
        update = _last_projects.update().where(_last_projects.c.name == name).values(**row)
        try:
            with self.database.write() as conn:
                if conn.execute(update).rowcount == 0:
                    conn.execute(_last_projects.insert().values(name=name, **row))
        except IntegrityError:  # another request of the same user inserted it first
            with self.database.write() as conn:
                conn.execute(update)

    def last_project(self, name: str) -> str | None:
        """The project ``name`` had open last, in any browser, or None."""
        with self._read() as conn:
            query = sa.select(_last_projects.c.project_id).where(_last_projects.c.name == name)
            return conn.execute(query).scalar()

    def secret(self, key: str = "session_secret") -> str:
        """A random secret kept in the database, made on first use, the same for every process."""
        with self._read() as conn:
            query = sa.select(_settings.c.value).where(_settings.c.key == key)
            value = conn.execute(query).scalar()
            if value is not None:
                return value
        try:
            with self.database.write() as conn:
                conn.execute(_settings.insert().values(key=key, value=secrets.token_hex(32)))
        except IntegrityError:
            pass  # another process made it first: use theirs
        with self._read() as conn:
            return conn.execute(query).scalar()

    def for_claims(self, claims: Mapping, *, new_role: str | None = None) -> User:
        """The user an identity provider's ID-token claims name (see :func:`claimed_names`).

        Someone with no account raises :class:`UnknownUser`, whose message says
        how an admin adds them, unless ``new_role`` is given: then they are added
        with that role and a random password (they sign in through the provider).
        """
        names = claimed_names(claims)
        if not names:
            raise UnknownUser(
                "the identity provider sent neither a usable preferred_username nor a "
                "verified email, so matchdesk cannot tell who you are"
            )
        for name in names:
            user = self.get(name)
            if user is not None:
                return user
        if new_role is None:
            raise UnknownUser(
                f"{names[0]} has no matchdesk account. Ask an admin to add it: "
                f"python app.py user add {shlex.quote(names[0])} --role reviewer"
            )
        # Added at the same moment by another sign-in (ValueError): use that one.
        with contextlib.suppress(ValueError):
            self.add(names[0], new_role, secrets.token_urlsafe(32))
        return self.get(names[0])

    # -- sessions, checked on every request ----------------------------------

    def start_session(
        self, name: str, *, idle_seconds: float, lifetime_seconds: float, now: float | None = None
    ) -> str:
        """A new session of ``name``: the token its cookie carries (kept here only hashed).

        Sessions past ``idle_seconds`` without use or ``lifetime_seconds`` old are
        forgotten on the way.
        """
        now = _time.time() if now is None else now
        token = secrets.token_urlsafe(32)
        with self.database.write() as conn:
            conn.execute(
                _sessions.delete().where(
                    (_sessions.c.seen < now - idle_seconds)
                    | (_sessions.c.started < now - lifetime_seconds)
                )
            )
            conn.execute(
                _sessions.insert().values(id=_digest(token), name=name, started=now, seen=now)
            )
        return token

    def session_user(
        self,
        token: str,
        *,
        idle_seconds: float,
        lifetime_seconds: float,
        now: float | None = None,
    ) -> User | None:
        """The user of the session ``token``, or None when it has ended.

        A session ends when signed out (:meth:`end_session`), when its user's
        password changes or the user is removed, after ``idle_seconds`` without
        a request, and ``lifetime_seconds`` after it started. Its last use is
        written at most once per ``min(60, idle_seconds / 4)`` seconds.

        >>> store = UserStore("sqlite://", cost=(2, 1, 1))
        >>> store.add("ann", "lead", "pw")
        >>> token = store.start_session("ann", idle_seconds=60, lifetime_seconds=3600, now=0)
        >>> store.session_user(token, idle_seconds=60, lifetime_seconds=3600, now=50).name
        'ann'
        >>> store.session_user(token, idle_seconds=60, lifetime_seconds=3600, now=111) is None
        True
        """
        now = _time.time() if now is None else now
        key = _digest(token)
        query = (
            sa.select(_users, _sessions.c.started, _sessions.c.seen)
            .join(_sessions, _sessions.c.name == _users.c.name)
            .where(_sessions.c.id == key)
        )
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        # A write only when one is due, in a write transaction of its own: a read that
        # turned into a write would wait on SQLite's lock upgrade instead of its turn.
        if now - row["seen"] > idle_seconds or now - row["started"] > lifetime_seconds:
            with self.database.write() as conn:
                conn.execute(_sessions.delete().where(_sessions.c.id == key))
            return None
        if now - row["seen"] > min(60.0, idle_seconds / 4):
            with self.database.write() as conn:
                seen = _sessions.update().where(_sessions.c.id == key).values(seen=now)
                if conn.execute(seen).rowcount == 0:
                    return None  # signed out meanwhile
        return User(row["name"], row["role"], row["password_hash"])

    def end_session(self, token: str) -> None:
        """Sign the session ``token`` out, in every process that shares the database."""
        with self.database.write() as conn:
            conn.execute(_sessions.delete().where(_sessions.c.id == _digest(token)))

    def sessions(self, name: str) -> int:
        """How many sessions ``name`` has open (ended ones may linger until next sign-in)."""
        query = sa.select(sa.func.count()).select_from(_sessions).where(_sessions.c.name == name)
        with self._read() as conn:
            return int(conn.execute(query).scalar())

    # -- sign-in attempts, shared by every process on this database ---------

    def begin_sign_in(
        self,
        name: str,
        address: str,
        *,
        address_limit: tuple[int, float],
        name_limit: tuple[int, float],
        now: float | None = None,
    ) -> Attempt:
        """Count a sign-in attempt before its password is checked, or refuse it.

        ``address_limit`` and ``name_limit`` are ``(count, seconds)``. An
        attempt counts from here until :meth:`end_sign_in` says it succeeded,
        so parallel attempts see each other: once the client's address has
        ``count`` attempts within the last ``seconds``, it waits (refused
        ``"address"``). Once the name has ``count`` attempts from any
        addresses, only addresses that tried this name and failed within the
        window wait (refused ``"name"``): a stranger guessing someone's
        password cannot lock them out, since their right password from an
        address with no failures still goes through. Counting and the refusal
        are one transaction that every process on the database takes in turn.
        """
        now = _time.time() if now is None else now
        name, address = _key(name), _key(address)

        def count(conn, window: float, *where) -> int:
            query = sa.select(sa.func.count()).select_from(_attempts)
            return conn.execute(query.where(_attempts.c.at > now - window, *where)).scalar()

        keep = max(address_limit[1], name_limit[1])
        with self.database.write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("LOCK TABLE sign_in_attempts IN SHARE ROW EXCLUSIVE MODE"))
            # On SQLite this first write takes the database's write lock for the count.
            conn.execute(_attempts.delete().where(_attempts.c.at < now - keep))
            if count(conn, address_limit[1], _attempts.c.address == address) >= address_limit[0]:
                return Attempt(None, "address")
            by_name = _attempts.c.name == name
            if count(conn, name_limit[1], by_name) >= name_limit[0] and count(
                conn, name_limit[1], by_name, _attempts.c.address == address
            ):
                return Attempt(None, "name")
            done = conn.execute(_attempts.insert().values(name=name, address=address, at=now))
            return Attempt(done.inserted_primary_key[0], None)

    def end_sign_in(self, attempt: Attempt, *, succeeded: bool) -> None:
        """A counted attempt's outcome: a success no longer counts, a failure goes on."""
        if succeeded and attempt.id is not None:
            with self.database.write() as conn:
                conn.execute(_attempts.delete().where(_attempts.c.id == attempt.id))

    def failed_sign_ins(self) -> int:
        """How many failed sign-ins the database remembers (after pruning)."""
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(_attempts)).scalar())


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt: its row while counted, or why it was refused.

    ``refused`` is None (go on and check the password), ``"address"`` or ``"name"``.
    """

    id: int | None
    refused: str | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _key(value: str | None) -> str:
    return (value or "")[:200]


_DUMMY: dict[tuple[int, int, int], str] = {}


def _check(name: str, role: str, password: str) -> None:
    if not valid_name(name):
        raise ValueError(
            f"{name!r} is not a valid user name (1-100 characters, no colon, "
            "no space at either end, no control character)"
        )
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    if not password:
        raise ValueError("the password is empty")
