"""``/health``'s worst latency while slow clients trickle request bodies into the server.

Starts ``python app.py --workers W`` (one user, so sign-in is on) on a fresh database,
opens ``--clients`` sockets that each send ``POST /login`` with ``Content-Length:
100000`` and then one byte every ``--every`` seconds (reconnecting when the server
closes them), and meanwhile asks ``GET /health`` every 0.2 s from a normal client.
Prints the worst and median ``/health`` latency and how many asks went unanswered
within 30 s, as a Markdown row.

Run: ``python bench/bench_slow_clients.py [--workers 4] [--clients 16] [--seconds 40]``
(``--url`` measures a server already running, such as nginx in front of the app).
"""

from __future__ import annotations

import argparse
import os
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

from matching.decisions.users import UserStore  # noqa: E402


def slow_client(host: str, port: int, stop: threading.Event, every: float) -> None:
    """Trickle ``POST /login`` bodies, one byte every ``every`` seconds, until ``stop``."""
    head = (
        f"POST /login HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Origin: http://{host}:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 100000\r\n\r\n"
    ).encode()
    while not stop.is_set():
        try:
            with socket.create_connection((host, port), timeout=5) as sock:
                sock.sendall(head)
                while not stop.wait(every):
                    sock.sendall(b"a")
        except OSError:
            stop.wait(0.2)  # closed by the server: come back, as an attacker would


def measure(base: str, host: str, port: int, *, clients: int, seconds: float, every: float):
    stop = threading.Event()
    threads = [
        threading.Thread(target=slow_client, args=(host, port, stop, every), daemon=True)
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # let them connect and send their headers
    latencies, missed = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.monotonic()
        try:
            requests.get(f"{base}/health", timeout=30)
            latencies.append(time.monotonic() - start)
        except requests.RequestException:
            missed += 1
            latencies.append(time.monotonic() - start)
        time.sleep(0.2)
    stop.set()
    return latencies, missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--every", type=float, default=2.0)
    parser.add_argument("--url", help="measure this running server instead of starting one")
    parser.add_argument("--extra", default="", help="more options for python app.py")
    args = parser.parse_args()
    proc = None
    if args.url:
        base = args.url.rstrip("/")
    else:
        folder = Path(tempfile.mkdtemp(prefix="slow-clients-"))
        db = f"sqlite:///{folder / 'd.db'}"
        UserStore(db).add("ann", "admin", "ann's password")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        proc = subprocess.Popen(
            [
                *(sys.executable, str(ROOT / "app.py"), "--workers", str(args.workers)),
                *("--port", str(port), "--db", db, "--data-dir", str(folder / "data")),
                *args.extra.split(),
            ],
            cwd=folder,
            env={**os.environ},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if requests.get(f"{base}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.3)
    host, _, port = base.split("//", 1)[1].partition(":")
    try:
        latencies, missed = measure(
            base,
            host,
            int(port or 80),
            clients=args.clients,
            seconds=args.seconds,
            every=args.every,
        )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    print("| server | slow clients | /health asks | worst (s) | median (s) | unanswered |")
    print("|---|---|---|---|---|---|")
    where = args.url or f"--workers {args.workers} {args.extra}".strip()
    print(
        f"| {where} | {args.clients} | {len(latencies)} | {max(latencies):.2f} "
        f"| {statistics.median(latencies):.3f} | {missed} |"
    )


if __name__ == "__main__":
    main()
