"""A project's lookups, worked out once and kept beside its tables in one Arrow file.

Opening a project builds lookups over its ids and candidates: the sorted keys of
both tables' ids (:class:`~matching.engine.project.IdIndex`), each left record's rows of
the candidates (:class:`~matching.engine.project.Slices`), each candidate row's left
record (``Project.pair_left``) and the Tuning tab's
:class:`~matching.engine.score_index.ScoreIndex`. At a million records that is seconds of work
in every process that opens the project. :func:`save_lookups` writes them to
``lookups.arrow`` in the project's folder; :func:`load_lookups` maps them back,
so every process shares one copy in the page cache and opening costs
milliseconds. A folder without the file (a project made by an earlier version),
or with one that does not fit its tables, is indexed as before.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from matching.engine.derive import with_spec_columns
from matching.engine.project import (
    IdIndex,
    IdList,
    Project,
    Slices,
    arrow_record_ids,
    conversion_lock,
    index_project,
    write_arrow_file,
)
from matching.engine.score_index import ScoreIndex
from matching.engine.spec import Spec

__all__ = [
    "LOOKUPS_FILE",
    "Lookups",
    "lookups_of",
    "save_lookups",
    "load_lookups",
    "open_indexed",
]

LOOKUPS_FILE = "lookups.arrow"
#: Changes whenever what the file holds changes; a file of another version is ignored.
_VERSION = "1"
_META = "matchdesk.lookups"
#: Bins of the stored score index: the app's default (``ScoreIndex.from_candidates``).
_BINS = 100


@dataclass(frozen=True)
class Lookups:
    """What opening a project works out, as :func:`lookups_of` and :func:`load_lookups`
    give it."""

    left_pos: IdIndex
    right_pos: IdIndex
    slices: Slices
    pair_left: np.ndarray
    score_index: ScoreIndex


def lookups_of(project: Project, score_index: ScoreIndex | None = None) -> Lookups:
    """The lookups of a project :func:`~matching.engine.project.index_project` made.

    ``score_index`` is built from the candidates (100 bins) when not given.
    """
    if not isinstance(project.left_pos, IdIndex) or not isinstance(project.right_pos, IdIndex):
        raise TypeError("the project's lookups are not columnar")
    if not isinstance(project.slices, Slices) or project.pair_left is None:
        raise TypeError("the project's lookups are not columnar")
    if score_index is None:
        score_index = ScoreIndex.from_candidates(project.candidates, bins=_BINS)
    return Lookups(
        project.left_pos, project.right_pos, project.slices, project.pair_left, score_index
    )


def _column(values: np.ndarray) -> pa.Array:
    """One list holding all of ``values`` (a one-row column; fixed-width bytes stay so)."""
    values = np.ascontiguousarray(values)
    if values.dtype.kind == "S":
        width = values.dtype.itemsize
        flat = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(width), len(values), [None, pa.py_buffer(values.tobytes())]
        )
    else:
        flat = pa.array(values)
    return pa.LargeListArray.from_arrays(pa.array([0, len(flat)], pa.int64()), flat)


def _array(column: pa.ChunkedArray) -> np.ndarray:
    """The values of a one-row list column, without a copy (read-only when mapped)."""
    flat = column.chunk(0).values
    if pa.types.is_fixed_size_binary(flat.type):
        width = flat.type.byte_width
        data = flat.buffers()[1]
        return np.frombuffer(data, dtype=f"S{width}", count=len(flat), offset=flat.offset * width)
    return flat.to_numpy(zero_copy_only=True)


def _score_fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(ScoreIndex))


def save_lookups(lookups: Lookups, project: Project, folder: str | Path) -> Path:
    """Write ``lookups`` of ``project`` to ``folder``/``lookups.arrow``; returns its path.

    Written to a temporary name and renamed, so a reader never sees half a file.
    """
    columns = {
        "left_keys": _column(lookups.left_pos.keys),
        "left_order": _column(lookups.left_pos.order),
        "right_keys": _column(lookups.right_pos.keys),
        "right_order": _column(lookups.right_pos.order),
        "slice_starts": _column(lookups.slices.starts),
        "slice_stops": _column(lookups.slices.stops),
        "pair_left": _column(np.asarray(lookups.pair_left, np.int64)),
    }
    sizes = {}
    for f in _score_fields():
        value = getattr(lookups.score_index, f.name)
        if isinstance(value, np.ndarray):
            columns[f"score_{f.name}"] = _column(value)
        else:
            sizes[f.name] = int(value)
    meta = {
        "version": _VERSION,
        "project_id": project.project_id,
        "left_rows": len(project.queue),
        "right_rows": len(lookups.right_pos),
        "candidates": len(project.candidates),
        "left_hashed": lookups.left_pos.hashed,
        "right_hashed": lookups.right_pos.hashed,
        "score_sizes": sizes,
    }
    return write_arrow_file(
        pa.table(columns), Path(folder) / LOOKUPS_FILE, {_META: json.dumps(meta)}
    )


def load_lookups(
    folder: str | Path,
    *,
    project_id: str,
    left: pd.DataFrame,
    right: pd.DataFrame,
    left_id: str | None,
    right_id: str | None,
    candidates: pd.DataFrame,
) -> tuple[IdList, Lookups] | None:
    """The left ids (the queue) and the lookups :func:`save_lookups` wrote for these
    tables and candidates, mapped from the file; None when there is no such file,
    or it was written by another version or for other tables or candidates."""
    path = Path(folder) / LOOKUPS_FILE
    if not path.exists():
        return None
    with pa.memory_map(str(path), "r") as source:
        reader = pa.ipc.open_file(source)
        try:
            meta = json.loads((reader.schema.metadata or {})[_META.encode()])
        except (KeyError, ValueError):
            return None
        expected = {
            "version": _VERSION,
            "project_id": project_id,
            "left_rows": len(left),
            "right_rows": len(right),
            "candidates": len(candidates),
        }
        if any(meta.get(k) != v for k, v in expected.items()):
            return None
        table = reader.read_all()
    arrays = {name: _array(table.column(name)) for name in table.column_names}
    # The ids themselves are the tables' columns (mapped already); validity was
    # checked when the lookups were made.
    queue = arrow_record_ids(left, left_id, "left")
    right_ids = arrow_record_ids(right, right_id, "right")
    left_pos = IdIndex.from_sorted(
        queue, arrays["left_keys"], arrays["left_order"], hashed=bool(meta["left_hashed"])
    )
    right_pos = IdIndex.from_sorted(
        right_ids, arrays["right_keys"], arrays["right_order"], hashed=bool(meta["right_hashed"])
    )
    values = {}
    for f in _score_fields():
        column = f"score_{f.name}"
        values[f.name] = arrays[column] if column in arrays else meta["score_sizes"][f.name]
    lookups = Lookups(
        left_pos=left_pos,
        right_pos=right_pos,
        slices=Slices(left_pos, arrays["slice_starts"], arrays["slice_stops"]),
        pair_left=arrays["pair_left"],
        score_index=ScoreIndex(**values),
    )
    return queue, lookups


def open_indexed(
    left: pd.DataFrame,
    right: pd.DataFrame,
    spec: Spec,
    candidates: pd.DataFrame,
    folder: str | Path,
    *,
    name: str,
    keep: float,
    select: float,
    top_k: int | None,
    project_id: str,
) -> tuple[Project, ScoreIndex]:
    """The project of these tables and candidates (as
    :func:`~matching.engine.project.index_project` makes it) and its score index, with the
    lookups mapped from ``folder``'s lookups file.

    When the folder has no lookups that fit, they are worked out, saved and mapped:
    one process does it while others opening the project wait on the folder's lock
    and then map the file. Where the file cannot be written (a read-only folder),
    the lookups worked out in this process serve. ``ValueError`` as
    :func:`~matching.engine.project.index_project` raises it. The project's tables
    have each date the spec names made from its year, month and day columns
    (:func:`~matching.engine.derive.with_spec_columns`).
    """
    folder = Path(folder)
    left, right = with_spec_columns(left, right, spec)
    for column in ("left_id", "right_id"):
        if not isinstance(candidates[column].dtype, pd.StringDtype):
            candidates[column] = candidates[column].astype(str)

    def stored() -> tuple[IdList, Lookups] | None:
        return load_lookups(
            folder,
            project_id=project_id,
            left=left,
            right=right,
            left_id=spec.left_id,
            right_id=spec.right_id,
            candidates=candidates,
        )

    found = stored()
    if found is None:
        with conversion_lock(folder):
            found = stored()
            if found is None:
                built = index_project(
                    left, right, spec, candidates, name=name, keep=keep, select=select,
                    top_k=top_k, project_id=project_id,
                )  # fmt: skip
                lookups = lookups_of(built)
                try:
                    save_lookups(lookups, built, folder)
                except OSError:
                    return built, lookups.score_index
                found = stored()
                if found is None:  # pragma: no cover - the file just written does not fit
                    return built, lookups.score_index
    queue, lookups = found
    project = Project(
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
        left_pos=lookups.left_pos,
        right_pos=lookups.right_pos,
        slices=lookups.slices,
        pair_left=lookups.pair_left,
    )
    return project, lookups.score_index
