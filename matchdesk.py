"""The ``matchdesk`` command ``pip install .`` puts on the path: ``serve``, ``match``, ``user``.

``matchdesk serve …`` is ``python app.py …`` (the app), ``matchdesk match …`` is
``python -m matching …`` (score two tables to a file) and ``matchdesk user …`` is
``python app.py user …`` (add, list, remove users, change passwords and roles).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

USAGE = """usage: matchdesk COMMAND [OPTIONS]

commands:
  serve   start the app in the browser (matchdesk serve --help for its options)
  match   score two tables to a file of candidate pairs (matchdesk match --help)
  user    add, list and remove users, change a password or a role (matchdesk user --help)
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one of the commands; returns the exit code (2 and the usage for anything else)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    if command == "serve":
        from app import main as serve

        return serve(rest, prog="matchdesk serve")
    if command == "user":
        from app import user_main

        return user_main(rest, prog="matchdesk user")
    if command == "match":
        from matching.cli import main as match

        return match(rest, prog="matchdesk match")
    if command in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    sys.stderr.write(USAGE + (f"matchdesk: unknown command {command!r}\n" if command else ""))
    return 2


if __name__ == "__main__":
    sys.exit(main())
