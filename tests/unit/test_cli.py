"""The command line round trip: `python -m matching ... --out FILE` and `--out -`."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from matching.candidates import generate_candidates
from matching.demo import tutorial_cars, tutorial_owners
from matching.spec import parse_field

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
    from matching.spec import Spec

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


def test_no_field_exits_2(tables):
    left, right = tables
    done = run("--left", str(left), "--right", str(right), "--out", "-")
    assert done.returncode == 2
    assert done.stderr.strip() == "python -m matching: error: give at least one --field"


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
