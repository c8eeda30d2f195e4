"""Free memory goes back to the system after long requests."""

from __future__ import annotations

from pathlib import Path

import pytest

import callbacks.memory
from matching.memory import release_memory


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
    monkeypatch.setattr(callbacks.memory, "release_memory", lambda: calls.append(1))
    client = demo_app.server.test_client()
    monkeypatch.setattr(callbacks.memory, "LONG_REQUEST_S", 3600.0)
    assert client.get("/health").status_code == 200
    assert calls == []
    monkeypatch.setattr(callbacks.memory, "LONG_REQUEST_S", -1.0)  # every request is long
    assert client.get("/health").status_code == 200
    assert calls == [1]
