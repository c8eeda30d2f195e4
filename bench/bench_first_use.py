"""What a worker pays the first time: opening a project, its first Tuning status, its
first Statistics, in headless Chromium against gunicorn, for two versions of the app.

The project is ``bench_app_scale.py``'s (``generate_tables(N, seed=1)``, union
blocking), made once before any clock starts. Then, for each app folder given
with ``--code`` (say the main checkout before a change and the work tree after
it), in turns: gunicorn serves it with 4 workers over the same data folder; a new
headless Chromium (empty cache) loads the page, which opens on the tutorial, then
picks the generated project in the navbar and times until its first record is on
screen; then decides ``--keys`` records (key ``a``), opens the Tuning tab (until its
status callback has answered and the chart shows), moves one slider, and opens the
Statistics tab: each a first use in whichever worker serves it. Every callback's
round trip is recorded by wrapping the page's ``fetch`` (as ``bench_app_scale.py``
does).

Run: ``python bench/bench_first_use.py --code /work/main --code . [--records 1000000]
[--rounds 2] [--folder DIR]``. Prints one JSON line per measure and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_app_scale import (  # noqa: E402
    Page,
    browser,
    free_port,
    memory_mb,
    server_args,
    tabs,
    wait_ready,
    workers_of,
)


def start(code: Path, folder: Path, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "MATCHDESK_ARGS": shlex.join(server_args(folder))}
    log = (folder / f"gunicorn-{port}.log").open("w")
    command = [
        sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", "4",
        "--worker-class", "gthread", "--timeout", "600", "--bind", f"127.0.0.1:{port}",
        "app:server",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=code, env=env, stdout=log, stderr=subprocess.STDOUT)


def measure(page: Page, port: int, records: int, keys: int) -> dict:
    d = page.driver
    mark = f" of {records:,}"
    out: dict = {}
    t = time.perf_counter()
    d.get(f"http://127.0.0.1:{port}/")
    out["page_load_ms"] = page.until_record(" of ", t, limit_s=300)
    page.idle(limit_s=300)
    since = page.mark()
    t = time.perf_counter()
    page.pick_project(f"generated {records:,}")
    out["first_record_ms"] = page.until_record(mark, t)
    page.idle(limit_s=600)
    calls = page.calls()[since:]
    out["pick_calls"] = len(calls)
    out["pick_slowest_ms"] = sorted(
        ((round(c["t1"] - c["t0"]), c["output"][:60]) for c in calls if c["t1"]), reverse=True
    )[:4]

    # Decisions first, so the Tuning status and the Statistics have something to count.
    out["keys_ms_median"] = statistics.median(page.keys("a", keys)) if keys else None
    page.idle()
    out.update(tabs(page))  # the Tuning status, a slider move, the Statistics tab
    out["logs"] = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
    return out


def one_run(code: Path, folder: Path, args) -> dict:
    port = free_port()
    proc = start(code, folder, port, args.workers)
    driver = None
    try:
        boot = wait_ready(proc, port, args.workers, folder)
        downloads = folder / "downloads"
        downloads.mkdir(exist_ok=True)
        driver = browser(downloads)  # a new browser: empty cache
        r = measure(Page(driver), port, args.records, args.keys)
        r["boot_s"] = round(boot, 1)
        rss, pss = memory_mb(workers_of(proc.pid))
        r["workers_rss_mb"], r["workers_pss_mb"] = round(rss), round(pss or 0)
        r["load"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        return r
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--keys", type=int, default=20, help="records decided (key a) before the tabs"
    )
    parser.add_argument("--rounds", type=int, default=1, help="turns over the --code folders")
    parser.add_argument(
        "--code", action="append", required=True, help="an app folder to serve (repeatable)"
    )
    parser.add_argument("--folder", help="keep the files here (default: a temporary folder)")
    args = parser.parse_args(argv)
    folder = Path(args.folder or tempfile.mkdtemp(prefix="bench-first-use-"))
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_app_scale.py"), "--records",
         str(args.records), "--prepare", str(folder)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    if done.returncode:
        sys.stderr.write(done.stderr[-3000:])
        return 1
    print(done.stdout.strip().splitlines()[-1], flush=True)
    results: dict[str, list[dict]] = {c: [] for c in args.code}
    for _ in range(args.rounds):
        for code in args.code:
            r = one_run(Path(code).resolve(), folder, args)
            print(json.dumps({"code": code, **r}), flush=True)
            results[code].append(r)
    keys = ("first_record_ms", "tuning_status_ms", "tuning_ms", "slider_ms", "statistics_ms")
    print()
    print("| measure | " + " | ".join(args.code) + " |")
    print("|---|" + "---|" * len(args.code))
    for key in ("page_load_ms", *keys, "workers_rss_mb", "workers_pss_mb"):
        cells = []
        for code in args.code:
            values = [r[key] for r in results[code] if r.get(key) is not None]
            unit = " MB" if key.endswith("_mb") else " ms"
            cells.append(", ".join(f"{v:,.0f}" for v in values) + unit if values else "n/a")
        print(f"| {key} | " + " | ".join(cells) + " |")
    medians = {c: statistics.median(r["first_record_ms"] for r in results[c]) for c in args.code}
    print(f"\nmedian first record: {medians}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
