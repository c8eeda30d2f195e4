"""The services object of one app: how a request reaches the workspace, and who sends it.

One :class:`Services` object belongs to one app (``app.matchdesk``): the
:class:`~matching.workspace.Workspace` of the app's data folder and decision log
(projects, desks, caches), with the web side's parts beside it: the app's
configuration, the users who may sign in and who sent the current request, and
the Flask cache the Tuning tab keeps its figures in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd
from flask import has_request_context
from flask_caching import Cache
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from matching.decisions.roles import PermissionDenied
from matching.decisions.users import UserStore
from matching.decisions.versions import latest_project
from matching.engine.spec import Spec
from matching.workspace import Workspace, WorkspaceConfig

__all__ = ["AppConfig", "Services", "services_of"]


@dataclass
class AppConfig(WorkspaceConfig):
    """How the app starts: the workspace's folder and log, and the web side's options.

    ``left``/``right`` with ``spec`` open (or reopen) a project at start; with
    none of them the app opens the tutorial demo.
    """

    left: pd.DataFrame | None = None
    right: pd.DataFrame | None = None
    spec: Spec | None = None
    keep: float = 0.5
    select: float = 0.8
    #: The project's name; None: that of the latest project whose tables had the same
    #: columns (its next version), else from ``file_names``.
    name: str | None = "project"
    file_names: tuple[str, str] = ("left", "right")
    cache_dir: str | None = None
    sources: dict = field(default_factory=dict)
    #: Largest upload (a file's total size, sent in chunks).
    max_upload_mb: float = 512
    #: Largest request body other than an upload's chunk (a callback, a set-up file):
    #: a bigger one is refused with 413 before it is read.
    max_request_mb: float = 32
    #: A folder admins may open tables from by path (never outside it); None: no such folder.
    data_root: str | None = None
    #: Size of the chunks the page sends a file in.
    upload_chunk_bytes: int = 8 * 1024 * 1024
    #: Most rows x columns a table may have.
    max_cells: int = 20_000_000
    #: Exports of the matched table written at once on this host, and by one user; one
    #: more is answered "busy, try again".
    max_exports: int = 2
    max_exports_per_user: int = 1
    #: Failed sign-ins allowed per client address, counted in the database for every process.
    login_limit: str = "10 per minute"
    #: Failed sign-ins allowed per name typed, from any address.
    login_name_limit: str = "20 per 10 minutes"
    #: A request's body must arrive within this many seconds plus one per 500 bytes.
    body_timeout: float = 10
    #: A session ends after this long without a request (minutes) ...
    session_idle_minutes: float = 60
    #: ... and this long after signing in, whatever its use (hours).
    session_max_hours: float = 12
    #: Session-signing secret; by default one is made and kept in the database.
    secret_key: str | None = None
    #: Trust one reverse proxy's X-Forwarded-For/-Proto/-Host headers.
    behind_proxy: bool = False
    #: OpenID Connect: the issuer URL (its discovery document is read), None for passwords only.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    #: None for a public client (PKCE only).
    oidc_client_secret: str | None = None
    #: The provider's name on the "Sign in with ..." button (default: the issuer's host).
    oidc_name: str | None = None
    #: Role given to someone the provider vouches for who has no account; None refuses them.
    oidc_new_role: str | None = None
    #: Run the Data panel's scoring on Celery workers through this broker (a Redis
    #: URL); None runs it in a process of its own beside the server.
    celery_broker: str | None = None


class Services(Workspace):
    """The app's server side: its workspace, its users and cache, its configuration."""

    def __init__(self, config: AppConfig, server) -> None:
        super().__init__(config)
        self.users = UserStore(self.log.database)  # one engine for decisions and users
        self._users_seen = (0.0, False)
        cache_config = {
            "CACHE_TYPE": "SimpleCache",
            "CACHE_DEFAULT_TIMEOUT": 0,
            "CACHE_THRESHOLD": 64,
        }
        if config.cache_dir:
            cache_config = {
                "CACHE_TYPE": "FileSystemCache",
                "CACHE_DIR": config.cache_dir,
                "CACHE_DEFAULT_TIMEOUT": 0,
                "CACHE_THRESHOLD": 64,
            }
        self.cache = Cache(server, config=cache_config)

    def after_fork(self) -> None:
        """In a process forked from the server's (a background run): connections and
        locks of its own, leaving the server's pooled connections to the server."""
        super().after_fork()
        self.users.forget_connections()

    def before_fork(self) -> None:
        """Ready the server's process to fork its workers (see
        :meth:`Workspace.before_fork`): the tables it was started with are the
        first project's files by now, so it drops them, and it closes the users'
        connections too."""
        self.config.left = self.config.right = None
        self.users.close()
        super().before_fork()

    # -- who is acting ----------------------------------------------------

    def sign_in_required(self) -> bool:
        """True once any user exists (checked at most every 2 seconds per process)."""
        seen, required = self._users_seen
        if required:
            return True
        if time.monotonic() - seen > 2:
            required = self.users.count() > 0
            self._users_seen = (time.monotonic(), required)
        return required

    def signed_in(self) -> tuple[str, str] | None:
        """``(name, role)`` of the request's signed-in user, or None."""
        if has_request_context() and current_user.is_authenticated:
            return current_user.name, current_user.role
        return None

    def actor(self, typed_name: str | None) -> tuple[str, str]:
        """``(name, role)`` of whoever sent the current request.

        With sign-in on, the signed-in user (``typed_name`` is ignored) and
        :class:`~matching.decisions.roles.PermissionDenied` when nobody is signed in.
        With no users (open mode, loopback only: one person on a laptop), the
        typed name, stripped, or "anonymous", as an admin; a typed name of more than
        100 characters or holding a control character is refused (PermissionDenied),
        as it would be kept with every decision.
        """
        user = self.signed_in()
        if user is not None:
            return user
        if self.sign_in_required():
            raise PermissionDenied("sign in first")
        name = typed_name.strip() if isinstance(typed_name, str) else ""
        if len(name) > 100 or not name.isprintable():
            raise PermissionDenied(
                "a reviewer's name has at most 100 characters and no control character"
            )
        return name or "anonymous", "admin"

    def opened_first(self, user: tuple[str, str] | None, *, started: str | None) -> str | None:
        """The project a new page opens on.

        A signed-in user's page opens on the project they had open last, in any
        browser (kept in the database by :meth:`UserStore.remember_project`), else on
        the latest project. With no users (open mode), on ``started`` (the project
        the app was started with), else on the first project.
        """
        try:
            projects = self.log.projects()
            last = self.users.last_project(user[0]) if user is not None else None
        except SQLAlchemyError:  # the page opens, and says what is wrong when used
            return started
        if user is not None:
            known = {p["project_id"] for p in projects}
            return last if last in known else latest_project(projects)
        if started:
            return started
        return projects[0]["project_id"] if projects else None


def services_of(app) -> Services:
    """The :class:`Services` of an app made by ``create_app``."""
    return app.matchdesk
