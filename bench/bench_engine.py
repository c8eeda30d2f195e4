"""Benchmark of the matching engine against the tutorial's loop and raw rapidfuzz ``cdist``.

Run from the repository root::

    python bench/bench_engine.py                     # 1k, 10k, 100k and the issue's targets
    python bench/bench_engine.py --sizes 1000 --no-targets
    python bench/bench_engine.py --huge --write bench/RESULTS.md

Every case runs in its own subprocess, so each peak memory figure (peak resident
set size of that process, data included) is that case's alone. Times are wall
clock on a shared machine: read them as a few-percent-noisy figures.

Cases, on ``matching.engine.demo.generate_tables(n)`` (n owners on the left, 1.1 n cars
on the right), comparing the six shared fields with ``qratio``:

* ``tutorial``: the tutorial's algorithm copied faithfully (nested ``iterrows``,
  ``fuzz.QRatio`` on upper-cased text, one ``pd.concat`` per kept pair). It runs on
  a small corner of the tables only; larger sizes are extrapolated from its rate
  and marked so.
* ``raw``: ``rapidfuzz.process.cdist`` on the same columns, one call per field,
  ``workers=-1``, times summed over the fields; no top-k, no weighting, no output.
* ``engine``: ``matching.engine.candidates.generate_candidates`` (keep 0.5, top 10).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from rapidfuzz import fuzz, process, utils  # noqa: E402

from matching.engine.candidates import generate_candidates  # noqa: E402
from matching.engine.demo import GENERATED_FIELDS, generate_tables  # noqa: E402
from matching.engine.scoring import _RAPIDFUZZ  # noqa: E402
from matching.engine.spec import Field, Spec  # noqa: E402

DEFAULT_SPEC = Spec(
    fields=tuple(Field(name) for name in GENERATED_FIELDS), left_id="owner_id", right_id="car_id"
)

#: The 9-field spec of the issue's speed target: the six shared fields, an e-mail
#: compared with one built on the right, and two fields read again with other scorers.
NINE_FIELDS = (
    *DEFAULT_SPEC.fields,
    Field("email"),
    Field("surname_jw", "surname", "jaro_winkler"),
    Field("street_tokens", "street", "token_sort"),
)


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (ru_maxrss is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tables(
    n: int, right_rows: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    generated = generate_tables(n, seed=42)
    left, right = generated.owners, generated.cars
    if right_rows is not None:
        right = right.iloc[:right_rows].reset_index(drop=True)
    return left, right, generated.links


def nine_field_tables(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    left, right, _ = tables(n, right_rows=n)
    left = left.assign(surname_jw=left["surname"], street_tokens=left["street"])
    given = right["given_name"].fillna("").str.lower()
    right = right.assign(
        email=given + "." + right["surname"].fillna("").str.lower() + "@example.com"
    )
    return left, right


def tutorial(left: pd.DataFrame, right: pd.DataFrame, columns: list[str], threshold: float = 50):
    """The tutorial's algorithm, faithfully: a Python loop over every pair."""
    matches = pd.DataFrame(columns=["left_id", "right_id", "score"])
    for _, l in left.iterrows():  # noqa: E741 (the tutorial's own names)
        for _, r in right.iterrows():
            score = sum(fuzz.QRatio(l[col].upper(), r[col].upper()) for col in columns) / len(
                columns
            )
            if score >= threshold:
                row = pd.DataFrame(
                    [{"left_id": l["owner_id"], "right_id": r["car_id"], "score": score}]
                )
                matches = pd.concat([matches, row], ignore_index=True)
    return matches


def raw_cdist(left: pd.DataFrame, right: pd.DataFrame, fields) -> float:
    """Seconds of rapidfuzz's cdist over the fields' columns, summed; columns prepared untimed."""
    total = 0.0
    for f in fields:
        queries = left[f.left].fillna("").tolist()
        choices = right[f.right].fillna("").tolist()
        scorer = _RAPIDFUZZ[f.scorer][0]
        t0 = time.perf_counter()
        process.cdist(queries, choices, scorer=scorer, processor=utils.default_process, workers=-1)
        total += time.perf_counter() - t0
    return total


def engine(left, right, spec) -> tuple[float, int]:
    t0 = time.perf_counter()
    result = generate_candidates(left, right, spec, keep=0.5, top_k=10, workers=-1)
    return time.perf_counter() - t0, len(result)


# ---- cases, each run in a subprocess --------------------------------------------------


def case_tutorial(n: int, rows: int) -> dict:
    left, right, _ = tables(n)
    columns = list(GENERATED_FIELDS)
    left = left.iloc[:rows].fillna("")
    right = right.iloc[:rows].fillna("")
    t0 = time.perf_counter()
    kept = tutorial(left, right, columns)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "pairs": len(left) * len(right), "kept": len(kept)}


def case_raw(n: int, left_rows: int) -> dict:
    left, right, _ = tables(n)
    left = left.iloc[:left_rows]
    seconds = raw_cdist(left, right, DEFAULT_SPEC.fields)
    return {"seconds": seconds, "pairs": len(left) * len(right)}


def case_engine(n: int, left_rows: int) -> dict:
    left, right, _ = tables(n)
    left = left.iloc[:left_rows]
    seconds, kept = engine(left, right, DEFAULT_SPEC)
    return {"seconds": seconds, "pairs": len(left) * len(right), "kept": kept}


def case_nine(n: int, repeats: int) -> dict:
    left, right = nine_field_tables(n)
    spec = Spec(fields=NINE_FIELDS, left_id="owner_id", right_id="car_id")
    raws, engines = [], []
    for _ in range(repeats):
        raws.append(raw_cdist(left, right, NINE_FIELDS))
        engines.append(engine(left, right, spec)[0])
    return {"raw": raws, "engine": engines, "pairs": len(left) * len(right)}


def case_nine_memory(n: int) -> dict:
    left, right = nine_field_tables(n)
    spec = Spec(fields=NINE_FIELDS, left_id="owner_id", right_id="car_id")
    before = peak_rss_mb()
    seconds, _ = engine(left, right, spec)
    return {"seconds": seconds, "rss_before_mb": before}


def case_huge(n: int, field: str) -> dict:
    left, right, _ = tables(n, right_rows=n)
    spec = Spec(fields=(Field(field),), left_id="owner_id", right_id="car_id")
    before = peak_rss_mb()
    seconds, kept = engine(left, right, spec)
    return {"seconds": seconds, "pairs": n * n, "kept": kept, "rss_before_mb": before}


def case_accuracy(n: int, block: str | None) -> dict:
    from matching.engine.spec import parse_block

    left, right, links = tables(n)
    spec = Spec(
        fields=DEFAULT_SPEC.fields,
        left_id="owner_id",
        right_id="car_id",
        block=parse_block(block) if block else None,
    )
    t0 = time.perf_counter()
    result = generate_candidates(left, right, spec, keep=0.0, top_k=5)
    seconds = time.perf_counter() - t0
    truth = dict(zip(links["left_id"], links["right_id"]))
    result["rank"] = result.groupby("left_id").cumcount()
    hit = result[result["right_id"].to_numpy() == result["left_id"].map(truth).to_numpy()]
    top1 = int((hit["rank"] == 0).sum())
    return {"seconds": seconds, "n": n, "right": len(right), "top1": top1, "top5": len(hit)}


CASES = {
    "tutorial": case_tutorial,
    "raw": case_raw,
    "engine": case_engine,
    "nine": case_nine,
    "nine_memory": case_nine_memory,
    "huge": case_huge,
    "accuracy": case_accuracy,
}


def run_case(name: str, *args) -> dict:
    """Run one case in a fresh interpreter; its peak RSS is its own."""
    cmd = [sys.executable, __file__, "--case", name, json.dumps(args)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"case {name}{args} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- report --------------------------------------------------------------------------


def fmt_rate(pairs: float, seconds: float) -> str:
    return f"{pairs / seconds:,.0f}"


def fmt_time(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:,.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:,.1f} min"
    return f"{seconds:,.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument(
        "--tutorial-rows", type=int, default=120, help="rows per side the tutorial loop runs on"
    )
    parser.add_argument(
        "--sample-rows",
        type=int,
        default=2_000,
        help="left rows compared in full against the whole right table at larger sizes "
        "(the rest is extrapolated)",
    )
    parser.add_argument("--nine-n", type=int, default=5_000, help="n x n of the 9-field target")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the 9-field timing")
    parser.add_argument("--no-targets", action="store_true", help="only the size table")
    parser.add_argument("--huge", action="store_true", help="also run 100,000 x 100,000")
    parser.add_argument("--huge-n", type=int, default=100_000)
    parser.add_argument("--huge-field", default="surname")
    parser.add_argument("--accuracy-n", type=int, default=5_000)
    parser.add_argument("--accuracy-block", default=None, help="e.g. prefix:surname:1")
    parser.add_argument("--write", type=Path, help="also write the report (markdown) here")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("case_args", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.case:
        result = CASES[args.case](*json.loads(args.case_args))
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return

    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    say("# Engine benchmark")
    say()
    say(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (shared with other work: times are noisy); "
        f"Python {platform.python_version()}, load average at start "
        f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}."
    )
    say()
    say("Default spec: the six shared fields, `qratio`, equal weights; keep 0.5, top 10.")
    say("Pairs are record pairs (all fields); peak RSS includes the tables.")
    say()
    say("| left x right | case | time | pairs/s | peak RSS | engine/raw | tutorial/engine |")
    say("|---|---|---|---|---|---|---|")
    tut = run_case("tutorial", 1_000, args.tutorial_rows)
    tut_rate = tut["pairs"] / tut["seconds"]
    for n in args.sizes:
        right = int(round(n * 1.1))
        pairs = n * right
        rows = min(n, args.sample_rows)
        scale = n / rows
        note = "" if scale == 1 else f" (extrapolated from {rows:,} left rows)"
        raw = run_case("raw", n, rows)
        eng = run_case("engine", n, rows)
        raw_s, eng_s = raw["seconds"] * scale, eng["seconds"] * scale
        tut_s = pairs / tut_rate
        size = f"{n:,} x {right:,}"
        say(
            f"| {size} | tutorial | {fmt_time(tut_s)} (extrapolated from "
            f"{tut['pairs']:,} pairs) | {tut_rate:,.0f} | {tut['peak_rss_mb']:,.0f} MB | | |"
        )
        say(
            f"| {size} | raw cdist | {fmt_time(raw_s)}{note} | {fmt_rate(pairs, raw_s)} "
            f"| {raw['peak_rss_mb']:,.0f} MB | | |"
        )
        say(
            f"| {size} | engine | {fmt_time(eng_s)}{note} | {fmt_rate(pairs, eng_s)} "
            f"| {eng['peak_rss_mb']:,.0f} MB | {eng_s / raw_s:.2f} | {tut_s / eng_s:,.0f} |"
        )

    if not args.no_targets:
        say()
        say("## Targets")
        say()
        n = args.nine_n
        nine = run_case("nine", n, args.repeats)
        mem = run_case("nine_memory", n)
        raw_med, eng_med = statistics.median(nine["raw"]), statistics.median(nine["engine"])
        say(
            f"- {n:,} x {n:,} on 9 fields ({', '.join(f.name for f in NINE_FIELDS)}), "
            f"{args.repeats} alternating runs in one process: raw cdist summed "
            f"{', '.join(f'{t:.2f}' for t in nine['raw'])} s (median {raw_med:.2f}); engine "
            f"{', '.join(f'{t:.2f}' for t in nine['engine'])} s (median {eng_med:.2f}). "
            f"**engine/raw = {eng_med / raw_med:.2f}** (target <= 1.5)."
        )
        say(
            f"- Peak memory, engine alone on that case: **{mem['peak_rss_mb']:,.0f} MB** "
            f"({mem['rss_before_mb']:,.0f} MB before scoring; target < 1,536 MB)."
        )
        acc = run_case("accuracy", args.accuracy_n, args.accuracy_block)
        how = f"blocking {args.accuracy_block}" if args.accuracy_block else "full comparison"
        say(
            f"- Accuracy, default spec, {acc['n']:,} x {acc['right']:,} ({how}, "
            f"{fmt_time(acc['seconds'])}): true match top-1 "
            f"**{100 * acc['top1'] / acc['n']:.2f}%** (target >= 99%), "
            f"top-5 **{100 * acc['top5'] / acc['n']:.2f}%** (target >= 99.5%)."
        )
    if args.huge:
        huge = run_case("huge", args.huge_n, args.huge_field)
        say(
            f"- {args.huge_n:,} x {args.huge_n:,} on one field ({args.huge_field}): finished in "
            f"**{fmt_time(huge['seconds'])}**, {huge['kept']:,} pairs kept, peak RSS "
            f"**{huge['peak_rss_mb']:,.0f} MB** ({huge['rss_before_mb']:,.0f} MB before scoring)."
        )
    if args.write:
        args.write.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
