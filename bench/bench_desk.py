"""Server time of one review step at any queue size: decide + next record through the desk.

A 1,000,000-record queue (one candidate each) on a SQLite decision log, with
900,000 records already decided by one bulk auto-accept. A fresh desk (as a
newly started worker would) reads the log once; then one reviewer decides
records one after another, each ``ReviewDesk.decide`` writing the decision and
leasing the next record in one transaction, while a second desk (another
worker process would have its own) serves a second reviewer in between, so
every step also reads the other's new events.

It also reports the memory each worker's ledger takes for the batch: the growth
of the process's resident set (RSS) while the running worker reads the batch,
and while the new worker reads the log; and the growth of its own memory
(``RssAnon``: the resident set less the pages of mapped files) that stays once
the allocators have given their free pages back (as the server does after a
long request), for the writer (the desk that makes and writes the batch), the
running worker and the new worker.

Run: ``python bench/bench_desk.py [--records N] [--decided M] [--steps K]``.
Prints a JSON line and a Markdown table. ``--compare REV`` runs this same
script against the code of git revision ``REV`` (exported to a temporary
folder) and against this checkout, alternately ``--rounds`` times, each in a
fresh process, and prints both with their ratios (after / before).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(os.environ.get("BENCH_DESK_ROOT") or Path(__file__).resolve().parents[1])
sys.path.insert(0, str(ROOT))

from matching.decisions.log import DecisionLog  # noqa: E402
from matching.desk import ReviewDesk  # noqa: E402
from matching.engine.project import IdIndex, IdList, Project  # noqa: E402
from matching.engine.spec import Field, Spec  # noqa: E402


def synthetic_project(records: int, decided: int) -> Project:
    """``records`` left and right records, each left with one candidate; the first
    ``decided`` score 0.95 (the bulk rule takes them), the rest 0.6."""
    ids = np.char.add("L", np.arange(records).astype(str)).astype(object)
    rids = np.char.add("R", np.arange(records).astype(str)).astype(object)
    names = np.char.add("name ", np.arange(records).astype(str)).astype(object)
    left = pd.DataFrame({"id": ids, "name": names})
    right = pd.DataFrame({"id": rids, "name": names})
    score = np.where(np.arange(records) < decided, 0.95, 0.6)
    candidates = pd.DataFrame(
        {"left_id": ids, "right_id": rids, "score": score, "score_name": score}
    )
    queue = ids.tolist()
    return Project(
        project_id="bench-desk",
        name="bench",
        left=left,
        right=right,
        spec=Spec((Field("name"),), left_id="id", right_id="id"),
        keep=0.5,
        select=0.8,
        top_k=1,
        candidates=candidates,
        queue=queue,
        left_pos={k: i for i, k in enumerate(queue)},
        right_pos={k: i for i, k in enumerate(rids.tolist())},
        slices={k: (i, i + 1) for i, k in enumerate(queue)},
    )


def columnar_project(n: int, decided: int) -> Project:
    """:func:`synthetic_project` with its ids looked up with arrays, as the app's
    projects are (:mod:`matching.engine.project`), not dicts."""
    plain = synthetic_project(n, decided)
    queue = IdList.of(plain.left["id"])
    return dataclasses.replace(
        plain,
        queue=queue,
        left_pos=IdIndex(queue),
        right_pos=IdIndex(IdList.of(plain.right["id"])),
    )


def rss_mb(field: str = "VmRSS") -> float:
    """The process's resident set (or another field of its status) now, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def kept_anon_mb() -> float:
    """The process's own memory (RssAnon) once freed memory is given back."""
    gc.collect()
    try:
        from matching.memory import release_memory
    except ImportError:  # a revision from before the server gave memory back
        pass
    else:
        release_memory()
    return rss_mb("RssAnon")


def compare(args, argv: list[str]) -> None:
    """Run the benchmark against ``args.compare`` and this checkout, alternately."""
    here = Path(__file__).resolve().parents[1]
    before = Path(tempfile.mkdtemp(prefix="bench-desk-before-"))
    archive = subprocess.run(
        ["git", "-C", str(here), "archive", args.compare], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
    rest = [a for a in argv if a not in ("--compare", args.compare)]
    rest = [a for i, a in enumerate(rest) if not (a == "--rounds" or rest[i - 1] == "--rounds")]
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for _ in range(args.rounds):
        for name, root in (("before", before), ("after", here)):
            env = {**os.environ, "BENCH_DESK_ROOT": str(root)}
            out = subprocess.run(
                [sys.executable, __file__, "--json-only", *rest],
                env=env, check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
            print(name, out.strip().splitlines()[-1], flush=True)
    keys = [k for k in runs["after"][0] if k not in ("records", "decided_before", "steps")]
    print()
    print(f"| measure | before ({args.compare}) | after | after / before |")
    print("|---|---|---|---|")
    for k in keys:
        b = [r[k] for r in runs["before"]]
        a = [r[k] for r in runs["after"]]
        ratios = ", ".join(f"{x / y:.2f}" if y else "-" for x, y in zip(a, b))
        print(f"| {k} | {', '.join(map(str, b))} | {', '.join(map(str, a))} | {ratios} |")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--decided", type=int, default=900_000)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--compare", metavar="REV", help="also run the code of git revision REV")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.compare:
        compare(args, argv)
        return {}

    folder = Path(tempfile.mkdtemp(prefix="bench-desk-"))
    url = f"sqlite:///{folder / 'log.db'}"
    t = time.perf_counter()
    project = columnar_project(args.records, args.decided)
    build_s = time.perf_counter() - t
    log = DecisionLog(url)
    log.ensure_project(project.project_id, name="bench")
    lead = ReviewDesk(log, project)
    running = ReviewDesk(DecisionLog(url), project)  # a worker that read the log before
    running.ledger()
    lead.ledger()
    anon = kept_anon_mb()
    t = time.perf_counter()
    bulk = lead.batches.apply_bulk("lead", "accept", threshold=0.9, role="lead")
    bulk_s = time.perf_counter() - t
    assert bulk.written == args.decided, bulk
    bulk_anon_mb = kept_anon_mb() - anon
    rss, anon = rss_mb(), kept_anon_mb()
    t = time.perf_counter()
    running.refresh()
    catch_up_s = time.perf_counter() - t
    catch_up_mb = rss_mb() - rss
    catch_up_anon_mb = kept_anon_mb() - anon

    # A new worker: its own log connection and desk, reading the log once.
    ann_desk = ReviewDesk(DecisionLog(url), project)
    bob_desk = ReviewDesk(DecisionLog(url), project)
    rss, anon = rss_mb(), kept_anon_mb()
    t = time.perf_counter()
    ann_desk.ledger()
    load_s = time.perf_counter() - t
    load_mb = rss_mb() - rss
    load_anon_mb = kept_anon_mb() - anon
    bob_desk.ledger()

    ann = ann_desk.next_view("ann")
    bob = bob_desk.next_view("bob")
    steps = []
    for i in range(args.steps):
        t = time.perf_counter()
        out = ann_desk.decide("ann", ann, "accept", [ann["rows"][0]["_right_id"]])
        steps.append((time.perf_counter() - t) * 1000)
        assert out.ok, out.message
        ann = out.view
        if i % 2:
            bob = bob_desk.decide("bob", bob, "reject").view
    # The lead undoes the batch in the running worker; the first desk reads the undo.
    t = time.perf_counter()
    undone = running.undo("lead", role="lead")
    undo_s = time.perf_counter() - t
    assert undone.ok, undone.message
    t = time.perf_counter()
    left = ann_desk.refresh().counts()["decided"]
    undo_catch_up_s = time.perf_counter() - t
    assert left == args.steps + args.steps // 2, left
    result = {
        "records": args.records,
        "decided_before": args.decided,
        "steps": args.steps,
        "step_ms_median": round(statistics.median(steps), 2),
        "step_ms_p99": round(float(np.percentile(steps, 99)), 2),
        "step_ms_max": round(max(steps), 2),
        "bulk_accept_s": round(bulk_s, 2),
        "writer_bulk_kept_anon_mb": round(bulk_anon_mb),
        "running_worker_catch_up_s": round(catch_up_s, 2),
        "running_worker_catch_up_rss_mb": round(catch_up_mb),
        "running_worker_catch_up_kept_anon_mb": round(catch_up_anon_mb),
        "first_read_of_log_s": round(load_s, 2),
        "first_read_rss_mb": round(load_mb),
        "first_read_kept_anon_mb": round(load_anon_mb),
        "undo_of_batch_s": round(undo_s, 2),
        "undo_catch_up_s": round(undo_catch_up_s, 2),
        "project_build_s": round(build_s, 1),
    }
    print(json.dumps(result))
    if args.json_only:
        return result
    print()
    print("| measure | result | target |")
    print("|---|---|---|")
    print(
        f"| decide + next record, server time ({args.steps} steps) | median "
        f"{result['step_ms_median']} ms, p99 {result['step_ms_p99']} ms, max "
        f"{result['step_ms_max']} ms | median ≤ 10 ms, p99 ≤ 50 ms |"
    )
    print(
        f"| bulk auto-accept of {args.decided:,} records | {result['bulk_accept_s']} s, "
        f"own memory kept +{result['writer_bulk_kept_anon_mb']} MB | |"
    )
    print(
        f"| a running worker reads the batch | {result['running_worker_catch_up_s']} s, "
        f"RSS +{result['running_worker_catch_up_rss_mb']} MB, own memory kept "
        f"+{result['running_worker_catch_up_kept_anon_mb']} MB | |"
    )
    print(
        f"| a new worker's first read of the log | {result['first_read_of_log_s']} s, "
        f"RSS +{result['first_read_rss_mb']} MB, own memory kept "
        f"+{result['first_read_kept_anon_mb']} MB | |"
    )
    print(f"| undo of the batch | {result['undo_of_batch_s']} s | |")
    print(f"| another worker reads the undo | {result['undo_catch_up_s']} s | |")
    return result


if __name__ == "__main__":
    main()
