"""``python app.py`` options: the demo by default, the user's files, clear errors."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import ROOT


def config(argv):
    from app import config_from_args

    return config_from_args(argv)[0]


def test_no_files_starts_the_tutorial_demo():
    cfg = config([])
    assert list(cfg.left.columns) == ["OwnerID", "OwnerName", "OwnerSurname", "OwnerEmail"]
    assert (cfg.keep, cfg.select) == (0.26, 0.33)
    assert [f.left for f in cfg.spec.fields] == ["OwnerSurname"]


def test_files_fields_and_thresholds(tmp_path):
    left = tmp_path / "l.csv"
    right = tmp_path / "r.csv"
    left.write_text("id,name\n1,Ann\n", encoding="utf-8")
    right.write_text("rid;full\nA;ann\n", encoding="utf-8")
    cfg = config(
        [
            "--left",
            str(left),
            "--right",
            str(right),
            "--left-id",
            "id",
            "--right-id",
            "rid",
            "--field",
            "name=full:token_set@2",
            "--keep",
            "0.4",
            "--select",
            "0.9",
            "--block",
            "prefix:name=full:1",
        ]
    )
    assert (cfg.keep, cfg.select) == (0.4, 0.9)
    field = cfg.spec.fields[0]
    assert (field.left, field.right, field.scorer, field.weight) == (
        "name",
        "full",
        "token_set",
        2.0,
    )
    assert cfg.spec.block[0].kind == "prefix"
    assert (cfg.name, cfg.file_names) == (None, ("l.csv", "r.csv"))  # named at start


def test_new_versions_of_the_tables_started_again_make_the_projects_next_version(tmp_path):
    from app import create_app

    def start_on(month: str, names: str, *extra: str):
        for side in ("people", "cars"):
            (tmp_path / f"{side}-{month}.csv").write_text(f"id,name\n{names}", encoding="utf-8")
        argv = [
            "--left",
            str(tmp_path / f"people-{month}.csv"),
            "--right",
            str(tmp_path / f"cars-{month}.csv"),
            "--field",
            "name",
            "--left-id",
            "id",
            "--right-id",
            "id",
            "--db",
            f"sqlite:///{tmp_path / 'd.db'}",
            "--data-dir",
            str(tmp_path / "data"),
            *extra,
        ]
        return create_app(config(argv)).matchdesk

    first = start_on("may", "1,Ann Lee\n2,Bob Ray\n")
    again = start_on("june", "1,Ann Lee\n2,Bob Ray\n3,Cy Kim\n")
    names = [(p["name"], p["settings"].version) for p in again.log.projects()]
    assert names == [("people-may.csv ↔ cars-may.csv", 1), ("people-may.csv ↔ cars-may.csv", 2)]
    assert again.log.projects()[1]["settings"].version_of == first.log.projects()[0]["project_id"]
    named = start_on("july", "1,Ann Lee\n", "--name", "July")
    assert [p["name"] for p in named.log.projects()][-1] == "July"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--left", "missing.csv", "--right", "missing.csv", "--field", "a"], "cannot read"),
        (["--left", "x.csv"], "give both --left and --right"),
        (["--left", "x.csv", "--right", "x.csv", "--field", "a:nope"], "unknown scorer"),
        (["--keep", "2"], "not between 0 and 1"),
        (["--data-root", "no/such/folder"], "--data-root no/such/folder: no such folder"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path, args, message):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stdout == ""


def test_a_missing_column_is_reported_before_the_server_starts(tmp_path):
    left = tmp_path / "l.csv"
    left.write_text("id,name\n1,Ann\n", encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "app.py"),
            "--left",
            str(left),
            "--right",
            str(left),
            "--field",
            "surname",
            "--db",
            f"sqlite:///{tmp_path / 'd.db'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "no column 'surname'" in proc.stderr


@pytest.mark.parametrize("kind", ["garbage", "missing-folder"])
def test_an_unreadable_database_stops_the_start_with_one_line(tmp_path, kind):
    path = tmp_path / "x.db"
    if kind == "garbage":
        path.write_bytes(b"this is not a database, " * 200)
    else:
        path = tmp_path / "no" / "such" / "x.db"
    done = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--db", f"sqlite:///{path}", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "cannot open the database" in done.stderr
    assert "Traceback" not in done.stderr


def test_demo_people_opens_generated_people_with_the_proposed_set_up(tmp_path):
    from app import PEOPLE_DEMO
    from matching.engine.demo import generate_tables

    cfg = config(["--demo", "people", "--data-dir", str(tmp_path / "data")])
    assert (len(cfg.left), len(cfg.right)) == (5_000, 5_500)
    assert (cfg.spec.left_id, cfg.spec.right_id) == ("owner_id", "car_id")
    assert [f.scorer for f in cfg.spec.fields] == [
        "jaro_winkler",
        "jaro_winkler",
        "token_set",
        "jaro_winkler",
        "levenshtein",
        "date",
    ]
    assert cfg.spec.block and cfg.name == "Demo: 5,000 people (generated)"
    # The true links are kept aside, in a file of their own, not in the tables.
    links = pd.read_csv(cfg.sources["true_links"], dtype=str)
    truth = generate_tables(PEOPLE_DEMO["n"], seed=PEOPLE_DEMO["seed"]).links
    pd.testing.assert_frame_equal(links, truth.astype(str))
    assert not {"left_id", "right_id"} & (set(cfg.left.columns) | set(cfg.right.columns))


def test_files_without_fields_get_the_proposal_printed(tmp_path, capsys):
    from matching.engine.demo import tutorial_cars, tutorial_owners

    tutorial_owners().to_csv(tmp_path / "owners.csv", index=False)
    tutorial_cars().to_csv(tmp_path / "cars.csv", index=False)
    saved = tmp_path / "setup.json"
    args = ["--left", str(tmp_path / "owners.csv"), "--right", str(tmp_path / "cars.csv")]
    cfg = config([*args, "--keep", "0.3", "--save-spec", str(saved)])
    assert [f.text for f in cfg.spec.fields] == [
        "OwnerName:jaro_winkler",
        "OwnerSurname:jaro_winkler",
    ]
    assert "--field OwnerName:jaro_winkler" in capsys.readouterr().err
    again = config(["--spec", str(saved)])
    assert again.spec == cfg.spec and (again.keep, again.select) == (0.3, 0.8)
    pd.testing.assert_frame_equal(again.left, cfg.left)


def test_demo_with_tables_is_refused(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--demo", "people", "--left", "x.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        "python app.py: error: --demo opens its own tables: leave out --left, --right and --spec\n"
    )
