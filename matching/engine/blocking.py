"""Blocking: the union of several rules' pairs, as integer codes and numpy joins.

Each rule's key becomes one integer code per record, shared by both tables (-1:
missing), worked out once from the distinct cleaned values of its columns. An
``exact`` (or ``prefix``) rule pairs equal codes through the right table sorted
by code; a ``sorted`` rule sorts both tables together on its codes, equal keys
interleaving, and pairs records within its window. A pair kept by an earlier
rule is not produced again by a later one, so the union is scored once.

Pairs come out by ranges of left rows, so a caller can score a large union
chunk by chunk (or send the chunks to other processes) with bounded memory.

:func:`count_rules` counts the pairs of ``exact`` and ``prefix`` rules without
making them: each rule's pairs from the sizes of its key's groups on both
sides, and the union by inclusion-exclusion (the pairs two exact rules share
are the pairs of one rule on both keys). The counts are exact and the same as
:meth:`Blocking.count`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matching.engine.derive import tables_with_made
from matching.engine.scoring import normalize_codes
from matching.engine.spec import Block, Key, Normalization

__all__ = [
    "one_table_order",
    "one_table_keeps",
    "KEY_NORMALIZATION",
    "RuleCount",
    "Blocking",
    "count_rules",
    "joint_key_codes",
    "group_codes",
    "ragged_arange",
]

_NONE = np.empty(0, np.int64)

#: How blocking keys are cleaned: as fields are by default, and numbers written one
#: way, so a year stored as ``1999.0`` on one side meets ``1999`` on the other.
KEY_NORMALIZATION = Normalization(numbers=True)


@dataclass(frozen=True)
class RuleCount:
    """What one rule contributes: its own pairs and those no earlier rule has."""

    rule: str
    pairs: int
    added: int


def _transform(uniques: np.ndarray, transform: str) -> np.ndarray:
    """Apply a key transform to distinct cleaned values (None: missing)."""
    if not transform:
        return uniques
    s = pd.Series(uniques, dtype=object)
    if transform.startswith(":"):
        out = s.str.slice(0, int(transform[1:]))
    else:
        # A cleaned ISO date reads "yyyy mm dd..." (punctuation became spaces).
        parts = s.str.extract(r"^(\d{4}) (\d{1,2}) (\d{1,2})(?:\D|$)")
        month = pd.to_numeric(parts[1], errors="coerce")
        day = pd.to_numeric(parts[2], errors="coerce")
        valid = month.between(1, 12) & day.between(1, 31)
        out = parts[0] if transform == "year" else month.map(lambda m: f"{m:02.0f}")
        out = out.where(valid, None)
    return out.to_numpy(dtype=object)


def _key_codes(
    left: pd.DataFrame, right: pd.DataFrame, key: Key, cache: dict
) -> tuple[np.ndarray, np.ndarray, int]:
    """Codes of one key column on both sides, in the sort order of its values.

    Kept in ``cache`` under ``("key", key)``: rules sharing a key column code it once.
    """
    if ("key", key) in cache:
        return cache["key", key]
    norm = KEY_NORMALIZATION
    sides = []
    for frame, column, side in ((left, key.left, "left"), (right, key.right, "right")):
        if (side, column, norm) not in cache:
            cache[side, column, norm] = normalize_codes(frame[column], norm)
        codes, uniques = cache[side, column, norm]
        sides.append((codes, _transform(uniques, key.transform)))
    (lc, lu), (rc, ru) = sides
    values = pd.Series(np.concatenate([lu, ru]), dtype=object)
    joint, distinct = pd.factorize(values, sort=True, use_na_sentinel=True)
    joint = joint.astype(np.int64)
    # A trailing -1 so that missing values (code -1) map to -1.
    lmap = np.append(joint[: len(lu)], -1)
    rmap = np.append(joint[len(lu) :], -1)
    cache["key", key] = lmap[lc], rmap[rc], len(distinct)
    return cache["key", key]


def _rule_codes(
    left: pd.DataFrame, right: pd.DataFrame, rule: Block, cache: dict
) -> tuple[np.ndarray, np.ndarray, int]:
    """One code per record for the whole key (-1 where any column is missing).

    Codes follow the lexicographic order of the key's columns, which a
    ``sorted`` rule relies on.
    """
    lcode = rcode = None
    n = 1
    for key in rule.keys:
        if rule.kind == "prefix" and not key.transform:
            key = Key(key.left, key.right, f":{rule.size}")
        lk, rk, m = _key_codes(left, right, key, cache)
        if lcode is None:
            lcode, rcode, n = lk, rk, m
            continue
        lcode = np.where((lcode >= 0) & (lk >= 0), lcode * m + lk, -1)
        rcode = np.where((rcode >= 0) & (rk >= 0), rcode * m + rk, -1)
        both = np.concatenate([lcode, rcode])
        present = both >= 0
        if rule.kind in ("sorted", "sortedkeys"):
            distinct, inverse = np.unique(both[present], return_inverse=True)
        else:  # any numbering will do: hashing is faster than sorting
            inverse, distinct = pd.factorize(both[present])
        both[present] = inverse
        lcode, rcode, n = both[: len(left)], both[len(left) :], len(distinct)
    return lcode, rcode, n


def ragged_arange(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])``, vectorised."""
    total = int(counts.sum())
    if total == 0:
        return _NONE
    ends = np.cumsum(counts)
    shift = np.repeat(starts - (ends - counts), counts)
    return np.arange(total, dtype=np.int64) + shift


@dataclass
class _Exact:
    """An exact rule: right rows sorted by code, and each code's run there."""

    lcode: np.ndarray
    rcode: np.ndarray
    order: np.ndarray
    start: np.ndarray
    count: np.ndarray

    @classmethod
    def of(cls, lcode: np.ndarray, rcode: np.ndarray, n: int) -> _Exact:
        present = np.flatnonzero(rcode >= 0)
        order = present[np.argsort(rcode[present], kind="stable")]
        count = np.bincount(rcode[present], minlength=max(n, 1))
        return cls(lcode, rcode, order, np.cumsum(count) - count, count)

    def per_left(self) -> np.ndarray:
        return np.where(self.lcode >= 0, self.count[np.maximum(self.lcode, 0)], 0)

    def pairs(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        codes = self.lcode[start:stop]
        ok = codes >= 0
        rows = np.flatnonzero(ok) + start
        codes = codes[ok]
        count = self.count[codes]
        li = np.repeat(rows, count)
        ri = self.order[ragged_arange(self.start[codes], count)]
        return li, ri

    def contains(self, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
        a = self.lcode[li]
        return (a >= 0) & (a == self.rcode[ri])


@dataclass
class _Window:
    """A window over distinct keys: right records whose key is within ``half`` keys' places.

    Codes are the keys' places among the distinct keys of both tables, sorted;
    pairs are made per range of left rows and not kept.
    """

    lcode: np.ndarray
    rcode: np.ndarray
    order: np.ndarray
    sorted_codes: np.ndarray
    half: int

    @classmethod
    def of(cls, lcode: np.ndarray, rcode: np.ndarray, window: int) -> _Window:
        present = np.flatnonzero(rcode >= 0)
        order = present[np.argsort(rcode[present], kind="stable")]
        return cls(lcode, rcode, order, rcode[order], window // 2)

    def _runs(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo = np.searchsorted(self.sorted_codes, codes - self.half, side="left")
        hi = np.searchsorted(self.sorted_codes, codes + self.half, side="right")
        return lo, np.where(codes >= 0, hi - lo, 0)

    def per_left(self) -> np.ndarray:
        return self._runs(self.lcode)[1]

    def pairs(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        lo, count = self._runs(self.lcode[start:stop])
        li = np.repeat(np.arange(start, stop, dtype=np.int64), count)
        ri = self.order[ragged_arange(lo, count)]
        n = max(len(self.rcode), 1)
        pair = np.sort(li * n + ri)
        return pair // n, pair % n

    def contains(self, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
        a, b = self.lcode[li], self.rcode[ri]
        return (a >= 0) & (b >= 0) & (np.abs(a - b) <= self.half)


def _nearest_pairs(
    left: pd.DataFrame, right: pd.DataFrame, rule: Block, cache: dict
) -> tuple[np.ndarray, np.ndarray]:
    """A ``tfidf`` rule's pairs: each left record with the right records of its K nearest
    distinct right values by TF-IDF cosine (ties at the cut by the values' order)."""
    from matching.engine.tfidf import fitted_model, nearest

    key = rule.keys[0]
    norm = Normalization()
    coded = []
    for frame, column, side in ((left, key.left, "left"), (right, key.right, "right")):
        if (side, column, norm) not in cache:
            cache[side, column, norm] = normalize_codes(frame[column], norm)
        coded.append(cache[side, column, norm])
    (lc, lu), (rc, ru) = coded
    model = fitted_model([*lu.tolist(), *ru.tolist()])
    qi, ci = nearest(model, lu.tolist(), ru.tolist(), rule.size)
    # The right rows of each chosen value, then each left row's list by its value.
    present = np.flatnonzero(rc >= 0)
    rorder = present[np.argsort(rc[present], kind="stable")]
    rcount = np.bincount(rc[present], minlength=len(ru))
    rstart = np.cumsum(rcount) - rcount
    q = np.repeat(qi, rcount[ci])
    rows = rorder[ragged_arange(rstart[ci], rcount[ci])]
    qcount = np.bincount(q, minlength=len(lu))
    qstart = np.cumsum(qcount) - qcount
    lrows = np.flatnonzero(lc >= 0)
    codes = lc[lrows]
    li = np.repeat(lrows, qcount[codes])
    ri = rows[ragged_arange(qstart[codes], qcount[codes])]
    return li, ri


@dataclass
class _Sorted:
    """Pairs listed in full (a sorted-neighbourhood or nearest-neighbour rule), sorted by
    left then right row."""

    li: np.ndarray
    ri: np.ndarray
    n_right: int

    @classmethod
    def of(cls, lcode: np.ndarray, rcode: np.ndarray, window: int) -> _Sorted:
        n_left = len(lcode)
        code = np.concatenate([lcode, rcode])
        side = np.r_[np.zeros(n_left, np.int64), np.ones(len(rcode), np.int64)]
        row = np.r_[np.arange(n_left), np.arange(len(rcode))]
        present = code >= 0
        code, side, row = code[present], side[present], row[present]
        # Occurrence of each record among its side's records with the same key, in
        # row order: the i-th left and i-th right record of a key stand side by side.
        by_group = np.lexsort((row, side, code))
        group = code[by_group] * 2 + side[by_group]
        starts = np.r_[0, np.flatnonzero(group[1:] != group[:-1]) + 1]
        first = np.repeat(starts, np.diff(np.r_[starts, len(group)]))
        occurrence = np.empty(len(code), np.int64)
        occurrence[by_group] = np.arange(len(code)) - first
        order = np.lexsort((side, occurrence, code))
        side, row = side[order], row[order]
        lis, ris = [], []
        for d in range(1, window + 1):
            a, b = side[:-d], side[d:]
            cross = a != b
            lis.append(np.where(a == 0, row[:-d], row[d:])[cross])
            ris.append(np.where(a == 0, row[d:], row[:-d])[cross])
        li = np.concatenate(lis) if lis else _NONE
        ri = np.concatenate(ris) if ris else _NONE
        return cls.listed(li, ri, len(rcode))

    @classmethod
    def listed(cls, li: np.ndarray, ri: np.ndarray, n_right: int) -> _Sorted:
        n_right = max(n_right, 1)
        pair = np.unique(li.astype(np.int64) * n_right + ri)
        return cls(pair // n_right, pair % n_right, n_right)

    def per_left(self, n_left: int) -> np.ndarray:
        return np.bincount(self.li, minlength=n_left)

    def pairs(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = np.searchsorted(self.li, [start, stop])
        return self.li[a:b], self.ri[a:b]

    def contains(self, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
        codes = self.li * self.n_right + self.ri
        want = li * self.n_right + ri
        at = np.minimum(np.searchsorted(codes, want), max(len(codes) - 1, 0))
        return (codes[at] == want) if len(codes) else np.zeros(len(li), bool)


def one_table_order(left: pd.DataFrame, right: pd.DataFrame) -> np.ndarray:
    """For one table compared with itself: each left row's position in ``right``.

    ``left`` is the table or some of its rows (a slice, a sample), ``right`` the whole
    table; rows are told apart by their index labels, which must be unique. A pair of
    left row ``i`` and right row ``j`` is kept once, and never a row with itself, when
    ``order[i] < j`` (:func:`one_table_keeps`).
    """
    if not right.index.is_unique:
        raise ValueError("a table compared with itself needs unique row labels")
    order = right.index.get_indexer(left.index)
    if (order < 0).any():
        raise ValueError("a table compared with itself: some left rows are not in the table")
    return order.astype(np.int64)


def one_table_keeps(order: np.ndarray, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
    """Which pairs of one table a deduplication keeps: the earlier record first, no self-pair.

    >>> one_table_keeps(np.array([0, 1, 2]), np.array([0, 1, 1, 2]), np.array([1, 1, 0, 2]))
    array([ True, False, False, False])
    """
    return order[np.asarray(li, np.int64)] < np.asarray(ri, np.int64)


class _OneTable:
    """A rule's join over one table compared with itself: each pair once, no self-pair."""

    def __init__(self, join, order: np.ndarray) -> None:
        self.join, self.order = join, order

    def per_left(self, n_left: int | None = None) -> np.ndarray:
        inner = self.join
        return inner.per_left(n_left) if isinstance(inner, _Sorted) else inner.per_left()

    def pairs(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        li, ri = self.join.pairs(start, stop)
        kept = one_table_keeps(self.order, li, ri)
        return li[kept], ri[kept]

    def contains(self, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
        return self.join.contains(li, ri) & one_table_keeps(self.order, li, ri)


class Blocking:
    """The union of blocking rules over two tables.

    Parameters
    ----------
    left, right : DataFrame
        The tables; every key column must exist (``ValueError`` naming the rule).
    rules : sequence of Block
        At least one rule.
    cache : dict, optional
        Cleaned codes by ``(side, column, Normalization)``, as
        :func:`matching.engine.scoring.normalize_codes` returns them, and each key
        column's codes by ``("key", Key)``; filled and reused, so columns also
        compared as fields are cleaned once and rules sharing a key code it once.
    one_table : bool
        ``right`` is the whole of one table and ``left`` it or some of its rows
        (a deduplication): each pair is kept once, the earlier record (by its row in
        ``right``) on the left, and never a record with itself; rows are matched by
        their index labels (see :func:`one_table_order`).

    Examples
    --------
    >>> from matching.engine.spec import parse_block
    >>> l = pd.DataFrame({"s": ["Ann", "Bob", "Bob"], "d": ["1990-01-02", None, "1990-05-06"]})
    >>> r = pd.DataFrame({"s": ["bob", "ann"], "d": ["1990-05-01", "1991-01-02"]})
    >>> b = Blocking(l, r, [parse_block("exact:s"), parse_block("exact:d[year]")])
    >>> [(c.rule, c.pairs, c.added) for c in b.count()]
    [('exact:s', 3, 3), ('exact:d[year]', 2, 1)]
    >>> b.pairs(0, 3)
    (array([0, 0, 1, 2]), array([0, 1, 0, 0]))
    """

    def __init__(
        self,
        left: pd.DataFrame,
        right: pd.DataFrame,
        rules: Sequence[Block],
        *,
        cache: dict | None = None,
        one_table: bool = False,
    ) -> None:
        if not rules:
            raise ValueError("blocking needs at least one rule")
        for rule in rules:
            for key in rule.keys:
                for side, frame, column in (("left", left, key.left), ("right", right, key.right)):
                    if column not in frame.columns:
                        raise ValueError(
                            f"block {rule.text!r}: the {side} table has no column {column!r}"
                            f" (it has {', '.join(map(str, frame.columns))})"
                        )
        self.rules = tuple(rules)
        self.n_left, self.n_right = len(left), len(right)
        cache = {} if cache is None else cache
        self._joins: list[_Exact | _Sorted | _Window] = []
        for rule in self.rules:
            if rule.kind == "tfidf":
                li, ri = _nearest_pairs(left, right, rule, cache)
                self._joins.append(_Sorted.listed(li, ri, len(right)))
                continue
            lcode, rcode, n = _rule_codes(left, right, rule, cache)
            if rule.kind == "sorted":
                self._joins.append(_Sorted.of(lcode, rcode, rule.size))
            elif rule.kind == "sortedkeys":
                self._joins.append(_Window.of(lcode, rcode, rule.size))
            else:
                self._joins.append(_Exact.of(lcode, rcode, n))
        if one_table:
            order = one_table_order(left, right)
            self._joins = [_OneTable(join, order) for join in self._joins]

    def per_left(self) -> np.ndarray:
        """An upper bound of each left row's pairs (the sum over rules, before the union)."""
        total = np.zeros(self.n_left, np.int64)
        for join in self._joins:
            sized = isinstance(join, (_Sorted, _OneTable))
            total += join.per_left(self.n_left) if sized else join.per_left()
        return total

    def chunks(self, budget: int) -> list[tuple[int, int]]:
        """Ranges of left rows with about ``budget`` pairs each (a row is never split)."""
        if self.n_left == 0:
            return []
        ends = np.cumsum(self.per_left())
        bounds = [0]
        while bounds[-1] < self.n_left:
            start = bounds[-1]
            before = ends[start - 1] if start else 0
            stop = int(np.searchsorted(ends, before + max(budget, 1), side="right"))
            bounds.append(min(max(stop, start + 1), self.n_left))
        return list(itertools.pairwise(bounds))

    def _rule_pairs(self, start: int, stop: int):
        """Per rule, the pairs of left rows ``start:stop`` it keeps and no earlier rule has."""
        for k, join in enumerate(self._joins):
            li, ri = join.pairs(start, stop)
            own = len(li)
            for earlier in self._joins[:k]:
                if not len(li):
                    break
                new = ~earlier.contains(li, ri)
                li, ri = li[new], ri[new]
            yield own, li, ri

    def rule_sizes(self) -> list[int]:
        """Each rule's own pair count (before the union)."""
        return [
            int(
                j.per_left(self.n_left).sum()
                if isinstance(j, (_Sorted, _OneTable))
                else j.per_left().sum()
            )
            for j in self._joins
        ]

    def rule_pairs(self, k: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Rule ``k``'s own pairs for left rows ``start:stop`` (earlier rules' included)."""
        return self._joins[k].pairs(start, stop)

    def keeps(self, k: int, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
        """Whether rule ``k`` keeps each pair of left rows ``li`` and right rows ``ri``."""
        return self._joins[k].contains(np.asarray(li, np.int64), np.asarray(ri, np.int64))

    def pairs(self, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Left and right row positions of the union's pairs for left rows ``start:stop``.

        Each pair once, sorted by left row then right row.
        """
        stop = self.n_left if stop is None else stop
        found = [(li, ri) for _, li, ri in self._rule_pairs(start, stop)]
        if len(found) == 1:
            return found[0]  # one rule's pairs come sorted
        n = max(self.n_right, 1)
        pair = np.sort(np.concatenate([li * n + ri for li, ri in found]))
        return pair // n, pair % n

    def count(self, *, budget: int = 4_000_000) -> list[RuleCount]:
        """Per rule, its pairs and the pairs it adds to the rules before it."""
        own = np.zeros(len(self.rules), np.int64)
        added = np.zeros(len(self.rules), np.int64)
        for start, stop in self.chunks(budget):
            for k, (n, li, _) in enumerate(self._rule_pairs(start, stop)):
                own[k] += n
                added[k] += len(li)
        return [RuleCount(rule.text, int(o), int(a)) for rule, o, a in zip(self.rules, own, added)]


def joint_key_codes(
    left: pd.DataFrame, right: pd.DataFrame, key: Key, cache: dict
) -> tuple[np.ndarray, int]:
    """One code per record of both tables (left rows first) for one key column, and how many.

    Equal codes mean equal cleaned (and transformed) values, as :class:`Blocking`
    compares them; -1 is missing. Both columns are cleaned together in one pass.
    Kept in ``cache`` under ``("joint", key)`` (and the cleaned column under
    ``("joint", left column, right column)``), so keys sharing a column clean it once.
    """
    if ("joint", key) in cache:
        return cache["joint", key]
    column = ("joint", key.left, key.right)
    if column not in cache:
        values = pd.concat([left[key.left], right[key.right]], ignore_index=True)
        cache[column] = normalize_codes(values, KEY_NORMALIZATION)
    codes, uniques = cache[column]
    n = len(uniques)
    if key.transform:
        transformed = pd.Series(_transform(uniques, key.transform), dtype=object)
        per_unique, distinct = pd.factorize(transformed, use_na_sentinel=True)
        codes = np.append(per_unique.astype(np.int64), -1)[codes]
        n = len(distinct)
    cache["joint", key] = codes, n
    return codes, n


def group_codes(parts: Sequence[tuple[np.ndarray, int]]) -> tuple[np.ndarray, int]:
    """Codes of several key columns together: equal where every column is equal (-1: missing).

    ``parts`` are ``(codes, how many)`` per column, as :func:`joint_key_codes`
    gives them; the result is numbered below the returned count.
    """
    code, n = parts[0]
    for other, m in parts[1:]:
        ok = (code >= 0) & (other >= 0)
        if n * m >= 2**62:  # renumber the groups found so far so the product fits
            inverse, seen = pd.factorize(code[ok])
            code = np.where(ok, 0, -1)
            code[ok] = inverse
            n = len(seen)
        code = np.where(ok, code * m + other, -1)
        n = n * m
    return code, n


def _pair_count(code: np.ndarray, n: int, n_left: int) -> int:
    """Pairs of a left and a right record with the same code (-1 pairs with nothing)."""
    present = code >= 0
    if n > 2 * len(code):  # a sparse numbering: renumber the codes in use
        inverse, _ = pd.factorize(code[present])
        code = np.full(len(code), -1, np.int64)
        code[present] = inverse
        n = int(inverse.max()) + 1 if len(inverse) else 0
    left, right = code[:n_left], code[n_left:]
    lc = np.bincount(left[left >= 0], minlength=n)
    rc = np.bincount(right[right >= 0], minlength=n)
    return int(np.dot(lc, rc))


def _rule_keys(rule: Block) -> frozenset[Key]:
    if rule.kind == "prefix":
        return frozenset(
            key if key.transform else Key(key.left, key.right, f":{rule.size}") for key in rule.keys
        )
    return frozenset(rule.keys)


def count_rules(
    left: pd.DataFrame,
    right: pd.DataFrame,
    rules: Sequence[Block],
    *,
    cache: dict | None = None,
    one_table: bool = False,
) -> list[RuleCount]:
    """Per rule, its pairs and the pairs it adds to the rules before it: :meth:`Blocking.count`.

    ``exact`` and ``prefix`` rules are counted from group sizes, without making
    their pairs (a rule's pairs kept by earlier rules come by inclusion-exclusion
    over the earlier rules, so keep the rules few); a list with a ``sorted``
    rule, or more than eight rules, is counted by :meth:`Blocking.count`.
    ``cache`` is shared with :func:`joint_key_codes` and keeps the pair count of
    each set of key columns under ``("pairs", frozenset of Key)``. ``one_table``: as
    :class:`Blocking`'s (counted by :meth:`Blocking.count`).

    Examples
    --------
    >>> from matching.engine.spec import parse_block
    >>> l = pd.DataFrame({"s": ["Ann", "Bob", "Bob"], "d": ["1990-01-02", None, "1990-05-06"]})
    >>> r = pd.DataFrame({"s": ["bob", "ann"], "d": ["1990-05-01", "1991-01-02"]})
    >>> rules = [parse_block("exact:s"), parse_block("exact:d[year]")]
    >>> [(c.rule, c.pairs, c.added) for c in count_rules(l, r, rules)]
    [('exact:s', 3, 3), ('exact:d[year]', 2, 1)]
    """
    if not rules:
        raise ValueError("blocking needs at least one rule")
    # A key on a column the tables make (a date of its parts, a text's codes): made here.
    need = ([k.left for r in rules for k in r.keys], [k.right for r in rules for k in r.keys])
    left, right = tables_with_made(left, right, *need, one_table=one_table)
    if one_table or len(rules) > 8 or any(r.kind not in ("exact", "prefix") for r in rules):
        return Blocking(left, right, rules, one_table=one_table).count()
    Blocking(left.iloc[:0], right.iloc[:0], rules)  # the same messages for missing columns
    cache = {} if cache is None else cache
    n_left = len(left)

    def size(keys: frozenset[Key]) -> int:
        if ("pairs", keys) not in cache:
            ordered = sorted(keys, key=lambda k: (k.left, str(k.right), k.transform))
            code, n = group_codes([joint_key_codes(left, right, k, cache) for k in ordered])
            cache["pairs", keys] = _pair_count(code, n, n_left)
        return cache["pairs", keys]

    keys = [_rule_keys(rule) for rule in rules]
    out = []
    for k, rule in enumerate(rules):
        added = 0
        for m in range(k + 1):
            for earlier in itertools.combinations(range(k), m):
                joint = keys[k].union(*(keys[j] for j in earlier))
                added += (-1) ** m * size(joint)
        out.append(RuleCount(rule.text, size(keys[k]), added))
    return out
