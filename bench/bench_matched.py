"""The Matched table at a million records: built record by record, and from the desk's columns.

A 1,000,000-record queue (one candidate each, as ``bench_desk.py`` builds it, its ids
looked up with arrays as the app's projects are) on a
SQLite decision log, 900,000 records accepted by one bulk auto-accept, then a few
hundred decided by hand (accepts, rejects, changes, an unmatch). The same ledger
is then turned into the Matched table twice in one run: by the record-by-record
build the app used before (kept in ``tests/unit/test_matched.py`` as the
reference) and by :func:`matching.decisions.matched.matched_frame`; the two must be equal.

Run: ``python bench/bench_matched.py [--records N] [--decided M] [--repeat R]``.
Prints a JSON line and a Markdown table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_desk import columnar_project  # noqa: E402

from matching.decisions.log import DecisionLog  # noqa: E402
from matching.decisions.matched import MatchedTable, matched_frame, page, page_of  # noqa: E402
from matching.desk import ReviewDesk  # noqa: E402


def reference():
    """The record-by-record build, from the unit test that holds it."""
    spec = importlib.util.spec_from_file_location(
        "test_matched_reference", ROOT / "tests" / "unit" / "test_matched.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.matched_frame_by_record


def timed(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--decided", type=int, default=900_000)
    parser.add_argument("--by-hand", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="bench-matched-"))
    project = columnar_project(args.records, args.decided)
    log = DecisionLog(f"sqlite:///{folder / 'log.db'}")
    log.ensure_project(project.project_id, name="bench")
    desk = ReviewDesk(log, project)
    assert (
        desk.batches.apply_bulk("lead", "accept", threshold=0.9, role="lead").written
        == args.decided
    )
    view = desk.next_view("ann")
    for i in range(args.by_hand):
        kind = "reject" if i % 3 == 2 else "accept"
        rights = [view["rows"][0]["_right_id"]] if kind == "accept" else []
        out = desk.decide("ann", view, kind, rights)
        assert out.ok, out.message
        view = out.view
    # A lead changes one bulk decision and unmatches another.
    first = project.queue[0]
    changed = desk.decide(
        "lee", {"left_id": project.queue[1], "view_id": "v-change"}, "reject", role="lead",
        change=True,
    )  # fmt: skip
    assert changed.ok, changed.message
    assert desk.matches.unmatch("lee", [(first, "R0")], role="lead").ok
    ledger = desk.refresh()

    old_s, old = timed(lambda: reference()(project, ledger), args.repeat)
    new_s, new = timed(lambda: matched_frame(project, ledger), args.repeat)
    pd.testing.assert_frame_equal(new, old)
    # What the app builds when the tab opens: the pairs, the record columns taken
    # per block shown (MatchedTable.of_ledger); and its first block of 100 rows.
    table_s, table = timed(lambda: MatchedTable.of_ledger(project, ledger), args.repeat)
    block_s, block = timed(lambda: page_of(table, np.arange(len(table)), start=0, end=100), 1)
    assert block == page(new, start=0, end=100)[0]
    result = {
        "records": args.records,
        "matches": len(new),
        "record_by_record_s": round(old_s, 2),
        "from_columns_s": round(new_s, 2),
        "ratio": round(old_s / new_s, 1),
        "equal": True,
        "table_s": round(table_s, 2),
        "first_block_s": round(block_s, 3),
    }
    print(json.dumps(result))
    print()
    print(f"| Matched table build (best of {args.repeat}) | seconds |")
    print("|---|---|")
    print(f"| record by record (before), {len(new):,} matches | {result['record_by_record_s']} |")
    print(f"| from the desk's columns (after) | {result['from_columns_s']} |")
    print(f"| ratio | {result['ratio']} times |")
    label = "the tab's table, record columns taken per block (MatchedTable.of_ledger)"
    print(f"| {label} | {table_s:.2f} |")
    print(f"| its first block of 100 rows | {block_s:.3f} |")

    return result


if __name__ == "__main__":
    main()
