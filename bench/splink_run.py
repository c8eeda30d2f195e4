"""Splink (DuckDB) on generated owners and cars: train, predict, keep the top 5 per owner.

Run by ``bench/bench_scale.py`` with the Python of a separate environment that has
Splink (it is not a dependency of matchdesk)::

    python -m venv /tmp/splinkenv && /tmp/splinkenv/bin/pip install splink duckdb
    /tmp/splinkenv/bin/python bench/splink_run.py OWNERS.parquet CARS.parquet OUT.parquet

Prints one JSON line: pairs scored, seconds to train and to predict.
"""

from __future__ import annotations

import json
import sys
import time

import duckdb
import pandas as pd
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on
from splink.backends.duckdb import DuckDBAPI

FIELDS = ("given_name", "surname", "street", "city", "postcode", "birth_date")
RULES = (("postcode",), ("surname", "birth_date"), ("given_name", "birth_date"))


def main(owners: str, cars: str, out: str) -> None:
    t0 = time.perf_counter()
    left = pd.read_parquet(owners).rename(columns={"owner_id": "unique_id"})
    right = pd.read_parquet(cars).rename(columns={"car_id": "unique_id"})
    frames = []
    for frame in (left, right):
        frame = frame[["unique_id", *FIELDS]].copy()
        for col in ("given_name", "surname", "street", "city"):
            frame[col] = frame[col].str.lower()
        frames.append(frame)
    con = duckdb.connect()
    db = DuckDBAPI(connection=con)
    tables = [
        db.register(frames[0], dataset_display_name="a_owners"),
        db.register(frames[1], dataset_display_name="b_cars"),
    ]
    settings = SettingsCreator(
        link_type="link_only",
        blocking_rules_to_generate_predictions=[block_on(*r) for r in RULES],
        comparisons=[
            cl.JaroWinklerAtThresholds("given_name", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("surname", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("street", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("city", [0.9, 0.7]),
            cl.LevenshteinAtThresholds("postcode", [1, 2]),
            cl.LevenshteinAtThresholds("birth_date", [1, 2]),
        ],
    )
    linker = Linker(tables, settings, log_level=30)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("surname", "birth_date")
    )
    t1 = time.perf_counter()
    predictions = linker.inference.predict()
    name = predictions.physical_name
    pairs = con.execute(f"select count(*) from {name}").fetchone()[0]
    con.execute(
        f"""
        copy (
            select
                case when source_dataset_l = 'a_owners' then unique_id_l else unique_id_r end
                    as left_id,
                case when source_dataset_l = 'a_owners' then unique_id_r else unique_id_l end
                    as right_id,
                match_weight as score
            from {name}
            qualify row_number() over (
                partition by left_id order by match_weight desc, right_id
            ) <= 5
            order by left_id, score desc, right_id
        ) to '{out}' (format parquet)
        """
    )
    t2 = time.perf_counter()
    print(json.dumps({"pairs": int(pairs), "train": t1 - t0, "predict": t2 - t1}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
