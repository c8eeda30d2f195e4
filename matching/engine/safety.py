"""Checks of what comes from outside, before the server spends memory or time on it.

- :func:`check_table_bytes` (and :func:`check_table_file` for a file on disk)
  looks at an uploaded file without parsing it: an ``.xlsx`` is a zip whose
  entries could unpack to gigabytes (a "zip bomb"), a Parquet file states its
  shape in its footer. It raises :class:`~matching.engine.io.TableReadError` with a
  message for the person who uploaded it, in milliseconds, whatever the file
  claims to hold.
- :func:`inside_folder` resolves a path typed by an admin and refuses one
  that leads outside the folder the server was given (``..``, symlinks).
- :func:`check_shape` refuses a parsed table with too many cells.
- :func:`threshold_problem` says what is wrong with thresholds sent by a page.

Python's :mod:`zipfile` (which openpyxl and pandas use) never inflates an entry
past the size its header declares, so checking the declared sizes bounds what
any later reader can unpack.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
from pathlib import Path

import pandas as pd

from matching.engine.io import FORMATS, TableReadError

__all__ = [
    "check_table_bytes",
    "check_table_file",
    "check_shape",
    "inside_folder",
    "files_inside",
    "threshold_problem",
    "MAX_UNCOMPRESSED",
    "MAX_RATIO",
    "MAX_CELLS",
]

#: The most an .xlsx may unpack to, all entries together.
MAX_UNCOMPRESSED = 1024**3

#: The most an entry of an .xlsx may be compressed (uncompressed / compressed size).
#: Real sheets compress 5 to 30 times; bombs, hundreds to millions of times.
MAX_RATIO = 100

#: Default for the most rows x columns a table may have.
MAX_CELLS = 20_000_000

_MB = 1024 * 1024


def _mb(n: float) -> str:
    return f"{n / _MB:,.0f} MB"


def check_table_bytes(
    raw: bytes,
    name: str,
    *,
    max_cells: int = MAX_CELLS,
    max_uncompressed: int = MAX_UNCOMPRESSED,
    max_ratio: float = MAX_RATIO,
) -> None:
    """Refuse a file that would cost too much to read, before reading it.

    Raises
    ------
    TableReadError
        For an .xlsx whose entries unpack to more than ``max_uncompressed``
        bytes or are compressed more than ``max_ratio`` times, or whose first
        sheet declares more than ``max_cells`` cells; for a Parquet file with
        more than ``max_cells`` cells; for a text file with more lines than
        ``max_cells``.
    """
    fmt = FORMATS.get(Path(name).suffix.lower())
    if fmt == "excel":
        _check_xlsx(io.BytesIO(raw), name, max_cells, max_uncompressed, max_ratio)
    elif fmt == "parquet":
        _check_parquet(io.BytesIO(raw), name, max_cells)
    elif raw.count(b"\n") > max_cells:
        _too_many_lines(name, max_cells)


def check_table_file(
    path: str | Path,
    name: str | None = None,
    *,
    max_cells: int = MAX_CELLS,
    max_uncompressed: int = MAX_UNCOMPRESSED,
    max_ratio: float = MAX_RATIO,
) -> None:
    """:func:`check_table_bytes` for a file on disk, read a block at a time.

    ``name`` gives the format (by its ending) and is used in messages; by
    default the file's own name. Memory stays at one block (8 MB) whatever
    the file's size. Raises :class:`~matching.engine.io.TableReadError` as
    :func:`check_table_bytes` does, and when the file cannot be read.
    """
    path = Path(path)
    name = name or path.name
    fmt = FORMATS.get(Path(name).suffix.lower())
    try:
        if fmt == "excel":
            _check_xlsx(path, name, max_cells, max_uncompressed, max_ratio)
        elif fmt == "parquet":
            _check_parquet(path, name, max_cells)
        else:
            lines = 0
            with path.open("rb") as file:
                while block := file.read(8 * _MB):
                    lines += block.count(b"\n")
                    if lines > max_cells:
                        _too_many_lines(name, max_cells)
    except OSError as exc:
        raise TableReadError(f"{name}: cannot read the file ({exc.strerror})") from None


def _too_many_lines(name: str, max_cells: int) -> None:
    raise TableReadError(f"{name}: more than {max_cells:,} lines; the limit is {max_cells:,} cells")


def inside_folder(root: str | Path, typed: str) -> Path:
    """The file that ``typed`` names inside ``root``, symlinks and ``..`` resolved.

    ``typed`` is relative to ``root`` (an absolute path is taken as it is). The
    resolved file must be inside the resolved ``root``: a ``..`` or a symlink
    that leads out is refused, even when the file it leads to exists.

    Raises
    ------
    TableReadError
        With a message for the page: nothing typed, outside the folder, no such
        file, or a folder rather than a file.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     _ = (Path(root) / "a.csv").write_text("id\\n1\\n")
    ...     inside_folder(root, "a.csv").name
    'a.csv'
    """
    text = (typed or "").strip()
    if not text:
        raise TableReadError("type the path of a file inside the data folder")
    folder = Path(root).resolve()
    try:
        path = (folder / text).resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
        raise TableReadError(f"{text}: not a path that can be opened") from None
    if not path.is_relative_to(folder):
        raise TableReadError(
            f"{text}: outside the data folder; only files inside {folder} can be opened"
        )
    if path.is_dir():
        raise TableReadError(f"{text}: a folder; give the path of a file in it")
    if not path.is_file():
        raise TableReadError(f"{text}: no such file in the data folder")
    return path


def files_inside(root: str | Path, *, limit: int = 500, scan: int = 20_000) -> list[str]:
    """Up to ``limit`` table files under ``root``, as paths relative to it, sorted.

    Only files with a known table ending that :func:`inside_folder` would
    open: a symlink leading out of ``root`` is left out. At most ``scan``
    files are looked at (a page lists this on every load). An unreadable root
    gives an empty list.
    """
    folder = Path(root).resolve()
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        scan -= len(filenames)
        if scan < 0:
            return found
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            if path.suffix.lower() in FORMATS and path.resolve().is_relative_to(folder):
                found.append(path.relative_to(folder).as_posix())
                if len(found) >= limit:
                    return found
    return found


def _check_xlsx(source, name: str, max_cells: int, max_uncompressed: int, max_ratio) -> None:
    try:
        archive = zipfile.ZipFile(source)
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise TableReadError(
            f"{name}: not a readable Excel .xlsx workbook (not a zip file)"
        ) from None
    total = sum(e.file_size for e in entries)
    if total > max_uncompressed:
        raise TableReadError(
            f"{name}: the workbook unpacks to {_mb(total)}, more than the {_mb(max_uncompressed)}"
            " allowed; save it as CSV or Parquet, or split it"
        )
    for entry in entries:
        if entry.file_size > _MB and entry.file_size > max_ratio * max(entry.compress_size, 1):
            ratio = entry.file_size / max(entry.compress_size, 1)
            raise TableReadError(
                f"{name}: {entry.filename} is compressed {ratio:,.0f} times (more than"
                f" {max_ratio:g}), which real workbooks never are; it was not opened"
            )
    sheet, rows, cols = _xlsx_dimension(source)
    if rows * cols > max_cells:
        raise TableReadError(
            f"{name}: the sheet {sheet!r} has {rows:,} rows x {cols:,} columns, more than the"
            f" {max_cells:,} cells allowed"
        )


def _xlsx_dimension(source) -> tuple[str, int, int]:
    """The sheet that declares the most cells, with its rows and columns (any sheet
    may be the one read); ``("", 0, 0)`` when none declares any."""
    import openpyxl

    if isinstance(source, io.BytesIO):
        source.seek(0)
    try:
        book = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except Exception:  # a broken workbook: the reader reports it with its own message
        return "", 0, 0
    try:
        shapes = [
            (sheet.title, int(sheet.max_row or 0), int(sheet.max_column or 0))
            for sheet in book.worksheets
        ]
        return max(shapes, key=lambda s: s[1] * s[2], default=("", 0, 0))
    except Exception:
        return "", 0, 0
    finally:
        book.close()


def _check_parquet(source, name: str, max_cells: int) -> None:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(source).metadata
    except Exception:  # the reader reports a broken file with its own message
        return
    if meta.num_rows * meta.num_columns > max_cells:
        raise TableReadError(
            f"{name}: {meta.num_rows:,} rows x {meta.num_columns:,} columns, more than the"
            f" {max_cells:,} cells allowed"
        )


def check_shape(frame: pd.DataFrame, name: str, *, max_cells: int = MAX_CELLS) -> None:
    """Refuse a table with more than ``max_cells`` rows x columns."""
    rows, cols = frame.shape
    if rows * cols > max_cells:
        raise TableReadError(
            f"{name}: {rows:,} rows x {cols:,} columns, more than the {max_cells:,} cells allowed"
        )


def threshold_problem(**thresholds: object) -> str | None:
    """What is wrong with thresholds sent by a page, or None when they are fine.

    Accepts any of ``keep``, ``select``, ``auto_accept``, ``auto_reject`` and
    ``margin``: each a number in [0, 1], with keep <= select and
    auto_reject <= auto_accept when both of a pair are given.

    >>> threshold_problem(keep=0.5, select=0.8) is None
    True
    >>> threshold_problem(keep=5.0, select=-3)
    'keep must be a number between 0 and 1, not 5.0'
    >>> threshold_problem(keep=0.9, select=0.5)
    'keep (0.90) must not be above select (0.50)'
    >>> threshold_problem(auto_accept=0.4, auto_reject=0.6)
    'auto-reject (0.60) must not be above auto-accept (0.40)'
    """
    for key, value in thresholds.items():
        label = key.replace("_", "-")
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        if number is None or not math.isfinite(number) or not 0 <= number <= 1:
            return f"{label} must be a number between 0 and 1, not {value!r}"
    pairs = (("keep", "select"), ("auto_reject", "auto_accept"))
    for low, high in pairs:
        if low in thresholds and high in thresholds and thresholds[low] > thresholds[high]:
            return (
                f"{low.replace('_', '-')} ({thresholds[low]:.2f}) must not be above"
                f" {high.replace('_', '-')} ({thresholds[high]:.2f})"
            )
    return None
