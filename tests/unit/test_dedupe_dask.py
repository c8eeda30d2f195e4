"""A deduplication scored on a Dask cluster writes the local run's files, byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from matching.engine.demo import generate_tables

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def people(tmp_path_factory) -> Path:
    """Owners and their cars as one table of people: 880 records, 386,760 pairs."""
    tables = generate_tables(400, seed=3)
    owners = tables.owners.drop(columns=["email"]).rename(columns={"owner_id": "id"})
    cars = tables.cars.drop(columns=["car_name"]).rename(columns={"car_id": "id"})
    table = pd.concat([owners, cars], ignore_index=True).sample(frac=1, random_state=3)
    path = tmp_path_factory.mktemp("dedupe") / "people.csv"
    table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "options",
    [
        # The proposal: blocking rules and weights learned by EM.
        [],
        # Every pair of the table, with the fields' mean.
        ["--field", "given_name:jaro_winkler", "--field", "surname", "--keep", "0.6"],
    ],
    ids=["proposed-blocked-learned", "full-comparison"],
)
def test_dedupe_on_a_local_cluster_writes_the_local_files(people, tmp_path, options):
    written = {}
    for name, extra in (("local", []), ("dask", ["--dask", "local:2"])):
        out, clusters = tmp_path / f"{name}.csv", tmp_path / f"{name}-clusters.csv"
        argv = ["--dedupe", str(people), "--id", "id", *options, *extra, "--out", str(out)]
        done = subprocess.run(
            [sys.executable, "-m", "matching", *argv, "--clusters", str(clusters)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        written[name] = out.read_bytes(), clusters.read_bytes()
    assert written["dask"] == written["local"]
    pairs = pd.read_csv(tmp_path / "local.csv", dtype=str)
    assert len(pairs) > 300 and not (pairs["left_id"] == pairs["right_id"]).any()
