"""Readers: every value as text, the choices reported, errors that name file and line."""

from __future__ import annotations

import csv
import datetime
import io
import re

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.engine import io as io_module
from matching.engine.io import TableReadError, load_table, read_table

EXPECTED = pd.DataFrame(
    {
        "id": ["007", "010"],
        "name": ["José", "NA"],
        "note": ["null", None],
    },
    dtype=object,
)


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("delimiter", "shown"), [(",", "','"), (";", "';'"), ("\t", "tab"), ("|", "'|'")]
)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_csv_detects_delimiter_and_encoding_and_keeps_text(tmp_path, delimiter, shown, encoding):
    text = "\r\n".join(
        delimiter.join(r)
        for r in [["id", "name", "note"], ["007", "José", "null"], ["010", "NA", ""]]
    )
    path = write(tmp_path, "owners.csv", text.encode(encoding))
    loaded = load_table(path)
    pd.testing.assert_frame_equal(loaded.frame, EXPECTED)
    assert loaded.delimiter == delimiter
    assert loaded.encoding == encoding
    assert loaded.report == (
        f"owners.csv: 2 rows, 3 columns (CSV, delimiter {shown}, encoding {encoding})"
    )


def test_csv_quoted_fields_keep_delimiters_and_newlines(tmp_path):
    path = write(tmp_path, "a.csv", b'id,addr\n1,"1 High St, Leeds"\n2,"two\nlines"\n')
    frame = read_table(path)
    assert frame["addr"].tolist() == ["1 High St, Leeds", "two\nlines"]


def test_ragged_rows_are_an_error_naming_each_line(tmp_path):
    path = write(tmp_path, "cars.csv", b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n")
    with pytest.raises(TableReadError) as info:
        read_table(path)
    message = str(info.value)
    assert message.startswith("cars.csv:")
    assert "line 3 has 2 fields" in message
    assert "line 4 has 4 fields" in message
    assert "line 5" not in message


@pytest.mark.parametrize("content", [b"", b"   \n\n"])
def test_empty_csv_is_an_error_naming_the_file(tmp_path, content):
    with pytest.raises(TableReadError, match=r"^empty\.csv: the file is empty"):
        read_table(write(tmp_path, "empty.csv", content))


def test_header_only_csv_gives_an_empty_frame_with_its_columns(tmp_path):
    frame = read_table(write(tmp_path, "h.csv", b"id,name\n"))
    assert list(frame.columns) == ["id", "name"]
    assert len(frame) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"id,,x\n1,2,3\n", "column 2 of the header has no name"), (b"a,a\n1,2\n", "repeats")],
)
def test_bad_header_is_an_error(tmp_path, content, message):
    with pytest.raises(TableReadError, match=f"^bad.csv: .*{message}"):
        read_table(write(tmp_path, "bad.csv", content))


def test_binary_file_named_csv_is_an_error(tmp_path):
    with pytest.raises(TableReadError, match=r"^x\.csv: .*binary"):
        read_table(write(tmp_path, "x.csv", b"\x00\x01\x02\xff" * 10))


def test_missing_file_and_unknown_ending_name_the_file(tmp_path):
    with pytest.raises(TableReadError, match=r"nowhere\.csv: cannot read"):
        read_table(tmp_path / "nowhere.csv")
    with pytest.raises(TableReadError, match=r"^data\.doc: unknown file type"):
        read_table(write(tmp_path, "data.doc", b"a\n1\n"))


def test_bytes_need_a_name_and_use_it(tmp_path):
    with pytest.raises(TableReadError, match="needs its file name"):
        read_table(b"a\n1\n")
    assert read_table(b"a;b\n1;2\n", name="up.csv").to_dict("list") == {"a": ["1"], "b": ["2"]}


def test_xlsx_reads_text_and_keeps_leading_zeros_and_na_words(tmp_path):
    source = pd.DataFrame({"id": ["007", "010"], "name": ["José", "NA"], "note": ["null", ""]})
    path = tmp_path / "owners.xlsx"
    source.to_excel(path, index=False)
    loaded = load_table(path)
    pd.testing.assert_frame_equal(loaded.frame, EXPECTED)
    assert loaded.report == "owners.xlsx: 2 rows, 3 columns (EXCEL)"


def test_xlsx_numbers_come_back_as_text(tmp_path):
    path = tmp_path / "n.xlsx"
    pd.DataFrame({"n": [1, 2], "x": [1.5, None]}).to_excel(path, index=False)
    frame = read_table(path)
    assert frame["n"].tolist() == ["1", "2"]
    assert frame["x"].tolist() == ["1.5", None]


def test_broken_xlsx_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(TableReadError, match=r"^broken\.xlsx: not a readable Excel"):
        read_table(write(tmp_path, "broken.xlsx", b"not a zip"))


def test_parquet_reads_text(tmp_path):
    path = tmp_path / "owners.parquet"
    pd.DataFrame(
        {"id": ["007", "010"], "name": ["José", "NA"], "note": ["null", None], "n": [1, 2]}
    ).to_parquet(path)
    frame = read_table(path)
    pd.testing.assert_frame_equal(frame[["id", "name", "note"]], EXPECTED)
    assert frame["n"].tolist() == ["1", "2"]


def test_broken_parquet_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(TableReadError, match=r"^broken\.parquet: not a readable Parquet"):
        read_table(write(tmp_path, "broken.parquet", b"PAR1 nope"))


def test_jsonl_reads_objects_in_key_order_as_text(tmp_path):
    lines = [
        '{"id": "007", "name": "José", "note": "null"}',
        "",
        '{"id": "010", "name": "NA", "extra": 5}',
    ]
    loaded = load_table(write(tmp_path, "o.jsonl", "\n".join(lines).encode()))
    assert list(loaded.frame.columns) == ["id", "name", "note", "extra"]
    pd.testing.assert_frame_equal(loaded.frame[["id", "name", "note"]], EXPECTED)
    assert loaded.frame["extra"].tolist() == [None, "5"]
    assert loaded.report == "o.jsonl: 2 rows, 4 columns (JSON Lines)"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"a": 1}\n{"a": \n', r"^bad\.jsonl, line 2: not valid JSON"),
        (b'{"a": 1}\n\n[1, 2]\n', r"^bad\.jsonl, line 3: expected a JSON object"),
        (b"\n\n", r"^bad\.jsonl: the file is empty"),
    ],
)
def test_bad_jsonl_is_an_error_naming_file_and_line(tmp_path, content, message):
    with pytest.raises(TableReadError, match=message):
        read_table(write(tmp_path, "bad.jsonl", content))


def python_reader(monkeypatch, path):
    """The table as the Python csv reader alone reads it (the Arrow reader switched off)."""
    with monkeypatch.context() as patch:
        patch.setattr(io_module, "_arrow_csv", lambda text, delimiter, **options: None)
        return load_table(path)


cells = st.text(alphabet=st.sampled_from(list("ab Z1,;|\t\"\n\r é北'")), max_size=6)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(cells, min_size=3, max_size=3), max_size=8),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
)
def test_arrow_csv_reader_reads_exactly_what_the_python_reader_reads(
    tmp_path, monkeypatch, rows, delimiter, quoting
):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator="\r\n")
    writer.writerows([["id", "name", "note"], *rows])
    path = write(tmp_path, "t.csv", buffer.getvalue().encode("utf-8"))
    try:
        expected = python_reader(monkeypatch, path)
    except TableReadError as exc:
        with pytest.raises(TableReadError, match=re.escape(str(exc))):
            load_table(path)
        return
    loaded = load_table(path)
    pd.testing.assert_frame_equal(loaded.frame, expected.frame)
    assert loaded.report == expected.report


@pytest.mark.parametrize(
    "content",
    [
        b'a,b\n"x"y,2\n',
        b'a,b\n"1" ,2\n',
        b"a,b\n1,2\n  \n3,4\n",
        b"a\n1\n  \n2\n",
        b"\n\na,b\n1,2\n",
        b"a,b\n1,2,3\n",
    ],
)
def test_csv_that_arrow_would_read_leniently_reads_as_before(tmp_path, monkeypatch, content):
    path = write(tmp_path, "odd.csv", content)
    try:
        expected = python_reader(monkeypatch, path).frame
    except TableReadError as exc:
        with pytest.raises(TableReadError, match=re.escape(str(exc))):
            read_table(path)
        return
    pd.testing.assert_frame_equal(read_table(path), expected)


def test_parquet_columns_of_every_type_read_as_the_value_by_value_reader_does(tmp_path):
    source = pd.DataFrame(
        {
            "text": ["a", "", None, "007"],
            "whole": [1, 2, 3, 4],
            "whole_missing": pd.array([1, None, 3, 10**15], dtype="Int64"),
            "real": [1.0, 2.5, float("nan"), 1e20],
            "flag": [True, False, None, True],
            "day": [datetime.date(2020, 1, 2), None, datetime.date(1999, 12, 31), None],
            "stamp": pd.to_datetime(
                ["2020-01-02 03:04", None, "1999-12-31 00:00", "2001-01-01 00:00"]
            ),
            "items": [[1, 2], [], None, [3]],
            "cat": pd.Categorical(["x", "y", None, "x"]),
        }
    ).set_index(pd.Index(["r1", "r2", "r3", "r4"], name="key"))
    path = tmp_path / "typed.parquet"
    source.to_parquet(path)
    old = io_module._from_frame(pd.read_parquet(path), "typed.parquet")
    pd.testing.assert_frame_equal(read_table(path), old)


@pytest.mark.parametrize("ending", ["csv", "parquet", "jsonl", "xlsx"])
def test_arrow_text_holds_the_same_values(tmp_path, ending):
    source = pd.DataFrame({"id": ["007", "010", "011"], "name": ["José", "", None]})
    path = tmp_path / f"t.{ending}"
    if ending == "csv":
        source.to_csv(path, index=False)
    elif ending == "parquet":
        source.to_parquet(path, index=False)
    elif ending == "jsonl":
        source.to_json(path, orient="records", lines=True)
    else:
        source.to_excel(path, index=False)
    plain = read_table(path)
    arrow = load_table(path, arrow=True).frame
    assert all(str(t) == "string" for t in arrow.dtypes)
    assert arrow.astype(object).where(arrow.notna(), None).to_dict("list") == plain.to_dict("list")
    assert plain["name"].tolist() == ["José", None, None]
