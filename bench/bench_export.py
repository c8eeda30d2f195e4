"""The CSV export of ~900,000 matches: from the replayed log (before) and from the desk (after).

The ``bench_desk.py`` project (1,000,000 records, one candidate each, ids looked up
with arrays as the app's projects do) with 900,000 records accepted by one bulk
auto-accept and ``--by-hand`` records decided one by one (some with a reason and a
corrected cell, some changed, one unmatched), in a SQLite log. Each way of exporting
runs in a fresh process, as a worker would serve it, alternately ``--rounds`` times:

- ``log``: what ``callbacks/export.py`` did before: ``DecisionLog.state`` (the batch
  expanded into its events and replayed), then ``matching.decisions.export.matched_chunks``.
- ``desk``: what it does now: ``desk.views.accepted_pairs`` (the ledger's columns; the
  worker's ledger read first, as a worker that served the review has it already,
  timed apart), then ``matching.decisions.export.matched_chunks_of_pairs`` finding records
  through the project's id positions.

Both write the CSV to a file; the run checks the two files are equal byte for byte.
Time and the peak of the process's resident memory above its level before the
export (sampled every 20 ms) are printed as a Markdown table.

Run: ``python bench/bench_export.py [--records N] [--decided M] [--by-hand K]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_desk import columnar_project, rss_mb  # noqa: E402

from matching.decisions.export import matched_chunks, matched_chunks_of_pairs, write_csv  # noqa: E402
from matching.decisions.log import DecisionLog  # noqa: E402
from matching.desk import ReviewDesk  # noqa: E402


def make_log(url: str, project, by_hand: int) -> None:
    log = DecisionLog(url)
    log.ensure_project(project.project_id, name="bench")
    desk = ReviewDesk(log, project)
    assert desk.batches.apply_bulk("lead", "accept", threshold=0.9, role="lead").ok
    view = desk.next_view("ann")
    for i in range(by_hand):
        rights = [view["rows"][0]["_right_id"]]
        edits = {rights[0]: {"name": f"corrected {i}"}} if i % 7 == 0 else None
        reason = "checked by phone" if i % 5 == 0 else None
        view = desk.decide("ann", view, "accept", rights, edits=edits, comment=reason).view
    # A bulk decision changed and one unmatched.
    changed = {"left_id": project.queue[0], "view_id": "change"}
    assert desk.decide("lee", changed, "reject", role="lead", change=True).ok
    assert desk.matches.unmatch("lee", [(project.queue[1], "R1")], role="lead").ok


class Peak:
    """The largest resident set seen while it runs, sampled every 20 ms."""

    def __enter__(self):
        self.base = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def export_once(way: str, url: str, records: int, decided: int, out: str) -> dict:
    project = columnar_project(records, decided)
    log = DecisionLog(url)
    p = project
    ledger_s = 0.0
    if way == "desk":
        desk = ReviewDesk(log, project)
        t = time.perf_counter()
        desk.ledger()
        ledger_s = time.perf_counter() - t
    with open(out, "wb") as f, Peak() as peak:
        t = time.perf_counter()
        if way == "log":
            chunks = matched_chunks(
                log.state(p.project_id), p.candidates, p.left, p.right,
                spec_left_id=p.spec.left_id, spec_right_id=p.spec.right_id,
            )  # fmt: skip
        else:
            chunks = matched_chunks_of_pairs(
                desk.views.accepted_pairs(), p.candidates, p.left, p.right,
                spec_left_id=p.spec.left_id, spec_right_id=p.spec.right_id,
                left_pos=p.left_pos, right_pos=p.right_pos,
            )  # fmt: skip
        rows = write_csv(chunks, f)
        seconds = time.perf_counter() - t
    digest = hashlib.sha256(Path(out).read_bytes()).hexdigest()
    return {
        "way": way,
        "rows": rows,
        "export_s": round(seconds, 2),
        "peak_rss_above_start_mb": round(peak.peak - peak.base),
        "ledger_read_s": round(ledger_s, 2),
        "bytes": Path(out).stat().st_size,
        "sha256": digest,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--decided", type=int, default=900_000)
    parser.add_argument("--by-hand", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", nargs=2, metavar=("WAY", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        way, url = args.child
        print(json.dumps(export_once(way, url, args.records, args.decided, args.out)))
        return

    folder = Path(tempfile.mkdtemp(prefix="bench-export-"))
    url = f"sqlite:///{folder / 'log.db'}"
    make_log(url, columnar_project(args.records, args.decided), args.by_hand)
    results = []
    for _ in range(args.rounds):
        for way in ("log", "desk"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", way, url, "--records", str(args.records),
                 "--decided", str(args.decided), "--out", str(folder / f"{way}.csv")],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            results.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    assert len({r["sha256"] for r in results}) == 1, "the two exports differ"
    print()
    print("| CSV export | rows | seconds | peak RSS above start | the worker's ledger read |")
    print("|---|---|---|---|---|")
    for r in results:
        print(
            f"| from the {'replayed log (before)' if r['way'] == 'log' else 'desk (after)'} "
            f"| {r['rows']:,} | {r['export_s']} | {r['peak_rss_above_start_mb']:,} MB "
            f"| {r['ledger_read_s'] if r['way'] == 'desk' else '-'} |"
        )


if __name__ == "__main__":
    main()
