"""Command line: ``python -m matching --left L --right R ... --out OUT.csv``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from matching.candidates import count_pairs, generate_candidates
from matching.io import TableReadError, load_table
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
        type=_block,
        metavar="SPEC",
        help="exact:COL, prefix:COL:N or sorted:COL:W",
    )
    parser.add_argument("--keep", type=_unit, default=0.5, help="keep pairs scoring at least this")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m matching", description="Score candidate pairs of two tables.")
    add_table_arguments(parser, required=True)
    parser.add_argument("--top-k", type=_top_k, default=10, help="pairs kept per left record")
    parser.add_argument("--workers", type=int, default=-1, help="scoring threads (-1: all cores)")
    parser.add_argument("--out", required=True, help="output CSV, or - for standard output")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    err = sys.stderr
    try:
        spec = spec_from_args(args)
        left = load_table(args.left)
        right = load_table(args.right)
        err.write(f"{left.report}\n{right.report}\n")
        pairs = count_pairs(left.frame, right.frame, spec.block)
        how = "after blocking" if spec.block else "in full"
        err.write(f"{pairs:,} pairs to score {how}\n")
        result = generate_candidates(
            left.frame,
            right.frame,
            spec,
            keep=args.keep,
            top_k=args.top_k,
            workers=args.workers,
            progress=_progress(err),
        )
    except (TableReadError, ValueError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    if args.out == "-":
        result.to_csv(sys.stdout, index=False)
    else:
        try:
            result.to_csv(args.out, index=False)
        except OSError as exc:
            parser.exit(2, f"{parser.prog}: error: cannot write {args.out}: {exc.strerror}\n")
        err.write(f"{len(result):,} candidate pairs written to {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
