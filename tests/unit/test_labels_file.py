"""A labels file for --labels as people and attackers write it: empty, contradicting
itself, naming ids as long as a file; each refused naming what is wrong, in a line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from matching.engine.training import read_labels

ROOT = Path(__file__).resolve().parents[2]


def _labels(tmp_path, text: str) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the labels file is empty"),
        ("left_id,right_id,label\nL1,R1,1\nL1,R1,0\n", "the pair 'L1', 'R1' is labelled both"),
    ],
)
def test_a_labels_file_that_cannot_be_learned_from_is_refused_naming_it(tmp_path, text, problem):
    path = _labels(tmp_path, text)
    with pytest.raises(ValueError, match=problem) as refused:
        read_labels(path)
    assert str(path) in str(refused.value)


def test_the_same_pair_labelled_alike_twice_counts_once(tmp_path):
    path = _labels(tmp_path, "left_id,right_id,label\nL1,R1,1\nL1,R1,1\nL2,R2,0\n")
    assert read_labels(path).to_dict("list") == {
        "left_id": ["L1", "L2"],
        "right_id": ["R1", "R2"],
        "label": [1, 0],
    }


def test_an_unknown_id_as_long_as_a_file_is_named_in_one_short_line(tmp_path):
    names = [f"name {i}" for i in range(20)]
    left, right = tmp_path / "l.csv", tmp_path / "r.csv"
    pd.DataFrame({"id": [f"L{i}" for i in range(20)], "name": names}).to_csv(left, index=False)
    pd.DataFrame({"id": [f"R{i}" for i in range(20)], "name": names}).to_csv(right, index=False)
    path = _labels(tmp_path, "left_id,right_id,label\nL1," + "R" * 1_000_000 + ",1\n")
    tables = ["--left", str(left), "--right", str(right), "--left-id", "id", "--right-id", "id"]
    out = ["--out", str(tmp_path / "out.csv")]
    done = subprocess.run(
        [sys.executable, "-m", "matching", *tables, "--field", "name", "--labels", str(path), *out],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode != 0
    assert "right ids that are not in the right table: 'RRRR" in done.stderr
    assert len(done.stderr) < 2_000
