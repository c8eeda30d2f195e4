"""Server memory while a large file uploads in chunks, and while its table is read.

Starts ``python app.py`` in a subprocess (Flask's server, open mode, a fresh
database and data folder), writes a CSV of about ``--mb`` MB (default 300),
and sends it the way the page does: ``POST /upload/start``, then 8 MB chunks
to ``/upload/chunk``. Halfway, one chunk's connection is cut after a few MB
(a raw socket that closes early); the client asks ``/upload/status`` and goes
on from the server's count. Then the Data panel's callback is called as the
page calls it, and the server reads the table. A thread samples the server's
resident memory (RSS, psutil) every 20 ms throughout.

Prints: idle RSS, the most above idle during the upload, the most above idle
while the table is read, times, and whether the table's id (a hash of the
name and every byte) is the one of the file on disk.

Run: ``python bench/bench_upload.py [--mb 300] [--columns 10]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import dash_request  # noqa: E402

MB = 1024 * 1024
CHUNK = 8 * MB


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_csv(path: Path, megabytes: float, columns: int) -> int:
    """A CSV of about ``megabytes`` MB with an id and ``columns - 1`` text columns."""
    header = "id," + ",".join(f"field_{c}" for c in range(1, columns)) + "\n"
    with path.open("w", encoding="utf-8") as out:
        out.write(header)
        row = 0
        block = []
        while out.tell() < megabytes * MB:
            for _ in range(10_000):
                cells = (f"value {row % 977} {c} {row % 31}" for c in range(1, columns))
                block.append(f"{row}," + ",".join(cells) + "\n")
                row += 1
            out.write("".join(block))
            block.clear()
    return row


class Sampler(threading.Thread):
    """RSS of a process every ``every`` seconds, each sample tagged with the phase."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.every = every
        self.phase = "idle"
        self.samples: list[tuple[str, int]] = []
        self.running = True

    def run(self) -> None:
        while self.running:
            self.samples.append((self.phase, self.process.memory_info().rss))
            time.sleep(self.every)

    def most(self, phase: str) -> int:
        return max(rss for p, rss in self.samples if p == phase)


def cut_chunk(base: str, upload_id: str, offset: int, body: bytes, keep: int) -> None:
    """Send a chunk whose connection drops after ``keep`` of its bytes."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        head = (
            f"POST /upload/chunk?upload_id={upload_id}&offset={offset} HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\nOrigin: {base}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        conn.sendall(head.encode() + body[:keep])
    time.sleep(0.5)  # the server notices the closed connection


def upload(base: str, path: Path, sampler: Sampler) -> tuple[str, float, int]:
    """Upload ``path`` in chunks with one cut connection; (upload id, seconds, resumed at)."""
    headers = {"Origin": base}
    size = path.stat().st_size
    began = time.perf_counter()
    start = requests.post(
        f"{base}/upload/start", json={"name": path.name, "size": size}, headers=headers
    )
    start.raise_for_status()
    upload_id = start.json()["upload_id"]
    offset, cut, resumed_at = 0, False, -1
    with path.open("rb") as file:
        while offset < size:
            file.seek(offset)
            body = file.read(CHUNK)
            if not cut and offset >= size // 2:
                cut = True
                cut_chunk(base, upload_id, offset, body, keep=3 * MB)
                status = requests.get(f"{base}/upload/status?upload_id={upload_id}")
                offset = resumed_at = status.json()["received"]
                continue
            answer = requests.post(
                f"{base}/upload/chunk?upload_id={upload_id}&offset={offset}",
                data=body,
                headers={**headers, "Content-Type": "application/octet-stream"},
            )
            answer.raise_for_status()
            offset = answer.json()["received"]
    return upload_id, time.perf_counter() - began, resumed_at


def finish(base: str, upload_id: str) -> dict:
    """Call the Data panel's callback as the page does when the last chunk is in."""
    dependencies = requests.get(f"{base}/_dash-dependencies").json()
    inbox = {"side": "left", "upload_id": upload_id}
    body = dash_request(
        dependencies,
        "upload-store.data",
        {"upload-inbox-store.data": inbox},
        "upload-inbox-store.data",
    )
    answer = requests.post(
        f"{base}/_dash-update-component", json=body, headers={"Origin": base}, timeout=600
    )
    answer.raise_for_status()
    return answer.json()["response"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=300, help="size of the CSV (default 300)")
    parser.add_argument("--columns", type=int, default=10, help="columns (default 10)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    table = folder / "big.csv"
    rows = write_csv(table, args.mb, args.columns)
    size = table.stat().st_size
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "app.py",
            "--port",
            str(port),
            "--db",
            f"sqlite:///{folder / 'bench.db'}",
            "--data-dir",
            str(folder / "data"),
            "--max-cells",
            str(rows * args.columns + 1),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        for _ in range(300):
            try:
                if requests.get(f"{base}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        requests.get(f"{base}/").raise_for_status()
        sampler = Sampler(server.pid)
        sampler.start()
        time.sleep(2)
        sampler.phase = "upload"
        upload_id, upload_seconds, resumed_at = upload(base, table, sampler)
        time.sleep(0.2)
        sampler.phase = "read"
        began = time.perf_counter()
        response = finish(base, upload_id)
        read_seconds = time.perf_counter() - began
        sampler.phase = "after"
        time.sleep(0.5)
        sampler.running = False
        sampler.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    record = response["upload-store"]["data"]["left"]
    digest = hashlib.sha256(table.name.encode() + b"\0")
    with table.open("rb") as file:
        while block := file.read(8 * MB):
            digest.update(block)
    idle = sorted(rss for p, rss in sampler.samples if p == "idle")[0]
    result = {
        "file_mb": round(size / MB, 1),
        "rows": rows,
        "columns": args.columns,
        "idle_rss_mb": round(idle / MB, 1),
        "upload_seconds": round(upload_seconds, 1),
        "upload_mb_per_s": round(size / MB / upload_seconds, 1),
        "upload_peak_above_idle_mb": round((sampler.most("upload") - idle) / MB, 1),
        "resumed_at_mb": round(resumed_at / MB, 1),
        "read_seconds": round(read_seconds, 1),
        "read_peak_above_idle_mb": round((sampler.most("read") - idle) / MB, 1),
        "table_rows_read": record["rows"],
        "same_bytes_as_the_file": record["token"] == digest.hexdigest()[:32],
    }
    print(json.dumps(result, indent=2))
    return 0 if result["same_bytes_as_the_file"] and record["rows"] == rows else 1


if __name__ == "__main__":
    sys.exit(main())
