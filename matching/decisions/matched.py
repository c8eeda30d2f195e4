"""The accepted matches as a table, paged, sorted and filtered on the server.

The Matched tab shows every accepted pair of a project. At a million records
that table is too big to send to a browser, so the browser asks for one block
of rows at a time (AG Grid's infinite row model) with its sort and filter, and
:func:`page` answers from a frame :func:`matched_frame` builds once per change
of the decisions.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matching.decisions.evidence import record_summary
from matching.decisions.ledger import Ledger
from matching.engine.blocking import ragged_arange
from matching.engine.project import Project, Slices

__all__ = [
    "matched_frame",
    "MatchedTable",
    "matched_columns_of",
    "matched_count",
    "conflict_rows",
    "page",
    "page_order",
    "page_of",
    "MAX_BLOCK",
]

#: The most rows one request may ask for.
MAX_BLOCK = 1000


def matched_frame(project: Project, ledger: Ledger) -> pd.DataFrame:
    """One row per accepted pair, from the ledger's decisions in force: the whole of
    :meth:`MatchedTable.of_ledger`, every column taken.

    Returns
    -------
    DataFrame
        ``left_id, right_id, score`` (the candidate's score, NaN when the pair
        is not a candidate), ``left_<col>`` and ``right_<col>`` for the tables'
        columns but the ID columns (the reviewer's corrections applied),
        ``reviewer, decided_at`` (ISO 8601 UTC text), ``automatic`` and
        ``edited`` (the corrected right columns, comma separated, or None).
        Rows are in decision order, then in the order the right ids were chosen.
    """
    return MatchedTable.of_ledger(project, ledger).frame()


def matched_columns_of(project: Project) -> list[str]:
    """The Matched table's column names (see :func:`matched_frame`), without building it."""
    spec = project.spec
    return [
        "left_id",
        "right_id",
        "score",
        *(f"left_{c}" for c in project.left.columns if c != spec.left_id),
        *(f"right_{c}" for c in project.right.columns if c != spec.right_id),
        "reviewer",
        "decided_at",
        "automatic",
        "edited",
    ]


def matched_count(ledger: Ledger) -> int:
    """How many rows the Matched table has (accepted pairs), without building it."""
    accepted = ledger.status == 1
    single = int(np.count_nonzero(accepted & ledger.accepted_right.present()))
    return single + sum(len(r) for p, r in ledger.multi.items() if accepted[p])


class MatchedTable:
    """The Matched table of one state of the decisions (see :func:`matched_frame`).

    The pairs' own columns are built at once; the records' columns are taken from
    the tables only when asked for: the rows of one block (:meth:`block`), or a
    whole column to sort or filter on (``table[name]``, kept once taken). A
    million matches then cost their pairs, not a copy of both tables. The grid's
    row orders (a sort, a filter) are kept too (:meth:`order`), so that scrolling
    a sorted table sorts it once.
    """

    MAX_ORDERS = 8

    def __init__(
        self,
        project: Project,
        pairs: pd.DataFrame,
        tail: pd.DataFrame,
        left_rows: np.ndarray,
        right_rows: np.ndarray,
        edits: Mapping[str, Mapping[int, object]],
    ) -> None:
        spec = project.spec
        self._left, self._right = project.left, project.right
        self._pairs, self._tail = pairs, tail
        self._left_rows, self._right_rows = left_rows, right_rows
        self._edits = edits
        self._left_cols = [c for c in project.left.columns if c != spec.left_id]
        self._right_cols = [c for c in project.right.columns if c != spec.right_id]
        self._sides = {
            **{f"left_{c}": ("left", c) for c in self._left_cols},
            **{f"right_{c}": ("right", c) for c in self._right_cols},
        }
        self.columns = pd.Index(
            [
                *pairs.columns,
                *(f"left_{c}" for c in self._left_cols),
                *(f"right_{c}" for c in self._right_cols),
                *tail.columns,
            ]
        )
        self._taken: dict[str, pd.Series] = {}
        self._orders: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def of_ledger(cls, project: Project, ledger: Ledger) -> MatchedTable:
        """The Matched table of the ledger's decisions in force (see :func:`matched_frame`).

        Built column by column from the ledger's arrays over the queue (status,
        accepted right id, decider, time, order), so a million matches cost array
        operations, not a pass over the decisions in Python; only decisions that
        accept several right records or carry corrections are looked at one by one.
        """
        pos = np.flatnonzero(ledger.status == 1)
        pos = pos[np.lexsort((ledger.decided_seq[pos], ledger.decided_at[pos]))]
        single = ledger.accepted_right.present()[pos]
        counts = single.astype(np.int64)
        rank = {}
        if ledger.multi or ledger.edits:
            order = np.full(len(ledger.status), -1, dtype=np.int64)
            order[pos] = np.arange(len(pos))
            rank = {p: int(order[p]) for p in (*ledger.multi, *ledger.edits) if order[p] >= 0}
        for p, chosen in ledger.multi.items():
            if p in rank:
                counts[rank[p]] = len(chosen)
        starts = np.cumsum(counts) - counts
        rows = np.repeat(pos, counts)
        # The ids stay Arrow text: a million Python strings a side would be most of the table.
        if any(p in rank for p in ledger.multi):
            chosen_rights = np.empty(len(rows), dtype=object)
            chosen_rights[starts[single]] = ledger.accepted_right[pos[single]]
            for p, chosen in ledger.multi.items():
                if p in rank:
                    at = int(starts[rank[p]])
                    chosen_rights[at : at + len(chosen)] = list(chosen)
            rights = pa.array(chosen_rights, pa.string())
        else:  # one right id a pair: the rows are the positions with one
            rights = _text(ledger.accepted_right.arrow(pos[single]))
        queue = project.queue
        if hasattr(queue, "array"):
            lefts = _text(queue.array.take(pa.array(rows)))
        else:
            lefts = pa.array(np.asarray(queue, dtype=object)[rows], pa.string())
        left_rows = rows  # a queue position is the left record's row
        right_rows = _positions(project.right_pos, rights)

        pairs = pd.DataFrame(
            {"left_id": pd.array(lefts, dtype="str"), "right_id": pd.array(rights, dtype="str")}
        )
        if isinstance(project.slices, Slices):
            scores = _slice_scores(project, left_rows, rights)
        else:
            scores = _scores(project, left_rows, right_rows)

        right_names = {c for c in project.right.columns if c != project.spec.right_id}
        edits: dict[str, dict[int, object]] = {}
        edited = np.full(len(rows), None, dtype=object)
        for p, record_edits in ledger.edits.items():
            if p not in rank or ledger.status[p] != 1:
                continue
            at = int(starts[rank[p]])
            for i in range(at, at + int(counts[rank[p]])):
                cells = record_edits.get(rights[i].as_py())
                if cells:
                    for col, value in cells.items():
                        if col in right_names:
                            edits.setdefault(col, {})[i] = value
                    edited[i] = ", ".join(cells)
        # Few distinct times (a bulk batch shares one): each is written once.
        times, which = np.unique(ledger.decided_at[rows], return_inverse=True)
        stamps = pd.to_datetime(pd.Series(times, dtype=np.float64), unit="s", utc=True)
        stamps = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").str[:-4] + "Z"
        decided_at = stamps.take(which.reshape(-1)).reset_index(drop=True)
        names = np.asarray([*ledger.reviewers, None], dtype=object)
        tail = pd.DataFrame(
            {
                "reviewer": pd.Series(names[ledger.decided_by[rows]], dtype=object),
                "decided_at": decided_at,
                "automatic": pd.Series(ledger.automatic[rows], dtype=bool),
                "edited": pd.Series(edited, dtype=object),
            }
        )
        return cls(project, pairs.assign(score=scores), tail, left_rows, right_rows, edits)

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, name: str) -> pd.Series:
        """One whole column (a record column is taken from its table once)."""
        for part in (self._pairs, self._tail):
            if name in part.columns:
                return part[name]
        with self._lock:
            found = self._taken.get(name)
        if found is None:
            side, column = self._sides[name]
            found = self._records(side, [column], None)[column].rename(name)
            with self._lock:
                self._taken[name] = found
        return found

    def _records(self, side: str, columns: list[str], rows: np.ndarray | None) -> pd.DataFrame:
        """``columns`` of the records of matched rows ``rows`` (None: all), corrections
        applied on the right."""
        table, at = (
            (self._left, self._left_rows) if side == "left" else (self._right, self._right_rows)
        )
        picked = at if rows is None else at[rows]
        part = table.iloc[picked][columns].reset_index(drop=True)
        if side == "right":
            for column, cells in self._edits.items():
                if column not in part.columns:
                    continue
                if not pd.api.types.is_string_dtype(part[column].dtype):
                    part[column] = part[column].astype(object)
                where = np.arange(len(part)) if rows is None else rows
                keys = np.fromiter(cells, dtype=np.int64, count=len(cells))
                place = part.columns.get_loc(column)
                for i in np.flatnonzero(np.isin(where, keys)).tolist():
                    part.iat[i, place] = cells[int(where[i])]
        return part

    def block(self, rows: np.ndarray) -> pd.DataFrame:
        """Every column of the matched rows ``rows`` (positions), in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return pd.concat(
            [
                self._pairs.iloc[rows].reset_index(drop=True),
                self._records("left", self._left_cols, rows).add_prefix("left_"),
                self._records("right", self._right_cols, rows).add_prefix("right_"),
                self._tail.iloc[rows].reset_index(drop=True),
            ],
            axis=1,
        )

    def frame(self) -> pd.DataFrame:
        """The whole table, every column taken."""
        return self.block(np.arange(len(self)))

    def order(self, key: str, build: Callable[[], np.ndarray]) -> np.ndarray:
        """The row order named ``key`` (a sort and filter), ``build()`` when not kept."""
        with self._lock:
            found = self._orders.get(key)
            if found is not None:
                self._orders.move_to_end(key)
                return found
        found = build()
        with self._lock:
            self._orders[key] = found
            while len(self._orders) > self.MAX_ORDERS:
                self._orders.popitem(last=False)
        return found


def _text(ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Ids as one Arrow text array."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    return ids.cast(pa.string())


def _positions(index, ids: pa.Array) -> np.ndarray:
    """Rows of ``ids`` (Arrow text) in a table's index; an unknown id is an error, as a
    lookup is."""
    many = getattr(index, "positions", None)
    if many is not None:
        rows = np.asarray(many(ids.cast(pa.large_string())), dtype=np.int64)
    else:
        rows = _lookup(index, np.asarray(ids.to_pylist(), dtype=object))
    if (rows < 0).any():
        raise KeyError(ids[int(np.flatnonzero(rows < 0)[0])].as_py())
    return rows


def _scores(project: Project, left_rows: np.ndarray, right_rows: np.ndarray) -> np.ndarray:
    """The candidate score of each (left row, right row) pair; NaN when not a candidate."""
    c = project.candidates
    if not len(left_rows) or not len(c):
        return np.full(len(left_rows), np.nan)
    cand_left = _known(project.left_pos, c["left_id"])
    cand_right = _known(project.right_pos, c["right_id"])
    width = max(len(project.right), 1) + 1
    keys = pd.Index(cand_left * width + cand_right + 1)
    score = c["score"].to_numpy(np.float64)
    if not keys.is_unique:
        first = ~keys.duplicated()
        keys, score = keys[first], score[first]
    at = keys.get_indexer(left_rows * width + right_rows + 1)
    return np.where(at >= 0, score[np.maximum(at, 0)], np.nan)


def _slice_scores(project: Project, left_rows: np.ndarray, rights: pa.Array) -> np.ndarray:
    """The candidate score of each (left row, right id) pair, NaN when not a candidate,
    looked for among that left record's own candidate rows only (its slice)."""
    c = project.candidates
    out = np.full(len(left_rows), np.nan)
    if not len(left_rows) or not len(c):
        return out
    starts = project.slices.starts[left_rows]
    counts = project.slices.stops[left_rows] - starts
    at = ragged_arange(starts, counts)
    owner = np.repeat(np.arange(len(left_rows)), counts)
    column = c["right_id"].array
    their = pa.array(column, pa.large_string()) if not hasattr(column, "_pa_array") else None
    their = (their if their is not None else column._pa_array).take(pa.array(at))
    wanted = rights.cast(pa.large_string()).take(pa.array(owner))
    same = pc.equal(their.cast(pa.large_string()), wanted)
    hits = np.flatnonzero(same.to_numpy(zero_copy_only=False).astype(bool, copy=False))[::-1]
    # the first candidate row of a pair wins (assigned last), as a lookup's first match
    out[owner[hits]] = c["score"].to_numpy(np.float64)[at[hits]]
    return out


def _known(index, ids: pd.Series) -> np.ndarray:
    """Rows of candidate ids (-1 where the table has none)."""
    many = getattr(index, "positions", None)
    if many is not None:
        return np.asarray(many(pa.array(ids.astype(str), pa.large_string())), np.int64)
    return _lookup(index, ids.astype(str).to_numpy(dtype=object))


def _lookup(index: Mapping[str, int], ids: np.ndarray) -> np.ndarray:
    """Positions of ``ids`` in a plain mapping, all at once (-1 where unknown)."""
    keys = pd.Index(np.fromiter(index.keys(), dtype=object, count=len(index)))
    values = np.fromiter(index.values(), dtype=np.int64, count=len(index))
    at = keys.get_indexer(ids)
    return np.where(at >= 0, values[np.maximum(at, 0)], -1)


def conflict_rows(
    project: Project, ledger: Ledger, conflicts: Mapping[str, Sequence[str]]
) -> list[dict]:
    """One row per record in conflict over a right record, both sides shown.

    Returns
    -------
    list of dict
        ``right_id, left_id``, ``right`` and ``left`` (each record's values but
        its ID, joined with " · "), ``reviewer, decided_at, automatic`` and
        ``first`` (True for the record that matched it first), grouped by right
        id, first match first.
    """
    rows = []
    for right, lefts in conflicts.items():
        right_text = record_summary(project, "right", right)
        for i, left in enumerate(lefts):
            d = ledger.decisions[left]
            rows.append(
                {
                    "right_id": right,
                    "right": right_text,
                    "left_id": left,
                    "left": record_summary(project, "left", left),
                    "reviewer": d.reviewer,
                    "decided_at": pd.Timestamp(d.time, unit="s", tz="UTC").strftime(
                        "%Y-%m-%d %H:%M UTC"
                    ),
                    "automatic": bool(d.automatic),
                    "first": i == 0,
                }
            )
    return rows


_TEXT_TESTS = {
    "contains": lambda s, v: s.str.contains(v, case=False, regex=False),
    "notContains": lambda s, v: ~s.str.contains(v, case=False, regex=False),
    "equals": lambda s, v: s.str.lower() == v.lower(),
    "notEqual": lambda s, v: s.str.lower() != v.lower(),
    "startsWith": lambda s, v: s.str.lower().str.startswith(v.lower()),
    "endsWith": lambda s, v: s.str.lower().str.endswith(v.lower()),
}

_NUMBER_TESTS = {
    "equals": lambda s, v, _: s == v,
    "notEqual": lambda s, v, _: s != v,
    "lessThan": lambda s, v, _: s < v,
    "lessThanOrEqual": lambda s, v, _: s <= v,
    "greaterThan": lambda s, v, _: s > v,
    "greaterThanOrEqual": lambda s, v, _: s >= v,
    "inRange": lambda s, v, w: (s >= v) & (s <= w),
}


def _condition(column: pd.Series, cond: Mapping) -> pd.Series | None:
    kind = cond.get("type")
    if kind == "blank":
        return column.isna() | (column.astype(str) == "")
    if kind == "notBlank":
        return column.notna() & (column.astype(str) != "")
    if cond.get("filterType") == "number" or pd.api.types.is_numeric_dtype(column):
        test = _NUMBER_TESTS.get(kind)
        try:
            value = float(cond.get("filter"))
            other = float(cond.get("filterTo", value))
        except (TypeError, ValueError):
            return None
        values = pd.to_numeric(column, errors="coerce")
        return None if test is None else test(values, value, other).fillna(False)
    test = _TEXT_TESTS.get(kind)
    value = cond.get("filter")
    if test is None or not isinstance(value, str):
        return None
    return test(column.astype(str).where(column.notna(), ""), value).fillna(False)


def _filter_mask(frame: pd.DataFrame, filter_model) -> np.ndarray:
    mask = np.ones(len(frame), dtype=bool)
    if not isinstance(filter_model, Mapping):
        return mask
    for col, model in filter_model.items():
        if col not in frame.columns or not isinstance(model, Mapping):
            continue  # a column the table does not have: nothing to filter on
        conditions = model.get("conditions")
        if isinstance(conditions, list):
            parts = [_condition(frame[col], c) for c in conditions if isinstance(c, Mapping)]
            parts = [p for p in parts if p is not None]
            if not parts:
                continue
            combined = parts[0]
            for p in parts[1:]:
                combined = (combined | p) if model.get("operator") == "OR" else (combined & p)
        else:
            combined = _condition(frame[col], model)
            if combined is None:
                continue
        mask &= np.asarray(combined, dtype=bool)
    return mask


def page(
    frame: pd.DataFrame,
    *,
    start: int,
    end: int,
    sort_model: Sequence[Mapping] | None = None,
    filter_model: Mapping | None = None,
) -> tuple[list[dict], int]:
    """One block of the filtered, sorted table, and how many rows match in all.

    Parameters
    ----------
    frame : DataFrame
        What :func:`matched_frame` returns.
    start, end : int
        The block's first row and the first row after it; at most
        :data:`MAX_BLOCK` rows are returned whatever ``end`` says.
    sort_model : list of dict, optional
        AG Grid's ``[{"colId": column, "sort": "asc" | "desc"}, ...]``, first
        key first; ties keep decision order.
    filter_model : dict, optional
        AG Grid's filter model: ``{column: {"filterType": "text" | "number",
        "type": ..., "filter": ..., "filterTo": ...}}`` or combined
        ``{"operator": "AND" | "OR", "conditions": [...]}``. Text tests ignore
        case. Columns the table does not have, and tests it does not know, are
        ignored: the page sends them, so nothing in them is trusted.

    Returns
    -------
    rows : list of dict
        JSON-safe rows (None for missing values).
    count : int
        Rows matching the filter.

    Examples
    --------
    >>> frame = pd.DataFrame({"left_id": ["1", "2", "3"], "score": [0.5, 0.9, 0.7]})
    >>> page(frame, start=0, end=2, sort_model=[{"colId": "score", "sort": "desc"}])
    ([{'left_id': '2', 'score': 0.9}, {'left_id': '3', 'score': 0.7}], 3)
    >>> page(frame, start=0, end=10, filter_model={"score": {"type": "lessThan", "filter": 0.8}})
    ([{'left_id': '1', 'score': 0.5}, {'left_id': '3', 'score': 0.7}], 2)
    """
    order = page_order(frame, sort_model=sort_model, filter_model=filter_model)
    return page_of(frame, order, start=start, end=end), len(order)


def page_order(
    frame: pd.DataFrame | MatchedTable,
    *,
    sort_model: Sequence[Mapping] | None = None,
    filter_model: Mapping | None = None,
) -> np.ndarray:
    """The rows (positions) of ``frame`` that pass the filter, in the sort's order.

    Only the sort's columns are sorted, not the whole frame; the order can be kept
    and every block of the grid taken from it with :func:`page_of`.
    """
    mask = _filter_mask(frame, filter_model)
    rows = np.arange(len(frame)) if mask.all() else np.flatnonzero(mask)
    keys = {}
    for m in sort_model if isinstance(sort_model, list) else []:
        if isinstance(m, Mapping) and m.get("colId") in frame.columns:
            keys.setdefault(m["colId"], m.get("sort") == "desc")  # a column sorts once
    if keys and len(rows):
        part = pd.DataFrame({k: frame[k].iloc[rows].to_numpy() for k in keys})
        part = part.sort_values(
            list(keys),
            ascending=[not desc for desc in keys.values()],
            kind="stable",
            na_position="last",
        )
        rows = rows[part.index.to_numpy()]
    return rows


def page_of(
    frame: pd.DataFrame | MatchedTable, order: np.ndarray, *, start: int, end: int
) -> list[dict]:
    """Rows ``start`` to ``end`` of ``order`` (see :func:`page_order`), JSON-safe, at most
    :data:`MAX_BLOCK` of them."""
    start = max(0, int(start))
    end = min(int(end), start + MAX_BLOCK)
    rows = order[start:end]
    block = frame.block(rows) if isinstance(frame, MatchedTable) else frame.iloc[rows]
    block = block.astype(object)
    block = block.where(block.notna(), None)
    return block.to_dict("records")
