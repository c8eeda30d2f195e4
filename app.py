"""matchdesk: review fuzzy matches between two tables in the browser.

``python app.py`` starts on the tutorial's car owners and cars, ``python app.py
--demo people`` on 5,000 generated people;
``python app.py --left L --right R`` starts on your files with a proposed set-up
(printed), ``--field SPEC`` and the other options of ``python -m matching`` choose
it yourself, and ``--spec FILE`` opens a saved set-up;
``python app.py user add NAME --role admin`` adds a user (then everyone signs in).

For a WSGI server, ``server`` is the Flask app, built on first use from the
options in the ``MATCHDESK_ARGS`` environment variable (the same options as
``python app.py``)::

    MATCHDESK_DB=sqlite:///matchdesk.db gunicorn -w 2 --threads 16 \\
        -k server.gunicorn_worker.BufferingWorker 'app:server'

The database URL comes from ``--db`` or, keeping a password out of the process
list, from the ``MATCHDESK_DB`` environment variable.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from dash import Dash
from flask import jsonify
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

import callbacks
from callbacks.errors import show_error
from components.layout import main_layout
from matching.cli import add_table_arguments, resolve_setup, save_setup_for
from matching.decisions.roles import ROLES, allowed
from matching.decisions.users import UserStore
from matching.decisions.versions import default_name
from matching.engine.demo import generate_tables, tutorial_cars, tutorial_owners
from matching.engine.io import TableReadError
from matching.engine.propose import propose
from matching.engine.safety import files_inside
from matching.engine.spec import Field, Spec
from server.auth import loopback_host
from server.body_deadline import BodyDeadline
from server.masking import hide_passwords, mask_logs
from server.runs import manager_for
from server.services import AppConfig, Services

HERE = Path(__file__).parent


def demo_config(**overrides) -> AppConfig:
    """The tutorial's owners and cars, matched on OwnerSurname, keep 0.26, select 0.33."""
    spec = Spec(fields=(Field("OwnerSurname"),), left_id="OwnerID", right_id="CarID")
    values = {
        "left": tutorial_owners(),
        "right": tutorial_cars(),
        "spec": spec,
        "keep": 0.26,
        "select": 0.33,
        "name": "Tutorial: car owners ↔ cars",
    }
    values.update(overrides)
    return AppConfig(**values)


#: Size and seed of the generated people of ``--demo people``.
PEOPLE_DEMO = {"n": 5_000, "seed": 2024}


def people_demo_config(**overrides) -> AppConfig:
    """5,000 generated owners and their cars, with the proposed set-up.

    The true links are not in the tables (reviewers never see them); they are
    written beside the data folder's projects as ``demo-people-true-links.csv``.
    """
    tables = generate_tables(PEOPLE_DEMO["n"], seed=PEOPLE_DEMO["seed"])
    values = {
        "left": tables.owners,
        "right": tables.cars,
        "spec": propose(tables.owners, tables.cars).spec,
        "keep": 0.5,
        "select": 0.8,
        "name": f"Demo: {PEOPLE_DEMO['n']:,} people (generated)",
    }
    values.update(overrides)
    config = AppConfig(**values)
    folder = Path(config.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    links = folder / "demo-people-true-links.csv"
    tables.links.to_csv(links, index=False)
    config.sources = {"demo": "people", "true_links": str(links)}
    return config


def create_app(config: AppConfig | None = None) -> Dash:
    """Build the app: services, the first project, layout and callbacks."""
    config = config or demo_config()
    runs = manager_for(config)  # where the Data panel's runs go: a process, or Celery
    app = Dash(
        __name__,
        title="matchdesk",
        assets_folder=str(HERE / "assets"),
        suppress_callback_exceptions=False,
        on_error=show_error,
        background_callback_manager=runs,
    )
    app.matchdesk_runs = runs
    compress_responses(app.server)
    services = Services(config, app.server)
    services.log.check()  # an unreadable database stops the start here, with its reason
    app.matchdesk = services
    first = None
    if config.left is not None and config.right is not None and config.spec is not None:
        name = config.name or services.name_for_columns(config.left.columns, config.right.columns)
        first = services.open_project(
            config.left,
            config.right,
            config.spec,
            name=name or default_name(*config.file_names, config.spec.one_table),
            keep=config.keep,
            select=config.select,
            sources=config.sources,
        ).project_id

    def layout():
        user = services.signed_in()
        may_open = config.data_root and (user is None or allowed(user[1], "upload"))
        return main_layout(
            services.project_options(),
            services.opened_first(user, started=first),
            user=user,
            root_files=files_inside(config.data_root) if may_open else None,
            max_upload_bytes=int(config.max_upload_mb * 1024 * 1024),
        )

    app.layout = layout

    @app.server.route("/health")
    def health():
        ok = services.log.healthy()
        return jsonify({"database": "ok" if ok else "unavailable"}), 200 if ok else 503

    # A request body trickling in ends with 408 instead of holding a worker's thread.
    app.server.wsgi_app = BodyDeadline(app.server.wsgi_app, seconds=config.body_timeout)
    app.server.config["BODY_TIMEOUT"] = config.body_timeout  # read by the gunicorn worker
    if config.behind_proxy:
        # One proxy in front: its X-Forwarded-* headers give the client's address,
        # scheme (Secure cookies) and host (the Origin check).
        app.server.wsgi_app = ProxyFix(app.server.wsgi_app, x_for=1, x_proto=1, x_host=1)
    callbacks.register(app)
    _setup_now(app)
    return app


def compress_responses(server) -> None:
    """Compress what the server answers when the browser accepts it (zstd, Brotli or
    gzip): a new browser downloads the page's scripts (about 8 MB, plotly.js and AG
    Grid the largest) in about a quarter of the bytes, and large callback answers
    shrink too. Only text types are compressed: the exports (CSV, Excel, Parquet
    files) go as they are.
    """
    from flask_compress import Compress

    Compress(server)


def _setup_now(app: Dash) -> None:
    """Do Dash's set-up (its script list, the layout's check) now, not on a first request.

    Dash does it on each process's first request and never again, even when that
    request fails (say the database is busy); such a process then answers every
    script request with 500 ("not a registered library") until someone loads the
    page through it. Done here, a failure stops the start instead, and processes
    forked from this one (``--workers``) inherit the finished set-up.
    """
    with app.server.test_request_context("/"):
        app._setup_server()


def _parser(prog: str = "python app.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_table_arguments(parser)
    parser.add_argument(
        "--demo",
        choices=("tutorial", "people"),
        help="with no tables: tutorial (the 5 car owners, the default) or people "
        "(5,000 generated people, their true links kept aside)",
    )
    parser.add_argument("--select", type=float, default=None, help="pre-select pairs from this")
    parser.add_argument("--name", help="project name (default: the two file names)")
    _db_argument(parser)
    parser.add_argument(
        "--data-dir",
        default="matchdesk-data",
        help="folder for each project's tables and scored candidates (Arrow files that "
        "every app process on this machine maps and shares)",
    )
    parser.add_argument(
        "--cache-dir",
        help="share the Tuning tab's computed figures between app processes through this "
        "folder (default: each process keeps its own in memory)",
    )
    parser.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="score new projects on a Dask cluster: a scheduler address or local:N",
    )
    parser.add_argument(
        "--celery-broker",
        metavar="URL",
        help="run the Data panel's scoring on Celery workers through this Redis URL "
        "(start them with: MATCHDESK_ARGS='...same options...' celery -A app:celery_app "
        "worker); default: a process of its own beside the server",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="serve with gunicorn and this many worker processes "
        "(default 0: one process, Flask's own server, for a single person)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=16,
        help="threads of each gunicorn worker (default 16); a request reaches a thread only "
        "once it has arrived (bodies up to 1 MB), so slow clients hold none",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=10,
        metavar="SECONDS",
        help="a request's body must arrive within this many seconds, plus one per 500 bytes "
        "received, or the request ends with 408 (default 10)",
    )
    parser.add_argument(
        "--session-idle-minutes",
        type=float,
        default=60,
        help="a session ends after this many minutes without a request (default 60)",
    )
    parser.add_argument(
        "--session-max-hours",
        type=float,
        default=12,
        help="and this many hours after signing in, used or not (default 12)",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=float,
        default=512,
        help="largest file an admin may upload, in MB (default 512)",
    )
    parser.add_argument(
        "--data-root",
        metavar="FOLDER",
        help="admins may also open tables by path inside this folder (never outside it)",
    )
    parser.add_argument(
        "--max-cells",
        type=int,
        default=20_000_000,
        help="most rows x columns an uploaded table may have (default 20,000,000)",
    )
    parser.add_argument(
        "--max-exports",
        type=int,
        default=2,
        help="exports of the matched table written at once on this machine (default 2); "
        'one more is answered "busy, try again"',
    )
    parser.add_argument(
        "--max-exports-per-user",
        type=int,
        default=1,
        help="exports one user may have written at once (default 1)",
    )
    parser.add_argument(
        "--behind-proxy",
        action="store_true",
        help="trust one reverse proxy's X-Forwarded-For/-Proto/-Host (for HTTPS, client "
        "addresses and the Origin check); needs users",
    )
    parser.add_argument("--debug", action="store_true", help="Dash's debugger (loopback only)")
    oidc = parser.add_argument_group(
        "sign-in through OpenID Connect",
        "Offer 'Sign in with <provider>' beside the password form. Register matchdesk "
        "at the provider with the redirect URI https://HOST/login/oidc/callback. Each "
        "option can also come from the environment variable named in its help.",
    )
    env = os.environ.get
    oidc.add_argument(
        "--oidc-issuer",
        metavar="URL",
        default=env("MATCHDESK_OIDC_ISSUER"),
        help="the provider's issuer URL; its /.well-known/openid-configuration is read "
        "(MATCHDESK_OIDC_ISSUER)",
    )
    oidc.add_argument(
        "--oidc-client-id",
        metavar="ID",
        default=env("MATCHDESK_OIDC_CLIENT_ID"),
        help="matchdesk's client id at the provider (MATCHDESK_OIDC_CLIENT_ID)",
    )
    oidc.add_argument(
        "--oidc-client-secret",
        metavar="SECRET",
        default=env("MATCHDESK_OIDC_CLIENT_SECRET"),
        help="its client secret; prefer the environment variable, which other users of "
        "the machine cannot read from the process list (MATCHDESK_OIDC_CLIENT_SECRET); "
        "leave out for a public client",
    )
    oidc.add_argument(
        "--oidc-name",
        metavar="NAME",
        default=env("MATCHDESK_OIDC_NAME"),
        help="the provider's name on the button (default: the issuer's host; MATCHDESK_OIDC_NAME)",
    )
    oidc.add_argument(
        "--oidc-new-role",
        choices=ROLES,
        default=env("MATCHDESK_OIDC_NEW_ROLE"),
        help="add someone the provider vouches for who has no account, with this role "
        "(default: refuse them until an admin adds them; MATCHDESK_OIDC_NEW_ROLE)",
    )
    parser.set_defaults(keep=None)
    return parser


def _db_argument(parser: argparse.ArgumentParser, **options) -> None:
    parser.add_argument(
        "--db",
        default=os.environ.get("MATCHDESK_DB") or "sqlite:///matchdesk.db",
        help="SQLAlchemy URL of the database (default: the MATCHDESK_DB environment "
        "variable, which keeps a password out of the process list, else "
        "sqlite:///matchdesk.db)",
        **options,
    )


def config_from_args(
    argv: Sequence[str] | None = None, *, prog: str = "python app.py"
) -> tuple[AppConfig, argparse.Namespace]:
    """The app's configuration from its command line (``prog`` names it in messages)."""
    parser = _parser(prog)
    args = parser.parse_args(argv)
    if args.data_root and not Path(args.data_root).is_dir():
        parser.exit(2, f"{parser.prog}: error: --data-root {args.data_root}: no such folder\n")
    positive = ("threads", "body_timeout", "session_idle_minutes", "session_max_hours")
    for option in (*positive, "max_exports", "max_exports_per_user"):
        if not getattr(args, option) > 0:
            name = "--" + option.replace("_", "-")
            parser.exit(2, f"{parser.prog}: error: {name} must be more than 0\n")
    common = {
        "db_url": args.db,
        "data_dir": args.data_dir,
        "cache_dir": args.cache_dir,
        "dask": args.dask,
        "max_upload_mb": args.max_upload_mb,
        "max_cells": args.max_cells,
        "max_exports": args.max_exports,
        "max_exports_per_user": args.max_exports_per_user,
        "behind_proxy": args.behind_proxy,
        "oidc_issuer": args.oidc_issuer,
        "oidc_client_id": args.oidc_client_id,
        "oidc_client_secret": args.oidc_client_secret,
        "oidc_name": args.oidc_name,
        "oidc_new_role": args.oidc_new_role,
        "data_root": args.data_root,
        "celery_broker": args.celery_broker,
        "body_timeout": args.body_timeout,
        "session_idle_minutes": args.session_idle_minutes,
        "session_max_hours": args.session_max_hours,
    }
    tables_given = args.left or args.right or args.spec
    if args.demo and tables_given:
        parser.exit(
            2,
            f"{parser.prog}: error: --demo opens its own tables: leave out"
            " --left, --right and --spec\n",
        )
    if not tables_given:
        overrides = {
            k: v for k, v in (("keep", args.keep), ("select", args.select)) if v is not None
        }
        make = people_demo_config if args.demo == "people" else demo_config
        return make(**common, **overrides), args
    try:
        setup, left, right = resolve_setup(args, err=sys.stderr)
        if args.save_spec:
            save_setup_for(setup, args.save_spec)
    except (TableReadError, ValueError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    config = AppConfig(
        left=left.frame,
        right=right.frame,
        spec=setup.spec,
        keep=setup.keep,
        select=setup.select,
        name=args.name,
        file_names=(left.name, right.name),
        sources={"left": str(setup.left), "right": str(setup.right)},
        **common,
    )
    return config, args


def _user_parser(prog: str = "python app.py user") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Manage who may sign in. The password comes from the MATCHDESK_PASSWORD "
        "environment variable, or is asked for.",
    )
    _db_argument(parser)
    # --db may also follow the command (``user add ann --role admin --db URL``).
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a user", parents=[after])
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    commands.add_parser("list", help="list the users and their roles", parents=[after])
    for command, text in (("remove", "remove a user"), ("password", "change a password")):
        commands.add_parser(command, help=text, parents=[after]).add_argument("name")
    role = commands.add_parser("role", help="change a user's role", parents=[after])
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    return parser


def _password() -> str:
    password = os.environ.get("MATCHDESK_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise ValueError("set MATCHDESK_PASSWORD or run this in a terminal to be asked")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise ValueError("the two passwords differ")
    return first


def user_main(argv: Sequence[str], *, prog: str = "python app.py user") -> int:
    """``python app.py user add|list|remove|password|role ...`` (``prog`` names the
    command in its messages)."""
    parser = _user_parser(prog)
    args = parser.parse_args(argv)
    store = UserStore(args.db)
    try:
        if args.command == "add":
            store.add(args.name, args.role, _password())
            print(f"added {args.name} ({args.role})")
        elif args.command == "list":
            for user in store.list():
                print(f"{user.name}\t{user.role}")
        elif args.command == "remove":
            store.remove(args.name)
            print(f"removed {args.name}")
        elif args.command == "password":
            store.set_password(args.name, _password())
            print(f"changed the password of {args.name}; their sessions have ended")
        else:
            store.set_role(args.name, args.role)
            print(f"{args.name} is now a {args.role}")
    except (ValueError, SQLAlchemyError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        parser.exit(2, hide_passwords(f"{parser.prog}: error: {reason}\n"))
    return 0


def serving_problem(args: argparse.Namespace, users: int) -> str | None:
    """Why the app must not start with these options, or None."""
    local = loopback_host(args.host)
    if args.debug and not local:
        return "--debug shows an interactive debugger: use it only with --host 127.0.0.1"
    if args.debug and args.workers:
        return "--debug runs one process: leave out --workers"
    if (args.behind_proxy or not local) and users == 0:
        where = "behind a proxy" if args.behind_proxy else args.host
        return (
            f"refusing to serve {where} with no users: anyone could decide. "
            "Add an admin first: python app.py user add NAME --role admin"
        )
    return None


def serve_with_gunicorn(
    app: Dash, *, host: str, port: int, workers: int, threads: int = 16
) -> None:
    """Serve ``app`` with gunicorn: ``workers`` processes of ``threads`` threads each,
    forked after the app is built."""
    from gunicorn.app.base import BaseApplication

    app.matchdesk.before_fork()

    class Server(BaseApplication):
        def load_config(self):
            options = {
                "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "workers": workers,
                # gthread, with requests collected in each worker's event loop: a
                # thread serves only a request that has arrived.
                "worker_class": "server.gunicorn_worker.BufferingWorker",
                "threads": threads,
                "timeout": 600,
                "accesslog": "-",
                # Each worker keeps its open desks up to date with the log (a thread
                # started after the fork: threads do not survive it).
                "post_fork": lambda _server, _worker: warm_up_in_background(app),
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return app.server

    Server().run()


def main(argv: Sequence[str] | None = None, *, prog: str = "python app.py") -> int:
    """Start the app (``prog`` names the command in its messages)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    mask_logs()
    if argv[:1] == ["user"]:
        return user_main(argv[1:], prog=f"{prog} user")
    config, args = config_from_args(argv, prog=prog)
    # The server (and, with --workers, every worker forked from it) never holds the
    # peak of scoring a project: a process forked for the job scores it.
    config.score_apart = True
    try:
        problem = serving_problem(args, UserStore(config.db_url).count())
        if problem:
            raise ValueError(problem)
        app = create_app(config)
    except ValueError as exc:
        sys.stderr.write(hide_passwords(f"python app.py: error: {exc}\n"))
        return 2
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        message = f"python app.py: error: cannot open the database {args.db}: {reason}\n"
        sys.stderr.write(hide_passwords(message))
        return 2
    if args.workers:
        serve_with_gunicorn(
            app, host=args.host, port=args.port, workers=args.workers, threads=args.threads
        )
    else:
        warm_up_in_background(app)
        app.run(host=args.host, port=args.port, debug=args.debug)
    return 0


def warm_up_in_background(app: Dash, *, every: float = 2.0) -> threading.Event:
    """In a thread of its own, while the server starts answering: open the projects used
    last (``Workspace.warm_up``), then keep their desks up to date with the log
    (``Workspace.follow``, every ``every`` seconds). Setting the returned event stops it."""
    services, stop = app.matchdesk, threading.Event()

    def run() -> None:
        services.warm_up()
        services.follow(stop, every=every)

    threading.Thread(target=run, name="warm-up", daemon=True).start()
    return stop


_server_lock = threading.Lock()


def __getattr__(name: str):
    """``app.server``: the WSGI app for ``gunicorn 'app:server'``; ``app.celery_app``: the
    Celery app for ``celery -A app:celery_app worker`` (with ``--celery-broker`` in
    ``MATCHDESK_ARGS``). Both are built on first use from ``MATCHDESK_ARGS``."""
    if name not in ("server", "celery_app"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _server_lock:
        if "server" not in globals():
            mask_logs()
            config, _ = config_from_args(shlex.split(os.environ.get("MATCHDESK_ARGS", "")))
            dash_app = create_app(config)
            warm_up_in_background(dash_app)
            globals()["server"] = dash_app.server
            manager = dash_app._background_manager
            globals()["celery_app"] = (
                getattr(manager, "handle", None) if config.celery_broker else None
            )
    if globals()[name] is None:
        raise AttributeError("app.celery_app needs --celery-broker URL in MATCHDESK_ARGS")
    return globals()[name]


if __name__ == "__main__":
    sys.exit(main())
