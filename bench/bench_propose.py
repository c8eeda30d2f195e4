"""Top-1 accuracy of the proposed set-up alone (no edits) on generated tables.

Run from the repository root::

    python bench/bench_propose.py              # 5,000 people, seed 42
    python bench/bench_propose.py --n 100000 --proposal-only

``matching.demo.generate_tables(n)`` gives n owners (left) and 1.1 n cars (right)
with noise, and the true links. The proposal (:func:`matching.propose.propose`)
picks the IDs, fields, scorers and blocking rules; the candidates are scored with
it as proposed (keep 0, top 5), and top-1 is the share of owners whose true car is
their best candidate (ties broken by the engine's order). For comparison the same
is measured for the proposal's fields without its blocking rules, and for the
engine benchmark's default set-up (the six shared fields, ``qratio``, no blocking).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dataclasses  # noqa: E402

import pandas as pd  # noqa: E402

from matching.candidates import generate_candidates  # noqa: E402
from matching.demo import GENERATED_FIELDS, generate_tables  # noqa: E402
from matching.propose import propose  # noqa: E402
from matching.spec import Field, Spec  # noqa: E402


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
    parser.add_argument(
        "--proposal-only",
        action="store_true",
        help="leave out the comparisons without blocking (for large n: they score every pair)",
    )
    args = parser.parse_args()
    tables = generate_tables(args.n, seed=args.seed)
    left, right, links = tables.owners, tables.cars, tables.links
    t0 = time.perf_counter()
    proposal = propose(left, right)
    took = time.perf_counter() - t0
    print(f"{args.n:,} owners x {len(right):,} cars (seed {args.seed}); proposal in {took:.2f} s:")
    print(proposal.report())
    spec = proposal.spec
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
