"""Clusters of one table's records: accepted pairs joined into groups, their conflicts, and
one representative record per cluster built by rules per field.

In a deduplication every accepted pair says two records are one entity; joined, the
pairs make clusters (connected components). :func:`cluster_ids` is the fast path
(scipy's sparse graph) and :func:`cluster_ids_reference` the plain union-find it is
tested against. A cluster that also holds two records a reviewer said are different
(A = B, B = C, yet A ≠ C) is a conflict for a lead: :func:`cluster_conflicts`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from matching.decisions.events import ReviewState

__all__ = [
    "REPRESENTATIVE_RULES",
    "ClusterConflict",
    "cluster_ids",
    "cluster_ids_reference",
    "accepted_and_different",
    "cluster_conflicts",
    "cluster_table",
    "representatives",
    "RepresentativeRules",
    "representatives_fast",
]

#: How a representative record takes a field's value from its cluster's records.
REPRESENTATIVE_RULES = ("most frequent", "longest", "most recent", "preferred source")


def _positions(ids: Sequence[str], pairs: Iterable[tuple[str, str]]) -> tuple[np.ndarray, ...]:
    at = {k: i for i, k in enumerate(ids)}
    a, b = [], []
    for x, y in pairs:
        if x in at and y in at:
            a.append(at[x])
            b.append(at[y])
    return np.asarray(a, np.int64), np.asarray(b, np.int64)


def _canonical(labels: np.ndarray) -> np.ndarray:
    """Number clusters 0, 1, 2… by the first record of each, in table order."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first, kind="stable"), kind="stable")
    return order[inverse].astype(np.int64)


def cluster_ids(ids: Sequence[str], pairs: Iterable[tuple[str, str]]) -> np.ndarray:
    """Each record's cluster number: records joined by a chain of ``pairs`` share one.

    Clusters are numbered 0, 1, 2… in the order of their first record in ``ids``; a
    record in no pair is a cluster of its own. Pairs naming an unknown id are ignored.

    >>> cluster_ids(["a", "b", "c", "d"], [("c", "b"), ("d", "x")]).tolist()
    [0, 1, 1, 2]
    """
    n = len(ids)
    if n == 0:
        return np.zeros(0, np.int64)
    a, b = _positions(ids, pairs)
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return _canonical(labels)


def cluster_ids_reference(ids: Sequence[str], pairs: Iterable[tuple[str, str]]) -> np.ndarray:
    """:func:`cluster_ids` by a plain union-find, one pair at a time (the reference)."""
    parent = list(range(len(ids)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    a, b = _positions(ids, pairs)
    for x, y in zip(a.tolist(), b.tolist()):
        rx, ry = root(x), root(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    return _canonical(np.asarray([root(i) for i in range(len(ids))], np.int64))


def accepted_and_different(state: ReviewState) -> tuple[list[tuple[str, str]], set[frozenset]]:
    """The pairs reviewers said are one record, and those they said are different.

    A decision on record A accepts its ``right_ids``; every other candidate it was
    shown (the decision's ``scores``) is said to be different from A, and so is
    every candidate of a "no match".
    """
    same: list[tuple[str, str]] = []
    different: set[frozenset] = set()
    for left, d in state.decisions.items():
        for right in d.right_ids:
            if right != left:
                same.append((left, right))
        for right in d.scores:
            if right not in d.right_ids and right != left:
                different.add(frozenset((left, right)))
    joined = {frozenset(p) for p in same}
    return same, {p for p in different if p not in joined}


@dataclass(frozen=True)
class ClusterConflict:
    """Two records said to be different that accepted pairs put in one cluster.

    ``path`` is a chain of accepted pairs from ``first`` to ``second``
    (``first, …, second``), the evidence a lead weighs.
    """

    cluster: int
    first: str
    second: str
    path: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "cluster": self.cluster,
            "first": self.first,
            "second": self.second,
            "path": " = ".join(self.path),
        }


def _path(same: list[tuple[str, str]], start: str, goal: str) -> tuple[str, ...]:
    links: dict[str, list[str]] = {}
    for a, b in same:
        links.setdefault(a, []).append(b)
        links.setdefault(b, []).append(a)
    came = {start: start}
    frontier = [start]
    while frontier and goal not in came:
        nxt = []
        for node in frontier:
            for other in links.get(node, ()):
                if other not in came:
                    came[other] = node
                    nxt.append(other)
        frontier = nxt
    if goal not in came:
        return (start, goal)
    out = [goal]
    while out[-1] != start:
        out.append(came[out[-1]])
    return tuple(reversed(out))


def cluster_conflicts(ids: Sequence[str], state: ReviewState) -> list[ClusterConflict]:
    """Every pair said to be different whose records accepted pairs join anyway.

    >>> from matching.decisions.events import make_event, replay
    >>> log = [
    ...     make_event("accept", event_id="1", left_id="A", right_ids=["B"],
    ...                scores={"B": 0.9, "C": 0.5}),
    ...     make_event("accept", event_id="2", left_id="B", right_ids=["C"], scores={"C": 0.8}),
    ... ]
    >>> [c.to_dict() for c in cluster_conflicts(["A", "B", "C"], replay(log))]
    [{'cluster': 0, 'first': 'A', 'second': 'C', 'path': 'A = B = C'}]
    """
    same, different = accepted_and_different(state)
    labels = cluster_ids(ids, same)
    at = {k: i for i, k in enumerate(ids)}
    out = []
    for pair in different:
        a, b = sorted(pair, key=lambda k: at.get(k, -1))
        if a in at and b in at and labels[at[a]] == labels[at[b]]:
            out.append(ClusterConflict(int(labels[at[a]]), a, b, _path(same, a, b)))
    return sorted(out, key=lambda c: (c.cluster, at[c.first], at[c.second]))


def cluster_table(ids: Sequence[str], state: ReviewState) -> pd.DataFrame:
    """``record_id, cluster_id, cluster_size`` for every record, in table order.

    ``cluster_id`` is ``"C"`` and the cluster's number (see :func:`cluster_ids`).
    """
    same, _ = accepted_and_different(state)
    labels = cluster_ids(ids, same)
    sizes = np.bincount(labels, minlength=int(labels.max(initial=-1)) + 1)
    return pd.DataFrame(
        {
            "record_id": list(ids),
            "cluster_id": [f"C{k}" for k in labels.tolist()],
            "cluster_size": sizes[labels] if len(labels) else np.zeros(0, np.int64),
        }
    )


def _pick(values: pd.Series, rule: str, order: pd.Series | None, preferred: pd.Series | None):
    present = values[values.notna() & (values.astype(str).str.strip() != "")]
    if present.empty:
        return None
    if rule == "most frequent":
        counts = present.astype(str).value_counts(sort=False)
        best = counts.max()
        return next(v for v in present.astype(str) if counts[v] == best)
    if rule == "longest":
        text = present.astype(str)
        return text.iloc[int(np.argmax(text.str.len().to_numpy()))]
    if rule == "most recent":
        if order is None:
            raise ValueError("the rule 'most recent' needs a date column")
        when = pd.to_datetime(order.loc[present.index], errors="coerce", format="mixed")
        if when.notna().any():
            return str(present.loc[when.idxmax()])
        return str(present.iloc[0])
    if rule == "preferred source":
        if preferred is None:
            raise ValueError("the rule 'preferred source' needs a source column and value")
        mine = present[preferred.loc[present.index]]
        return str((mine if not mine.empty else present).iloc[0])
    raise ValueError(f"unknown rule {rule!r}; choose from {', '.join(REPRESENTATIVE_RULES)}")


def _check_rules(table: pd.DataFrame, rules: Mapping[str, str]) -> None:
    for column, rule in rules.items():
        if column not in table.columns:
            raise ValueError(f"no column {column!r} (the table has {', '.join(table.columns)})")
        if rule not in REPRESENTATIVE_RULES:
            raise ValueError(
                f"unknown rule {rule!r}; choose from {', '.join(REPRESENTATIVE_RULES)}"
            )


def representatives(
    table: pd.DataFrame,
    clusters: pd.Series,
    rules: Mapping[str, str],
    *,
    date_column: str | None = None,
    source_column: str | None = None,
    preferred_source: str | None = None,
) -> pd.DataFrame:
    """One record per cluster, each field taken from the cluster's records by its rule.

    Parameters
    ----------
    table
        The records, in the order of ``clusters``.
    clusters
        Each record's cluster id (as :func:`cluster_table` gives it), aligned with
        ``table``'s rows.
    rules
        Field -> one of :data:`REPRESENTATIVE_RULES`. Fields not named take their
        most frequent value.
    date_column, source_column, preferred_source
        What ``most recent`` and ``preferred source`` read.

    Returns
    -------
    pandas.DataFrame
        ``cluster_id``, ``records`` (how many) and every column of ``table``, one row
        per cluster in the order clusters first appear; values are text or None.
    """
    _check_rules(table, rules)
    frame = table.reset_index(drop=True)
    keys = pd.Series(list(clusters), name="cluster_id")
    order = frame[date_column] if date_column else None
    preferred = None
    if source_column:
        preferred = frame[source_column].astype(str) == str(preferred_source)
    rows = []
    for key, members in keys.groupby(keys, sort=False).groups.items():
        at = pd.Index(members)
        row = {"cluster_id": key, "records": len(at)}
        for column in frame.columns:
            rule = rules.get(column, "most frequent")
            row[column] = _pick(frame[column].loc[at], rule, order, preferred)
        rows.append(row)
    return pd.DataFrame(rows, columns=["cluster_id", "records", *frame.columns])


def _first_per_cluster(codes: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of rows sorted by ``order`` (cluster first), the first row of each cluster."""
    sorted_codes = codes[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_codes[1:] != sorted_codes[:-1]
    return sorted_codes[first], order[first]


def representatives_fast(
    table: pd.DataFrame,
    clusters: pd.Series,
    rules: Mapping[str, str],
    *,
    date_column: str | None = None,
    source_column: str | None = None,
    preferred_source: str | None = None,
) -> pd.DataFrame:
    """:func:`representatives` by sorting each column's values once (the fast path).

    Each rule picks, among a cluster's present values, the first by a sort key: the
    count of the value then its first row (most frequent), the length then the row
    (longest), the date then the row (most recent; the first present value where no
    date reads), preferred then the row (preferred source). The same rows, values and
    errors as :func:`representatives`, which loops over clusters and is the reference.
    """
    _check_rules(table, rules)
    frame = table.reset_index(drop=True)
    if not len(frame):
        return pd.DataFrame([], columns=["cluster_id", "records", *frame.columns])
    codes, uniques = pd.factorize(pd.Series(list(clusters), dtype=object), sort=False)
    codes = np.asarray(codes, np.int64)
    out: dict[str, object] = {
        "cluster_id": list(uniques),
        "records": np.bincount(codes, minlength=len(uniques)),
    }
    when = preferred = None
    if date_column:
        parsed = pd.to_datetime(frame[date_column], errors="coerce", format="mixed")
        when = (parsed.notna().to_numpy(), parsed.to_numpy("datetime64[ns]").astype(np.int64))
    if source_column:
        preferred = (frame[source_column].astype(str) == str(preferred_source)).to_numpy()
    for column in frame.columns:
        rule = rules.get(column, "most frequent")
        values = frame[column]
        text = values.astype(str).to_numpy(dtype=object)
        present = (values.notna() & (values.astype(str).str.strip() != "")).to_numpy()
        rows = np.flatnonzero(present)
        picked = np.full(len(uniques), None, dtype=object)
        out[column] = picked
        if not len(rows):
            continue
        c = codes[rows]
        if rule == "most frequent":
            _, value_code = np.unique(text[rows].astype(str), return_inverse=True)
            pair = c * (int(value_code.max()) + 1) + value_code
            _, pair_code, counts = np.unique(pair, return_inverse=True, return_counts=True)
            order = np.lexsort((rows, -counts[pair_code], c))
        elif rule == "longest":
            lengths = np.fromiter((len(t) for t in text[rows]), np.int64, len(rows))
            order = np.lexsort((rows, -lengths, c))
        elif rule == "most recent":
            if when is None:
                raise ValueError("the rule 'most recent' needs a date column")
            dated, stamp = when[0][rows], np.where(when[0][rows], when[1][rows], 0)
            order = np.lexsort((rows, -stamp, ~dated, c))
        else:  # "preferred source" (rules are checked above)
            if preferred is None:
                raise ValueError("the rule 'preferred source' needs a source column and value")
            order = np.lexsort((rows, ~preferred[rows], c))
        cluster, at = _first_per_cluster(c, order)
        picked[cluster] = text[rows[at]]
    return pd.DataFrame(out, columns=["cluster_id", "records", *frame.columns])


def _name(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class RepresentativeRules:
    """How a lead builds each cluster's representative record: a rule per field.

    Parameters
    ----------
    rules : mapping
        Column -> one of :data:`REPRESENTATIVE_RULES`; columns not named take their
        most frequent value.
    date_column : str or None
        The column ``most recent`` reads (dates).
    source_column, preferred_source : str or None
        ``preferred source`` takes the value of a record whose ``source_column``
        holds ``preferred_source``.
    """

    rules: Mapping[str, str] = dataclasses.field(default_factory=dict)
    date_column: str | None = None
    source_column: str | None = None
    preferred_source: str | None = None

    def to_dict(self) -> dict:
        """JSON-safe, unset values left out; :meth:`from_dict` reverses it."""
        out = {
            "rules": {k: v for k, v in self.rules.items() if v != "most frequent"},
            "date_column": self.date_column,
            "source_column": self.source_column,
            "preferred_source": self.preferred_source,
        }
        return {k: v for k, v in out.items() if v}

    @classmethod
    def from_dict(cls, data: object) -> RepresentativeRules:
        """Read :meth:`to_dict`'s layout; values of the wrong type are read as unset."""
        data = data if isinstance(data, Mapping) else {}
        rules = data.get("rules")
        rules = rules if isinstance(rules, Mapping) else {}
        return cls(
            rules={str(k): v for k, v in rules.items() if v in REPRESENTATIVE_RULES},
            date_column=_name(data.get("date_column")),
            source_column=_name(data.get("source_column")),
            preferred_source=_name(data.get("preferred_source")),
        )

    def checked(self, columns: Sequence[str]) -> RepresentativeRules:
        """These rules, if they can build a record from a table of ``columns``;
        ``ValueError`` says, in words for the page, what is missing or unknown."""
        named = [c for c in (self.date_column, self.source_column) if c]
        for column in [*self.rules, *named]:
            if column not in columns:
                raise ValueError(f"the table has no column {column!r}")
        for column, rule in self.rules.items():
            if rule not in REPRESENTATIVE_RULES:
                known = ", ".join(REPRESENTATIVE_RULES)
                raise ValueError(f"{column}: unknown rule {rule!r}; choose from {known}")
            if rule == "most recent" and not self.date_column:
                raise ValueError(f"{column}: 'most recent' needs a date column; choose one")
            if rule == "preferred source" and not (self.source_column and self.preferred_source):
                raise ValueError(
                    f"{column}: 'preferred source' needs a source column and the source"
                    " to prefer; give both"
                )
        return self

    def apply(self, table: pd.DataFrame, clusters: pd.Series) -> pd.DataFrame:
        """The representative record of each cluster (see :func:`representatives`)."""
        return representatives_fast(
            table,
            clusters,
            self.rules,
            date_column=self.date_column,
            source_column=self.source_column,
            preferred_source=self.preferred_source,
        )
