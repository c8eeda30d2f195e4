"""The accepted matches as a table, paged, sorted and filtered on the server.

The Matched tab shows every accepted pair of a project. At a million records
that table is too big to send to a browser, so the browser asks for one block
of rows at a time (AG Grid's infinite row model) with its sort and filter, and
:func:`page` answers from a frame :func:`matched_frame` builds once per change
of the decisions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matching.blocking import _ragged_arange
from matching.desk import Ledger
from matching.project import Project, Slices

__all__ = ["matched_frame", "conflict_rows", "page", "page_order", "page_of", "MAX_BLOCK"]

#: The most rows one request may ask for.
MAX_BLOCK = 1000


def matched_frame(project: Project, ledger: Ledger) -> pd.DataFrame:
    """One row per accepted pair, from the ledger's decisions in force.

    Built column by column from the ledger's arrays over the queue (status,
    accepted right id, decider, time, order), so a million matches cost array
    operations, not a pass over the decisions in Python; only decisions that
    accept several right records or carry corrections are looked at one by one.

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
    pos = np.flatnonzero(ledger.status == 1)
    pos = pos[np.lexsort((ledger.decided_seq[pos], ledger.decided_at[pos]))]
    single = np.not_equal(ledger.accepted_right[pos], None)
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
    rights = np.empty(len(rows), dtype=object)
    rights[starts[single]] = ledger.accepted_right[pos[single]]
    for p, chosen in ledger.multi.items():
        if p in rank:
            at = int(starts[rank[p]])
            rights[at : at + len(chosen)] = list(chosen)
    queue = project.queue
    if hasattr(queue, "array"):
        lefts = queue.array.take(pa.array(rows)).to_numpy(zero_copy_only=False).astype(object)
    else:
        lefts = np.asarray(queue, dtype=object)[rows]
    left_rows = rows  # a queue position is the left record's row
    right_rows = _positions(project.right_pos, rights)

    pairs = pd.DataFrame({"left_id": lefts, "right_id": rights}, dtype=object)
    if isinstance(project.slices, Slices):
        scores = _slice_scores(project, left_rows, rights)
    else:
        scores = _scores(project, left_rows, right_rows)

    spec = project.spec
    left_cols = [c for c in project.left.columns if c != spec.left_id]
    right_cols = [c for c in project.right.columns if c != spec.right_id]
    left_part = project.left.iloc[left_rows][left_cols].reset_index(drop=True)
    # The right records' columns keep the table's types (text stays Arrow text, not a
    # million Python strings); a column a correction is written into becomes text.
    right_part = project.right.iloc[right_rows][right_cols].reset_index(drop=True)
    edited = np.full(len(rows), None, dtype=object)
    for p, edits in ledger.edits.items():
        if p not in rank or ledger.status[p] != 1:
            continue
        at = int(starts[rank[p]])
        for i in range(at, at + int(counts[rank[p]])):
            cells = edits.get(rights[i])
            if cells:
                for col, value in cells.items():
                    if col in right_part.columns:
                        if not pd.api.types.is_string_dtype(right_part[col].dtype):
                            right_part[col] = right_part[col].astype(object)
                        right_part.iat[i, right_part.columns.get_loc(col)] = value
                edited[i] = ", ".join(cells)
    # Few distinct times (a bulk batch shares one): each is written once.
    times, which = np.unique(ledger.decided_at[rows], return_inverse=True)
    stamps = pd.to_datetime(pd.Series(times, dtype=np.float64), unit="s", utc=True)
    stamps = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").str[:-4] + "Z"
    decided_at = stamps.take(which.reshape(-1)).reset_index(drop=True)
    names = np.asarray([*ledger.reviewers, None], dtype=object)
    return pd.concat(
        [
            pairs.assign(score=scores),
            left_part.add_prefix("left_"),
            right_part.add_prefix("right_"),
            pd.DataFrame(
                {
                    "reviewer": pd.Series(names[ledger.decided_by[rows]], dtype=object),
                    "decided_at": decided_at,
                    "automatic": pd.Series(ledger.automatic[rows], dtype=bool),
                    "edited": pd.Series(edited, dtype=object),
                }
            ),
        ],
        axis=1,
    )


def _positions(index, ids: np.ndarray) -> np.ndarray:
    """Rows of ``ids`` in a table's index; an unknown id is an error, as a lookup is."""
    many = getattr(index, "positions", None)
    if many is not None:
        rows = np.asarray(many(pa.array(ids, pa.large_string())), dtype=np.int64)
    else:
        rows = _lookup(index, ids)
    if (rows < 0).any():
        raise KeyError(ids[int(np.flatnonzero(rows < 0)[0])])
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


def _slice_scores(project: Project, left_rows: np.ndarray, rights: np.ndarray) -> np.ndarray:
    """The candidate score of each (left row, right id) pair, NaN when not a candidate,
    looked for among that left record's own candidate rows only (its slice)."""
    c = project.candidates
    out = np.full(len(left_rows), np.nan)
    if not len(left_rows) or not len(c):
        return out
    starts = project.slices.starts[left_rows]
    counts = project.slices.stops[left_rows] - starts
    at = _ragged_arange(starts, counts)
    owner = np.repeat(np.arange(len(left_rows)), counts)
    column = c["right_id"].array
    their = pa.array(column, pa.large_string()) if not hasattr(column, "_pa_array") else None
    their = (their if their is not None else column._pa_array).take(pa.array(at))
    wanted = pa.array(rights, pa.large_string()).take(pa.array(owner))
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

    def summary(frame: pd.DataFrame, pos: int, id_column: str | None) -> str:
        row = frame.iloc[pos]
        return " · ".join(
            str(v) for c, v in row.items() if c != id_column and v is not None and v == v
        )

    spec = project.spec
    rows = []
    for right, lefts in conflicts.items():
        right_text = summary(project.right, project.right_pos[right], spec.right_id)
        for i, left in enumerate(lefts):
            d = ledger.decisions[left]
            rows.append(
                {
                    "right_id": right,
                    "right": right_text,
                    "left_id": left,
                    "left": summary(project.left, project.left_pos[left], spec.left_id),
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
    frame: pd.DataFrame,
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
        part = frame[list(keys)].iloc[rows].reset_index(drop=True)
        part = part.sort_values(
            list(keys),
            ascending=[not desc for desc in keys.values()],
            kind="stable",
            na_position="last",
        )
        rows = rows[part.index.to_numpy()]
    return rows


def page_of(frame: pd.DataFrame, order: np.ndarray, *, start: int, end: int) -> list[dict]:
    """Rows ``start`` to ``end`` of ``order`` (see :func:`page_order`), JSON-safe, at most
    :data:`MAX_BLOCK` of them."""
    start = max(0, int(start))
    end = min(int(end), start + MAX_BLOCK)
    block = frame.iloc[order[start:end]].astype(object)
    block = block.where(block.notna(), None)
    return block.to_dict("records")
