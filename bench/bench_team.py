"""A team reviewing at once against a production server: throughput, latency, integrity.

Starts ``gunicorn`` with 4 workers serving a generated 5,000-record project
(``bench/team_app.py``), then N simulated reviewers (default 50) post real
review requests (the same JSON the page posts to ``/_dash-update-component``)
for a fixed time: each loads the page, then accepts the pre-selected
candidates or says No match, and now and then clicks twice or sends a
decision from a stale second tab. At the end the decision log is read and
three integrity counts are reported, each of which must be 0:

- records decided by two or more reviewers;
- acknowledged decisions missing from the log or replaced by someone else's;
- "the queue is done" answers while undecided records remained.

Run: ``python bench/bench_team.py [--reviewers 50] [--seconds 60] [--db sqlite|URL]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matching.decisions.log import DecisionLog  # noqa: E402
from tests.helpers import dash_request  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int, env: dict, workers: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--timeout",
            "120",
            "bench.team_app:server",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                # Every worker builds the project at start; give the last ones time.
                time.sleep(2)
                return proc
        except requests.RequestException:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("gunicorn did not start")


class Reviewer(threading.Thread):
    def __init__(self, name, base, deps, project_id, deadline, seed, results):
        super().__init__(daemon=True)
        self.name_ = name
        self.base = base
        self.deps = deps
        self.project_id = project_id
        self.deadline = deadline
        self.rng = random.Random(seed)
        self.results = results
        self.session = requests.Session()
        # The server refuses posts from other sites: say where the page is, as a browser does.
        self.session.headers["Origin"] = base
        self.clicks = 0

    def post(self, values: dict, changed: str) -> dict | None:
        body = dash_request(self.deps, "record-label.children", values, changed)
        t = time.perf_counter()
        try:
            r = self.session.post(f"{self.base}/_dash-update-component", json=body, timeout=60)
        except requests.RequestException:
            self.results["errors"] += 1
            return None
        self.results["latency"].append((time.perf_counter() - t) * 1000)
        if r.status_code != 200:
            self.results["errors"] += 1
            return None
        return r.json()["response"]

    def base_values(self) -> dict:
        return {
            "project-select.value": self.project_id,
            "reviewer-name.value": self.name_,
            "tabs.active_tab": "review",
        }

    def run(self) -> None:
        answer = self.post(self.base_values(), "project-select.value")
        stale = None
        while answer is not None and time.time() < self.deadline:
            view = answer["view-store"]["data"]
            if view is None or view.get("left_id") is None:
                if answer["queue-done-heading"]["children"] == "The queue is done.":
                    self.results["done_claims"].append(time.time())
                time.sleep(0.5)
                answer = self.post(self.base_values(), "review-skipped-button.n_clicks")
                continue
            accept = self.rng.random() < 0.7 and view["selected"]
            button = "accept-button" if accept else "no-match-button"
            rows = [{"_right_id": r} for r in view["selected"]] if accept else []
            self.clicks += 1
            values = {
                **self.base_values(),
                f"{button}.n_clicks": self.clicks,
                "view-store.data": view,
                "candidate-grid.selectedRows": rows,
                # The page's grid shows the view's record: a decision carries it.
                "candidate-grid.eventData": {"data": {"record": view["left_id"]}},
            }
            answer = self.post(values, f"{button}.n_clicks")
            if answer is None:
                break
            message = answer.get("page-message", {})
            refused = message.get("is_open") and message.get("color") == "danger"
            if refused:
                self.results["refused"] += 1
            else:
                kind = "accept" if accept else "reject"
                self.results["acked"].append(
                    (self.name_, view["left_id"], kind, tuple(sorted(r["_right_id"] for r in rows)))
                )
            roll = self.rng.random()
            if roll < 0.05:  # a double click: the same view again
                self.post(values, f"{button}.n_clicks")
            elif roll < 0.08 and stale is not None:  # a second tab, drawn earlier, decides
                other = {
                    **values,
                    "view-store.data": {**stale, "view_id": f"tab2-{roll}"},
                    "candidate-grid.eventData": {"data": {"record": stale["left_id"]}},
                }
                again = self.post(other, f"{button}.n_clicks")
                if again is not None:
                    msg = again.get("page-message", {})
                    if not (msg.get("is_open") and msg.get("color") == "danger"):
                        self.results["stale_accepted"] += 1
            stale = view


def run(db: str, reviewers: int, seconds: float, workers: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bench-team-"))
    if db == "sqlite":
        url = f"sqlite:///{folder / 'log.db'}"
    else:
        url = db
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        with engine.begin() as conn:
            for table in ("leases", "batch_data", "events", "heartbeat", "projects"):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
        engine.dispose()
    env = {
        **os.environ,
        "MATCHDESK_BENCH_DB": url,
        "MATCHDESK_BENCH_DIR": str(folder / "data"),
        "PYTHONPATH": str(ROOT),
    }
    # Build the project once, so the workers only reopen it.
    subprocess.run([sys.executable, "-c", "import bench.team_app"], cwd=ROOT, env=env, check=True)
    port = free_port()
    proc = start_gunicorn(port, env, workers)
    base = f"http://127.0.0.1:{port}"
    try:
        requests.get(base + "/", timeout=30)
        deps = requests.get(base + "/_dash-dependencies", timeout=30).json()
        log = DecisionLog(url)
        project_id = log.projects()[0]["project_id"]
        results = {
            "latency": [],
            "errors": 0,
            "refused": 0,
            "acked": [],
            "done_claims": [],
            "stale_accepted": 0,
        }
        start = time.time()
        deadline = start + seconds
        threads = [
            Reviewer(f"reviewer-{i:02d}", base, deps, project_id, deadline, i, results)
            for i in range(reviewers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds + 120)
        elapsed = time.time() - start
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    events = log.events(project_id)
    state = log.state(project_id)
    deciders: dict[str, set] = {}
    for e in events:
        if e.kind in ("accept", "reject"):
            deciders.setdefault(e.left_id, set()).add(e.reviewer)
    two = sum(1 for who in deciders.values() if len(who) > 1)
    lost = 0
    for name, left, kind, rights in results["acked"]:
        d = state.decisions.get(left)
        expected = "accepted" if kind == "accept" else "rejected"
        if (
            d is None
            or d.reviewer != name
            or d.status != expected
            or (kind == "accept" and tuple(sorted(d.right_ids)) != rights)
        ):
            lost += 1
    project = log.project(project_id)
    total = project["settings"].left_rows
    undecided = total - len(state.decisions)
    false_done = len(results["done_claims"]) if undecided else 0
    lat = sorted(results["latency"])
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "db": "sqlite" if db == "sqlite" else "postgresql",
        "workers": workers,
        "reviewers": reviewers,
        "seconds": round(elapsed, 1),
        "requests": len(lat),
        "requests_per_s": round(len(lat) / elapsed, 1),
        "p50_ms": round(statistics.median(lat), 1) if lat else None,
        "p95_ms": round(lat[int(0.95 * (len(lat) - 1))], 1) if lat else None,
        "errors": results["errors"],
        "decisions_acknowledged": len(results["acked"]),
        "refused_with_message": results["refused"],
        "records_decided": len(state.decisions),
        "records_total": total,
        "decided_by_two_or_more": two,
        "acknowledged_missing_or_replaced": lost,
        "stale_tab_decisions_accepted": results["stale_accepted"],
        "false_all_done": false_done,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviewers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--db", action="append", help="'sqlite' or a PostgreSQL URL; repeat for both"
    )
    args = parser.parse_args(argv)
    failed = False
    for db in args.db or ["sqlite"]:
        result = run(db, args.reviewers, args.seconds, args.workers)
        print(json.dumps(result), flush=True)
        failed |= any(
            result[k]
            for k in (
                "decided_by_two_or_more",
                "acknowledged_missing_or_replaced",
                "false_all_done",
                "stale_tab_decisions_accepted",
                "errors",
            )
        )
        failed |= not result["decisions_acknowledged"]  # a run that decided nothing proves nothing
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
