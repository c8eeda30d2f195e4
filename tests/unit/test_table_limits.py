"""Tables refused by their width and by their size in memory before their rows are made:
the Data panel and the command line, and Parquet read a row group at a time."""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callbacks.tables import read_upload, store_upload_of
from matching.engine.io import MAX_COLUMNS, TableReadError, load_table
from tests.conftest import ROOT

MB = 1024 * 1024
WIDE = MAX_COLUMNS + 1_000


def _on_server(services, raw: bytes, name: str) -> Path:
    """``raw`` as a file under the server's --data-root, where the Data panel opens it."""
    root = Path(services.config.data_dir) / "root"
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(raw)
    services.config.data_root = str(root)
    return root / name


def _opened(services, name: str) -> dict:
    """The Data panel's answer to typing ``name`` and pressing Open on the left."""
    from components.ids import ids

    return store_upload_of(services, ids.DATA_ROOT_OPEN_LEFT, None, {"left": name}, {})


def _wide_csv(columns: int) -> bytes:
    header = ",".join(f"c{i}" for i in range(columns))
    return f"{header}\n{','.join(['1'] * columns)}\n".encode()


def test_a_wide_csv_is_refused_by_its_header_with_a_message_in_the_data_panel(services):
    _on_server(services, _wide_csv(WIDE), "wide.csv")
    began = time.perf_counter()
    out = _opened(services, "wide.csv")
    assert out["left_info"] == (
        f"⚠ wide.csv, header: {WIDE:,} columns, more than the {MAX_COLUMNS:,} allowed;"
        " keep the columns you match on and save the table again"
    )
    assert "left" not in out["uploads"]
    assert time.perf_counter() - began < 5
    # A table as wide as the limit is read.
    _on_server(services, _wide_csv(50), "fine.csv")
    assert _opened(services, "fine.csv")["uploads"]["left"]["columns"][-1] == "c49"


def test_json_lines_are_refused_by_the_keys_of_the_first_objects(services):
    first = json.dumps({f"k{i}": 1 for i in range(WIDE)})
    _on_server(services, f"{first}\n".encode(), "wide.jsonl")
    assert _opened(services, "wide.jsonl")["left_info"].startswith(
        f"⚠ wide.jsonl, line 1: {WIDE:,} columns, more than the {MAX_COLUMNS:,} allowed"
    )
    # Keys that come a few at a time are counted as they come, naming the line.
    spread = "".join(
        json.dumps({f"k{line}_{i}": 1 for i in range(100)}) + "\n" for line in range(200)
    )
    _on_server(services, spread.encode(), "spread.jsonl")
    line = MAX_COLUMNS // 100 + 1
    assert _opened(services, "spread.jsonl")["left_info"].startswith(
        f"⚠ spread.jsonl, line {line}: {line * 100:,} columns"
    )


def test_a_wide_parquet_file_is_refused_by_its_footer(services):
    buffer = io.BytesIO()
    pq.write_table(pa.table({f"c{i}": ["1"] for i in range(WIDE)}), buffer)
    with pytest.raises(TableReadError, match=f"^wide.parquet: {WIDE:,} columns, more than"):
        read_upload(
            services, _on_server(services, buffer.getvalue(), "wide.parquet"), "wide.parquet"
        )


def _limited(seconds: int, memory: int):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds))

    return limit


def test_the_command_line_refuses_a_million_column_header_at_once(tmp_path):
    """The issue's file: a 10 MB header of a million names and one row of 1s."""
    wide, other = tmp_path / "wide.csv", tmp_path / "other.csv"
    wide.write_bytes(_wide_csv(1_000_000))
    other.write_text("c0\n1\n")
    command = [sys.executable, "-m", "matching", "--left", str(wide), "--right", str(other)]
    began = time.perf_counter()
    done = subprocess.run(
        [*command, "--out", str(tmp_path / "pairs.csv")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        preexec_fn=_limited(60, 3 * 1024 * MB),  # before: 7.7 GB and minutes
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"python -m matching: error: wide.csv, header: 1,000,000 columns, more than the"
        f" {MAX_COLUMNS:,} allowed; keep the columns you match on and save the table again\n"
    )
    assert time.perf_counter() - began < 60


def _dictionary_bomb(rows: int) -> bytes:
    """A small Parquet file of ``rows`` rows of one 1,000-character value (a dictionary)."""
    buffer = io.BytesIO()
    pq.write_table(pa.table({"name": pa.array(["x" * 1000] * rows)}), buffer)
    return buffer.getvalue()


def test_a_parquet_dictionary_bomb_is_refused_before_it_is_decoded(services):
    services.config.max_upload_mb = 64
    raw = _dictionary_bomb(200_000)  # 200 MB of text in about 20 KB
    assert len(raw) < 100_000
    _on_server(services, raw, "bomb.parquet")
    assert _opened(services, "bomb.parquet")["left_info"] == (
        "⚠ bomb.parquet: its values make at least 192 MB of data, more than the 64 MB a"
        " table may take in memory; it was not read (split the file, or keep fewer columns)"
    )


def test_the_footer_declared_size_is_checked_before_any_row_group_is_read(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [str(i) * 50 for i in range(20_000)]}), path)
    declared = pq.ParquetFile(path).metadata.row_group(0).column(0).total_uncompressed_size
    with pytest.raises(TableReadError, match="its footer declares"):
        load_table(path, max_bytes=declared - 1)
    assert len(load_table(path, max_bytes=None).frame) == 20_000


_values = st.one_of(
    st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=1, max_size=40),
    st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=1, max_size=40),
    st.lists(st.one_of(st.none(), st.floats(allow_nan=False, width=32)), min_size=1, max_size=40),
)


@settings(max_examples=40, deadline=None)
@given(
    values=_values,
    group=st.integers(1, 7),
    dictionary=st.booleans(),
    arrow=st.booleans(),
)
def test_reading_by_row_groups_gives_the_table_read_whole(values, group, dictionary, arrow):
    """The reference: pandas' own reader of the file, every value made text as the reader
    makes it (one row group); the same file in row groups of ``group`` rows reads the same."""
    table = pa.table({"v": values, "w": [str(i % 3) for i in range(len(values))]})
    whole, parts = io.BytesIO(), io.BytesIO()
    pq.write_table(table, whole, use_dictionary=dictionary)
    pq.write_table(table, parts, use_dictionary=dictionary, row_group_size=group)
    assert pq.ParquetFile(io.BytesIO(parts.getvalue())).num_row_groups == -(-len(values) // group)
    expected = load_table(whole.getvalue(), name="t.parquet", arrow=arrow).frame
    got = load_table(parts.getvalue(), name="t.parquet", arrow=arrow, max_bytes=10 * MB).frame
    pd.testing.assert_frame_equal(got, expected)
    reference = pd.read_parquet(io.BytesIO(whole.getvalue()))
    assert [None if pd.isna(v) else v for v in got["w"]] == list(reference["w"])
