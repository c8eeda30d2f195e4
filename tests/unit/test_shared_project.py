"""Two worker processes open one project from its folder: nothing is scored again and
both map the same Arrow files, so the page cache holds one copy of its data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flask import Flask

from matching.engine.demo import generate_tables
from matching.engine.project import record_view
from matching.engine.spec import Field, Spec, parse_block
from server.services import AppConfig, Services
from tests.conftest import ROOT

_WORKER = """
import json, os, sys
from flask import Flask
from server.services import AppConfig, Services
from matching.engine.project import record_view
data, db, project_id = sys.argv[1:4]
services = Services(AppConfig(db_url=db, data_dir=data), Flask(__name__))
project = services.project(project_id)
view = services.desk(project).next_view(f"worker {os.getpid()}")
first = record_view(project, project.queue[0], keep=0.5, select=0.8)
print(json.dumps({"scorings": services.scorings, "left_id": view["left_id"], "first": first}))
sys.stdout.flush()
sys.stdin.readline()
"""

#: The tables, the candidates and the lookups (ids' keys, slices, score index).
_FILES = ("left.arrow", "right.arrow", "candidates.arrow", "lookups.arrow")


def _mapped_inodes(pid: int, folder: Path) -> dict[str, set[int]]:
    """The inodes of each file under ``folder`` mapped into the process."""
    out: dict[str, set[int]] = {}
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[5].startswith(str(folder)):
            out.setdefault(Path(parts[5]).name, set()).add(int(parts[4]))
    return out


def _mapped_kb(pid: int, folder: Path) -> dict[str, int]:
    """Resident kB of each file under ``folder`` mapped into the process."""
    out: dict[str, int] = {}
    current = None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and "-" in parts[0] and not parts[0].endswith(":"):
            current = Path(parts[5]).name if parts[5].startswith(str(folder)) else None
        elif current and parts and parts[0] == "Rss:":
            out[current] = out.get(current, 0) + int(parts[1])
    return out


def _project(tmp_path):
    data, db = tmp_path / "data", f"sqlite:///{tmp_path / 'd.db'}"
    tables = generate_tables(3000, seed=2)
    spec = Spec(
        (Field("surname"), Field("given_name")),
        left_id="owner_id",
        right_id="car_id",
        block=(parse_block("exact:postcode"),),
    )
    services = Services(AppConfig(db_url=db, data_dir=str(data)), Flask(__name__))
    project = services.open_project(
        tables.owners, tables.cars, spec, name="shared", keep=0.5, select=0.8
    )
    assert services.scorings == 1
    return project, data, db


def _open_in_workers(data: Path, db: str, project_id: str, folder: Path):
    """Reports, mapped kB and mapped inodes of two worker processes that opened the project."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(data), db, project_id],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        reports = [json.loads(w.stdout.readline()) for w in workers]
        mapped = [_mapped_kb(w.pid, folder) for w in workers]
        inodes = [_mapped_inodes(w.pid, folder) for w in workers]
    finally:
        for w in workers:
            w.stdin.write("\n")
            w.stdin.close()
            w.wait(timeout=60)
    return reports, mapped, inodes


def test_two_worker_processes_share_one_project_without_rebuilding_it(tmp_path):
    project, data, db = _project(tmp_path)
    folder = data / project.project_id
    stamps = {n: ((folder / n).stat().st_ino, (folder / n).stat().st_mtime_ns) for n in _FILES}

    reports, mapped, inodes = _open_in_workers(data, db, project.project_id, folder)

    assert [r["scorings"] for r in reports] == [0, 0]
    # Each worker leased a different record, from the same queue.
    assert {r["left_id"] for r in reports} == {project.queue[0], project.queue[1]}
    expected = json.loads(json.dumps(record_view(project, project.queue[0], keep=0.5, select=0.8)))
    assert reports[0]["first"] == reports[1]["first"] == expected
    for files in mapped:
        assert set(files) == set(_FILES)
        assert files["candidates.arrow"] > 0 and files["left.arrow"] > 0
        assert files["lookups.arrow"] > 0
    after = {n: ((folder / n).stat().st_ino, (folder / n).stat().st_mtime_ns) for n in _FILES}
    assert after == stamps
    assert inodes[0] == inodes[1] == {n: {stamps[n][0]} for n in _FILES}


def test_workers_opening_an_earlier_versions_parquet_project_at_once_share_one_conversion(
    tmp_path,
):
    project, data, db = _project(tmp_path)
    folder = data / project.project_id
    project.left.astype(object).to_parquet(folder / "left.parquet", index=False)
    project.right.astype(object).to_parquet(folder / "right.parquet", index=False)
    project.candidates.to_parquet(folder / "candidates.parquet", index=False)
    for name in _FILES:
        (folder / name).unlink()

    reports, _, inodes = _open_in_workers(data, db, project.project_id, folder)
    assert [r["scorings"] for r in reports] == [0, 0]
    final = {n: {(folder / n).stat().st_ino} for n in _FILES}
    assert inodes[0] == inodes[1] == final
