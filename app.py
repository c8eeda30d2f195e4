"""matchdesk: review fuzzy matches between two tables in the browser.

``python app.py`` starts on the tutorial's car owners and cars;
``python app.py --left L --right R --left-id COL --right-id COL --field SPEC``
starts on your files (the field syntax of ``python -m matching``);
``python app.py user add NAME --role admin`` adds a user (then everyone signs in).

For a WSGI server, ``server`` is the Flask app, built on first use from the
options in the ``MATCHDESK_ARGS`` environment variable (the same options as
``python app.py``)::

    MATCHDESK_ARGS="--db sqlite:///matchdesk.db" gunicorn -w 2 'app:server'
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
from callbacks.auth import loopback_host
from callbacks.errors import show_error
from callbacks.services import AppConfig, Services
from components.layout import main_layout
from matching.__main__ import add_table_arguments
from matching.demo import tutorial_cars, tutorial_owners
from matching.io import TableReadError, load_table
from matching.roles import ROLES
from matching.spec import Field, Spec
from matching.users import UserStore

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


def create_app(config: AppConfig | None = None) -> Dash:
    """Build the app: services, the first project, layout and callbacks."""
    config = config or demo_config()
    app = Dash(
        __name__,
        title="matchdesk",
        assets_folder=str(HERE / "assets"),
        suppress_callback_exceptions=False,
        on_error=show_error,
    )
    services = Services(config, app.server)
    services.log.check()  # an unreadable database stops the start here, with its reason
    app.matchdesk = services
    first = None
    if config.left is not None and config.right is not None and config.spec is not None:
        first = services.open_project(
            config.left,
            config.right,
            config.spec,
            name=config.name,
            keep=config.keep,
            select=config.select,
            sources=config.sources,
        ).project_id
    projects = services.project_options()
    default = first or (projects[0]["value"] if projects else None)
    max_request = int(config.max_upload_mb * 1024 * 1024)
    app.layout = lambda: main_layout(
        services.project_options(),
        default,
        user=services.signed_in(),
        max_request_bytes=max_request,
    )

    @app.server.route("/health")
    def health():
        ok = services.log.healthy()
        return jsonify({"database": "ok" if ok else "unavailable"}), 200 if ok else 503

    if config.behind_proxy:
        # One proxy in front: its X-Forwarded-* headers give the client's address,
        # scheme (Secure cookies) and host (the Origin check).
        app.server.wsgi_app = ProxyFix(app.server.wsgi_app, x_for=1, x_proto=1, x_host=1)
    callbacks.register(app)
    return app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python app.py", description=__doc__.splitlines()[0])
    add_table_arguments(parser, required=False)
    parser.add_argument("--select", type=float, default=None, help="pre-select pairs from this")
    parser.add_argument("--name", help="project name (default: the two file names)")
    parser.add_argument("--db", default="sqlite:///matchdesk.db", help="SQLAlchemy URL")
    parser.add_argument("--data-dir", default="matchdesk-data", help="folder for saved tables")
    parser.add_argument(
        "--cache-dir",
        help="share scored projects between app processes through this folder "
        "(default: each process keeps its own in memory)",
    )
    parser.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="score new projects on a Dask cluster: a scheduler address or local:N",
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
        "--max-upload-mb",
        type=float,
        default=512,
        help="largest request, uploads included, in MB (default 512; a file is sent "
        "base64-encoded, so the largest file is about three quarters of this)",
    )
    parser.add_argument(
        "--max-cells",
        type=int,
        default=20_000_000,
        help="most rows x columns an uploaded table may have (default 20,000,000)",
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


def config_from_args(argv: Sequence[str] | None = None) -> tuple[AppConfig, argparse.Namespace]:
    parser = _parser()
    args = parser.parse_args(argv)
    common = {
        "db_url": args.db,
        "data_dir": args.data_dir,
        "cache_dir": args.cache_dir,
        "dask": args.dask,
        "max_upload_mb": args.max_upload_mb,
        "max_cells": args.max_cells,
        "behind_proxy": args.behind_proxy,
        "oidc_issuer": args.oidc_issuer,
        "oidc_client_id": args.oidc_client_id,
        "oidc_client_secret": args.oidc_client_secret,
        "oidc_name": args.oidc_name,
        "oidc_new_role": args.oidc_new_role,
    }
    if not args.left and not args.right:
        overrides = {
            k: v for k, v in (("keep", args.keep), ("select", args.select)) if v is not None
        }
        return demo_config(**common, **overrides), args
    try:
        if not (args.left and args.right):
            raise ValueError("give both --left and --right")
        if not args.field:
            raise ValueError("give at least one --field")
        left, right = load_table(args.left), load_table(args.right)
        spec = Spec(
            fields=tuple(args.field), left_id=args.left_id, right_id=args.right_id, block=args.block
        )
    except (TableReadError, ValueError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    keep = 0.5 if args.keep is None else args.keep
    select = args.select if args.select is not None else max(keep, 0.8)
    config = AppConfig(
        left=left.frame,
        right=right.frame,
        spec=spec,
        keep=keep,
        select=select,
        name=args.name or f"{left.name} ↔ {right.name}",
        sources={"left": str(args.left), "right": str(args.right)},
        **common,
    )
    return config, args


def _user_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python app.py user",
        description="Manage who may sign in. The password comes from the MATCHDESK_PASSWORD "
        "environment variable, or is asked for.",
    )
    parser.add_argument("--db", default="sqlite:///matchdesk.db", help="SQLAlchemy URL")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    commands.add_parser("list", help="list the users and their roles")
    for command, text in (("remove", "remove a user"), ("password", "change a password")):
        commands.add_parser(command, help=text).add_argument("name")
    role = commands.add_parser("role", help="change a user's role")
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


def user_main(argv: Sequence[str]) -> int:
    """``python app.py user add|list|remove|password|role ...``."""
    parser = _user_parser()
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
    except ValueError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
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


def serve_with_gunicorn(app: Dash, *, host: str, port: int, workers: int) -> None:
    """Serve ``app`` with gunicorn: ``workers`` processes forked after the app is built."""
    from gunicorn.app.base import BaseApplication

    services = app.matchdesk
    # Each worker opens its own database connections after the fork.
    services.log.close()
    services.users.close()

    class Server(BaseApplication):
        def load_config(self):
            options = {
                "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "workers": workers,
                "worker_class": "gthread",
                "threads": 4,
                "timeout": 600,
                "accesslog": "-",
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return app.server

    Server().run()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["user"]:
        return user_main(argv[1:])
    config, args = config_from_args(argv)
    try:
        problem = serving_problem(args, UserStore(config.db_url).count())
        if problem:
            raise ValueError(problem)
        app = create_app(config)
    except ValueError as exc:
        sys.stderr.write(f"python app.py: error: {exc}\n")
        return 2
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        sys.stderr.write(f"python app.py: error: cannot open the database {args.db}: {reason}\n")
        return 2
    if args.workers:
        serve_with_gunicorn(app, host=args.host, port=args.port, workers=args.workers)
    else:
        app.run(host=args.host, port=args.port, debug=args.debug)
    return 0


_server_lock = threading.Lock()


def __getattr__(name: str):
    """``app.server``: the WSGI app for ``gunicorn 'app:server'``, built on first use."""
    if name != "server":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _server_lock:
        if "server" not in globals():
            config, _ = config_from_args(shlex.split(os.environ.get("MATCHDESK_ARGS", "")))
            globals()["server"] = create_app(config).server
    return globals()["server"]


if __name__ == "__main__":
    sys.exit(main())
