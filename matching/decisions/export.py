"""The matched table and its exports to CSV, Excel and Parquet, with readers that reverse them.

:func:`matched_table` joins the accepted pairs of a review state to the two
source tables, with the provenance of every decision. The writers make files
that are safe to open in a spreadsheet and the readers give back the same frame:

- A text cell starting with ``=``, ``+``, ``-``, ``@`` (or their full-width forms
  U+FF1D, U+FF0B, U+FF0D, U+FF20), also after leading spaces or non-breaking spaces, or with a tab
  or a carriage return, would run as a formula in a spreadsheet, so CSV and
  Excel write it behind a single quote (``'=1+1``); a text that starts with a quote gets one
  more, so :func:`read_export` strips exactly one quote from every text cell
  that starts with one. Column names are treated the same way.
- Numbers and booleans stay numbers and booleans: unquoted in CSV, numeric
  cells in Excel.
- CSV is UTF-8 with a byte-order mark (so Excel detects the encoding); text
  cells are quoted and numbers are not, which is how the reader tells ``"007"``
  from ``7`` and an empty text from a missing value.
- The XML inside an Excel file cannot hold most control characters, so they are
  written as ``_xHHHH_`` (Excel's own escape; a literal ``_x`` is written
  ``_x005F_x``). Excel has no empty text: an empty string reads back as missing.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matching.decisions.events import ReviewState, accepted_pairs

__all__ = [
    "EXPORT_FORMATS",
    "matched_table",
    "to_csv_bytes",
    "to_excel_bytes",
    "to_parquet_bytes",
    "matched_chunks",
    "matched_chunks_of_pairs",
    "accepted_pairs_of_state",
    "write_csv",
    "write_excel",
    "write_parquet",
    "read_export",
    "neutralise",
    "neutralise_frame",
    "unneutralise",
]

#: The formats :func:`read_export` reads, and their file extensions.
EXPORT_FORMATS = ("csv", "xlsx", "parquet")

#: Text a spreadsheet could run as a formula: a formula character, also full-width and
#: after any leading white space (non-breaking, zero-width and ideographic included),
#: or a tab, carriage return or quote first.
_FORMULA = re.compile(r"[\t\r']|[\s\u200b\ufeff]*[=+\-@\uff1d\uff0b\uff0d\uff20]")
_BOM = "\ufeff"
_SHEET = "matches"
_INTEGER = "0"


# -- the matched table -----------------------------------------------------


def _records(
    frame: pd.DataFrame,
    id_column: str | None,
    side: str,
    positions: Mapping[str, int] | None = None,
) -> pd.DataFrame | _Indexed:
    """The frame indexed by record id as text (row positions when ``id_column`` is None),
    or with ``positions`` (id -> row) beside it."""
    if id_column is not None and id_column not in frame.columns:
        raise ValueError(f"the {side} table has no column {id_column!r}")
    if positions is not None:
        return _Indexed(frame, positions)
    if id_column is None:
        ids = pd.Index([str(i) for i in range(len(frame))])
    else:
        ids = pd.Index(frame[id_column].astype(str).tolist())
    return frame.set_axis(ids, axis=0)


def _pick(frame: pd.DataFrame, id_column: str | None, columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return [c for c in frame.columns if c != id_column]
    return [c for c in columns if c in frame.columns]


class _Indexed:
    """A table's columns and a mapping of its record ids to row positions (a
    project's ``left_pos``/``right_pos``), so no index of the ids is built."""

    def __init__(self, frame: pd.DataFrame, positions: Mapping[str, int]) -> None:
        self.frame, self.positions = frame, positions

    def __getitem__(self, columns: list[str]) -> _Indexed:
        return _Indexed(self.frame[columns], self.positions)

    def rows(self, ids: pd.Series) -> np.ndarray:
        many = getattr(self.positions, "positions", None)
        if many is not None:
            text = pa.array(ids.astype(str), from_pandas=True).cast(pa.large_string())
            return np.asarray(many(text), dtype=np.int64)
        get = self.positions.get
        return np.fromiter((get(i, -1) for i in ids.astype(str)), np.int64, len(ids))


def _take(records: pd.DataFrame | _Indexed, ids: pd.Series, side: str) -> pd.DataFrame:
    if isinstance(records, _Indexed):
        at = records.rows(ids)
        if (at < 0).any():
            missing = dict.fromkeys(ids.astype(str).iloc[np.flatnonzero(at < 0)].tolist())
            raise ValueError(f"the {side} table has no record {', '.join(map(repr, missing))}")
        return records.frame.iloc[at].reset_index(drop=True)
    ids = list(ids)
    if records.index.is_unique:  # one look-up for them all
        at = records.index.get_indexer(ids)
        missing = [ids[i] for i in np.flatnonzero(at < 0).tolist()]
    else:
        at, missing = None, [i for i in ids if i not in records.index]
    if missing:
        missing = list(dict.fromkeys(missing))
        raise ValueError(f"the {side} table has no record {', '.join(map(repr, missing))}")
    if at is not None:
        return records.iloc[at].reset_index(drop=True)
    return records.loc[ids].reset_index(drop=True)


def matched_table(
    state: ReviewState,
    candidates: pd.DataFrame,
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    spec_left_id: str | None,
    spec_right_id: str | None,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per accepted pair, with both records and the decision's provenance.

    Parameters
    ----------
    state : ReviewState
        The replayed review (``DecisionLog.state``): exports come from the log.
    candidates : DataFrame
        ``left_id, right_id, score`` as made by ``generate_candidates``; its
        score is used for a pair whose decision recorded none.
    left, right : DataFrame
        The source tables; they are not changed.
    spec_left_id, spec_right_id : str or None
        The ID columns, or None when the ids are row positions.
    columns : sequence of str, optional
        Source columns to include, each from whichever table has it; by default
        every column but the ID column. ``ValueError`` names a column neither has.

    Returns
    -------
    DataFrame
        Columns ``left_id, right_id, score``, then ``left_<col>`` for the left
        columns and ``right_<col>`` for the right ones (with the reviewer's edits
        applied), then ``reviewer, decided_at`` (ISO 8601 UTC text),
        ``automatic``, ``edited`` (the edited right columns, comma separated; missing when none),
        ``original`` (their values before the correction, a JSON object by column;
        missing when none),
        ``reason`` (the reviewer's reason and comment, "reason — comment"; missing when none),
        ``threshold_keep, threshold_select`` and ``threshold_<name>`` for any
        other threshold in force, NaN where none was recorded. Rows are in
        decision order, then in the order the right ids were chosen; the index
        is a fresh RangeIndex.
    """
    chunks = matched_chunks(
        state,
        candidates,
        left,
        right,
        spec_left_id=spec_left_id,
        spec_right_id=spec_right_id,
        columns=columns,
    )
    return pd.concat(list(chunks), ignore_index=True)


#: Rows of the matched table built at a time by :func:`matched_chunks`.
CHUNK_ROWS = 20_000


def accepted_pairs_of_state(state: ReviewState) -> pd.DataFrame:
    """The accepted pairs of a replayed review, as :func:`matched_chunks_of_pairs` takes them.

    :func:`~matching.decisions.events.accepted_pairs` with the decision's ``reason`` and
    ``thresholds`` (a mapping) on each row.
    """
    pairs = accepted_pairs(state)
    decisions = [state.decisions[left_id] for left_id in pairs["left_id"]]
    pairs["reason"] = pd.Series([d.reason for d in decisions], dtype=object)
    pairs["thresholds"] = pd.Series([d.thresholds for d in decisions], dtype=object)
    return pairs


def matched_chunks(
    state: ReviewState,
    candidates: pd.DataFrame,
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    spec_left_id: str | None,
    spec_right_id: str | None,
    columns: Sequence[str] | None = None,
    chunk_rows: int | None = None,
) -> Iterator[pd.DataFrame]:
    """The rows of :func:`matched_table`, ``chunk_rows`` (default :data:`CHUNK_ROWS`) at a
    time (at least one frame).

    Every chunk has the same columns; concatenated they are the matched table.
    Only one chunk of records is ever built, so an export of a million matches
    is written piece by piece.
    """
    if columns is not None:
        _check_columns(left, right, columns)
    return matched_chunks_of_pairs(
        accepted_pairs_of_state(state),
        candidates,
        left,
        right,
        spec_left_id=spec_left_id,
        spec_right_id=spec_right_id,
        columns=columns,
        chunk_rows=chunk_rows,
    )


def _check_columns(left: pd.DataFrame, right: pd.DataFrame, columns: Sequence[str]) -> None:
    unknown = [c for c in columns if c not in left.columns and c not in right.columns]
    if unknown:
        raise ValueError(f"neither table has column {', '.join(map(repr, unknown))}")


def matched_chunks_of_pairs(
    pairs: pd.DataFrame,
    candidates: pd.DataFrame,
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    spec_left_id: str | None,
    spec_right_id: str | None,
    columns: Sequence[str] | None = None,
    chunk_rows: int | None = None,
    left_pos: Mapping[str, int] | None = None,
    right_pos: Mapping[str, int] | None = None,
) -> Iterator[pd.DataFrame]:
    """:func:`matched_chunks` of accepted pairs given as columns.

    ``pairs`` has one row per accepted pair in decision order: ``left_id,
    right_id, score`` (the score recorded with the decision, NaN for none: the
    candidate's is used), ``reviewer, decided_at`` (UTC timestamps),
    ``automatic``, ``edits`` (that right record's corrected cells, a mapping,
    or None), ``reason`` (or None) and ``thresholds`` (the decision's, a
    mapping; rows may share one). What :func:`accepted_pairs_of_state` makes of
    a replayed log, and ``desk.views.accepted_pairs`` of the desk's ledger.
    ``left_pos`` and ``right_pos``, when given, map each table's record ids to
    its row positions (a project's own), so the records are found without an
    index of every id.
    """
    if columns is not None:
        _check_columns(left, right, columns)
    left_cols = _pick(left, spec_left_id, columns)
    right_cols = _pick(right, spec_right_id, columns)
    left_records = _records(left, spec_left_id, "left", left_pos)
    right_records = _records(right, spec_right_id, "right", right_pos)

    # A pair whose decision recorded no score takes it from the candidates.
    unscored = set(pairs.loc[pairs["score"].isna(), "left_id"])
    wanted = candidates[candidates["left_id"].astype(str).isin(unscored)] if unscored else None
    known = (
        {}
        if wanted is None
        else {
            (str(a), str(b)): s
            for a, b, s in zip(wanted["left_id"], wanted["right_id"], wanted["score"], strict=True)
        }
    )
    names = ["keep", "select"]
    seen: set[int] = set()
    for thresholds in pairs["thresholds"] if len(pairs) else ():
        if id(thresholds) not in seen:  # a batch's rows share one mapping
            seen.add(id(thresholds))
            names += [k for k in thresholds if k not in names]
    left_records, right_records = left_records[left_cols], right_records[right_cols]
    step = max(1, CHUNK_ROWS if chunk_rows is None else chunk_rows)
    for start in range(0, max(len(pairs), 1), step):
        part = pairs.iloc[start : start + step].reset_index(drop=True)
        yield _matched_part(part, known, names, left_records, right_records)


def _iso_times(times: pd.Series) -> pd.Series:
    """ISO 8601 UTC text (milliseconds, ``Z``) of timestamps, each distinct one made once."""
    if not len(times):
        return pd.Series([], dtype=str)
    which, values = pd.factorize(times)
    text = [t.isoformat(timespec="milliseconds").replace("+00:00", "Z") for t in values]
    return pd.Series(np.asarray(text, dtype=object)[which], dtype=str)


def _matched_part(
    pairs: pd.DataFrame,
    known: dict,
    names: list[str],
    left_rec: pd.DataFrame,
    right_rec: pd.DataFrame,
) -> pd.DataFrame:
    """The matched table's rows of some accepted ``pairs``."""
    left_rec = _take(left_rec, pairs["left_id"], "left")
    right_rec = _take(right_rec, pairs["right_id"], "right").copy()
    edited = [None] * len(pairs)
    original = [None] * len(pairs)
    for i, edits in enumerate(pairs["edits"]):
        if not edits:
            continue
        before = {}
        for col, value in edits.items():
            if col in right_rec.columns:
                if not pd.api.types.is_string_dtype(right_rec[col].dtype):
                    right_rec[col] = right_rec[col].astype(object)
                was = right_rec.loc[i, col]
                before[col] = None if pd.isna(was) else str(was)
                right_rec.loc[i, col] = value
        edited[i] = ", ".join(edits)
        original[i] = json.dumps(before, ensure_ascii=False)
    score = pairs["score"].astype(float)
    if known:
        pair_ids = zip(pairs["left_id"], pairs["right_id"], strict=True)
        score = score.fillna(pd.Series([known.get(p, np.nan) for p in pair_ids], dtype=float))

    thresholds = {
        f"threshold_{n}": [float(t.get(n, np.nan)) for t in pairs["thresholds"]] for n in names
    }
    out = pd.concat(
        [
            pd.DataFrame(
                {
                    "left_id": pairs["left_id"].astype(str),
                    "right_id": pairs["right_id"].astype(str),
                    "score": score,
                }
            ),
            left_rec.add_prefix("left_"),
            right_rec.add_prefix("right_"),
            pd.DataFrame(
                {
                    "reviewer": pairs["reviewer"].astype(str),
                    "decided_at": _iso_times(pairs["decided_at"]),
                    "automatic": pairs["automatic"].astype(bool),
                    "edited": pd.Series(edited, dtype=str),
                    "original": pd.Series(original, dtype=str),
                    "reason": pd.Series(pairs["reason"].tolist(), dtype=str),
                    **{k: pd.Series(v, dtype=float) for k, v in thresholds.items()},
                }
            ),
        ],
        axis=1,
    )
    return out.reset_index(drop=True)


# -- cell escaping ---------------------------------------------------------


def neutralise(text: str) -> str:
    """``text`` behind a single quote when a spreadsheet could read it as a formula.

    >>> neutralise("=SUM(A1:A9)"), neutralise("'quoted"), neutralise("plain")
    ("'=SUM(A1:A9)", "''quoted", 'plain')
    >>> neutralise("  =1+1"), neutralise("\u00a0@SUM(1)"), neutralise("\uff1d1+1")
    ("'  =1+1", "'\xa0@SUM(1)", "'\uff1d1+1")
    """
    return "'" + text if _FORMULA.match(text) else text


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text value neutralised (numbers unchanged).

    For writers that do not quote cells themselves (``python -m matching --out``).

    >>> neutralise_frame(pd.DataFrame({"id": ["=1+1", "7"], "score": [0.5, 1.0]}))["id"].tolist()
    ["'=1+1", '7']
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            out[column] = values.cat.rename_categories(
                [neutralise(c) if isinstance(c, str) else c for c in values.cat.categories]
            )
        elif values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            out[column] = _neutralised_column(values)
    return out


def _neutralised_column(values: pd.Series) -> pd.Series:
    """:func:`neutralise` of each text of a column, each distinct value once (ids repeat
    over a record's candidates); the column itself when no value changes."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    texts = pd.Series(np.asarray(distinct, dtype=object))
    formula = texts.map(lambda v: isinstance(v, str) and bool(_FORMULA.match(v))).to_numpy(bool)
    if not formula.any():
        return values
    made = texts.to_numpy(dtype=object).copy()
    made[formula] = ["'" + v for v in made[formula]]
    out = np.empty(len(values), dtype=object)
    present = codes >= 0
    out[present] = made[codes[present]]
    out[~present] = values.to_numpy(dtype=object)[~present]
    return pd.Series(out, index=values.index, name=values.name, dtype=values.dtype)


def unneutralise(text: str) -> str:
    """Reverse :func:`neutralise`.

    >>> unneutralise("'=SUM(A1:A9)"), unneutralise("''quoted"), unneutralise("plain")
    ('=SUM(A1:A9)', "'quoted", 'plain')
    """
    return text[1:] if text.startswith("'") else text


# Characters the XML of an Excel file cannot hold; "\r" would read back as "\n".
_XML_UNSAFE = re.compile("_x|[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ufffe\uffff]")
_XML_ESCAPE = re.compile("_x([0-9A-Fa-f]{4})_")


def _xml_escape(text: str) -> str:
    return _XML_UNSAFE.sub(
        lambda m: "_x005F_x" if m.group() == "_x" else f"_x{ord(m.group()):04X}_", text
    )


def _xml_unescape(text: str) -> str:
    return _XML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _cell(value: object) -> object:
    """A cell as str (text), int, float, bool or None (missing)."""
    if _is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    return str(value)


def _rows(df: pd.DataFrame) -> Iterable[list[object]]:
    for row in df.itertuples(index=False, name=None):
        yield [_cell(v) for v in row]


# -- writers ---------------------------------------------------------------


def _csv_field(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return '"' + neutralise(value).replace('"', '""') + '"'
    return repr(value) if isinstance(value, float) else str(value)


#: The white space Python's ``\\s`` matches, which :data:`_FORMULA` allows before a
#: formula character; spelled out for Arrow's regular expressions (RE2), whose ``\\s``
#: is ASCII only.
_SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _re2_class(chars: str) -> str:
    return "".join(f"\\x{{{ord(c):x}}}" for c in chars)


#: :data:`_FORMULA` for Arrow: it matches where ``_FORMULA.match`` does.
_FORMULA_RE2 = (
    f"^(?:[{_re2_class(chr(9) + chr(13) + chr(39))}]"
    f"|[{_re2_class(_SPACES + chr(0x200B) + chr(0xFEFF))}]*"
    f"[{_re2_class('=+-@' + chr(0xFF1D) + chr(0xFF0B) + chr(0xFF0D) + chr(0xFF20))}])"
)


def _quoted_text(text: pa.Array) -> pa.Array:
    """CSV fields of a text column, as :func:`_csv_field` writes each value, in Arrow."""

    def s(value: str) -> pa.Scalar:
        return pa.scalar(value, pa.large_string())

    text = text.cast(pa.large_string())
    formula = pc.match_substring_regex(text, _FORMULA_RE2)
    text = pc.if_else(formula, pc.binary_join_element_wise(s("'"), text, s("")), text)
    text = pc.replace_substring(text, '"', '""')
    return pc.fill_null(pc.binary_join_element_wise(s('"'), text, s('"'), s("")), s(""))


def _csv_column(values: pd.Series) -> pa.Array:
    """The CSV fields of one column, as :func:`_csv_field` of :func:`_cell` makes them."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return pa.array(np.where(values.to_numpy(), "True", "False"), pa.large_string())
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return pa.array([str(v) for v in values.tolist()], pa.large_string())
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        floats = values.to_numpy(np.float64).tolist()
        return pa.array([repr(v) if v == v else "" for v in floats], pa.large_string())
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return _quoted_text(pa.array(values))
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        try:
            text = pa.array(values.to_numpy(dtype=object), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            text = None
        if text is not None and (pa.types.is_string(text.type) or pa.types.is_null(text.type)):
            return _quoted_text(text)
    return pa.array([_csv_field(_cell(v)) for v in values.tolist()], pa.large_string())


def write_csv(chunks: Iterable[pd.DataFrame], out: BinaryIO) -> int:
    """Write frames with the same columns as one CSV file, one frame at a time; returns rows.

    UTF-8 with a byte-order mark, text quoted and neutralised, numbers bare,
    lines ending with CRLF: exactly what :func:`_csv_field` makes of each cell.
    Each frame is formatted column by column in Arrow. Nothing is written
    when ``chunks`` is empty.
    """
    rows = 0
    for i, df in enumerate(chunks):
        if i == 0:
            header = ",".join(_csv_field(str(c)) for c in df.columns)
            out.write((_BOM + header + "\r\n").encode("utf-8"))
        if len(df):
            fields = [_csv_column(df.iloc[:, j]) for j in range(df.shape[1])]
            comma = pa.scalar(",", pa.large_string())
            lines = pc.binary_join_element_wise(*fields, comma).to_pylist() if fields else []
            out.write(("\r\n".join(lines or [""] * len(df)) + "\r\n").encode("utf-8"))
        rows += len(df)
    return rows


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """CSV in UTF-8 with a byte-order mark; text quoted and neutralised, numbers bare.

    Lines end with CRLF (RFC 4180); a missing value is an empty unquoted field.
    """
    buffer = io.BytesIO()
    write_csv([df], buffer)
    return buffer.getvalue()


def write_excel(chunks: Iterable[pd.DataFrame], out: BinaryIO | str) -> int:
    """Write frames with the same columns as one .xlsx sheet, a frame at a time; returns rows.

    Cells as :func:`to_excel_bytes` writes them.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet(_SHEET)

    def cell(value: object) -> object:
        if isinstance(value, str):
            return _xml_escape(neutralise(value))
        if isinstance(value, float) and math.isinf(value):
            # Excel has no infinity; text that only this writer makes stands for it.
            return "'inf" if value > 0 else "'-inf"
        if isinstance(value, int) and not isinstance(value, bool):
            written = WriteOnlyCell(sheet, value)
            written.number_format = _INTEGER
            return written
        return value

    rows = 0
    try:
        for i, df in enumerate(chunks):
            if i == 0:
                sheet.append([_xml_escape(neutralise(str(c))) for c in df.columns])
            for row in _rows(df):
                sheet.append([cell(v) for v in row])
            rows += len(df)
    except BaseException:
        _abandon(sheet)
        raise
    book.save(out)
    return rows


def _abandon(sheet) -> None:
    """Close a write-only sheet that will not be saved, and remove the temporary file
    openpyxl streams its rows to (openpyxl itself removes it only when the process ends:
    every export stopped half-way would leave one)."""
    sheet.close()
    path = getattr(getattr(sheet, "_writer", None), "out", None)
    if path:
        with contextlib.suppress(OSError):
            os.remove(path)


def to_excel_bytes(df: pd.DataFrame) -> bytes:
    """An .xlsx workbook with one sheet; text neutralised and XML-safe, numbers numeric.

    Whole numbers get the number format ``0``, which is how the reader tells
    them from floats (Excel stores every number as a float).
    """
    buffer = io.BytesIO()
    write_excel([df], buffer)
    return buffer.getvalue()


def write_parquet(chunks: Iterable[pd.DataFrame], out: BinaryIO | str) -> int:
    """Write frames with the same columns as one Parquet file, a frame at a time; returns rows.

    Values are stored as they are, as :func:`to_parquet_bytes` does; a column
    with no value in the first frame is typed as text.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    rows = 0
    try:
        for df in chunks:
            table = pa.Table.from_pandas(df, preserve_index=False)
            if writer is None:
                fields = [
                    f.with_type(pa.large_string()) if pa.types.is_null(f.type) else f
                    for f in table.schema
                ]
                schema = pa.schema(fields, metadata=table.schema.metadata)
                writer = pq.ParquetWriter(out, schema)
            writer.write_table(table.cast(schema))
            rows += len(df)
    finally:
        if writer is not None:
            writer.close()
    return rows


def to_parquet_bytes(df: pd.DataFrame) -> bytes:
    """Parquet (pyarrow); values are stored as they are, no escaping is needed."""
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False, engine="pyarrow")
    return buffer.getvalue()


# -- readers ---------------------------------------------------------------

_CSV_FIELD = re.compile(r'"((?:[^"]|"")*)"|([^,\r\n"]*)')


def _parse_csv(text: str) -> list[list[tuple[str, bool]]]:
    """Rows of (text, quoted) cells; quoting tells text from numbers and missing values."""
    rows: list[list[tuple[str, bool]]] = []
    row: list[tuple[str, bool]] = []
    pos, end = 0, len(text)
    while pos < end:
        match = _CSV_FIELD.match(text, pos)
        quoted = match.group(1) is not None
        row.append((match.group(1).replace('""', '"') if quoted else match.group(2), quoted))
        pos = match.end()
        if text.startswith(",", pos):
            pos += 1
        elif text.startswith("\r\n", pos) or pos >= end:
            rows.append(row)
            row = []
            pos += 2
        elif text.startswith("\n", pos):
            rows.append(row)
            row = []
            pos += 1
        else:
            raise ValueError(f"CSV line {len(rows) + 1}: unexpected {text[pos]!r} after a field")
    return rows


def _csv_value(text: str, quoted: bool) -> object:
    if quoted:
        return unneutralise(text)
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        return int(text)
    except ValueError:
        return float(text)


def _column(values: list[object]) -> pd.Series:
    """A column with the dtype its cells call for: bool, int, float, text or mixed."""
    present = [v for v in values if v is not None]
    if not present:
        return pd.Series([np.nan] * len(values), dtype=float)
    if all(isinstance(v, bool) for v in present):
        return pd.Series(values, dtype=bool if len(present) == len(values) else object)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        if len(present) == len(values) and all(isinstance(v, int) for v in present):
            return pd.Series(values, dtype="int64")
        return pd.Series([np.nan if v is None else v for v in values], dtype=float)
    if all(isinstance(v, str) for v in present):
        return pd.Series(values, dtype=str)
    return pd.Series(values, dtype=object)


def _frame(header: list[str], rows: list[list[object]]) -> pd.DataFrame:
    if len(set(header)) != len(header):
        raise ValueError("the file repeats a column name")
    columns = {
        name: _column([row[i] if i < len(row) else None for row in rows])
        for i, name in enumerate(header)
    }
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))


def _read_csv(data: bytes) -> pd.DataFrame:
    text = data.decode("utf-8")
    rows = _parse_csv(text.removeprefix(_BOM))
    if not rows:
        raise ValueError("the CSV file is empty")
    header = [unneutralise(name) for name, _ in rows[0]]
    return _frame(header, [[_csv_value(*cell) for cell in row] for row in rows[1:]])


def _excel_value(cell) -> object:
    value = cell.value
    if isinstance(value, str):
        text = unneutralise(_xml_unescape(value))
        return float(text) if value in ("'inf", "'-inf") else text
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value) if cell.number_format == _INTEGER else float(value)
    return value


def _read_excel(data: bytes) -> pd.DataFrame:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True)
    sheet = book[_SHEET] if _SHEET in book.sheetnames else book.worksheets[0]
    rows = [[_excel_value(c) for c in row] for row in sheet.iter_rows()]
    book.close()
    if not rows:
        raise ValueError("the Excel file is empty")
    return _frame([str(name) for name in rows[0]], rows[1:])


def read_export(data: bytes, fmt: str) -> pd.DataFrame:
    """Read a file made by :func:`to_csv_bytes`, :func:`to_excel_bytes` or :func:`to_parquet_bytes`.

    Parameters
    ----------
    data : bytes
        The file's contents.
    fmt : {"csv", "xlsx", "parquet"}
        Its format (``"excel"`` is accepted for ``"xlsx"``).

    Returns
    -------
    DataFrame
        The exported frame: neutralised and escaped text restored, text columns
        as ``str``, whole-number columns as ``int64``, other numbers as
        ``float64``, booleans as ``bool``; a column mixing kinds is ``object``.
        In CSV and Excel a column without any value reads as ``float64`` NaN,
        whatever it held (as with :func:`pandas.read_csv`).

    Examples
    --------
    >>> frame = pd.DataFrame({"name": ["=1+1", "'a"], "n": [1, 2]})
    >>> read_export(to_csv_bytes(frame), "csv").equals(frame)
    True
    """
    fmt = {"excel": "xlsx"}.get(fmt.lower().lstrip("."), fmt.lower().lstrip("."))
    if fmt == "csv":
        return _read_csv(data)
    if fmt == "xlsx":
        return _read_excel(data)
    if fmt == "parquet":
        return pd.read_parquet(io.BytesIO(data), engine="pyarrow")
    raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
