"""matchdesk: review fuzzy matches between two tables in the browser.

``python app.py`` starts on the tutorial's car owners and cars;
``python app.py --left L --right R --left-id COL --right-id COL --field SPEC``
starts on your files (the field syntax of ``python -m matching``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dash import Dash
from flask import jsonify
from sqlalchemy.exc import SQLAlchemyError

import callbacks
from callbacks.errors import show_error
from callbacks.services import AppConfig, Services
from components.layout import main_layout
from matching.__main__ import add_table_arguments
from matching.demo import tutorial_cars, tutorial_owners
from matching.io import TableReadError, load_table
from matching.spec import Field, Spec

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
    app.layout = lambda: main_layout(services.project_options(), default)

    @app.server.route("/health")
    def health():
        ok = services.log.healthy()
        return jsonify({"database": "ok" if ok else "unavailable"}), 200 if ok else 503

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
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--debug", action="store_true")
    parser.set_defaults(keep=None)
    return parser


def config_from_args(argv: Sequence[str] | None = None) -> tuple[AppConfig, argparse.Namespace]:
    parser = _parser()
    args = parser.parse_args(argv)
    common = {"db_url": args.db, "data_dir": args.data_dir, "cache_dir": args.cache_dir}
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


def main(argv: Sequence[str] | None = None) -> int:
    config, args = config_from_args(argv)
    try:
        app = create_app(config)
    except ValueError as exc:
        sys.stderr.write(f"python app.py: error: {exc}\n")
        return 2
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        sys.stderr.write(f"python app.py: error: cannot open the database {args.db}: {reason}\n")
        return 2
    app.run(host=args.host, port=args.port, debug=args.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
