"""Read tables as text: CSV, Excel, Parquet and JSON Lines.

Every value comes back as ``str`` (empty cells as ``None``), so leading zeros
and words such as "NA" or "null" survive. Errors are :class:`TableReadError`
and name the file, and the line where there is one.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

__all__ = [
    "TableReadError",
    "LoadedTable",
    "load_table",
    "read_table",
    "excel_sheets",
    "FORMATS",
    "MAX_COLUMNS",
    "CandidateWriter",
]

#: File endings understood, by format.
FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "excel",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

#: The most columns a table may have (Excel's own limit): a header of a million
#: names would make a million columns, gigabytes of memory for one row of data.
MAX_COLUMNS = 16_384

_DELIMITERS = [",", ";", "\t", "|"]
_ENCODINGS = ["utf-8-sig", "utf-16", "cp1252", "latin-1"]


class TableReadError(ValueError):
    """A table could not be read; the message names the file (and line)."""


@dataclass(frozen=True)
class LoadedTable:
    """A table read from a file and how it was read.

    ``report`` is one line for a person, e.g. ``cars.csv: 5 rows, 4 columns
    (CSV, delimiter ';', encoding cp1252)``.
    """

    frame: pd.DataFrame
    name: str
    format: str
    delimiter: str | None = None
    encoding: str | None = None
    header_row: int | None = None

    @property
    def report(self) -> str:
        how = self.format.upper() if self.format != "jsonl" else "JSON Lines"
        if self.format == "csv":
            shown = {"\t": "tab"}.get(self.delimiter, repr(self.delimiter))
            how += f", delimiter {shown}, encoding {self.encoding}"
        if self.header_row not in (None, 1):
            how += f", column names on row {self.header_row}"
        rows, cols = self.frame.shape
        rows_said = f"{rows} row{'' if rows == 1 else 's'}"
        return f"{self.name}: {rows_said}, {cols} column{'' if cols == 1 else 's'} ({how})"


def _check_width(width: int, name: str, max_columns: int | None, *, where: str = "") -> None:
    """Refuse a table of more than ``max_columns`` columns, before any row is read."""
    if max_columns is not None and width > max_columns:
        raise TableReadError(
            f"{name}{where}: {width:,} columns, more than the {max_columns:,} allowed;"
            " keep the columns you match on and save the table again"
        )


def _check_header(header: list[str], name: str) -> None:
    blank = [i for i, h in enumerate(header) if not str(h).strip()]
    if blank:
        raise TableReadError(f"{name}: column {blank[0] + 1} of the header has no name")
    seen: set[str] = set()
    for h in header:
        if h in seen:
            raise TableReadError(f"{name}: the header repeats the column {h!r}")
        seen.add(h)


def _text_frame(rows: list[list[object]], header: list[str], name: str) -> pd.DataFrame:
    _check_header(header, name)
    columns = list(zip(*rows)) if rows else [()] * len(header)
    data = {
        h: pd.Series([None if v is None or v == "" else str(v) for v in col], dtype=object)
        for h, col in zip(header, columns)
    }
    return pd.DataFrame(data, columns=header)


def _decode(raw: bytes, name: str) -> tuple[str, str]:
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise TableReadError(f"{name}: not valid UTF-16 text ({exc.reason})") from None
    if b"\x00" in raw[:4096]:
        raise TableReadError(f"{name}: this is a binary file, not a CSV text file")
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def _head(text: str, lines: int) -> str:
    """The first ``lines`` newline-ended lines of ``text`` (all of it when it has fewer),
    without splitting or copying the rest: a large upload is hundreds of MB of text."""
    end = 0
    for _ in range(lines):
        found = text.find("\n", end)
        if found < 0:
            return text
        end = found + 1
    return text[:end]


def _sniff_delimiter(text: str) -> str:
    sample = "\n".join(_head(text, 50).splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        counts = {d: first.count(d) for d in _DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


@dataclass(frozen=True)
class _ReadOptions:
    """How a reader keeps text (``arrow``) and the limits it refuses a table by."""

    arrow: bool = False
    max_columns: int | None = MAX_COLUMNS
    max_bytes: int | None = None


def _read_csv(raw: bytes, name: str, options: _ReadOptions) -> LoadedTable:
    arrow = options.arrow
    text, encoding = _decode(raw, name)
    if not text.strip():
        raise TableReadError(f"{name}: the file is empty")
    delimiter = _sniff_delimiter(text)
    first = _first_record(text, delimiter)
    _check_width(len(first), name, options.max_columns, where=", header")
    # UTF-8 as it came is the text's own encoding: no second copy to hand Arrow.
    utf8 = raw if encoding == "utf-8" else None
    frame = _arrow_csv(text, delimiter, first=first, arrow=arrow, utf8=utf8)
    if frame is not None:
        return LoadedTable(frame, name, "csv", delimiter, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    ragged: list[str] = []
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip() and header is not None):
                continue
            if header is None:  # after blank lines, the header is not the first record
                _check_width(len(row), name, options.max_columns, where=", header")
                header = [h.strip() for h in row]
                continue
            if len(row) != len(header):
                ragged.append(f"line {reader.line_num} has {len(row)} fields")
                continue
            rows.append(row)
    except csv.Error as exc:
        raise TableReadError(f"{name}, line {reader.line_num}: {exc}") from None
    if header is None:
        raise TableReadError(f"{name}: the file is empty")
    if ragged:
        more = f" (and {len(ragged) - 5} more)" if len(ragged) > 5 else ""
        raise TableReadError(
            f"{name}: expected {len(header)} fields per line as in the header, but "
            + "; ".join(ragged[:5])
            + more
        )
    frame = _text_frame(rows, header, name)
    return LoadedTable(_as_arrow(frame, arrow), name, "csv", delimiter, encoding)


def _first_record(text: str, delimiter: str) -> list[str]:
    """The first record of CSV text: its header, as written."""
    # From the first MB (a StringIO of all the text would hold 4 bytes a character);
    # from all of it only when the header record does not end in that MB.
    head = text[: 1 << 20]
    lines = io.StringIO(head, newline="")
    first = next(csv.reader(lines, delimiter=delimiter), [])
    if len(head) < len(text) and lines.tell() >= len(head):
        first = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    return first


def _arrow_csv(
    text: str,
    delimiter: str,
    *,
    first: list[str],
    arrow: bool = False,
    utf8: bytes | None = None,
) -> pd.DataFrame | None:
    """The table read by Arrow's CSV reader, or None where it might read it differently.

    Arrow is lenient where Python's strict ``csv`` module is not (text after a
    closing quote, ragged rows, blank-looking lines in a one-column file), so
    such files are left to the Python reader, which gives the same result or
    the error that names the line. ``first`` is the text's first record
    (:func:`_first_record`); ``utf8``: ``text`` encoded as UTF-8, when the
    caller has it.
    """
    header = [h.strip() for h in first]
    if len(header) < 2 or len(set(header)) < len(header) or not all(header):
        return None
    d = re.escape(delimiter)
    if '"' in text and re.search(f'[^"{d}\r\n]"[^"{d}\r\n]', text):
        return None
    raw_names = [f"c{i}" for i in range(len(header))]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(text.encode("utf-8") if utf8 is None else utf8),
            read_options=pa_csv.ReadOptions(column_names=raw_names, block_size=1 << 24),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(raw_names, pa.string()),
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows == 0 or table.column(0)[0].as_py() != first[0] or first[0] == "":
        return None
    table = table.slice(1)
    return pd.DataFrame(
        {h: _arrow_text(table.column(i), arrow=arrow) for i, h in enumerate(header)},
        columns=header,
    )


def _arrow_text(column: pa.ChunkedArray, *, arrow: bool = False) -> pd.Series:
    """An Arrow column as text, the same as :func:`_cell_text` on each value.

    Text and whole numbers are converted by Arrow; numbers with a fraction,
    flags and dates once per distinct value; any other type value by value.
    ``arrow``: keep text in Arrow memory (dtype ``string[pyarrow]``, missing as
    ``pd.NA``) instead of Python ``str`` objects.
    """
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind):
        text = column.cast(pa.large_string())
        if arrow:
            text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.large_string()), text)
            return pd.Series(pd.arrays.ArrowStringArray(text), dtype=_ARROW_TEXT)
        values = text.to_numpy(zero_copy_only=False).astype(object)
    elif pa.types.is_floating(kind) or pa.types.is_boolean(kind) or pa.types.is_date(kind):
        encoded = column.combine_chunks().dictionary_encode()
        texts = [_cell_text(v) for v in encoded.dictionary.to_pylist()]
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        values = np.array([*texts, None], dtype=object)[codes]
    else:
        values = np.array([_cell_text(v) for v in column.to_pandas()], dtype=object)
    if len(values):
        values[values == ""] = None
    series = pd.Series(values, dtype=object)
    return series.astype(_ARROW_TEXT) if arrow else series


#: Text kept in Arrow memory: a tenth of the size of Python ``str`` objects.
_ARROW_TEXT = pd.StringDtype("pyarrow")


def _as_arrow(frame: pd.DataFrame, arrow: bool) -> pd.DataFrame:
    return frame.astype(_ARROW_TEXT) if arrow else frame


def _cell_text(v: object) -> str | None:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    if hasattr(v, "tolist") and not isinstance(v, str):
        return json.dumps(v.tolist(), ensure_ascii=False, default=str)
    return str(v)


def _from_frame(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Every value of ``frame`` as text, one by one (the reference the Arrow readers match)."""
    header = [str(c) for c in frame.columns]
    rows = [[_cell_text(v) for v in r] for r in frame.itertuples(index=False, name=None)]
    return _text_frame(rows, header, name)


def excel_sheets(source: str | Path | bytes) -> list[str]:
    """The names of a workbook's sheets, in order; :class:`TableReadError` when unreadable."""
    import openpyxl

    raw = bytes(source) if isinstance(source, (bytes, bytearray)) else None
    name = "the workbook" if raw is not None else Path(source).name
    try:
        # A file object: openpyxl goes by a path's ending, and an upload's is ".part".
        with io.BytesIO(raw) if raw is not None else open(source, "rb") as handle:
            book = openpyxl.load_workbook(handle, read_only=True)
            try:
                return list(book.sheetnames)
            finally:
                book.close()
    except OSError as exc:
        raise TableReadError(f"{name}: cannot read the file ({exc.strerror})") from None
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise TableReadError(f"{name}: not a readable Excel .xlsx workbook ({exc})") from None


def _sheet_of(raw: bytes, name: str, sheet: str | int | None) -> str | int:
    """The sheet ``sheet`` names: a sheet's name, else its number from 1."""
    if sheet is None or sheet == "":
        return 0
    names = excel_sheets(raw)
    if str(sheet) in names:
        return str(sheet)
    text = str(sheet).strip()
    if text.isdigit() and 1 <= int(text) <= len(names):
        return names[int(text) - 1]
    raise TableReadError(f"{name}: no sheet {sheet!r}; the workbook has {', '.join(names)}")


def _filled(column: pd.Series) -> bool:
    return any(v is not None and v != "" for v in column)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _number_text(v: object) -> object:
    """A text cell that holds a number, as the number (``" 12.50"`` -> 12.5); else ``v``."""
    if isinstance(v, str) and _NUMBER_TEXT.fullmatch(v.strip()):
        return float(v.strip())
    return v


def _numbers_stored_as_text(column: pd.Series) -> pd.Series:
    """The column with its text cells read as numbers, when it holds numbers and every
    text cell in it is a number too (Excel's "number stored as text")."""
    present = [v for v in column if v is not None and v != ""]
    if not any(_is_number(v) for v in present):
        return column
    if not all(_is_number(v) or _NUMBER_TEXT.fullmatch(str(v).strip()) for v in present):
        return column
    return column.map(_number_text)


_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _read_excel(
    raw: bytes,
    name: str,
    arrow: bool = False,
    sheet: str | int | None = None,
    header_row: int | None = None,
    *,
    max_columns: int | None = MAX_COLUMNS,
) -> LoadedTable:
    """Read one sheet of a workbook, its column names on row ``header_row`` (from 1;
    None: :func:`_header_row_of`); the rows above it (a title, a note) are left out."""
    chosen = _sheet_of(raw, name, sheet)
    try:
        frame = pd.read_excel(
            io.BytesIO(raw),
            sheet_name=chosen,
            header=None,
            dtype=object,
            keep_default_na=False,
            na_filter=False,
            engine="openpyxl",
        )
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise TableReadError(f"{name}: not a readable Excel .xlsx workbook ({exc})") from None
    if header_row is None:
        header_row = _header_row_of(frame)
    if len(frame) < header_row:
        raise TableReadError(
            f"{name}: the sheet has {len(frame)} rows, so no header on row {header_row}"
        )
    header = [
        "" if v is None or v == "" else str(_cell_text(v)).strip()
        for v in frame.iloc[header_row - 1]
    ]
    while header and not header[-1] and not _filled(frame.iloc[header_row:, len(header) - 1]):
        header.pop()  # a trailing column with neither a name nor a value
    frame = frame.iloc[header_row:, : len(header)].replace("", None)
    frame = frame.apply(_numbers_stored_as_text)
    blank = [i for i, h in enumerate(header) if not h]
    if blank:
        raise TableReadError(
            f"{name}: column {blank[0] + 1} of the header (row {header_row}) has no name;"
            " if the column names are on a later row, choose that header row"
        )
    # openpyxl stops at column ZZZ (18,278), so the sheet cannot be much wider than this.
    _check_width(len(header), name, max_columns)
    frame.columns = header
    table = _as_arrow(_from_frame(frame, name), arrow)
    return LoadedTable(table, name, "excel", header_row=header_row)


def _header_row_of(sheet: pd.DataFrame, *, scan: int = 20) -> int:
    """The row holding a sheet's column names: the first, unless it holds at most one
    value (a title) and a later row (within ``scan``) holds several: then that row."""
    filled = [sum(v not in (None, "") for v in row) for row in sheet.head(scan).to_numpy()]
    if not filled or filled[0] >= 2:
        return 1
    return next((i + 1 for i, n in enumerate(filled) if n >= 2), 1)


def _is_text_type(kind: pa.DataType) -> bool:
    return any(
        check(kind) for check in (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary)
    ) or pa.types.is_large_binary(kind)


def _decoded_bytes(column: pa.ChunkedArray) -> int:
    """About how many bytes a column takes once its dictionary is decoded.

    A dictionary-encoded text column counts the length of each row's value
    (not the dictionary's), without decoding it; other columns count their
    buffers, at least 8 bytes a row for the text they become.
    """
    total = 0
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type) and _is_text_type(chunk.type.value_type):
            lengths = pc.binary_length(chunk.dictionary)
            total += int(pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0)
            total += 8 * len(chunk)  # the offsets of the decoded text
        else:
            total += max(chunk.nbytes, 8 * len(chunk))
    return total


def _too_big(name: str, size: int, max_bytes: int, how: str) -> TableReadError:
    return TableReadError(
        f"{name}: {how} {size / _MB:,.0f} MB of data, more than the {max_bytes / _MB:,.0f} MB"
        " a table may take in memory; it was not read (split the file, or keep fewer columns)"
    )


_MB = 1024 * 1024


def _read_parquet(raw: bytes, name: str, options: _ReadOptions) -> LoadedTable:
    """A Parquet file read one row group at a time, text columns as dictionaries.

    Before any data is read, the footer's column count and the uncompressed
    size it declares for its column chunks are checked; each row group's size
    once decoded is added up before it is decoded. With ``options.max_bytes``
    a file that would take more is refused: a small file can hold a million
    rows of one long dictionary-encoded value (a "dictionary bomb").
    """
    try:
        file = pq.ParquetFile(pa.BufferReader(raw))
        schema, meta = file.schema_arrow, file.metadata
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise TableReadError(f"{name}: not a readable Parquet file ({exc})") from None
    # pandas keeps a named index as a column: it is the frame's index, not data.
    index = {
        i for i in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(i, str)
    }
    names = [c for c in schema.names if c not in index]
    _check_width(len(names), name, options.max_columns)
    header = [str(c) for c in names]
    _check_header(header, name)
    max_bytes = options.max_bytes
    if max_bytes is not None:
        declared = sum(
            meta.row_group(g).column(c).total_uncompressed_size
            for g in range(meta.num_row_groups)
            for c in range(meta.num_columns)
        )
        if declared > max_bytes:
            raise _too_big(name, declared, max_bytes, "its footer declares")
    # Text read as dictionaries, to be measured before it is decoded: only under a
    # budget, since it costs time where pages fell back to plain values (1.5-2x).
    text = [c for c in names if _is_text_type(schema.field(c).type)] if max_bytes else []
    parts: dict[str, list[pd.Series]] = {h: [] for h in header}
    decoded = 0
    try:
        file = pq.ParquetFile(pa.BufferReader(raw), read_dictionary=text)
        for group in range(meta.num_row_groups):
            table = file.read_row_group(group, columns=names)
            if max_bytes is not None:
                decoded += sum(_decoded_bytes(table.column(c)) for c in names)
                if decoded > max_bytes:
                    raise _too_big(name, decoded, max_bytes, "its values make at least")
            for h, c in zip(header, names):
                parts[h].append(_arrow_text(table.column(c), arrow=options.arrow))
            del table
    except TableReadError:
        raise
    except Exception as exc:  # a broken page: pyarrow raises ArrowInvalid, OSError, ...
        raise TableReadError(f"{name}: not a readable Parquet file ({exc})") from None
    frame = pd.DataFrame(
        {h: _joined(parts[h], arrow=options.arrow) for h in header}, columns=header
    )
    return LoadedTable(frame, name, "parquet")


def _joined(parts: list[pd.Series], *, arrow: bool) -> pd.Series:
    """One column from its row groups' parts (an empty column when there are none)."""
    if not parts:
        return pd.Series([], dtype=_ARROW_TEXT if arrow else object)
    if len(parts) == 1:
        return parts[0]
    return pd.concat(parts, ignore_index=True)


def _read_jsonl(raw: bytes, name: str, options: _ReadOptions) -> LoadedTable:
    text, _ = _decode(raw, name)
    records: list[dict] = []
    header: dict[str, None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TableReadError(f"{name}, line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise TableReadError(f"{name}, line {number}: expected a JSON object per line")
        header.update(dict.fromkeys(record))
        # Each object may bring new keys: the columns are counted as they come.
        _check_width(len(header), name, options.max_columns, where=f", line {number}")
        records.append(record)
    if not records:
        raise TableReadError(f"{name}: the file is empty")
    cols = list(header)
    rows = [[_cell_text(r.get(c)) for c in cols] for r in records]
    return LoadedTable(_as_arrow(_text_frame(rows, cols, name), options.arrow), name, "jsonl")


_READERS = {
    "csv": _read_csv,
    "parquet": _read_parquet,
    "jsonl": _read_jsonl,
}


def load_table(
    source: str | Path | bytes,
    *,
    name: str | None = None,
    arrow: bool = False,
    sheet: str | int | None = None,
    header_row: int | None = None,
    max_columns: int | None = MAX_COLUMNS,
    max_bytes: int | None = None,
) -> LoadedTable:
    """Read a table from a path, or from bytes with its file name.

    Parameters
    ----------
    source : path or bytes
        The file, or its content (an upload).
    name : str, optional
        File name used for the format (by ending) and in messages; required
        with bytes.
    arrow : bool
        Keep the text in Arrow memory: columns of dtype ``string[pyarrow]``
        with missing values as ``pd.NA``, about a tenth of the memory of
        Python strings for large tables. The values are the same.
    sheet : str or int, optional
        Excel only: the sheet to read, by name or by number from 1 (default the first).
    header_row : int, optional
        Excel only: the row (from 1) that holds the column names; the rows above
        it are left out. By default the first row, or, when it holds at most one
        value (a title), the first row below it holding several. In a column of
        numbers, cells holding a number as text are read as numbers (``"12.50"``
        as ``12.5``).
    max_columns : int or None
        Refuse a table with more columns, counted from the CSV header, the
        JSON objects as they are read or the Parquet footer, before the rows
        are made (None: no limit).
    max_bytes : int or None
        Refuse a Parquet file whose data would take more bytes in memory: the
        size its footer declares, and its values' size once decoded, counted a
        row group at a time before it is decoded (None: no limit).

    Returns
    -------
    LoadedTable
        All values are ``str`` or ``None`` (``pd.NA`` with ``arrow``); the
        columns keep their order.

    Raises
    ------
    TableReadError
        Unknown ending, unreadable or empty file, ragged rows (with line
        numbers), repeated or blank column names, a table over the limits.
    """
    if isinstance(source, (bytes, bytearray)):
        if not name:
            raise TableReadError("a table given as bytes needs its file name")
        raw = bytes(source)
    else:
        path = Path(source)
        name = name or path.name
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise TableReadError(f"{path}: cannot read the file ({exc.strerror})") from None
    fmt = FORMATS.get(Path(name).suffix.lower())
    if fmt is None:
        raise TableReadError(f"{name}: unknown file type; use one of {', '.join(sorted(FORMATS))}")
    if header_row is not None and (not isinstance(header_row, int) or header_row < 1):
        raise TableReadError(f"{name}: the header row is a row number from 1, not {header_row!r}")
    if fmt == "excel":
        return _read_excel(raw, name, arrow, sheet, header_row, max_columns=max_columns)
    if sheet not in (None, "") or header_row not in (None, 1):
        raise TableReadError(f"{name}: a sheet and a header row can be chosen for Excel only")
    options = _ReadOptions(arrow=arrow, max_columns=max_columns, max_bytes=max_bytes)
    return _READERS[fmt](raw, name, options)


def read_table(source: str | Path | bytes, *, name: str | None = None) -> pd.DataFrame:
    """The frame of :func:`load_table`."""
    return load_table(source, name=name).frame


class CandidateWriter:
    """Write candidate frames chunk by chunk to CSV or Parquet, through pyarrow.

    The format follows the ending: ``.parquet`` or ``.pq`` is Parquet, anything
    else CSV (UTF-8, a header line, strings quoted, missing scores empty).
    ``"-"`` writes CSV to standard output. The file is created by the first
    :meth:`write` (or by :meth:`close` when nothing was written), so a run that
    fails before its first chunk leaves no file. Use it as a context manager.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "pairs.parquet")
    >>> with CandidateWriter(path) as out:
    ...     out.write(pd.DataFrame({"left_id": ["a"], "right_id": ["b"], "score": [1.0]}))
    >>> pd.read_parquet(path)["score"].tolist()
    [1.0]
    """

    def __init__(self, target: str | Path, *, stream=None) -> None:
        self.target = str(target)
        self.parquet = Path(self.target).suffix.lower() in (".parquet", ".pq")
        self._stream = stream
        self._writer = None
        self._schema: pa.Schema | None = None
        self.rows = 0

    def _open(self, schema: pa.Schema) -> None:
        self._schema = schema
        if self.parquet:
            self._writer = pq.ParquetWriter(self.target, schema)
            return
        sink = self.target
        if self.target == "-":
            sink = self._stream if self._stream is not None else _stdout_bytes()
        self._writer = pa_csv.CSVWriter(sink, schema)

    def write(self, frame: pd.DataFrame) -> None:
        """Append one chunk; every chunk must have the same columns and types."""
        table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
        if self._writer is None:
            self._open(table.schema)
        elif table.schema != self._schema:
            table = table.cast(self._schema)
        self._writer.write_table(table)
        self.rows += len(frame)

    def close(self, empty: pd.DataFrame | None = None) -> None:
        """Finish the file; ``empty`` gives the columns when no chunk was written."""
        if self._writer is None and empty is not None:
            self.write(empty)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> CandidateWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _stdout_bytes():
    import sys

    sys.stdout.flush()
    return sys.stdout.buffer
