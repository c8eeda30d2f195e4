"""Command line: ``python -m matching --left L --right R ... --out OUT.csv``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from matching.blocking import Blocking
from matching.candidates import learn, plan, run_plan, validate_columns
from matching.distributed import close, connect, run_plan_dask, task_ranges
from matching.export import neutralise_frame
from matching.io import CandidateWriter, TableReadError, load_table
from matching.spec import Spec, parse_block, parse_field

__all__ = ["build_parser", "main", "spec_from_args"]


class _Parser(argparse.ArgumentParser):
    """Bad arguments: exit 2 with one line, not argparse's usage block."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _field(text: str):
    try:
        return parse_field(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _block(text: str):
    try:
        return parse_block(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _unit(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _top_k(text: str) -> int | None:
    if text.lower() in ("none", "all", "0"):
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1, or 'none' for all")
    return value


def add_table_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """The table and spec options shared by ``python -m matching`` and ``python app.py``."""
    parser.add_argument("--left", required=required, help="left table (CSV, XLSX, Parquet, JSONL)")
    parser.add_argument("--right", required=required, help="right table")
    parser.add_argument("--left-id", help="ID column of the left table (default: row numbers)")
    parser.add_argument("--right-id", help="ID column of the right table (default: row numbers)")
    parser.add_argument(
        "--field",
        action="append",
        type=_field,
        default=[],
        metavar="SPEC",
        help="LEFTCOL[=RIGHTCOL][:SCORER][@WEIGHT]; repeat for more fields",
    )
    parser.add_argument(
        "--block",
        action="append",
        type=_block,
        default=[],
        metavar="RULE",
        help="exact:KEY, prefix:KEY:N or sorted:KEY:W; KEY is COL[=RIGHTCOL][TRANSFORM] joined "
        "by +, TRANSFORM [:N], [year] or [month]; repeat for a union of rules",
    )
    parser.add_argument("--keep", type=_unit, default=0.5, help="keep pairs scoring at least this")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m matching", description="Score candidate pairs of two tables.")
    add_table_arguments(parser, required=True)
    parser.add_argument("--top-k", type=_top_k, default=10, help="pairs kept per left record")
    parser.add_argument("--workers", type=int, default=-1, help="scoring threads (-1: all cores)")
    parser.add_argument(
        "--out", help="output CSV or Parquet (.parquet), or - for CSV on standard output"
    )
    parser.add_argument(
        "--weights",
        choices=("mean", "learn"),
        default="mean",
        help="mean: the weighted mean of the fields (default); learn: Fellegi-Sunter "
        "weights learned by EM over the candidate pairs (needs --block)",
    )
    parser.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="score on a Dask cluster: a scheduler address (tcp://host:8786) or local:N "
        "for N worker processes on this machine",
    )
    parser.add_argument(
        "--no-neutralise",
        action="store_true",
        help="write CSV IDs as they are, even those a spreadsheet would run as formulas "
        "(by default they get a leading quote; Parquet is never changed)",
    )
    parser.add_argument(
        "--count-only",
        action="store_true",
        help="print each blocking rule's pairs, the pairs it adds and the total, then stop",
    )
    return parser


def spec_from_args(args: argparse.Namespace) -> Spec:
    """The Spec the parsed options describe; ``ValueError`` when it is incomplete."""
    if not args.field:
        raise ValueError("give at least one --field")
    return Spec(
        fields=tuple(args.field),
        left_id=args.left_id,
        right_id=args.right_id,
        block=args.block,
    )


def _progress(stream):
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] > 0.5:
            last[0] = now
            stream.write(f"\rscoring: {done:,}/{total:,} ({100 * done / max(total, 1):.0f}%)")
            if done == total:
                stream.write("\n")
            stream.flush()

    return report


def _count_table(left, right, spec: Spec) -> str:
    """Per rule: its pairs, the pairs it adds to the rules before it; then the total."""
    if not spec.block:
        return f"{'rule':<40} {'pairs':>15} {'added':>15}\nall pairs{len(left) * len(right):>56,}\n"
    counts = Blocking(left, right, spec.block).count()
    width = max(40, *(len(c.rule) for c in counts))
    lines = [f"{'rule':<{width}} {'pairs':>15} {'added':>15}"]
    lines += [f"{c.rule:<{width}} {c.pairs:>15,} {c.added:>15,}" for c in counts]
    lines.append(f"{'total':<{width}} {'':>15} {sum(c.added for c in counts):>15,}")
    return "\n".join(lines) + "\n"


def _close_when_ready(pending) -> None:
    try:
        client = pending.result()
    except Exception:  # the error was reported where the result was asked for
        return
    close(client)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.count_only and not args.out:
        parser.error("the following arguments are required: --out")
    err = sys.stderr
    stack = contextlib.ExitStack()
    try:
        spec = spec_from_args(args)
        if args.dask and not args.count_only:
            # Start (or reach) the cluster while the tables are read.
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=1))
            pending = pool.submit(connect, args.dask)
            stack.callback(_close_when_ready, pending)
        # Arrow-backed text: a tenth of the memory of Python strings at a million rows.
        left = load_table(args.left, arrow=True)
        right = load_table(args.right, arrow=True)
        err.write(f"{left.report}\n{right.report}\n")
        if args.count_only:
            validate_columns(left.frame, right.frame, spec)
            sys.stdout.write(_count_table(left.frame, right.frame, spec))
            return 0
        client = pending.result() if args.dask else None
        slices = 4 * len(client.scheduler_info()["workers"]) if args.dask else 1
        job, ranges = plan(
            left.frame, right.frame, spec, keep=args.keep, top_k=args.top_k, slices=slices
        )
        if spec.block:
            pairs = sum(c.added for c in job.blocking.count())
            err.write(f"{pairs:,} pairs to score after blocking\n")
            if client is not None:
                ranges = task_ranges(job, ranges, client)
        else:
            err.write(f"{len(left.frame) * len(right.frame):,} pairs to score in full\n")
        if args.weights == "learn":
            learned = learn(job, ranges, workers=args.workers)
            err.write(learned.report() + "\n")
            job.spec = dataclasses.replace(spec, learned=learned)
        if args.dask:
            frames = run_plan_dask(job, ranges, client, progress=_progress(err))
        else:
            frames = run_plan(job, ranges, workers=args.workers, progress=_progress(err))
        first = next(frames)
    except (TableReadError, ValueError) as exc:
        stack.close()
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    try:
        with stack, CandidateWriter(args.out) as out:
            safe = neutralise_frame if not (args.no_neutralise or out.parquet) else None
            out.write(safe(first) if safe else first)
            for frame in frames:
                out.write(safe(frame) if safe else frame)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        parser.exit(2, f"{parser.prog}: error: cannot write {args.out}: {reason}\n")
    if args.out != "-":
        err.write(f"{out.rows:,} candidate pairs written to {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
