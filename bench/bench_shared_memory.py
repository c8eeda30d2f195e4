"""Memory of app worker processes serving one large project: RSS and PSS per worker.

Run from the repository root::

    python bench/bench_shared_memory.py --records 1000000 --workers 4 --data /tmp/md-1m

The first run builds the project (``generate_tables(n, seed=1)``, the six shared
fields, blocked on the union of ``postcode``, ``surname + birth_date`` and
``given_name + birth_date``) through ``Services.open_project`` in a process of its
own, and keeps it under ``--data``; later runs reuse it. Then ``--workers``
processes each build the app's services on the same data folder and database, open
the project the way a worker does on its first request (``Services.project``), draw
a review page (``ReviewDesk.next_view``) and report. While every worker is alive the
script reads each one's ``/proc/PID/smaps_rollup`` (RSS, PSS: resident memory with
each shared page divided among the processes that map it; anonymous: memory
private to the process) and, from ``/proc/PID/smaps``, how much of the project's
files are mapped into it. It also checks that opening rebuilt nothing: the
candidates file keeps its inode and modification time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_BUILD = """
import json, sys, time
from flask import Flask
from server.services import AppConfig, Services
from matching.engine.demo import GENERATED_FIELDS, generate_tables
from matching.engine.spec import Field, Spec, parse_block
RULES = ("exact:postcode", "exact:surname+birth_date", "exact:given_name+birth_date")
n, data, db = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tables = generate_tables(n, seed=1)
spec = Spec(
    fields=tuple(Field(f) for f in GENERATED_FIELDS),
    left_id="owner_id",
    right_id="car_id",
    block=tuple(parse_block(r) for r in RULES),
)
services = Services(AppConfig(db_url=db, data_dir=data), Flask(__name__))
t = time.perf_counter()
project = services.open_project(
    tables.owners, tables.cars, spec, name=f"bench {n:,}", keep=0.5, select=0.8
)
print(json.dumps({"project_id": project.project_id, "build_s": time.perf_counter() - t,
                  "candidates": len(project.candidates)}))
"""

_WORKER = """
import json, os, sys, time
from flask import Flask
from server.services import AppConfig, Services
data, db, project_id = sys.argv[1], sys.argv[2], sys.argv[3]
services = Services(AppConfig(db_url=db, data_dir=data), Flask(__name__))
t = time.perf_counter()
project = services.project(project_id)
opened = time.perf_counter() - t
desk = services.desk(project)
view = desk.next_view(f"bench-{os.getpid()}")
print(json.dumps({"open_s": opened, "view_s": time.perf_counter() - t - opened,
                  "left_id": view["left_id"]}), flush=True)
sys.stdin.readline()  # stay alive until every worker has been measured
"""


def _rollup(pid: int) -> dict[str, int]:
    """MB of Rss, Pss and Anonymous memory of a process."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if parts and parts[0].rstrip(":") in ("Rss", "Pss", "Anonymous"):
            out[parts[0].rstrip(":").lower()] = int(parts[1]) // 1024
    return out


def _mapped(pid: int, folder: Path) -> dict[str, dict[str, int]]:
    """Rss and Pss (MB) of each file under ``folder`` mapped into the process."""
    files: dict[str, dict[str, int]] = {}
    current = None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and "-" in parts[0] and not parts[0].endswith(":"):
            name = parts[5]
            current = name if name.startswith(str(folder)) else None
            if current:
                files.setdefault(Path(current).name, {"rss_kb": 0, "pss_kb": 0})
        elif current and parts and parts[0] in ("Rss:", "Pss:"):
            files[Path(current).name][parts[0].rstrip(":").lower() + "_kb"] += int(parts[1])
    return {k: {"rss": v["rss_kb"] // 1024, "pss": v["pss_kb"] // 1024} for k, v in files.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--data", default="/tmp/matchdesk-bench-shared")
    args = parser.parse_args(argv)
    data = Path(args.data).resolve()
    data.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{data}/bench.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    marker = data / "project.json"
    if not marker.exists():
        done = subprocess.run(
            [sys.executable, "-c", _BUILD, str(args.records), str(data), db],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
        if done.returncode:
            sys.stderr.write(done.stderr)
            return 1
        marker.write_text(done.stdout.strip().splitlines()[-1])
    built = json.loads(marker.read_text())
    print(f"project {built['project_id']}: {built['candidates']:,} candidates", flush=True)
    folder = data / built["project_id"]
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(data), db, built["project_id"]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for _ in range(args.workers)
    ]
    reports = []
    for w in workers:
        line = w.stdout.readline()
        if not line:
            print(f"worker {w.pid} failed", file=sys.stderr)
            return 1
        reports.append(json.loads(line))
    time.sleep(1)
    rows = []
    for w, report in zip(workers, reports):
        rows.append({"pid": w.pid, **report, **_rollup(w.pid), "files": _mapped(w.pid, folder)})
    for w in workers:
        w.stdin.write("\n")
        w.stdin.flush()
        w.wait()
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}
    for row in rows:
        print(json.dumps(row))
    print(
        f"{args.workers} workers: total RSS {sum(r['rss'] for r in rows):,} MB, "
        f"total PSS {sum(r['pss'] for r in rows):,} MB, "
        f"total anonymous {sum(r['anonymous'] for r in rows):,} MB"
    )
    unchanged = all(after.get(k) == v for k, v in before.items())
    print("project files unchanged by opening:", unchanged)
    return 0 if unchanged else 1


if __name__ == "__main__":
    sys.exit(main())
