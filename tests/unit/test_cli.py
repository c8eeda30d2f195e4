"""The command line round trip: `python -m matching ... --out FILE` and `--out -`."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from matching.engine.candidates import generate_candidates
from matching.engine.demo import tutorial_cars, tutorial_owners
from matching.engine.spec import parse_field

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "matching", *args], capture_output=True, text=True, cwd=ROOT
    )


@pytest.fixture
def tables(tmp_path):
    left, right = tmp_path / "owners.csv", tmp_path / "cars.csv"
    tutorial_owners().to_csv(left, index=False)
    tutorial_cars().to_csv(right, index=False, sep=";")
    return left, right


def base_args(left, right):
    return [
        "--left", str(left), "--right", str(right),
        "--left-id", "OwnerID", "--right-id", "CarID",
        "--field", "OwnerName", "--field", "OwnerSurname:jaro_winkler@2",
    ]  # fmt: skip


def expected_output():
    fields = (parse_field("OwnerName"), parse_field("OwnerSurname:jaro_winkler@2"))
    from matching.engine.spec import Spec

    spec = Spec(fields=fields, left_id="OwnerID", right_id="CarID")
    return generate_candidates(tutorial_owners(), tutorial_cars(), spec, keep=0.5, top_k=2)


def test_out_file_round_trip_matches_the_engine(tables, tmp_path):
    out = tmp_path / "pairs.csv"
    done = run(*base_args(*tables), "--top-k", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(out, dtype={"left_id": str, "right_id": str})
    assert list(written.columns) == [
        "left_id", "right_id", "score", "score_OwnerName", "score_OwnerSurname",
    ]  # fmt: skip
    pd.testing.assert_frame_equal(written, expected_output(), check_dtype=False)
    assert written[["score", "score_OwnerName"]].stack().between(0, 1).all()
    best = written.groupby("left_id").head(1)
    assert best["right_id"].tolist() == ["101", "102", "103", "104", "105"]
    assert "delimiter ';'" in done.stderr
    assert "25 pairs to score in full" in done.stderr
    assert f"written to {out}" in done.stderr
    assert done.stdout == ""


def test_out_dash_writes_csv_to_standard_output(tables):
    done = run(*base_args(*tables), "--top-k", "2", "--out", "-")
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(io.StringIO(done.stdout), dtype={"left_id": str, "right_id": str})
    pd.testing.assert_frame_equal(written, expected_output(), check_dtype=False)


def test_blocking_is_reported_before_scoring(tables):
    done = run(*base_args(*tables), "--block", "prefix:OwnerSurname:1", "--out", "-")
    assert done.returncode == 0, done.stderr
    assert "5 pairs to score after blocking" in done.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--field", "OwnerName:nope"], "unknown scorer"),
        (["--keep", "2"], "not between 0 and 1"),
        (["--top-k", "x"], "not a whole number"),
        (["--block", "fuzzy:OwnerName"], "expected exact:COL"),
        (["--field", "Nope"], "has no column 'Nope'"),
        (["--left-id", "Missing"], "has no column 'Missing'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tables, tmp_path, extra, message):
    done = run(*base_args(*tables), *extra, "--out", str(tmp_path / "o.csv"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("python -m matching: error:")
    assert message in done.stderr.strip().splitlines()[-1]
    assert len([line for line in done.stderr.splitlines() if "error" in line]) == 1
    assert not (tmp_path / "o.csv").exists()


def test_missing_required_option_exits_2_with_one_line():
    done = run("--left", "a.csv")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "required" in done.stderr


def test_without_field_the_proposal_is_printed_and_run(tables, tmp_path):
    left, right = tables
    out = tmp_path / "pairs.csv"
    done = run("--left", str(left), "--right", str(right), "--top-k", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "No --field given, so this set-up is proposed" in done.stderr
    options = [
        "--left-id OwnerID",
        "--right-id CarID",
        "--field OwnerName:jaro_winkler",
        "--field OwnerSurname:jaro_winkler",
    ]
    for option in options:
        assert option in done.stderr
    assert "only in the left table: OwnerEmail" in done.stderr
    proposed = pd.read_csv(out, dtype={"left_id": str, "right_id": str})
    # The printed options, given back, run to the same candidates.
    again = run(*base_args(*tables)[:4], *" ".join(options).split(), "--top-k", "2", "--out", "-")
    assert again.returncode == 0, again.stderr
    assert "proposed" not in again.stderr
    given = pd.read_csv(io.StringIO(again.stdout), dtype={"left_id": str, "right_id": str})
    pd.testing.assert_frame_equal(proposed, given)
    assert proposed.groupby("left_id").head(1)["right_id"].tolist() == [
        "101", "102", "103", "104", "105",
    ]  # fmt: skip


def test_the_printed_options_of_a_learned_proposal_give_the_same_output(tmp_path):
    """The options carry each field's cleaning (a year written 1999.0 on one side is
    cleaned as a number) and --weights learn, which a set-up with --field needs asking."""
    import shlex

    from matching.engine.demo import generate_tables

    people = generate_tables(400, seed=5)
    left, right = people.owners.copy(), people.cars.copy()
    left["year"] = left["birth_date"].str[:4] + ".0"
    right["year"] = right["birth_date"].str[:4]
    paths = [tmp_path / "left.csv", tmp_path / "right.csv"]
    left.drop(columns="birth_date").to_csv(paths[0], index=False)
    right.drop(columns="birth_date").to_csv(paths[1], index=False)
    tables = ["--left", str(paths[0]), "--right", str(paths[1]), "--top-k", "3"]
    first = run(*tables, "--out", str(tmp_path / "a.csv"))
    assert first.returncode == 0, first.stderr
    lines = first.stderr.split("it, or --save-spec FILE to save it):\n", 1)[1].splitlines()
    printed = " ".join(
        line.rstrip("\\ ")
        for line in lines[
            : lines.index(next(line for line in lines if line.startswith("fields compared as")))
        ]
    )
    assert "/number" in printed and "--weights learn" in printed
    again = run(*tables, *shlex.split(printed), "--out", str(tmp_path / "b.csv"))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_a_saved_set_up_reruns_to_the_same_candidates(tables, tmp_path):
    left, right = tables
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    saved = tmp_path / "setup.toml"
    done = run(
        *base_args(left, right), "--keep", "0.3", "--save-spec", str(saved), "--out", str(first)
    )
    assert done.returncode == 0, done.stderr
    assert f"set-up saved to {saved}" in done.stderr
    again = run("--spec", str(saved), "--out", str(second))
    assert again.returncode == 0, again.stderr
    assert first.read_text() == second.read_text()
    assert len(first.read_text().splitlines()) > 5


def test_tables_with_no_shared_columns_exit_2_with_a_clear_line(tmp_path):
    (tmp_path / "a.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "c.csv").write_text("c,d\n1,2\n", encoding="utf-8")
    done = run("--left", str(tmp_path / "a.csv"), "--right", str(tmp_path / "c.csv"), "--out", "-")
    assert done.returncode == 2
    assert done.stderr.endswith("\n")
    last = done.stderr.splitlines()[-1]
    assert last.startswith("python -m matching: error: the two tables have no column names")
    assert "(--field LEFTCOL=RIGHTCOL)" in last
    assert done.stdout == ""


def test_a_bad_spec_file_exits_2_naming_it(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("{}", encoding="utf-8")
    done = run("--spec", str(path), "--out", "-")
    assert done.returncode == 2
    assert done.stderr == f"python -m matching: error: {path}: not a set-up file" + (
        " (it should say format = 'matchdesk-setup')\n"
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("nowhere.csv", None, "nowhere.csv: cannot read the file"),
        ("ragged.csv", b"OwnerID,OwnerName\n1\n", "ragged.csv: expected 2 fields"),
        ("empty.csv", b"", "empty.csv: the file is empty"),
    ],
)
def test_unreadable_file_exits_2_naming_it(tables, tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    _, right = tables
    done = run(*base_args(path, right), "--out", "-")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert message in lines[0]
    assert done.stdout == ""


def test_unwritable_output_exits_2(tables, tmp_path):
    done = run(*base_args(*tables), "--out", str(tmp_path / "no" / "such" / "dir.csv"))
    assert done.returncode == 2
    assert "cannot write" in done.stderr.strip().splitlines()[-1]
