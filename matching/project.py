"""A project: two tables, a spec and their candidate pairs, ready for review.

Everything the review page shows for one record comes from :func:`record_view`,
so the browser only ever receives one record and its candidates.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from matching.candidates import generate_candidates, record_ids
from matching.io import read_table
from matching.scoring import normalize
from matching.spec import Spec

__all__ = [
    "Project",
    "build_project",
    "index_project",
    "save_candidates",
    "load_candidates",
    "CANDIDATES_FILE",
    "project_id_for",
    "record_view",
    "left_as_right",
    "differing_spans",
    "NEAR",
    "save_tables",
    "load_tables",
]


@dataclass
class Project:
    """Tables, spec and candidates of one review, with lookups by id.

    ``candidates`` has text ids and is sorted as
    :func:`matching.candidates.generate_candidates` documents. ``queue`` lists
    every left id in table order; ``slices`` maps a left id to its rows of
    ``candidates``.
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
    queue: list[str] = field(default_factory=list)
    left_pos: dict[str, int] = field(default_factory=dict)
    right_pos: dict[str, int] = field(default_factory=dict)
    slices: dict[str, tuple[int, int]] = field(default_factory=dict)

    def candidate_rows(self, left_id: str) -> pd.DataFrame:
        a, b = self.slices.get(left_id, (0, 0))
        return self.candidates.iloc[a:b]


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
) -> Project:
    """Score the candidates and index them for review; ``ValueError`` on a bad spec.

    ``dask`` (a scheduler address or ``local:N``) scores on a Dask cluster;
    the candidates are the same, row for row.
    """
    if dask:
        from matching.distributed import generate_candidates_dask

        candidates = generate_candidates_dask(
            left, right, spec, address=dask, keep=keep, top_k=top_k
        )
    else:
        candidates = generate_candidates(left, right, spec, keep=keep, top_k=top_k, workers=workers)
    return index_project(
        left, right, spec, candidates, name=name, keep=keep, select=select, top_k=top_k
    )


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
) -> Project:
    """A :class:`Project` of tables and their scored candidates (as ``generate_candidates``
    returns them, or :func:`load_candidates` reads them back)."""
    candidates["left_id"] = candidates["left_id"].astype(str).astype(object)
    candidates["right_id"] = candidates["right_id"].astype(str).astype(object)
    queue = [str(i) for i in record_ids(left, spec.left_id, "left")]
    right_ids = [str(i) for i in record_ids(right, spec.right_id, "right")]
    lefts = candidates["left_id"].to_numpy()
    slices: dict[str, tuple[int, int]] = {}
    if len(lefts):
        starts = np.r_[0, np.flatnonzero(lefts[1:] != lefts[:-1]) + 1]
        ends = np.r_[starts[1:], len(lefts)]
        slices = {lefts[a]: (int(a), int(b)) for a, b in zip(starts, ends)}
    return Project(
        project_id=project_id_for(left, right, spec, keep=keep, top_k=top_k),
        name=name,
        left=left,
        right=right,
        spec=spec,
        keep=keep,
        select=select,
        top_k=top_k,
        candidates=candidates,
        queue=queue,
        left_pos={k: i for i, k in enumerate(queue)},
        right_pos={k: i for i, k in enumerate(right_ids)},
        slices=slices,
    )


#: The file a project's scored candidates are kept in, beside its tables.
CANDIDATES_FILE = "candidates.parquet"


def save_candidates(candidates: pd.DataFrame, folder: str | Path) -> Path:
    """Write scored candidates as Parquet under ``folder`` (ids as text); returns the path.

    Written to a temporary name and renamed, so a reader never sees half a file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CANDIDATES_FILE
    partial = path.with_suffix(".partial")
    frame = candidates.assign(
        left_id=candidates["left_id"].astype(str), right_id=candidates["right_id"].astype(str)
    )
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), partial)
    partial.replace(path)
    return path


def load_candidates(folder: str | Path) -> pd.DataFrame | None:
    """The candidates :func:`save_candidates` wrote, read column-wise from a memory map;
    None when there are none."""
    path = Path(folder) / CANDIDATES_FILE
    if not path.exists():
        return None
    return pq.read_table(path, memory_map=True).to_pandas()


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
    >>> from matching.spec import Field, Spec
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


def save_tables(left: pd.DataFrame, right: pd.DataFrame, folder: str | Path) -> tuple[Path, Path]:
    """Write both tables as Parquet under ``folder``; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "left.parquet", folder / "right.parquet"
    for frame, path in zip((left, right), paths):
        frame.astype(object).to_parquet(path, index=False)
    return paths


def load_tables(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the tables :func:`save_tables` wrote, as text."""
    folder = Path(folder)
    return read_table(folder / "left.parquet"), read_table(folder / "right.parquet")
