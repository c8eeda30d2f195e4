"""Many Excel exports at once: ``--clients`` GETs of ``/export/<id>/matches.xlsx`` together.

A project of ``--matches`` generated owners, each accepted with its car (one bulk
auto-accept), is made once in a process of its own. Then ``python app.py --workers
2`` serves it (open mode: every request is the same user) and ``--clients``
threads ask for the Excel export at once, each giving up after ``--give-up``
seconds (closing its connection). Meanwhile ``/health`` is asked every half
second. Printed: how each answer ended (file, "busy", given up), the first file's
time, ``/health``'s worst latency, and the server's CPU seconds in the 20 s after
the last client left (work nobody will receive).

``--compare REV`` runs the same against the code of a git revision (``git archive``)
first, on the same project.

Run: ``python bench/bench_export_load.py [--matches 200000] [--clients 20] [--give-up 120]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]

PREPARE = """
import sys
from app import create_app
from matching.engine.demo import generate_tables
from matching.engine.spec import Field, Spec, parse_block
from server.services import AppConfig
n, db, data = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tables = generate_tables(n, seed=3, unlinked=0.0)
spec = Spec((Field("surname"), Field("given_name")), left_id="owner_id", right_id="car_id",
            block=(parse_block("exact:postcode"),))
app = create_app(AppConfig(left=tables.owners, right=tables.cars, spec=spec, keep=0.0,
                           db_url=db, data_dir=data))
services = app.matchdesk
project = services.project(services.project_options()[0]["value"])
services.desk(project).batches.apply_bulk("lead", "accept", threshold=0.0, role="lead")
print(project.project_id, len(services.log.state(project.project_id).decisions))
"""


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cpu(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def measure(code: Path, db: str, data: str, project_id: str, args) -> dict:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "app.py", "--db", db, "--data-dir", data, "--port", str(port),
         "--workers", "2"],
        cwd=code,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(600):
            try:
                if requests.get(f"{base}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        headers = {"Sec-Fetch-Site": "same-origin", "Referer": f"{base}/"}
        url = f"{base}/export/{project_id}/matches.xlsx"
        requests.head(url, headers=headers, timeout=600)  # workers have the project open
        ended: list[tuple[str, float]] = []
        health: list[float] = []
        stop = threading.Event()

        def ask_health() -> None:
            while not stop.is_set():
                began = time.perf_counter()
                try:
                    requests.get(f"{base}/health", timeout=60)
                    health.append(time.perf_counter() - began)
                except requests.RequestException:
                    health.append(60.0)
                stop.wait(0.5)

        def export() -> None:
            began = time.perf_counter()
            try:
                answer = requests.get(url, headers=headers, timeout=args.give_up)
                kind = "file" if answer.status_code == 200 else f"{answer.status_code}"
                if answer.status_code == 429:
                    kind = "busy"
            except requests.RequestException:
                kind = "gave up"
            ended.append((kind, time.perf_counter() - began))

        server_ps = psutil.Process(server.pid)
        watcher = threading.Thread(target=ask_health)
        watcher.start()
        clients = [threading.Thread(target=export) for _ in range(args.clients)]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        stop.set()
        watcher.join()
        before = _cpu(server_ps)
        time.sleep(20)
        after_leaving = _cpu(server_ps) - before
    finally:
        server.terminate()
        try:
            server.wait(120)  # gunicorn lets busy workers finish for up to 30 s
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    kinds: dict[str, int] = {}
    for kind, _ in ended:
        kinds[kind] = kinds.get(kind, 0) + 1
    files = sorted(t for kind, t in ended if kind == "file")
    busy = [t for kind, t in ended if kind == "busy"]
    return {
        "answers": kinds,
        "first_file_s": round(files[0], 1) if files else None,
        "busy_answer_max_s": round(max(busy), 2) if busy else None,
        "health_worst_s": round(max(health), 2) if health else None,
        "server_cpu_s_in_20s_after_clients_left": round(after_leaving, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matches", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--give-up", type=float, default=120.0)
    parser.add_argument("--compare", metavar="REV", help="also run a git revision's code")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-export-load-"))
    db, data = f"sqlite:///{folder / 'bench.db'}", str(folder / "data")
    oldest = ROOT
    if args.compare:  # the project is made by the older code, which both can read
        oldest = folder / "before"
        oldest.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.compare], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(oldest)], input=archive, check=True)
    made = subprocess.run(
        [sys.executable, "-c", PREPARE, str(args.matches), db, data],
        cwd=oldest,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(oldest)},
    )
    project_id, accepted = made.stdout.split()[-2:]
    print(f"project {project_id}: {int(accepted):,} matches", file=sys.stderr)
    results = {}
    if args.compare:
        results[args.compare] = measure(oldest, db, data, project_id, args)
        print(json.dumps(results[args.compare]), file=sys.stderr)
    results["this checkout"] = measure(ROOT, db, data, project_id, args)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
