"""Command line: ``python -m matching --left L --right R ... --out OUT.csv``, or
``--dedupe TABLE`` to find the duplicates within one table.

Without ``--field`` the set-up is proposed (:func:`matching.engine.propose.propose`) and
printed to standard error as the options that give it; ``--spec FILE`` runs a
saved set-up and ``--save-spec FILE`` saves the one used.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from matching.decisions.clusters import cluster_ids
from matching.decisions.export import neutralise_frame
from matching.engine.blocking import Blocking
from matching.engine.candidates import count_pairs, plan, run_plan, validate_columns
from matching.engine.derive import with_spec_columns
from matching.engine.distributed import close, connect, run_plan_dask, task_ranges
from matching.engine.io import CandidateWriter, LoadedTable, TableReadError, load_table
from matching.engine.names import find_column, spec_for_columns
from matching.engine.propose import DEFAULT_PAIR_BUDGET, NoSharedColumns, propose
from matching.engine.safety import MAX_CELLS, check_table_file
from matching.engine.spec import (
    Setup,
    Spec,
    parse_block,
    parse_field,
    read_setup,
    setup_format,
    write_setup,
)
from matching.engine.training import (
    read_labels,
    suggest_labels,
    train,
    train_with_labels,
    weight_warnings,
)
from matching.engine.weights import LearnedWeights

__all__ = ["build_parser", "main", "add_table_arguments", "resolve_setup", "save_setup_for"]


#: Learned weights: pairs at least this likely to match join records in ``--clusters``.
CLUSTER_PROBABILITY = 0.95

#: ``--top-k`` not given: 10 pairs per left record, all pairs in a deduplication.
_TOP_K_UNSET = -1


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


def _budget(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    """The table and spec options shared by ``python -m matching`` and ``python app.py``."""
    parser.add_argument("--left", help="left table (CSV, XLSX, Parquet, JSONL)")
    parser.add_argument("--right", help="right table")
    for side in ("left", "right"):
        parser.add_argument(
            f"--{side}-sheet",
            metavar="SHEET",
            help=f"Excel: the sheet of the {side} workbook to read, by name or number from 1 "
            "(default: the first)",
        )
        parser.add_argument(
            f"--{side}-header-row",
            type=_budget,
            default=None,
            metavar="N",
            help=f"Excel: the row of the {side} sheet holding the column names, from 1 "
            "(default: 1, or the row below a title row; rows above it are left out)",
        )
    parser.add_argument(
        "--spec",
        metavar="FILE",
        help="a saved set-up (.toml or .json): tables, IDs, fields, rules, thresholds; "
        "options given as well take its place",
    )
    parser.add_argument(
        "--left-id", help="ID column of the left table (default: proposed, else row numbers)"
    )
    parser.add_argument("--right-id", help="ID column of the right table")
    parser.add_argument(
        "--field",
        action="append",
        type=_field,
        default=[],
        metavar="SPEC",
        help="LEFTCOL[=RIGHTCOL][:SCORER][/CLEANING][@WEIGHT] (CLEANING: text, number or "
        "digits); repeat for more fields (none: the set-up is proposed from the tables and "
        "printed)",
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
    parser.add_argument(
        "--keep", type=_unit, default=None, help="keep pairs scoring at least this (default 0.5)"
    )
    parser.add_argument(
        "--pair-budget",
        type=_budget,
        default=DEFAULT_PAIR_BUDGET,
        metavar="N",
        help="most pairs the proposed blocking rules may keep (default 20,000,000)",
    )
    parser.add_argument(
        "--save-spec", metavar="FILE", help="save the set-up used as FILE (.toml or .json)"
    )


def build_parser(prog: str = "python -m matching") -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="Score candidate pairs of two tables, or of one table's records (--dedupe).",
    )
    add_table_arguments(parser)
    parser.add_argument(
        "--dedupe",
        metavar="TABLE",
        help="find the duplicates within one table (instead of --left and --right): each "
        "pair of its records is scored once, the earlier record on the left, never a record "
        "with itself; --left-sheet and --left-header-row read it",
    )
    parser.add_argument(
        "--id", metavar="COL", help="with --dedupe: the table's ID column (as --left-id)"
    )
    parser.add_argument(
        "--clusters",
        metavar="FILE",
        help="with --dedupe: write each record's cluster_id and cluster_size (records joined "
        "by a chain of pairs, by default those whose match probability is at least 0.95 with "
        "learned weights, else those scoring at least the select threshold) to FILE (CSV or "
        ".parquet)",
    )
    parser.add_argument(
        "--cluster-threshold",
        type=_unit,
        default=None,
        metavar="SCORE",
        help="pairs scoring at least this join records in --clusters (default with the fields' "
        "mean: the select threshold, max(--keep, 0.8) or the saved set-up's)",
    )
    parser.add_argument(
        "--cluster-probability",
        type=_unit,
        default=None,
        metavar="P",
        help="with learned weights: pairs whose match probability is at least this join "
        f"records in --clusters (default {CLUSTER_PROBABILITY})",
    )
    parser.add_argument(
        "--top-k",
        type=_top_k,
        default=_TOP_K_UNSET,
        help="pairs kept per left record (default 10; with --dedupe all pairs above --keep)",
    )
    parser.add_argument("--workers", type=int, default=-1, help="scoring threads (-1: all cores)")
    parser.add_argument(
        "--out", help="output CSV or Parquet (.parquet), or - for CSV on standard output"
    )
    parser.add_argument(
        "--weights",
        choices=("mean", "learn"),
        default=None,
        help="learn: Fellegi-Sunter weights learned by EM (the default when the set-up is "
        "proposed, or with --labels); mean: the weighted mean of the fields (the default "
        "with --field)",
    )
    parser.add_argument(
        "--labels",
        metavar="FILE",
        help="labelled pairs (CSV: left_id,right_id,label; 1 match, 0 non-match) to learn "
        "the weights from, with those learned by EM as the start",
    )
    parser.add_argument(
        "--suggest-labels",
        type=_budget,
        metavar="N",
        help="write the N pairs whose labels would help the weights most (CSV with an "
        "empty label column) to --suggest-file",
    )
    parser.add_argument(
        "--suggest-file",
        metavar="FILE",
        help="where --suggest-labels writes (default: the output's name with .to-label.csv)",
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
        "--max-cells",
        type=_budget,
        default=MAX_CELLS,
        metavar="N",
        help="refuse a table of more rows x columns than this, and an Excel workbook that "
        "unpacks to more than 1 GB or is compressed more than 100 times (default 20,000,000)",
    )
    parser.add_argument(
        "--count-only",
        action="store_true",
        help="print each blocking rule's pairs, the pairs it adds and the total, then stop",
    )
    return parser


def resolve_setup(
    args: argparse.Namespace, *, err: TextIO, arrow: bool = False
) -> tuple[Setup, LoadedTable, LoadedTable]:
    """The set-up the options describe, and the two tables read.

    A ``--spec`` file gives the tables, IDs, fields, rules and thresholds;
    options given on the command line take the place of its values (``--field``
    of all its fields, ``--block`` of all its rules). With no fields from
    either, the set-up is proposed from the tables and written to ``err`` as the
    options that give it. Raises ``ValueError`` (or :class:`TableReadError`)
    with a message for the user.
    """
    saved = read_setup(args.spec) if args.spec else None
    one_table, left_path, right_path = _table_paths(args, saved)
    choices = {}
    for side in ("left", "right"):
        sheet = getattr(args, f"{side}_sheet", None)
        row = getattr(args, f"{side}_header_row", None)
        choices[f"{side}_sheet"] = sheet or (getattr(saved, f"{side}_sheet") if saved else None)
        choices[f"{side}_header_row"] = row or (
            getattr(saved, f"{side}_header_row") if saved else None
        )
    max_cells = getattr(args, "max_cells", None) or MAX_CELLS
    if one_table:  # the one table is read as the left one
        for option in ("sheet", "header_row"):
            choices[f"right_{option}"] = choices[f"left_{option}"]
    tables = []
    for side, path in (("left", left_path), ("right", right_path))[: 2 - one_table]:
        # The Data panel's checks: a zip bomb or a huge table is refused before it is read.
        check_table_file(path, max_cells=max_cells)
        tables.append(
            load_table(
                path,
                arrow=arrow,
                sheet=choices[f"{side}_sheet"],
                header_row=choices[f"{side}_header_row"],
            )
        )
    left, right = tables if not one_table else tables * 2
    for side, table in (("left", left), ("right", right)):
        choices[f"{side}_header_row"] = table.header_row or 1  # the row read, for --save-spec
    err.write(left.report + "\n" + ("" if one_table else right.report + "\n"))
    columns = (list(left.frame.columns), list(right.frame.columns))
    left_id, right_id = _id_options(args, one_table)
    keep = args.keep if args.keep is not None else (saved.keep if saved else 0.5)
    select = getattr(args, "select", None)
    if select is None:
        select = saved.select if saved else max(keep, 0.8)
    if args.field or saved:
        # A saved set-up's learned weights hold while its fields are the ones used.
        fields = tuple(args.field) or saved.spec.fields
        learned = saved.spec.learned if saved and not args.field else None
        left_id = left_id or (saved.spec.left_id if saved else None)
        spec = Spec(
            fields=fields,
            left_id=left_id,
            right_id=left_id if one_table else right_id or (saved.spec.right_id if saved else None),
            block=tuple(args.block) or (saved.spec.block if saved else ()),
            learned=learned,
            one_table=one_table,
        )
        spec = spec_for_columns(spec, *columns)
    else:
        try:
            proposal = propose(
                left.frame,
                right.frame,
                left_id=find_column(left_id, columns[0], side="" if one_table else "left"),
                right_id=find_column(right_id, columns[1], side="right"),
                budget=args.pair_budget,
                derive=True,
                one_table=one_table,
            )
        except NoSharedColumns as exc:
            raise ValueError(f"{exc} (--field LEFTCOL=RIGHTCOL)") from None
        spec = proposal.spec  # plan() makes its dates of their year, month and day again
        if args.block:
            spec = spec_for_columns(dataclasses.replace(spec, block=tuple(args.block)), *columns)
        learn = getattr(args, "weights", "") is None
        # With --field the weights are the fields' mean unless asked: the options say so.
        report = proposal.report(extra=("--weights learn",) if learn else ())
        err.write(
            "No --field given, so this set-up is proposed (give these options to change it,"
            " or --save-spec FILE to save it):\n" + report + "\n"
        )
        if learn:
            args.weights = "learn"
            args.learn_proposed = True
    setup = Setup(spec, str(left_path), str(right_path), keep=keep, select=select, **choices)
    return setup, left, right


def _table_paths(args: argparse.Namespace, saved: Setup | None) -> tuple[bool, str, str]:
    """Whether one table is deduplicated, and the left and right tables' paths."""
    dedupe = getattr(args, "dedupe", None)
    if dedupe and (args.left or args.right):
        raise ValueError(
            "--dedupe compares one table with itself: give it instead of --left and --right"
        )
    if dedupe or (saved and saved.spec.one_table and not (args.left or args.right)):
        path = dedupe or saved.left
        if not path:
            raise ValueError("give --dedupe TABLE, or --spec FILE naming the table")
        return True, path, path
    left_path = args.left or (saved.left if saved else None)
    right_path = args.right or (saved.right if saved else None)
    if not (left_path and right_path):
        raise ValueError(
            "give both --left and --right (or --dedupe TABLE), or --spec FILE naming the tables"
        )
    return False, left_path, right_path


def _id_options(args: argparse.Namespace, one_table: bool) -> tuple[str | None, str | None]:
    """The ID columns the options name: ``--id`` (or ``--left-id``) of a deduplicated table."""
    one = getattr(args, "id", None)
    if not one_table:
        if one:
            raise ValueError("--id names the ID column of a --dedupe table (--left-id, --right-id)")
        return args.left_id, args.right_id
    if args.right_id:
        raise ValueError("--dedupe has one table: name its ID column with --id, not --right-id")
    if one and args.left_id and one != args.left_id:
        raise ValueError(f"--id {one!r} and --left-id {args.left_id!r} name two ID columns")
    return one or args.left_id, None


def save_setup_for(setup: Setup, path: str) -> None:
    """Save ``setup`` as ``path``, with table paths relative to that file's folder."""
    folder = Path(path).resolve().parent

    def relative(table: str | None) -> str | None:
        if table is None:
            return None
        return os.path.relpath(Path(table).resolve(), folder)

    try:
        write_setup(
            dataclasses.replace(setup, left=relative(setup.left), right=relative(setup.right)), path
        )
    except OSError as exc:
        raise ValueError(f"cannot write {path}: {exc.strerror or exc}") from None


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
        every = count_pairs(left, right, None, one_table=spec.one_table)
        return f"{'rule':<40} {'pairs':>15} {'added':>15}\nall pairs{every:>56,}\n"
    counts = Blocking(left, right, spec.block, one_table=spec.one_table).count()
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


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m matching") -> int:
    """Run the command line (``prog`` names the command in its messages); the exit code."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if not args.count_only and not args.out:
        parser.error("the following arguments are required: --out")
    err = sys.stderr
    stack = contextlib.ExitStack()
    try:
        if args.save_spec:
            setup_format(args.save_spec)
        if args.dask and not args.count_only:
            # Start (or reach) the cluster while the tables are read.
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=1))
            pending = pool.submit(connect, args.dask)
            stack.callback(_close_when_ready, pending)
        # Arrow-backed text: a tenth of the memory of Python strings at a million rows.
        setup, left, right = resolve_setup(args, err=err, arrow=True)
        spec = setup.spec
        if args.clusters and not spec.one_table:
            raise ValueError("--clusters needs one table to deduplicate (--dedupe TABLE)")
        if args.count_only:
            _save(args, setup, err)
            frames = with_spec_columns(left.frame, right.frame, spec)
            validate_columns(*frames, spec)
            sys.stdout.write(_count_table(*frames, spec))
            return 0
        client = pending.result() if args.dask else None
        slices = 4 * len(client.scheduler_info()["workers"]) if args.dask else 1
        labels = read_labels(args.labels) if args.labels else None
        learning = args.weights == "learn" or labels is not None
        if args.suggest_labels and not (learning or spec.learned is not None):
            raise ValueError("--suggest-labels needs learned weights (--weights learn)")
        job, ranges = plan(
            left.frame,
            right.frame,
            spec,
            keep=setup.keep,
            top_k=_top_k_for(args, spec),
            slices=slices,
            explain=True,
        )
        if spec.block:
            pairs = sum(c.added for c in job.blocking.count())
            err.write(f"{pairs:,} pairs to score after blocking\n")
            if client is not None:
                ranges = task_ranges(job, ranges, client)
        else:
            every = count_pairs(left.frame, right.frame, None, one_table=spec.one_table)
            err.write(f"{every:,} pairs to score in full\n")
        learned = None
        if learning:
            try:
                learned = train(job, workers=args.workers)
            except ValueError as exc:
                if not getattr(args, "learn_proposed", False) or labels is not None:
                    raise
                err.write(f"weights not learned ({exc}): the fields' weighted mean scores\n")
        if learned is not None:
            if labels is not None:
                learned = train_with_labels(job, labels, base=learned, workers=args.workers)
                err.write(f"weights learned from {len(labels):,} labelled pairs\n")
            err.write(learned.report() + "\n")
            for warning in weight_warnings(learned):
                err.write(f"warning: {warning}\n")
            job.spec = dataclasses.replace(spec, learned=learned)
        # Saved with the weights learned, so that the set-up reruns to the same scores.
        _save(args, dataclasses.replace(setup, spec=job.spec), err)
        cut = _cluster_cut(args, job.spec, setup.select) if args.clusters else None
        if args.dask:
            frames = run_plan_dask(job, ranges, client, progress=_progress(err))
        else:
            frames = run_plan(job, ranges, workers=args.workers, progress=_progress(err))
        first = next(frames)
    except (TableReadError, ValueError) as exc:
        stack.close()
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    kept = [] if args.suggest_labels else None
    joined = [] if args.clusters else None
    try:
        with stack, CandidateWriter(args.out) as out:
            safe = neutralise_frame if not (args.no_neutralise or out.parquet) else None
            for frame in itertools.chain([first], frames):
                out.write(safe(frame) if safe else frame)
                if kept is not None:
                    kept.append(frame)
                if joined is not None:
                    joined.append(frame.loc[cut.keeps(frame), ["left_id", "right_id"]])
    except OSError as exc:
        reason = exc.strerror or str(exc)
        parser.exit(2, f"{parser.prog}: error: cannot write {args.out}: {reason}\n")
    if args.out != "-":
        err.write(f"{out.rows:,} candidate pairs written to {args.out}\n")
    if kept is not None and job.spec.learned is not None:
        _write_suggestions(args, parser, pd.concat(kept, ignore_index=True), job.spec, labels)
    if joined is not None:
        _write_clusters(args, parser, job, joined, cut)
    return 0


def _save(args: argparse.Namespace, setup: Setup, err: TextIO) -> None:
    if args.save_spec:
        save_setup_for(setup, args.save_spec)
        err.write(f"set-up saved to {args.save_spec}\n")


def _top_k_for(args: argparse.Namespace, spec: Spec) -> int | None:
    """``--top-k``, or its default: 10 per left record, every pair in a deduplication (a
    record's pairs with earlier records are not cut, so neither are those with later ones)."""
    if args.top_k != _TOP_K_UNSET:
        return args.top_k
    return None if spec.one_table else 10


@dataclasses.dataclass(frozen=True)
class _ClusterCut:
    """The pairs that join records into clusters: a score, or a match probability."""

    value: float
    learned: LearnedWeights | None = None

    def keeps(self, frame: pd.DataFrame) -> np.ndarray:
        score = frame["score"].to_numpy(np.float64)
        if self.learned is None:
            return score >= self.value
        return self.learned.probability(self.learned.unscale(score)) >= self.value

    def text(self) -> str:
        kind = "with a match probability" if self.learned is not None else "scoring"
        return f"pairs {kind} of at least {self.value:g}"


def _cluster_cut(args: argparse.Namespace, spec: Spec, select: float) -> _ClusterCut:
    """``--cluster-threshold`` or ``--cluster-probability``; by default a match probability
    of 0.95 with learned weights (the rescaled score says how a pair ranks, not how
    likely it is a match), else the select threshold."""
    if args.cluster_threshold is not None and args.cluster_probability is not None:
        raise ValueError("give --cluster-threshold (a score) or --cluster-probability, not both")
    if args.cluster_threshold is not None:
        return _ClusterCut(args.cluster_threshold)
    if spec.learned is None:
        if args.cluster_probability is not None:
            raise ValueError("--cluster-probability needs learned weights (--weights learn)")
        return _ClusterCut(select)
    probability = args.cluster_probability
    return _ClusterCut(CLUSTER_PROBABILITY if probability is None else probability, spec.learned)


def _write_clusters(args, parser, job, joined: list[pd.DataFrame], cut: _ClusterCut) -> None:
    """Write each record of a deduplicated table with its cluster: records joined by a
    chain of the pairs ``cut`` keeps share a ``cluster_id``."""
    ids = job.left_ids
    pairs = pd.concat(joined, ignore_index=True) if joined else pd.DataFrame()
    text = pd.Series(ids).astype(str).tolist()
    found = zip(pairs.get("left_id", []), pairs.get("right_id", []))
    cluster = cluster_ids(text, ((str(a), str(b)) for a, b in found))
    name = job.spec.left_id or "row"
    table = pd.DataFrame({name: ids, "cluster_id": cluster})
    table["cluster_size"] = table.groupby("cluster_id")[name].transform("size")
    path = args.clusters
    try:
        if path.lower().endswith(".parquet"):
            table.to_parquet(path, index=False)
        else:
            (table if args.no_neutralise else neutralise_frame(table)).to_csv(path, index=False)
    except OSError as exc:
        parser.exit(2, f"{parser.prog}: error: cannot write {path}: {exc.strerror or exc}\n")
    several = int((table["cluster_size"] > 1).sum())
    sys.stderr.write(
        f"{table['cluster_id'].nunique():,} clusters ({several:,} records in clusters of two or"
        f" more, joined by {cut.text()}) written to {path}\n"
    )


def _suggest_path(args: argparse.Namespace) -> str:
    if args.suggest_file:
        return args.suggest_file
    if args.out in (None, "-"):
        return "to-label.csv"
    path = Path(args.out)
    return str(path.with_name(path.name.split(".")[0] + ".to-label.csv"))


def _write_suggestions(args, parser, candidates: pd.DataFrame, spec: Spec, labels) -> None:
    """Write the pairs most worth labelling, as a labels file with the label empty."""
    path = _suggest_path(args)
    pairs = suggest_labels(candidates, spec.learned, args.suggest_labels, exclude=labels)
    try:
        pairs.to_csv(path, index=False)
    except OSError as exc:
        parser.exit(2, f"{parser.prog}: error: cannot write {path}: {exc.strerror or exc}\n")
    sys.stderr.write(f"{len(pairs):,} pairs to label written to {path}\n")
