"""Scale benchmark: matchdesk against Splink (DuckDB) on generated owners and cars.

Run from the repository root::

    python bench/bench_scale.py --sizes 200000                      # matchdesk only
    python bench/bench_scale.py --sizes 200000 1000000 \\
        --splink-python /tmp/splinkenv/bin/python --write bench/RESULTS.md

Tables come from ``matching.engine.demo.generate_tables(n, seed=1)``: n owners, 1.1 n cars,
the six shared fields. Both tools block on the union of ``postcode``,
``surname + birth_date`` and ``given_name + birth_date`` and keep every blocked pair
(``--keep 0``) ranked, top 5 per owner. Splink lives in its own environment (it is not
a dependency of matchdesk)::

    python -m venv /tmp/splinkenv && /tmp/splinkenv/bin/pip install splink duckdb

Each case runs as a separate command (``python -m matching ...`` or
``bench/splink_run.py``) under a small wrapper process, so its wall time includes
reading the tables and writing the result, and its peak RSS (the largest resident set
of any process of the case) is its own. Accuracy is measured against the generated
links: top-1 (the true car is the owner's best candidate), recall@5 (among the five
best), and the best F1 over score thresholds applied to each owner's best candidate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from matching.engine.demo import GENERATED_FIELDS, generate_tables  # noqa: E402

RULES = ("exact:postcode", "exact:surname+birth_date", "exact:given_name+birth_date")

#: Runs a command and prints its wall time and the peak RSS of its processes (KiB).
_WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "wall = time.perf_counter() - t\n"
    "sys.stderr.write(done.stderr)\n"
    "sys.stdout.write(done.stdout)\n"
    "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(f'@@ {wall} {rss} {done.returncode}')\n"
)


def measured(command: list[str]) -> dict:
    """Wall seconds, peak RSS in MB, stdout and stderr of one command."""
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, cwd=ROOT
    )
    last = done.stdout.strip().splitlines()[-1]
    _, wall, rss, code = last.split()
    if int(code) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    stdout = "\n".join(done.stdout.strip().splitlines()[:-1])
    return {"wall": float(wall), "rss_mb": int(rss) / 1024, "stdout": stdout, "stderr": done.stderr}


def accuracy(path: Path, links: pd.DataFrame) -> dict:
    """Top-1, recall@5 and best F1 of a ranked top-5 candidate file."""
    pairs = pd.read_parquet(path, columns=["left_id", "right_id", "score"])
    truth = dict(zip(links["left_id"], links["right_id"]))
    rank = pairs.groupby("left_id", sort=False).cumcount().to_numpy()
    hit = pairs["right_id"].to_numpy() == pairs["left_id"].map(truth).to_numpy()
    n = len(links)
    best = rank == 0
    score, good = pairs["score"].to_numpy()[best], hit[best]
    order = np.argsort(-score, kind="stable")
    tp = np.cumsum(good[order])
    precision = tp / np.arange(1, len(order) + 1)
    recall = tp / n
    f1 = np.max(2 * precision * recall / np.maximum(precision + recall, 1e-12)) if n else 0.0
    return {
        "top1": float(good.sum() / n),
        "recall5": float(hit[rank < 5].sum() / n),
        "f1": float(f1),
    }


def matchdesk(folder: Path, out: Path, *extra: str) -> dict:
    command = [
        sys.executable, "-m", "matching",
        "--left", str(folder / "owners.parquet"), "--right", str(folder / "cars.parquet"),
        "--left-id", "owner_id", "--right-id", "car_id",
        *(a for f in GENERATED_FIELDS for a in ("--field", f)),
        *(a for r in RULES for a in ("--block", r)),
        "--keep", "0", "--top-k", "5", "--out", str(out), *extra,
    ]  # fmt: skip
    run = measured(command)
    pairs = re.search(r"([\d,]+) pairs to score", run["stderr"])
    run["pairs"] = int(pairs.group(1).replace(",", "")) if pairs else None
    return run


def splink(folder: Path, out: Path, python: str) -> dict:
    script = str(ROOT / "bench" / "splink_run.py")
    run = measured(
        [python, script, str(folder / "owners.parquet"), str(folder / "cars.parquet"), str(out)]
    )
    run.update(json.loads(run["stdout"].strip().splitlines()[-1]))
    return run


def bench_size(n: int, *, splink_python: str | None, dask: bool, learn: bool) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        folder = Path(tmp)
        tables = generate_tables(n, seed=1)
        tables.owners.to_parquet(folder / "owners.parquet", index=False)
        tables.cars.to_parquet(folder / "cars.parquet", index=False)
        links = tables.links
        del tables
        cases = [("matchdesk, weighted mean", [])]
        if learn:
            cases.append(("matchdesk, --weights learn", ["--weights", "learn"]))
        if dask:
            cases.append(("matchdesk, --dask local:2", ["--dask", "local:2"]))
        first = None
        for name, extra in cases:
            out = folder / f"{len(rows)}.parquet"
            run = matchdesk(folder, out, *extra)
            rows.append({"n": n, "tool": name, **run, **accuracy(out, links)})
            if "--dask" in extra:
                # The cluster must write the local path's output, row for row.
                same = pd.read_parquet(out).equals(pd.read_parquet(first))
                rows[-1]["tool"] += " (output identical)" if same else " (OUTPUT DIFFERS)"
            first = first or out
            print(_line(rows[-1]), flush=True)
        if splink_python:
            out = folder / "splink.parquet"
            run = splink(folder, out, splink_python)
            rows.append(
                {
                    "n": n,
                    "tool": "Splink 5 (DuckDB), u sampling + EM",
                    **run,
                    **accuracy(out, links),
                }
            )
            print(_line(rows[-1]), flush=True)
    return rows


def _line(row: dict) -> str:
    pairs = f"{row['pairs']:,}" if row.get("pairs") else "?"
    extra = ""
    if "train" in row:
        extra = f" (train {row['train']:.1f} s, predict {row['predict']:.1f} s)"
    return (
        f"| {row['n']:,} x {round(row['n'] * 1.1):,} | {row['tool']} | {pairs} | "
        f"{row['wall']:.1f} s{extra} | {row['rss_mb']:,.0f} MB | {row['top1']:.4f} | "
        f"{row['recall5']:.4f} | {row['f1']:.4f} |"
    )


def report(rows: list[dict]) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "## Scale benchmark (`python bench/bench_scale.py`)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, {os.cpu_count()} cores "
        f"(shared with other work: times are noisy); Python {platform.python_version()}; "
        f"load average at the end {load}.",
        "",
        "Generated owners and cars (`generate_tables(n, seed=1)`), six fields, blocking on "
        "the union of `postcode`, `surname + birth_date` and `given_name + birth_date`, "
        "every blocked pair kept and ranked, top 5 per owner. Wall time is the whole "
        "command (read, block, score, write); peak RSS is the largest process of the case.",
        "",
        "| left x right | tool | pairs scored | wall | peak RSS | top-1 | recall@5 | best F1 |",
        "|---|---|---|---|---|---|---|---|",
        *(_line(r) for r in rows),
    ]
    for n in sorted({r["n"] for r in rows}):
        ours = next((r for r in rows if r["n"] == n and r["tool"].startswith("matchdesk")), None)
        theirs = next((r for r in rows if r["n"] == n and r["tool"].startswith("Splink")), None)
        if ours and theirs:
            model = theirs["train"] + theirs["predict"]
            lines += [
                "",
                f"At {n:,}: matchdesk's wall time is {ours['wall'] / theirs['wall']:.2f} x "
                f"Splink's whole run and {ours['wall'] / model:.2f} x its train + predict; "
                f"peak RSS {ours['rss_mb'] / theirs['rss_mb']:.2f} x.",
            ]
        local = next(
            (r for r in rows if r["n"] == n and r["tool"] == "matchdesk, weighted mean"), None
        )
        dask = next((r for r in rows if r["n"] == n and "--dask" in r["tool"]), None)
        if local and dask:
            lines.append(
                f"At {n:,}: `--dask local:2` takes {dask['wall'] / local['wall']:.2f} x the local "
                "path's wall time."
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000])
    parser.add_argument("--splink-python", help="Python of an environment with Splink")
    parser.add_argument("--no-dask", action="store_true", help="skip the --dask local:2 case")
    parser.add_argument("--no-learn", action="store_true", help="skip the --weights learn case")
    parser.add_argument("--write", help="replace the scale section of this Markdown file")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        rows += bench_size(
            n, splink_python=args.splink_python, dask=not args.no_dask, learn=not args.no_learn
        )
    text = report(rows)
    print(text)
    if args.write:
        path = Path(args.write)
        old = path.read_text() if path.exists() else ""
        head = "## Scale benchmark"
        if head in old:
            start = old.index(head)
            nxt = old.find("\n## ", start + len(head))
            old = old[:start] + (old[nxt + 1 :] if nxt >= 0 else "")
        path.write_text(old.rstrip("\n") + "\n\n" + text)


if __name__ == "__main__":
    main()
