"""The house's import rules, read from the source with ``ast``: no module takes another
module's ``_private`` names, and ``matching/`` imports downward only (desk -> decisions
-> engine). That ``matching/`` imports neither Dash nor Flask is test_engine_isolation.py's.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("app.py", "matching", "server", "callbacks", "components")

#: What each floor of ``matching/`` must not import: the floors above it.
ABOVE = {
    "matching.engine": (
        "matching.decisions",
        "matching.desk",
        "matching.workspace",
        "matching.cli",
    ),
    "matching.decisions": ("matching.desk", "matching.workspace", "matching.cli"),
}


def python_files(root: Path = ROOT) -> list[Path]:
    files = []
    for source in SOURCES:
        path = root / source
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return files


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_module(dotted: str, root: Path) -> bool:
    path = root.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(tree: ast.AST) -> list[tuple[int, str, str | None, str]]:
    """Every import: (line, module, the name taken from it or None, the local name)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((node.lineno, alias.name, None, alias.asname or alias.name))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                found.append((node.lineno, node.module, alias.name, alias.asname or alias.name))
    return found


def problems(path: Path, root: Path = ROOT) -> list[str]:
    """What in ``path`` breaks the import rules, one line each."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    me = module_name(path, root)
    where = path.relative_to(root)
    out = []
    modules: dict[str, str] = {}  # local name -> the project module it stands for
    for line, module, name, local in imports_of(tree):
        target = module if name is None else f"{module}.{name}"
        if name is not None and module != "__future__" and _private(name):
            out.append(f"{where}:{line} takes {module}.{name}, a private name of another module")
        for floor, above in ABOVE.items():
            if me == floor or me.startswith(floor + "."):
                hit = [a for a in above if target == a or target.startswith(a + ".")]
                if hit or module in above:
                    out.append(f"{where}:{line} {me} imports {target}, a floor above it")
        if _is_module(target, root):
            modules[local] = target
    # ``module._name`` through an imported project module.
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = _dotted(node.value)
            if base in modules:
                out.append(
                    f"{where}:{node.lineno} reads {modules[base]}.{node.attr}, "
                    "a private name of another module"
                )
    return out


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of names, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def test_the_rules_find_what_they_look_for(tmp_path):
    """Each rule fails on a planted breach (and not on what is allowed)."""
    (tmp_path / "matching" / "engine").mkdir(parents=True)
    (tmp_path / "matching" / "decisions").mkdir(parents=True)
    for pkg in ("matching", "matching/engine", "matching/decisions"):
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "matching" / "engine" / "blocking.py").write_text("def _ragged(): ...\n")
    planted = tmp_path / "matching" / "engine" / "propose.py"
    planted.write_text(
        "from __future__ import annotations\n"
        "import time as _time\n"
        "from matching.engine.blocking import _ragged\n"
        "from matching.engine import blocking\n"
        "from matching.decisions.tuning import ScoreIndex\n"
        "def f():\n"
        "    import matching.desk\n"
        "    return blocking._ragged(), blocking.__name__\n"
    )
    found = problems(planted, tmp_path)
    assert len(found) == 4, found
    assert "takes matching.engine.blocking._ragged" in found[0]
    assert [("floor above" in f) for f in found].count(True) == 2
    assert "reads matching.engine.blocking._ragged" in found[-1]
    fine = tmp_path / "matching" / "decisions" / "tuning.py"
    fine.write_text("import time as _time\nfrom matching.engine.blocking import blocks\n")
    assert problems(fine, tmp_path) == []


@pytest.mark.parametrize("path", python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_reach_and_matching_imports_downward_only(path):
    assert problems(path) == []
