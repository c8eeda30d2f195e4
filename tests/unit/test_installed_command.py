"""``pip install .`` gives a ``matchdesk`` command (serve, match, user) working from any folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import matchdesk

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "README.md", "requirements.txt", "app.py", "matchdesk.py"]
PACKAGES = ["matching", "components", "callbacks", "server", "assets"]


def test_the_command_hands_each_subcommand_its_options(monkeypatch, capsys):
    heard = []

    def hear(name):
        return lambda argv, prog: heard.append((name, argv, prog)) or 0

    monkeypatch.setattr("matching.cli.main", hear("match"))
    monkeypatch.setattr("app.main", hear("serve"))
    monkeypatch.setattr("app.user_main", hear("user"))
    assert matchdesk.main(["match", "--left", "a.csv"]) == 0
    assert matchdesk.main(["serve", "--port", "9000"]) == 0
    assert matchdesk.main(["user", "list"]) == 0
    assert heard == [
        ("match", ["--left", "a.csv"], "matchdesk match"),
        ("serve", ["--port", "9000"], "matchdesk serve"),
        ("user", ["list"], "matchdesk user"),
    ]
    assert matchdesk.main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
    assert matchdesk.main([]) == 2


def test_each_subcommand_names_itself_in_its_errors(capsys):
    """Errors say the command as it was typed (``matchdesk match``), not another name."""
    with pytest.raises(SystemExit):
        matchdesk.main(["match", "--bogus"])
    assert capsys.readouterr().err.splitlines()[-1].startswith("matchdesk match: error:")
    with pytest.raises(SystemExit):
        matchdesk.main(["serve", "--port", "x"])
    assert capsys.readouterr().err.splitlines()[-1].startswith("matchdesk serve: error:")
    with pytest.raises(SystemExit):
        matchdesk.main(["user", "frob"])
    assert capsys.readouterr().err.splitlines()[-1].startswith("matchdesk user: error:")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A virtual environment (seeing this machine's packages) with matchdesk installed
    from a copy of the sources; its bin folder."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        shutil.copy2(ROOT / name, source / name)
    for name in PACKAGES:
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    venv.create(root / "env", system_site_packages=True, with_pip=False)
    python = root / "env" / "bin" / "python"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return root / "env" / "bin"


def test_the_installed_command_scores_two_tables_from_another_folder(installed, tmp_path):
    (tmp_path / "owners.csv").write_text("id,name\n1,Ann Lee\n2,Bob Ray\n")
    (tmp_path / "cars.csv").write_text("car,Name \nc1,ann lee\nc2,bob rey\n")
    done = subprocess.run(
        [str(installed / "matchdesk"), "match", "--left", "owners.csv", "--right", "cars.csv",
         "--left-id", "id", "--right-id", "CAR", "--field", "NAME", "--out", "-"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == [
        '"left_id","right_id","score","score_name"',
        '"1","c1",1,1',
    ]


def test_the_installed_app_finds_its_page_scripts_and_users_from_another_folder(
    installed, tmp_path
):
    python = installed / "python"
    where = subprocess.run(
        [str(python), "-c", "import app, pathlib; print(pathlib.Path(app.__file__).parent)"],
        capture_output=True, text=True, cwd=tmp_path, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where) != ROOT and (Path(where) / "assets" / "keys.js").exists()
    assert (Path(where) / "assets" / "vendor" / "bootstrap.min.css").exists()
    users = subprocess.run(
        [str(installed / "matchdesk"), "user", "list"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert users.returncode == 0, users.stderr
    assert (tmp_path / "matchdesk.db").exists()  # the default log, in the folder it ran from
    serve = subprocess.run(
        [str(installed / "matchdesk"), "serve", "--help"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert serve.returncode == 0 and "--left-header-row" in serve.stdout
