"""Free memory goes back to the system after long requests."""

from __future__ import annotations

from pathlib import Path

import pytest

import server.memory
from matching.memory import release_mapped, release_memory


def _own_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(status.split("RssAnon:")[1].split()[0]) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_freed_memory_goes_back_to_the_system():
    blocks = [bytearray(2048) for _ in range(60_000)]  # ~120 MB in the C heap
    pin = bytearray(2048)  # above them: the heap's top cannot shrink by itself
    before = _own_mb()
    del blocks
    kept = _own_mb()
    assert release_memory() is True
    after = _own_mb()
    assert kept - after > 60, (before, kept, after)
    assert len(pin) == 2048


def test_a_long_request_gives_memory_back_and_a_short_one_does_not(demo_app, monkeypatch):
    calls = []
    monkeypatch.setattr(server.memory, "release_memory", lambda: calls.append(1))
    client = demo_app.server.test_client()
    monkeypatch.setattr(server.memory, "LONG_REQUEST_S", 3600.0)
    assert client.get("/health").status_code == 200
    assert calls == []
    monkeypatch.setattr(server.memory, "LONG_REQUEST_S", -1.0)  # every request is long
    assert client.get("/health").status_code == 200
    assert calls == [1]


def _file_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(status.split("RssFile:")[1].split()[0]) / 1024


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_pages_read_from_a_mapped_project_file_are_let_go_and_read_again_unchanged(tmp_path):
    import numpy as np
    import pyarrow as pa

    values = np.arange(12_000_000, dtype=np.int64)  # 96 MB
    path = tmp_path / "t.arrow"
    with (
        pa.OSFile(str(path), "wb") as sink,
        pa.ipc.new_file(sink, pa.schema([("v", pa.int64())])) as w,
    ):
        w.write_table(pa.table({"v": values}))
    del values
    table = pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
    column = table.column("v").chunk(0).to_numpy()
    before = _file_mb()
    assert int(column.sum()) == 12_000_000 * 11_999_999 // 2  # every page read
    read = _file_mb()
    assert read - before > 60
    assert release_mapped() >= 96_000_000
    assert read - _file_mb() > 60
    assert int(column.sum()) == 12_000_000 * 11_999_999 // 2  # the same values, read again
    assert int(column[-1]) == 11_999_999
