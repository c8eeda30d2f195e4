"""Choosing blocking rules for a proposal: candidate rules on its fields, counted on a
sample of left records against the whole right table, picked greedily by the likely
matches they keep within a pair budget.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from matching.engine.blocking import group_codes, joint_key_codes, ragged_arange
from matching.engine.spec import Block, Field, Key

__all__ = ["choose_rules", "SampleRules"]


def _keys_for(f: Field, kind: str) -> list[Key]:
    """The blocking keys a field offers: its value, and a coarser form of it (never the
    first characters of a number or code: they are its largest part, not a coarser one)."""
    if kind in ("long_text", "codes"):  # words in any order: no key is the same
        return []
    if kind in ("number", "code", "id"):
        return [Key(f.left, f.right)]
    coarse = "year" if kind == "date" else ":3"
    return [Key(f.left, f.right), Key(f.left, f.right, coarse)]


def _candidate_rules(fields: Sequence[Field], kinds: dict) -> tuple[list[Block], dict]:
    """Rules on one field and on two fields together; and each field's whole-value rule."""
    keys = {f.name: _keys_for(f, kinds[f.name]) for f in fields}
    rules: list[Block] = []
    plain: dict[str, int] = {}
    for f in fields:
        for k in keys[f.name]:
            if not k.transform:
                plain[f.name] = len(rules)
            rules.append(Block("exact", keys=(k,)))
    for f, g in itertools.combinations([f for f in fields if keys[f.name]], 2):
        for a, b in itertools.product(keys[f.name], keys[g.name]):
            rules.append(Block("exact", keys=(a, b)))
    return rules, plain


def _find(groups: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which ``codes`` are among the sorted ``groups``, and their places there.

    A bit table of hashed groups first rules out most codes at the cost of a
    gather, so only the few that may be there are searched for.
    """
    if not len(groups) or not len(codes):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    shift = np.uint64(64 - _HASH_BITS)

    def hashed(values: np.ndarray) -> np.ndarray:
        return (values.astype(np.uint64) * _GOLDEN) >> shift

    table = np.zeros(1 << _HASH_BITS, bool)
    table[hashed(groups)] = True
    maybe = np.flatnonzero(table[hashed(codes)])
    at = np.minimum(np.searchsorted(groups, codes[maybe]), len(groups) - 1)
    hit = groups[at] == codes[maybe]
    return maybe[hit], at[hit]


_HASH_BITS = 22
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class SampleRules:
    """Candidate rules over sampled left rows and the whole right table, from joint key codes.

    What :class:`~matching.engine.blocking.Blocking` over the sample and the right table
    gives (``rule_sizes``, ``rule_pairs``, ``keeps``), without sorting the right
    table once per rule: right rows whose key values the sample lacks are
    skipped, and the rest are matched to the sample's few distinct keys.
    """

    def __init__(
        self,
        rules: Sequence[Block],
        codes: dict[Key, tuple[np.ndarray, int]],
        rows: np.ndarray,
        n_left: int,
    ) -> None:
        self.rules = tuple(rules)
        keys = {key for rule in rules for key in rule.keys}
        self.n_left = len(rows)
        self.n_right = len(next(iter(codes.values()))[0]) - n_left if codes else 0
        self._left = {k: (codes[k][0][:n_left][rows], codes[k][1]) for k in keys}
        self._right = {k: (codes[k][0][n_left:], codes[k][1]) for k in keys}
        self._seen = {}
        for k in keys:
            seen = np.zeros(codes[k][1] + 1, bool)  # the last place: missing (-1)
            lc = self._left[k][0]
            seen[lc[lc >= 0]] = True
            self._seen[k] = seen[self._right[k][0]]
        self._sizes = [self._size(rule) for rule in self.rules]

    def _codes(self, rule: Block) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The sample's codes, the right rows the sample may pair with, their codes, how many."""
        lcode, n = group_codes([self._left[k] for k in rule.keys])
        mask = self._seen[rule.keys[0]]
        for k in rule.keys[1:]:
            mask = mask & self._seen[k]
        rows = np.flatnonzero(mask)
        rcode, _ = group_codes([(self._right[k][0][rows], self._right[k][1]) for k in rule.keys])
        return lcode, rows, rcode, n

    def _size(self, rule: Block) -> int:
        lcode, _, rcode, n = self._codes(rule)
        lcode = lcode[lcode >= 0]
        if n <= 4 * max(len(rcode), 1):
            return int(np.bincount(rcode, minlength=n)[lcode].sum())
        groups = np.unique(lcode)
        _, at = _find(groups, rcode)
        per_group = np.bincount(at, minlength=len(groups))
        return int(per_group[np.searchsorted(groups, lcode)].sum())

    def rule_sizes(self) -> list[int]:
        return list(self._sizes)

    def rule_pairs(self, k: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        lcode, rows, rcode, _ = self._codes(self.rules[k])
        lrows = np.arange(start, stop)
        lcode = lcode[start:stop]
        lrows, lcode = lrows[lcode >= 0], lcode[lcode >= 0]
        groups, lgroup = np.unique(lcode, return_inverse=True)
        if not len(groups):
            return np.empty(0, np.int64), np.empty(0, np.int64)
        found, at = _find(groups, rcode)
        rows = rows[found]
        order = np.argsort(lgroup, kind="stable")
        count = np.bincount(lgroup, minlength=len(groups))
        first = np.cumsum(count) - count
        li = lrows[order][ragged_arange(first[at], count[at])]
        return li, np.repeat(rows, count[at])

    def keeps(self, k: int, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
        out = np.ones(len(li), bool)
        for key in self.rules[k].keys:
            a = self._left[key][0][li]
            out &= (a >= 0) & (a == self._right[key][0][ri])
        return out


def _likely_matches(
    blocking: SampleRules, plain: dict[str, int], n_left: int, *, cap: int, all_pairs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs whose exact agreements are too unlikely by chance: likely matches.

    A field that agrees adds ``log2(1/u)`` bits, ``u`` the share of random
    pairs that agree on it (its rule's pairs in the sample over all the
    sample's pairs). A pair is a likely match when its bits reach
    ``log2(all_pairs) + 3`` (by chance, fewer than one such pair in eight among
    all the pairs), or 60% of the bits of a pair agreeing everywhere when the
    fields cannot give that many.
    """
    sizes = blocking.rule_sizes()
    n = max(blocking.n_right, 1)
    sample_pairs = max(n_left * n, 1)
    bits = {k: -math.log2(max(sizes[k], 1) / sample_pairs) for k in plain.values()}
    need = min(math.log2(max(all_pairs, 2)) - 3, 0.6 * sum(bits.values()))
    sources: list[int] = []
    if len(plain) == 1:
        sources = list(plain.values())
    else:
        wanted = {frozenset(c) for c in itertools.combinations(plain.values(), 2)}
        for k, rule in enumerate(blocking.rules):
            whole = all(not key.transform for key in rule.keys) and len(rule.keys) == 2
            if whole and frozenset(plain[key.left] for key in rule.keys) in wanted:
                sources.append(k)
    found = [blocking.rule_pairs(k, 0, n_left) for k in sources if 0 < sizes[k] <= cap]
    if not found:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    li = np.concatenate([li for li, _ in found])
    ri = np.concatenate([ri for _, ri in found])
    score = sum(blocking.keeps(k, li, ri) * w for k, w in bits.items())
    keep = score >= need
    # A pair found by several rules scores the same each time: drop the copies last.
    pair = np.unique(li[keep] * n + ri[keep])
    return pair // n, pair % n


def _one_table_sizes(blocking: SampleRules, rows: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Each rule's sampled pair count as one table counts it: without each sampled
    record paired with itself, and halved (a pair of two records is counted from each)."""
    own = np.arange(len(rows))
    itself = np.array([blocking.keeps(k, own, rows).sum() for k in range(len(blocking.rules))])
    return (sizes - itself) / 2


def _distinct_pairs(
    rows: np.ndarray, li: np.ndarray, ri: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sampled pairs of one table without a record paired with itself, and a pair of
    two sampled records once (the earlier record first)."""
    sampled = np.zeros(n, bool)
    sampled[rows] = True
    at = rows[li]
    keep = (at != ri) & ((at < ri) | ~sampled[ri])
    return li[keep], ri[keep]


def choose_rules(
    left: pd.DataFrame,
    right: pd.DataFrame,
    fields: Sequence[Field],
    kinds: dict,
    *,
    budget: int,
    sample: int,
    max_rules: int,
    seed: int,
    cache: dict,
    one_table: bool = False,
) -> tuple[list[Block], float | None]:
    """Greedy rules: the most newly kept likely matches per step, within the budget.

    Once every likely match is kept, rules that keep them a second time follow
    (up to ``max_rules``), while the budget allows. ``one_table``: ``left`` and
    ``right`` are one table (a deduplication): a sampled record paired with itself
    is neither counted nor a likely match, and a pair is counted once.
    """
    rules, plain = _candidate_rules(fields, kinds)
    if not rules:
        return [], None
    rng = np.random.default_rng(seed)
    if len(left) > sample:
        rows = np.sort(rng.choice(len(left), size=sample, replace=False))
    else:
        rows = np.arange(len(left))
    scale = len(left) / max(len(rows), 1)
    keys = {key for rule in rules for key in rule.keys}
    codes = {key: joint_key_codes(left, right, key, cache) for key in keys}
    blocking = SampleRules(rules, codes, rows, len(left))
    sizes = np.array(blocking.rule_sizes(), dtype=np.float64)
    all_pairs = len(left) * len(right)
    if one_table:
        sizes, all_pairs = _one_table_sizes(blocking, rows, sizes), len(left) * (len(left) - 1) // 2
    estimate = sizes * scale
    li, ri = _likely_matches(blocking, plain, len(rows), cap=max(budget, 1), all_pairs=all_pairs)
    if one_table:
        li, ri = _distinct_pairs(rows, li, ri, len(right))
    if len(li) == 0:
        # Nothing agrees anywhere: the widest single-field rule the budget allows, if
        # it keeps any pair at all (a rule that keeps none would leave no candidates).
        singles = [k for k, r in enumerate(rules) if len(r.keys) == 1 and 0 < estimate[k] <= budget]
        best = max(singles, key=lambda k: estimate[k], default=None)
        return ([rules[best]] if best is not None else []), None
    kept = np.stack([blocking.keeps(k, li, ri) for k in range(len(rules))])
    # How many chosen rules keep each likely match. A match kept by a second rule
    # counts half as much again: it survives a slip in the first rule's key.
    times = np.zeros(len(li), np.int64)
    chosen: list[int] = []
    spent = 0.0
    while len(chosen) < max_rules:
        gains = (kept & (times == 0)).sum(axis=1) + 0.5 * (kept & (times == 1)).sum(axis=1)
        fits = (estimate + spent <= budget) & (estimate > 0)
        fits[chosen] = False
        if not fits.any() or gains[fits].max() < 1:
            break
        top = gains[fits].max()
        # Among rules nearly as good as the best, the one with the fewest pairs.
        near = np.flatnonzero(fits & (gains >= 0.98 * top))
        k = int(near[np.argmin(estimate[near])])
        chosen.append(k)
        times += kept[k]
        spent += estimate[k]
    covered = times > 0
    return [rules[k] for k in chosen], float(covered.mean())
