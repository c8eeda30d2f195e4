"""A project: two tables, a spec and their candidate pairs, ready for review.

Everything the review page shows for one record comes from :func:`record_view`,
so the browser only ever receives one record and its candidates.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from matching.engine.candidates import StepProgress, generate_candidates, score_in_steps
from matching.engine.derive import with_spec_columns
from matching.engine.io import read_table
from matching.engine.scoring import normalize
from matching.engine.spec import Spec

__all__ = [
    "Project",
    "build_project",
    "index_project",
    "save_candidates",
    "load_candidates",
    "CANDIDATES_FILE",
    "LEFT_FILE",
    "RIGHT_FILE",
    "IdList",
    "IdIndex",
    "Slices",
    "has_tables",
    "project_id_for",
    "record_view",
    "left_as_right",
    "differing_spans",
    "NEAR",
    "save_tables",
    "load_tables",
    "arrow_record_ids",
    "write_arrow_file",
    "conversion_lock",
]


class IdList(Sequence[str]):
    """Record ids in table order, kept in one Arrow text array (no Python strings).

    Behaves as a read-only list of ``str``; ``np.asarray(ids, dtype=object)``
    converts all of them at once.
    """

    def __init__(self, ids: pa.Array | pa.ChunkedArray) -> None:
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks() if ids.num_chunks != 1 else ids.chunk(0)
        self.array: pa.LargeStringArray = ids.cast(pa.large_string())

    @classmethod
    def of(cls, values: Sequence[object] | np.ndarray | pd.Series) -> IdList:
        """The ids ``values`` as text."""
        if isinstance(values, pd.Series):
            values = values.to_numpy(dtype=object)
        return cls(pa.array([str(v) for v in values], pa.large_string()))

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.array[i].to_pylist()
        return self.array[int(i)].as_py()

    def __iter__(self) -> Iterator[str]:
        step = 65_536
        for start in range(0, len(self.array), step):
            yield from self.array[start : start + step].to_pylist()

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.array.to_numpy(zero_copy_only=False)
        return out if dtype is None else out.astype(dtype, copy=False)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IdList):
            return self.array.equals(other.array)
        if isinstance(other, (list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    def __hash__(self) -> int:  # pragma: no cover - unhashable, like a list
        raise TypeError("unhashable type: 'IdList'")

    @property
    def nbytes(self) -> int:
        return self.array.nbytes


#: Id bytes of all records, as fixed-width keys, above which long ids are hashed
#: instead (one very long id would otherwise widen every key).
_MAX_KEY_BYTES = 256 * 1024 * 1024


def _fixed_width(array: pa.LargeStringArray, width: int | None = None) -> np.ndarray:
    """Each text of ``array`` as UTF-8 bytes in a fixed-width ``S`` array (vectorized)."""
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)
    offsets = offsets[array.offset : array.offset + len(array) + 1]
    lengths = np.diff(offsets)
    data = array.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
    width = max(1, int(lengths.max(initial=0))) if width is None else width
    out = np.zeros((len(array), width), np.uint8)
    step = 262_144
    for a in range(0, len(array), step):
        b = min(a + step, len(array))
        keep = np.minimum(lengths[a:b], width)
        rows = np.repeat(np.arange(a, b), keep)
        cols = np.arange(len(rows)) - np.repeat(np.cumsum(np.r_[0, keep[:-1]]), keep)
        out[rows, cols] = data[np.repeat(offsets[a:b], keep) + cols]
    return out.view(f"S{width}").ravel()


def _digests(array: pa.LargeStringArray) -> np.ndarray:
    return np.array(
        [hashlib.blake2b(v.encode(), digest_size=16).digest() for v in IdList(array)], "S16"
    )


class IdIndex(Mapping[str, int]):
    """Record id -> its position, as sorted fixed-width UTF-8 keys and their positions.

    A lookup is a binary search (``np.searchsorted``): a million ids cost about
    16 bytes each (their bytes and a position) instead of a dict of a million
    Python strings. Iterating gives the ids in table order, like the dict it
    replaces. :meth:`positions` looks many ids up at once.
    """

    def __init__(self, ids: IdList) -> None:
        self.ids = ids
        array = ids.array
        self._hashed = False
        lengths = pc.binary_length(array).to_numpy(zero_copy_only=False)
        longest = int(lengths.max(initial=0))
        if len(array) * max(1, longest) > _MAX_KEY_BYTES or _has_nul(array):
            keys, self._hashed = _digests(array), True
        else:
            keys = _fixed_width(array)
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._order = order.astype(np.int64)

    @classmethod
    def from_sorted(
        cls, ids: IdList, keys: np.ndarray, order: np.ndarray, *, hashed: bool
    ) -> IdIndex:
        """The index whose sorted keys and their positions (:attr:`keys`, :attr:`order`)
        were worked out already, as an index of ``ids`` has them: nothing is sorted or
        copied, so arrays mapped from a file stay shared."""
        if len(keys) != len(ids) or len(order) != len(ids):
            raise ValueError("the sorted keys are not those of these ids")
        index = cls.__new__(cls)
        index.ids = ids
        index._hashed = hashed
        index._keys = keys
        index._order = order
        return index

    @property
    def keys(self) -> np.ndarray:
        """The ids' keys, sorted: fixed-width UTF-8 (``S<n>``), or 16-byte digests when
        :attr:`hashed`."""
        return self._keys

    @property
    def order(self) -> np.ndarray:
        """The position (int64) of the id of each of :attr:`keys`."""
        return self._order

    @property
    def hashed(self) -> bool:
        """True when the keys are digests of the ids (very long ids, or ids holding NUL)."""
        return self._hashed

    def _encode(self, values: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
        """Keys of ``values`` and a mask of those that could be present at all."""
        if self._hashed:
            return _digests(values), np.ones(len(values), bool)
        width = self._keys.dtype.itemsize
        fits = pc.less_equal(pc.binary_length(values), width).to_numpy(zero_copy_only=False)
        has_nul = pc.match_substring(values, "\x00").to_numpy(zero_copy_only=False)
        return _fixed_width(values, width), fits & ~has_nul

    def positions(self, values: Sequence[str] | pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Position of each of ``values`` (int64), -1 where an id is unknown."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if not isinstance(values, pa.Array):
            values = pa.array([str(v) for v in values], pa.large_string())
        values = values.cast(pa.large_string())
        if len(values) == 0 or len(self._keys) == 0:
            return np.full(len(values), -1, np.int64)
        keys, possible = self._encode(values)
        at = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        hit = possible & (self._keys[at] == keys)
        return np.where(hit, self._order[at], -1)

    def get(self, key, default=None):
        if not isinstance(key, str) or not len(self._keys):
            return default
        try:
            raw = key.encode()
        except UnicodeEncodeError:  # a lone surrogate: no Arrow text holds one
            return default
        if self._hashed:
            raw = hashlib.blake2b(raw, digest_size=16).digest()
        elif len(raw) > self._keys.dtype.itemsize or b"\x00" in raw:
            return default
        at = int(np.searchsorted(self._keys, raw))
        if at < len(self._keys) and self._keys[at] == raw:
            return int(self._order[at])
        return default

    def __getitem__(self, key: str) -> int:
        pos = self.get(key)
        if pos is None:
            raise KeyError(key)
        return pos

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def items(self):  # type: ignore[override]
        """``(id, position)`` in table order."""
        return zip(self.ids, range(len(self.ids)))

    def values(self):  # type: ignore[override]
        """Positions in table order."""
        return range(len(self.ids))

    def first_repeat(self) -> str | None:
        """The first id, in table order, that an earlier record already has; None if none."""
        same = np.flatnonzero(self._keys[1:] == self._keys[:-1])
        return self.ids[int(self._order[same + 1].min())] if len(same) else None

    @property
    def nbytes(self) -> int:
        """Bytes held in this process's memory (arrays mapped from a file not counted)."""
        return _own_bytes(self._keys, self._order)


def _runs(
    left: IdIndex, candidate_lefts: pa.Array | pa.ChunkedArray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs of consecutive candidate rows with the same left id: their first rows,
    their ends (exclusive) and their left record's position (-1 where unknown)."""
    if not len(candidate_lefts):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    if isinstance(candidate_lefts, pa.ChunkedArray):
        candidate_lefts = candidate_lefts.combine_chunks()
    changed = pc.not_equal(candidate_lefts[1:], candidate_lefts[:-1])
    firsts = np.r_[0, np.flatnonzero(changed.to_numpy(zero_copy_only=False)) + 1]
    ends = np.r_[firsts[1:], len(candidate_lefts)]
    return firsts, ends, left.positions(candidate_lefts.take(pa.array(firsts)))


def _own_bytes(*arrays: np.ndarray) -> int:
    """Bytes of the arrays that are this process's own: arrays read from a mapped file
    (:mod:`matching.engine.lookups`) are read-only views shared with other processes."""
    return sum(a.nbytes for a in arrays if a.flags.writeable)


def _has_nul(array: pa.LargeStringArray) -> bool:
    return bool(pc.any(pc.match_substring(array, "\x00")).as_py() or False)


class Slices(Mapping[str, tuple[int, int]]):
    """Left id -> ``(start, stop)``, its rows of the candidates, for the ids that have some.

    Two arrays over the left table's positions, not a dict per record.
    """

    def __init__(self, left: IdIndex, starts: np.ndarray, stops: np.ndarray) -> None:
        self.left = left
        self.starts = starts
        self.stops = stops

    @classmethod
    def of(cls, left: IdIndex, candidate_lefts: pa.Array | pa.ChunkedArray) -> Slices:
        """Slices of candidates whose left ids, ``candidate_lefts``, come grouped by record."""
        return cls.from_runs(left, *_runs(left, candidate_lefts))

    @classmethod
    def from_runs(
        cls, left: IdIndex, firsts: np.ndarray, ends: np.ndarray, pos: np.ndarray
    ) -> Slices:
        """Slices from the runs of candidate rows with one left id (see :func:`_runs`)."""
        n = len(left)
        starts = np.zeros(n, np.int64)
        stops = np.zeros(n, np.int64)
        known = pos >= 0
        # A record in two runs keeps the last one, as a dict built in order would.
        starts[pos[known]] = firsts[known]
        stops[pos[known]] = ends[known]
        return cls(left, starts, stops)

    def get(self, key, default=None):
        pos = self.left.get(key)
        if pos is None or self.stops[pos] <= self.starts[pos]:
            return default
        return int(self.starts[pos]), int(self.stops[pos])

    def __getitem__(self, key: str) -> tuple[int, int]:
        hit = self.get(key)
        if hit is None:
            raise KeyError(key)
        return hit

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        has = self.stops > self.starts
        return (k for k, h in zip(self.left.ids, has.tolist()) if h)

    def __len__(self) -> int:
        return int(np.count_nonzero(self.stops > self.starts))

    def items(self):  # type: ignore[override]
        has = np.flatnonzero(self.stops > self.starts)
        ids = self.left.ids.array.take(pa.array(has))
        return zip(ids.to_pylist(), zip(self.starts[has].tolist(), self.stops[has].tolist()))

    @property
    def nbytes(self) -> int:
        """Bytes held in this process's memory (arrays mapped from a file not counted)."""
        return _own_bytes(self.starts, self.stops)


@dataclass
class Project:
    """Tables, spec and candidates of one review, with lookups by id.

    ``candidates`` has text ids and is sorted as
    :func:`matching.engine.candidates.generate_candidates` documents. ``queue`` lists
    every left id in table order; ``left_pos`` and ``right_pos`` map an id to
    its row; ``slices`` maps a left id to its rows of ``candidates``. These are
    columnar (:class:`IdList`, :class:`IdIndex`, :class:`Slices`): they behave
    as a list and dicts but hold arrays. A project opened from its folder
    (:func:`load_tables`, :func:`load_candidates`) reads its tables and
    candidates from memory-mapped Arrow files, so processes that open the same
    project share those pages.
    """

    project_id: str
    name: str
    left: pd.DataFrame
    right: pd.DataFrame
    spec: Spec
    keep: float
    select: float
    top_k: int | None
    candidates: pd.DataFrame
    queue: Sequence[str] = field(default_factory=list)
    left_pos: Mapping[str, int] = field(default_factory=dict)
    right_pos: Mapping[str, int] = field(default_factory=dict)
    slices: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    pair_left: np.ndarray | None = None
    #: How many times the project learned from its decisions when these candidates were
    #: scored (0: as it was made; see :mod:`matching.engine.rescore`).
    model_version: int = 0

    def candidate_rows(self, left_id: str) -> pd.DataFrame:
        a, b = self.slices.get(left_id, (0, 0))
        return self.candidates.iloc[a:b]

    @property
    def index_bytes(self) -> int:
        """Bytes of the lookups this process built (the mapped files not counted)."""
        parts = (self.left_pos, self.right_pos, self.slices)
        pairs = () if self.pair_left is None else (self.pair_left,)
        return sum(getattr(p, "nbytes", 0) for p in parts) + _own_bytes(*pairs)


def _frame_digest(frame: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame.astype(object), index=False).to_numpy().tobytes())
    return h.hexdigest()


def project_id_for(
    left: pd.DataFrame, right: pd.DataFrame, spec: Spec, *, keep: float, top_k: int | None
) -> str:
    """A stable id from the tables' content, the spec, keep and top_k.

    The same inputs give the same id, so running the app again reopens the
    same project.
    """
    h = hashlib.sha256()
    for part in (
        _frame_digest(left),
        _frame_digest(right),
        spec.digest(),
        f"{keep:.6f}",
        f"{top_k}",
    ):
        h.update(part.encode())
    return h.hexdigest()[:16]


def build_project(
    left: pd.DataFrame,
    right: pd.DataFrame,
    spec: Spec,
    *,
    name: str,
    keep: float = 0.5,
    select: float = 0.8,
    top_k: int | None = 10,
    workers: int = -1,
    dask: str | None = None,
    progress: StepProgress | None = None,
) -> Project:
    """Score the candidates and index them for review; ``ValueError`` on a bad spec.

    ``dask`` (a scheduler address or ``local:N``) scores on a Dask cluster;
    the candidates are the same, row for row. ``progress(step, done, total)``
    hears how far scoring has got, as :func:`matching.engine.candidates.score_in_steps`
    reports it; on Dask, the step ``"scoring records"`` counts left records
    scored instead of pairs. A date the spec names and a table holds as year, month
    and day columns is added to the project's tables
    (:func:`~matching.engine.derive.with_spec_columns`); the project's id is
    that of the tables as given.
    """
    project_id = project_id_for(left, right, spec, keep=keep, top_k=top_k)
    left, right = with_spec_columns(left, right, spec)
    if dask:
        from matching.engine.distributed import generate_candidates_dask

        def records(done: int, total: int) -> None:
            if progress is not None:
                progress("scoring records", done, total)

        candidates = generate_candidates_dask(
            left, right, spec, address=dask, keep=keep, top_k=top_k, progress=records
        )
    elif progress is not None:
        candidates = score_in_steps(
            left, right, spec, keep=keep, top_k=top_k, workers=workers, progress=progress
        )
    else:
        candidates = generate_candidates(left, right, spec, keep=keep, top_k=top_k, workers=workers)
    return index_project(
        left, right, spec, candidates, name=name, keep=keep, select=select, top_k=top_k,
        project_id=project_id,
    )  # fmt: skip


def index_project(
    left: pd.DataFrame,
    right: pd.DataFrame,
    spec: Spec,
    candidates: pd.DataFrame,
    *,
    name: str,
    keep: float,
    select: float,
    top_k: int | None,
    project_id: str | None = None,
) -> Project:
    """A :class:`Project` of tables and their scored candidates (as ``generate_candidates``
    returns them, or :func:`load_candidates` reads them back).

    ``project_id``, when the caller knows it, saves hashing both tables again.
    ``ValueError`` when an ID column has empty or repeated values.
    """
    for column in ("left_id", "right_id"):
        if not isinstance(candidates[column].dtype, pd.StringDtype):
            candidates[column] = candidates[column].astype(str)
    queue = arrow_record_ids(left, spec.left_id, "left")
    left_pos = IdIndex(queue)
    right_pos = IdIndex(arrow_record_ids(right, spec.right_id, "right"))
    for side, column, index in (
        ("left", spec.left_id, left_pos),
        ("right", spec.right_id, right_pos),
    ):
        repeated = index.first_repeat()
        if repeated is not None:
            raise ValueError(
                f"the {side} ID column {column!r} repeats {repeated!r}; ids must be unique"
            )
    if project_id is None:
        project_id = project_id_for(left, right, spec, keep=keep, top_k=top_k)
    firsts, ends, pos = _runs(left_pos, _text_array(candidates["left_id"]))
    return Project(
        project_id=project_id,
        name=name,
        left=left,
        right=right,
        spec=spec,
        keep=keep,
        select=select,
        top_k=top_k,
        candidates=candidates,
        queue=queue,
        left_pos=left_pos,
        right_pos=right_pos,
        slices=Slices.from_runs(left_pos, firsts, ends, pos),
        pair_left=np.repeat(pos, ends - firsts),
    )


def _text_array(values: pd.Series) -> pa.Array:
    """A column as one Arrow ``large_string`` array (Arrow-backed text is not copied)."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        return pa.array(values).cast(pa.large_string())
    objects = values.to_numpy(dtype=object, na_value=None)
    try:
        array = pa.array(objects, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = None
    if array is None or not (pa.types.is_string(array.type) or pa.types.is_null(array.type)):
        array = pa.array([_text(v) for v in objects], pa.large_string())
    return array.cast(pa.large_string())


def arrow_record_ids(frame: pd.DataFrame, column: str | None, side: str) -> IdList:
    """As :func:`matching.engine.candidates.record_ids`, kept in Arrow memory."""
    if column is None:
        return IdList(pa.array(np.arange(len(frame)).astype(str)))
    values = frame[column]
    if values.isna().any() or (values.astype(str).str.strip() == "").any():
        raise ValueError(f"the {side} ID column {column!r} has empty values")
    return IdList(_text_array(values))


#: The files of a project's folder: uncompressed Arrow IPC, read through a memory map,
#: so every process that opens the project shares one copy in the page cache.
LEFT_FILE = "left.arrow"
RIGHT_FILE = "right.arrow"
CANDIDATES_FILE = "candidates.arrow"
#: The Parquet files earlier versions kept; read once and rewritten as Arrow.
_LEGACY = {
    LEFT_FILE: "left.parquet",
    RIGHT_FILE: "right.parquet",
    CANDIDATES_FILE: "candidates.parquet",
}


def write_arrow_file(table: pa.Table, path: Path, metadata: dict[str, str] | None = None) -> Path:
    """Write ``table`` as one uncompressed Arrow IPC file, atomically (temporary name, rename),
    with ``metadata`` (or none) in its schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    table = table.replace_schema_metadata(metadata).combine_chunks()
    try:
        with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(sink, table.schema) as out:
            out.write_table(table, max_chunksize=max(1, table.num_rows))
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


@contextmanager
def conversion_lock(folder: Path):
    """Hold the folder's lock while an earlier version's files are rewritten as Arrow, so
    that worker processes opening the project at once convert it once and share the result.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: each process may convert; the rename keeps files whole
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".convert.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_arrow(path: Path) -> pd.DataFrame:
    """The frame of an Arrow IPC file, its columns over the file's memory map.

    Text columns become pandas' Arrow-backed ``str`` over the mapped buffers and
    numbers without missing values are views of them: nothing is copied until
    a column is changed.
    """
    with pa.memory_map(str(path), "r") as source:
        table = pa.ipc.open_file(source).read_all()
    return table.to_pandas(split_blocks=True)


def save_candidates(
    candidates: pd.DataFrame, folder: str | Path, *, name: str = CANDIDATES_FILE
) -> Path:
    """Write scored candidates as an Arrow file under ``folder`` (ids as text); returns its path.

    ``name``: the file's name (the candidates scored again by a learned model have
    their own file beside the first).
    Written to a temporary name and renamed, so a reader never sees half a file.
    Scores keep NaN as a value (not as missing), so reading maps them without a copy.
    """
    columns = {}
    for column in candidates.columns:
        values = candidates[column]
        if column in ("left_id", "right_id"):
            columns[str(column)] = _text_array(values.astype(str))
        elif pd.api.types.is_float_dtype(values.dtype):
            columns[str(column)] = pa.array(values.to_numpy(np.float64), from_pandas=False)
        else:
            columns[str(column)] = pa.array(values)
    if Path(name).name != name:
        raise ValueError(f"a candidates file is named without a folder, not {name!r}")
    return write_arrow_file(pa.table(columns), Path(folder) / name)


def load_candidates(folder: str | Path, *, name: str = CANDIDATES_FILE) -> pd.DataFrame | None:
    """The candidates :func:`save_candidates` wrote, mapped from their file; None when
    there are none. Candidates an earlier version kept as Parquet are rewritten as Arrow."""
    folder = Path(folder)
    if Path(name).name != name:
        raise ValueError(f"a candidates file is named without a folder, not {name!r}")
    path = folder / name
    if name != CANDIDATES_FILE:
        return _read_arrow(path) if path.exists() else None
    if not path.exists():
        legacy = folder / _LEGACY[CANDIDATES_FILE]
        if not legacy.exists():
            return None
        with conversion_lock(folder):
            if not path.exists():  # another process may have converted it meanwhile
                save_candidates(pq.read_table(legacy).to_pandas(), folder)
    return _read_arrow(path)


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def record_view(project: Project, left_id: str, *, keep: float, select: float) -> dict:
    """What the review page shows for one left record, as JSON-safe data.

    Returns
    -------
    dict
        ``left``: the record's columns and values; ``rows``: one dict per
        candidate scoring at least ``keep`` (right columns, ``_right_id``,
        ``score``, ``score_<field>`` and ``_diff_<right column>`` True where
        the field's cleaned value differs from the left record's; for a field
        scoring at least :data:`NEAR` whose values differ,
        ``_marks_<right column>``: ``{"of": value, "spans": spans}`` with the
        :func:`differing_spans` of the right value ``of``), best first;
        ``selected``: right ids scoring at least ``select``; ``pinned``: the
        left record keyed by right column, so that it lines up with the
        candidates (see :func:`left_as_right`); ``left_rest``: the left
        columns ``pinned`` does not show, in table order.
    """
    pos = project.left_pos[left_id]
    left_row = project.left.iloc[pos]
    cands = project.candidate_rows(left_id)
    cands = cands[cands["score"] >= keep]
    rows = []
    # Columns by position, not attribute: field names may hold spaces, dots or anything.
    field_scores = [cands[f"score_{f.name}"].to_numpy(np.float64) for f in project.spec.fields]
    for i, (rid, score) in enumerate(zip(cands["right_id"].tolist(), cands["score"].tolist())):
        right_row = project.right.iloc[project.right_pos[rid]]
        row = {col: _text(right_row[col]) for col in project.right.columns}
        row["_right_id"] = rid
        row["score"] = round(float(score), 4)
        for f, values in zip(project.spec.fields, field_scores):
            value = values[i]
            row[f"score_{f.name}"] = None if np.isnan(value) else round(float(value), 4)
            a = normalize(left_row[f.left], f.normalization)
            b = normalize(right_row[f.right], f.normalization)
            row[f"_diff_{f.right}"] = a != b
            marks = f"_marks_{f.right}"
            if a != b and value >= NEAR and marks not in row:
                spans = differing_spans(_text(left_row[f.left]), row[f.right])
                if spans:
                    row[marks] = {"of": row[f.right], "spans": spans}
        rows.append(row)
    left = {col: _text(left_row[col]) for col in project.left.columns}
    pinned, rest = left_as_right(project, left, left_id)
    return {
        "left_id": left_id,
        "left": left,
        "rows": rows,
        "selected": cands.loc[cands["score"] >= select, "right_id"].tolist(),
        "pinned": pinned,
        "left_rest": rest,
    }


#: Field score from which differing characters are marked: below it, the values are
#: simply different and marking every character would say nothing.
NEAR = 0.8


def differing_spans(left: str | None, right: str | None) -> list[list[int]]:
    """Where ``right`` differs from ``left``, ignoring case, as ``[start, end)`` spans of ``right``.

    A span with ``start == end`` marks where ``left`` has characters that
    ``right`` lacks. Empty when either value is missing or they are equal.

    >>> differing_spans("Daniel", "Dniel")
    [[1, 1]]
    >>> differing_spans("70923", "70928")
    [[4, 5]]
    >>> differing_spans("Gordon", "GORDON")
    []
    """
    if left is None or right is None:
        return []
    a, b = left.casefold(), right.casefold()
    if len(a) != len(left) or len(b) != len(right):  # casefold changed lengths: compare as is
        a, b = left, right
    spans: list[list[int]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if spans and spans[-1][1] == j1 and spans[-1][0] != spans[-1][1]:
            spans[-1][1] = j2
        else:
            spans.append([j1, j2])
    return spans


def left_as_right(project: Project, left: dict, left_id: str) -> tuple[dict, dict]:
    """The left record keyed by right columns, and the left columns that have none.

    A compared right column takes the value of its field's left column (the
    first field, when several compare it); the right id column takes the left
    id; any other right column takes the left column of the same name, if
    there is one.

    Returns
    -------
    tuple of dict
        ``pinned``: right column -> left value, in right table order;
        ``rest``: the other left columns -> value, in left table order,
        leaving out the left id column.

    Examples
    --------
    >>> from matching.engine.spec import Field, Spec
    >>> spec = Spec(fields=(Field("name", "full_name"),), left_id="id", right_id="rid")
    >>> left = pd.DataFrame({"id": ["1"], "name": ["Ann"], "email": ["a@x"]})
    >>> right = pd.DataFrame({"rid": ["9"], "full_name": ["ann"], "car": ["Kia"]})
    >>> project = build_project(left, right, spec, name="doc", keep=0.0)
    >>> left_as_right(project, {"id": "1", "name": "Ann", "email": "a@x"}, "1")
    ({'rid': '1', 'full_name': 'Ann'}, {'email': 'a@x'})
    """
    source: dict[str, str] = {}
    for f in project.spec.fields:
        source.setdefault(f.right, f.left)
    right_id = project.spec.right_id
    pinned: dict[str, str | None] = {}
    used = {project.spec.left_id}
    for col in project.right.columns:
        if col == right_id:
            pinned[col] = left_id
        elif col in source:
            pinned[col] = left.get(source[col])
            used.add(source[col])
        elif col in left:
            pinned[col] = left[col]
            used.add(col)
    return pinned, {col: value for col, value in left.items() if col not in used}


def has_tables(folder: str | Path) -> bool:
    """True when ``folder`` holds a project's two tables (Arrow, or earlier Parquet)."""
    folder = Path(folder)
    return all(
        (folder / n).exists() or (folder / _LEGACY[n]).exists() for n in (LEFT_FILE, RIGHT_FILE)
    )


def save_tables(left: pd.DataFrame, right: pd.DataFrame, folder: str | Path) -> tuple[Path, Path]:
    """Write both tables, as text, to Arrow files under ``folder``; returns their paths."""
    folder = Path(folder)
    paths = folder / LEFT_FILE, folder / RIGHT_FILE
    for frame, path in zip((left, right), paths):
        table = pa.table({str(c): _text_array(frame[c]) for c in frame.columns})
        write_arrow_file(table, path)
    return paths


def load_tables(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tables :func:`save_tables` wrote, as text (``str``, missing as NaN), mapped from
    their files. Tables an earlier version kept as Parquet are rewritten as Arrow first."""
    folder = Path(folder)
    names = (LEFT_FILE, RIGHT_FILE)
    if not all((folder / n).exists() for n in names):
        with conversion_lock(folder):
            if not all((folder / n).exists() for n in names):
                save_tables(*(read_table(folder / _LEGACY[n]) for n in names), folder)
    return _read_arrow(folder / LEFT_FILE), _read_arrow(folder / RIGHT_FILE)
