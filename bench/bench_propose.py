"""Top-1 accuracy of the proposed set-up alone (no edits) on generated tables.

Run from the repository root::

    python bench/bench_propose.py              # 5,000 people, seed 42
    python bench/bench_propose.py --n 100000 --proposal-only
    python bench/bench_propose.py --n 1000000 --time-only --repeat 3

``matching.engine.demo.generate_tables(n)`` gives n owners (left) and 1.1 n cars (right)
with noise, and the true links. The proposal (:func:`matching.engine.propose.propose`)
picks the IDs, fields, scorers and blocking rules; the candidates are scored with
it as proposed (keep 0, top 5), and top-1 is the share of owners whose true car is
their best candidate (ties broken by the engine's order). For comparison the same
is measured for the proposal's fields without its blocking rules, and for the
engine benchmark's default set-up (the six shared fields, ``qratio``, no blocking).

Each proposal is timed (wall and CPU seconds, with the machine's one-minute load
average before and after: the machine is shared, so wall time follows the
load), and the share of the true links its blocking rules keep is printed.
``--time-only`` leaves out the scoring.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dataclasses  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from matching.engine.blocking import Blocking  # noqa: E402
from matching.engine.candidates import generate_candidates  # noqa: E402
from matching.engine.demo import GENERATED_FIELDS, generate_tables  # noqa: E402
from matching.engine.propose import propose  # noqa: E402
from matching.engine.spec import Field, Spec  # noqa: E402


def accuracy(left: pd.DataFrame, right: pd.DataFrame, spec: Spec, links: pd.DataFrame) -> dict:
    """Top-1 and recall@5 of ``spec`` against the true links, and the seconds it took."""
    t0 = time.perf_counter()
    found = generate_candidates(left, right, spec, keep=0.0, top_k=5)
    seconds = time.perf_counter() - t0
    truth = dict(zip(links["left_id"], links["right_id"]))
    rank = found.groupby("left_id").cumcount()
    hit = found["right_id"].to_numpy() == found["left_id"].map(truth).to_numpy()
    n = len(links)
    return {"top1": int((hit & (rank == 0)).sum()) / n, "top5": int(hit.sum()) / n, "s": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=1, help="time the proposal this many times")
    parser.add_argument(
        "--time-only", action="store_true", help="time the proposal; score no candidates"
    )
    parser.add_argument(
        "--proposal-only",
        action="store_true",
        help="leave out the comparisons without blocking (for large n: they score every pair)",
    )
    args = parser.parse_args()
    tables = generate_tables(args.n, seed=args.seed)
    left, right, links = tables.owners, tables.cars, tables.links
    print(f"{args.n:,} owners x {len(right):,} cars (seed {args.seed})")
    for _ in range(args.repeat):
        load, cpu, t0 = os.getloadavg()[0], time.process_time(), time.perf_counter()
        proposal = propose(left, right)
        took, cpu = time.perf_counter() - t0, time.process_time() - cpu
        print(
            f"proposal in {took:.2f} s wall, {cpu:.2f} s CPU"
            f" (load {load:.1f} before, {os.getloadavg()[0]:.1f} after)"
        )
    print(proposal.report())
    spec = proposal.spec
    if spec.block:
        blocking = Blocking(left, right, spec.block)
        li = pd.Index(left[spec.left_id]).get_indexer(links["left_id"])
        ri = pd.Index(right[spec.right_id]).get_indexer(links["right_id"])
        kept = np.zeros(len(links), bool)
        for k in range(len(spec.block)):
            kept |= blocking.keeps(k, li, ri)
        print(f"the rules keep {100 * kept.mean():.2f}% of the {len(links):,} true links")
    if args.time_only:
        return 0
    default = Spec(
        fields=tuple(Field(name) for name in GENERATED_FIELDS),
        left_id="owner_id",
        right_id="car_id",
    )
    cases = [
        ("proposal as proposed", spec),
        ("proposal's fields, no blocking", dataclasses.replace(spec, block=())),
        ("six fields, qratio, no blocking", default),
    ]
    print()
    print("| set-up | top-1 | recall@5 | scoring |")
    print("|---|---|---|---|")
    for label, case in cases[:1] if args.proposal_only else cases:
        got = accuracy(left, right, case, links)
        print(
            f"| {label} | {100 * got['top1']:.2f}% | {100 * got['top5']:.2f}% | {got['s']:.1f} s |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
