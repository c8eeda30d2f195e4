"""The web side's imports: no callback module imports another, app.py never the CLI's entry."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT


def imported(path: Path) -> set[str]:
    """The modules a file imports, by their full dotted names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_callback_module_imports_another():
    tabs = {f"callbacks.{p.stem}" for p in (ROOT / "callbacks").glob("*.py")}
    tabs.discard("callbacks.__init__")
    reaches = {
        path.name: sorted(imported(path) & (tabs - {f"callbacks.{path.stem}"}))
        for path in (ROOT / "callbacks").glob("*.py")
        if path.name != "__init__.py"
    }
    assert len(reaches) >= 6
    assert {name: found for name, found in reaches.items() if found} == {}


def test_app_imports_the_command_line_module_never_its_entry():
    names = imported(ROOT / "app.py")
    assert "matching.cli" in names
    assert not {n for n in names if n == "matching.__main__" or n.startswith("matching.__main__.")}
