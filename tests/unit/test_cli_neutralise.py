"""``python -m matching --out`` neutralises IDs a spreadsheet would run, unless told not to."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import ROOT


@pytest.fixture
def hostile(tmp_path):
    left, right = tmp_path / "l.csv", tmp_path / "r.csv"
    left.write_text('id,name\n"=HYPERLINK(""http://x"")",ann\n" @cmd",bo\n', encoding="utf-8")
    right.write_text("rid,name\n\uff0b1,ann\nok,bo\n", encoding="utf-8")
    return [
        "--left", str(left), "--right", str(right), "--left-id", "id", "--right-id", "rid",
        "--field", "name", "--keep", "0.9",
    ]  # fmt: skip


def _run(args, out):
    done = subprocess.run(
        [sys.executable, "-m", "matching", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return pd.read_csv(out, dtype=str, keep_default_na=False)


def test_csv_output_neutralises_formula_ids(hostile, tmp_path):
    pairs = _run(hostile, tmp_path / "o.csv")
    assert sorted(pairs["left_id"]) == ["' @cmd", '\'=HYPERLINK("http://x")']
    assert sorted(pairs["right_id"]) == ["'\uff0b1", "ok"]


def test_no_neutralise_writes_ids_as_they_are(hostile, tmp_path):
    pairs = _run([*hostile, "--no-neutralise"], tmp_path / "o.csv")
    assert sorted(pairs["left_id"]) == [" @cmd", '=HYPERLINK("http://x")']


def test_parquet_output_keeps_ids_as_they_are(hostile, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "matching", *hostile, "--out", str(tmp_path / "o.parquet")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    pairs = pd.read_parquet(tmp_path / "o.parquet")
    assert sorted(pairs["right_id"]) == ["ok", "\uff0b1"]
