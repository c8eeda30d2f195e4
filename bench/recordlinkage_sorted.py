"""recordlinkage's sorted neighbourhood on two tables, run in a Python that has
recordlinkage (called by ``bench_sorted.py``): reads the left and right tables (CSV),
the key column and the window, and writes the pairs' row positions as CSV."""

import sys

import pandas as pd
import recordlinkage

left_path, right_path, key, window, out = sys.argv[1:6]
left = pd.read_csv(left_path, dtype=str)
right = pd.read_csv(right_path, dtype=str)
indexer = recordlinkage.Index()
indexer.sortedneighbourhood(left_on=key, right_on=key, window=int(window))
pairs = indexer.index(left, right)
pd.DataFrame({"left": pairs.get_level_values(0), "right": pairs.get_level_values(1)}).to_csv(
    out, index=False
)
