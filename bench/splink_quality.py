"""Splink 5 (DuckDB) on two tables, or one, with the blocking rules and fields it is given.

Run by ``bench/bench_quality.py`` with the Python of a separate environment that has
Splink (it is not a dependency of matchdesk)::

    python -m venv /tmp/splinkenv && /tmp/splinkenv/bin/pip install splink==5.0.0 duckdb
    /tmp/splinkenv/bin/python bench/splink_quality.py LEFT RIGHT SETUP.json OUT.parquet

SETUP.json holds ``fields`` (``[column, kind]``, kind one of ``name``, ``text``,
``exact``, ``code``, ``date``) and ``rules`` (SQL conditions on ``l.`` and ``r.``;
empty: every pair) and optionally ``link_type``: ``dedupe_only`` finds the duplicates
within LEFT (RIGHT is not read; ``bench/bench_dedupe.py``). Both tables have a
``unique_id`` column. Writes every scored pair's ``unique_id_l, unique_id_r,
match_weight, match_probability`` and prints one JSON line with the seconds taken.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on
from splink.backends.duckdb import DuckDBAPI


def comparison(column: str, kind: str):
    if kind == "name":
        return cl.JaroWinklerAtThresholds(column, [0.95, 0.88, 0.7])
    if kind == "exact":
        return cl.ExactMatch(column)
    if kind in ("code", "date"):
        return cl.LevenshteinAtThresholds(column, [1, 2])
    return cl.JaroWinklerAtThresholds(column, [0.9, 0.7])


def main(left: str, right: str, setup: str, out: str) -> None:
    t0 = time.perf_counter()
    config = json.loads(Path(setup).read_text())
    link_type = config.get("link_type", "link_only")
    one = link_type == "dedupe_only"
    frames = [pd.read_parquet(left)] if one else [pd.read_parquet(left), pd.read_parquet(right)]
    con = duckdb.connect()
    db = DuckDBAPI(connection=con)
    names = ["a_left", "b_right"]
    tables = [db.register(f, dataset_display_name=n) for f, n in zip(frames, names)]
    rules = config["rules"] or ["1=1"]
    settings = SettingsCreator(
        link_type=link_type,
        blocking_rules_to_generate_predictions=rules,
        comparisons=[comparison(c, k) for c, k in config["fields"]],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(tables, settings, log_level=40)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    trained = 0
    for column, _ in config["fields"]:
        if trained >= 2:
            break
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(column), fix_u_probabilities=True
            )
            trained += 1
        except Exception:  # a rule with no pairs or nothing left to estimate
            continue
    t1 = time.perf_counter()
    pairs = linker.inference.predict().as_pandas_dataframe()
    t2 = time.perf_counter()
    columns = ["unique_id_l", "unique_id_r", "match_weight", "match_probability"]
    pairs[columns].to_parquet(out, index=False)
    print(json.dumps({"pairs": len(pairs), "train_s": t1 - t0, "predict_s": t2 - t1}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
