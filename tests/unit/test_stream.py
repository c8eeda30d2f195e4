"""Streamed output: candidates written chunk by chunk equal the in-memory result."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from matching.engine.candidates import generate_candidates, iter_candidates
from matching.engine.demo import generate_tables
from matching.engine.io import CandidateWriter
from matching.engine.spec import Field, Spec, parse_block

ROOT = Path(__file__).resolve().parents[2]
RULES = ("exact:postcode", "exact:surname+birth_date", "sorted:street:2")


@pytest.fixture(scope="module")
def people():
    tables = generate_tables(300, seed=5)
    return tables.owners, tables.cars


def spec(ids: bool = True) -> Spec:
    return Spec(
        fields=(Field("given_name"), Field("surname", scorer="jaro_winkler", weight=2)),
        left_id="owner_id" if ids else None,
        right_id="car_id" if ids else None,
        block=tuple(parse_block(r) for r in RULES),
    )


def read_back(path: Path, *, ids: bool = True) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"left_id": str, "right_id": str} if ids else None)


@pytest.mark.parametrize("ending", [".csv", ".parquet"])
@pytest.mark.parametrize("ids", [True, False])
def test_chunks_written_one_by_one_equal_the_in_memory_result(people, tmp_path, ending, ids):
    left, right = people
    expected = generate_candidates(left, right, spec(ids), keep=0.3, top_k=4)
    frames = iter_candidates(left, right, spec(ids), keep=0.3, top_k=4, chunk_elements=200)
    path = tmp_path / f"pairs{ending}"
    chunks = 0
    with CandidateWriter(path) as out:
        for frame in frames:
            out.write(frame)
            chunks += 1
    assert chunks > 5
    assert out.rows == len(expected)
    written = read_back(path, ids=ids)
    exact = ending == ".parquet"
    pd.testing.assert_frame_equal(written, expected, check_dtype=False, check_exact=exact)


def test_no_chunk_still_writes_the_header(tmp_path):
    path = tmp_path / "none.csv"
    empty = pd.DataFrame({"left_id": pd.Series([], dtype=object), "score": []})
    with CandidateWriter(path) as out:
        out.close(empty)
    assert path.read_text().splitlines() == ['"left_id","score"']


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "matching", *args], capture_output=True, text=True, cwd=ROOT
    )


@pytest.mark.parametrize("out", ["pairs.parquet", "pairs.csv", "-"])
def test_command_line_output_equals_the_engine(people, tmp_path, out):
    left, right = people
    paths = tmp_path / "owners.parquet", tmp_path / "cars.parquet"
    left.to_parquet(paths[0], index=False)
    right.to_parquet(paths[1], index=False)
    target = out if out == "-" else str(tmp_path / out)
    done = cli(
        "--left", str(paths[0]), "--right", str(paths[1]),
        "--left-id", "owner_id", "--right-id", "car_id",
        "--field", "given_name", "--field", "surname:jaro_winkler@2",
        *(a for r in RULES for a in ("--block", r)),
        "--keep", "0.3", "--top-k", "4", "--out", target,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    if out == "-":
        written = pd.read_csv(io.StringIO(done.stdout), dtype={"left_id": str, "right_id": str})
    else:
        written = read_back(tmp_path / out)
    expected = generate_candidates(left, right, spec(), keep=0.3, top_k=4)
    exact = out.endswith(".parquet")
    pd.testing.assert_frame_equal(written, expected, check_dtype=False, check_exact=exact)
