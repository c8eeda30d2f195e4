"""Propose a set-up for two tables: what each column holds, IDs, fields, scorers, blocking.

:func:`profile_table` guesses each column's kind (a name, short text, long
text, a number, a code, a date, an e-mail address or an ID) with its share of
missing values and its number of distinct values. :func:`propose` turns the
profiles of two tables into a :class:`~matching.engine.spec.Spec`:

* ID columns: unique values and a name that looks like an id (else row numbers);
* fields: the columns both tables have, names matched ignoring case, spaces,
  underscores and common synonyms (``surname``/``last_name``), leaving out the
  IDs and near-constant or nearly empty columns, each with a scorer chosen by
  its kind and equal weights;
* blocking, when the tables have more pairs than the budget: exact rules on
  the fields (whole values, first letters, the year of a date, two fields
  together), picked greedily so that their union keeps as many likely matches
  (pairs, found in a sample, whose exact agreements would be too rare by
  chance) as possible while its pair count stays within the budget.

Examples
--------
>>> from matching.engine.demo import generate_tables
>>> tables = generate_tables(300, seed=1)
>>> proposal = propose(tables.owners, tables.cars)
>>> proposal.spec.left_id, proposal.spec.right_id
('owner_id', 'car_id')
>>> [f.text for f in proposal.spec.fields][:2]
['given_name:jaro_winkler', 'surname:jaro_winkler']
"""

from __future__ import annotations

import itertools
import math
import re
import shlex
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matching.engine.blocking import (
    RuleCount,
    _ragged_arange,
    count_rules,
    group_codes,
    joint_key_codes,
)
from matching.engine.scoring import parse_date
from matching.engine.spec import Block, Field, Key, Spec

__all__ = [
    "KINDS",
    "DEFAULT_PAIR_BUDGET",
    "ColumnProfile",
    "NoSharedColumns",
    "Proposal",
    "column_key",
    "profile_table",
    "propose",
    "scorer_for",
]

#: Kinds of column :func:`profile_table` tells apart.
KINDS: tuple[str, ...] = ("id", "name", "text", "long_text", "number", "code", "date", "email")

#: The most pairs a proposal's blocking rules may keep together.
DEFAULT_PAIR_BUDGET = 20_000_000

#: A column whose most common value is this share of its values is left out.
NEAR_CONSTANT = 0.98
#: A column with this share of missing values (or more) is left out.
MOSTLY_MISSING = 0.9
#: Codes and numbers with at most this many distinct values are compared exactly.
FEW_VALUES = 100

_SYNONYMS = {
    "surname": "surname lastname familyname lname",
    "given_name": "givenname firstname forename forenames fname christianname",
    "birth_date": "dob dateofbirth birthdate birthday bdate",
    "postcode": "postcode zip zipcode postalcode postcod",
    "city": "suburb city town locality",
    "street": "street address streetaddress address1 addressline1 addr",
    "street_number": "streetnumber housenumber streetno houseno",
    "phone": "phone telephone tel phonenumber telephonenumber",
    "email": "email emailaddress",
    "state": "state province",
    "sex": "sex gender",
    "name": "name fullname",
}
_CANONICAL = {alias: key for key, aliases in _SYNONYMS.items() for alias in aliases.split()}

_ID_WORDS = {"id", "key", "uuid", "guid", "ref", "no", "nr", "num", "number", "identifier"}

_NAME = re.compile(r"^[^\W\d_]+(?:[ '\-.]+[^\W\d_]+){0,2}\.?$")
_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9./-]*(?: [A-Za-z0-9./-]+)?$")
_PHONE = re.compile(r"^\+?[\d ()./-]{6,}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_SCORERS = {
    "name": "jaro_winkler",
    "text": "token_sort",
    "long_text": "token_set",
    "date": "date",
    "email": "levenshtein",
}


def column_key(name: str) -> str:
    """The name a column is matched by: lower case, letters and digits only, synonyms merged.

    >>> column_key("Last Name"), column_key("family_name"), column_key("DOB")
    ('surname', 'surname', 'birth_date')
    """
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(c for c in text if c.isalnum()).casefold()
    return _CANONICAL.get(text, text)


def _words(name: str) -> list[str]:
    return [w.casefold() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", str(name))]


def _id_like(name: str) -> bool:
    """Whether a column name reads as an identifier's: ``id``, ``OwnerID``, ``rec_no``,
    ``No.``, ``N°``, ``#``.

    >>> [_id_like(n) for n in ("N°", "Nº client", "No.", "#", "Client N°", "Name")]
    [True, True, True, True, True, False]
    """
    text = str(name).strip()
    if text == "#":
        return True
    # N° (degree sign) and Nº (ordinal indicator) both abbreviate "number":
    # "N°" and "N° client" name identifiers.
    marked = re.sub(r"(?<![^\W\d_])[Nn]\s*[°º]", " No ", text)
    words = _words(marked)
    if marked != text and len(words) <= 2 and words[:1] == ["no"]:
        return True
    short = len(words) == 1 and len(words[0]) == 3 and words[0].endswith("id")  # pid, cid
    return bool(words) and (words[-1] in _ID_WORDS or words[0] == "id" or short)


@dataclass(frozen=True)
class ColumnProfile:
    """What one column holds.

    Attributes
    ----------
    name : str
        The column.
    kind : str
        One of :data:`KINDS`, guessed from a sample of its values.
    missing : float
        Share of rows with no value (empty or blank text counts as missing).
    distinct : int
        Number of distinct values (after trimming spaces).
    top_share : float
        Share of the values that are its most common value (0 when all are missing).
    unique : bool
        Every row has a value and no value repeats.
    """

    name: str
    kind: str
    missing: float
    distinct: int
    top_share: float
    unique: bool

    @property
    def near_constant(self) -> bool:
        """One value (or none) fills nearly the whole column."""
        return self.distinct <= 1 or self.top_share >= NEAR_CONSTANT

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "missing": self.missing,
            "distinct": self.distinct,
            "top_share": self.top_share,
            "unique": self.unique,
        }


def _share(values: list[str], pattern: re.Pattern) -> float:
    return sum(1 for v in values if pattern.match(v)) / len(values)


def _guess_kind(values: list[str], name: str, unique: bool) -> str:
    """The kind of a column from (a sample of) its non-missing values."""
    if unique and _id_like(name):
        return "id"
    if not values:
        return "text"
    mostly = 0.9
    if sum(1 for v in values if parse_date(v)) / len(values) >= mostly:
        return "date"
    if _share(values, _EMAIL) >= mostly:
        return "email"
    if _share(values, _NUMBER) >= mostly:
        padded = sum(1 for v in values if len(v) > 1 and v[0] == "0") / len(values)
        lengths = {len(v) for v in values}
        fixed = len(lengths) == 1 and min(lengths) >= 4
        return "code" if padded >= 0.05 or fixed else "number"
    if _share(values, _PHONE) >= mostly:
        return "code"
    short = [v for v in values if len(v) <= 12]
    if len(short) >= mostly * len(values):
        with_digit = sum(1 for v in short if any(c.isdigit() for c in v))
        upper = sum(1 for v in short if v.isupper() and len(v) <= 4)
        if _share(short, _CODE) >= mostly and (with_digit + upper) >= 0.5 * len(short):
            return "code"
    mean_len = sum(len(v) for v in values) / len(values)
    mean_words = sum(len(v.split()) for v in values) / len(values)
    if mean_len > 40 or mean_words > 5:
        return "long_text"
    if _share(values, _NAME) >= mostly:
        return "name"
    return "text"


def _value_codes(column: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """Each row's trimmed text as a code into its distinct values (-1: missing or blank)."""
    array = pa.array(column.astype("string[pyarrow]"))
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    encoded = array.dictionary_encode()
    raw = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    values = pc.utf8_trim_whitespace(encoded.dictionary)
    if values.equals(encoded.dictionary):
        per_value = np.arange(len(values), dtype=np.int64)
    else:  # distinct texts that trim alike (" Ann", "Ann") are one value
        trimmed = values.dictionary_encode()
        values = trimmed.dictionary
        per_value = trimmed.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    blank = pc.equal(values, "").to_numpy(zero_copy_only=False)
    per_value = np.where(blank[per_value], -1, per_value) if blank.any() else per_value
    return np.append(per_value, -1)[raw], values


def profile_table(
    frame: pd.DataFrame, *, sample: int = 5_000, seed: int = 0
) -> tuple[ColumnProfile, ...]:
    """Profile each column of a table, in column order.

    Missing shares, distinct counts and the most common value are counted over
    the whole column (columnar, in Arrow); the kind is guessed from up to
    ``sample`` of its non-missing values, drawn at random (seeded).

    Examples
    --------
    >>> t = pd.DataFrame({"id": ["a1", "a2", "a3"], "dob": ["1990-01-02", None, "1985-12-31"]})
    >>> [(p.name, p.kind, round(p.missing, 2), p.distinct) for p in profile_table(t)]
    [('id', 'id', 0.0, 3), ('dob', 'date', 0.33, 2)]
    """
    profiles = []
    rows = len(frame)
    for name in frame.columns:
        codes, values = _value_codes(frame[name])
        present = np.flatnonzero(codes >= 0)
        counts = np.bincount(codes[present], minlength=len(values))
        distinct = int(np.count_nonzero(counts))
        n = len(present)
        unique = n == rows and distinct == rows and rows > 0
        if n > sample:
            present = np.sort(np.random.default_rng(seed).choice(present, sample, replace=False))
        kind = _guess_kind(values.take(pa.array(codes[present])).to_pylist(), str(name), unique)
        profiles.append(
            ColumnProfile(
                name=str(name),
                kind=kind,
                missing=(rows - n) / rows if rows else 0.0,
                distinct=distinct,
                top_share=float(counts.max()) / n if n else 0.0,
                unique=unique,
            )
        )
    return tuple(profiles)


def scorer_for(kind: str, distinct: int, values: int) -> str:
    """The scorer a field of this kind gets, with ``distinct`` of its ``values`` different.

    Codes and numbers that are categories (at most :data:`FEW_VALUES` distinct
    values, each repeated: a state, a sex) are compared exactly; other codes
    and numbers (postcodes, phone numbers) by Levenshtein similarity.
    """
    if kind in ("code", "number"):
        category = distinct <= FEW_VALUES and 2 * distinct <= values
        return "exact" if category else "levenshtein"
    return _SCORERS.get(kind, "token_sort")


def _joint_kind(a: str, b: str) -> str:
    if a == b:
        return a
    if {a, b} <= {"code", "number"}:
        return "code"
    if "long_text" in (a, b):
        return "long_text"
    return "text"


class NoSharedColumns(ValueError):
    """The two tables have no column to compare in common; the message says what they have."""


@dataclass(frozen=True)
class Proposal:
    """A proposed set-up and what it was made from.

    Attributes
    ----------
    spec : Spec
        IDs, fields (scorer, weight 1) and blocking rules.
    left_profile, right_profile : tuple of ColumnProfile
        The columns of each table.
    kinds : dict
        The kind each field was scored as, by field name.
    rule_counts : tuple of RuleCount
        Each blocking rule's pairs and the pairs it adds (over the whole tables).
    pairs : int
        Pairs a run scores: the union of the rules, or every pair without rules.
    budget : int
        The pair budget the rules were chosen for.
    coverage : float or None
        Share of the likely matches found in a sample (pairs whose exact
        agreements would be too rare by chance) that the rules keep; None
        without rules.
    notes : tuple of str
        Columns left out and why, and anything else worth saying.
    """

    spec: Spec
    left_profile: tuple[ColumnProfile, ...]
    right_profile: tuple[ColumnProfile, ...]
    kinds: dict = field(default_factory=dict)
    rule_counts: tuple[RuleCount, ...] = ()
    pairs: int = 0
    budget: int = DEFAULT_PAIR_BUDGET
    coverage: float | None = None
    notes: tuple[str, ...] = ()

    def options(self) -> list[str]:
        """The command-line options that give this set-up (shell-quoted)."""
        out = []
        if self.spec.left_id:
            out.append(f"--left-id {shlex.quote(self.spec.left_id)}")
        if self.spec.right_id:
            out.append(f"--right-id {shlex.quote(self.spec.right_id)}")
        out += [f"--field {shlex.quote(f.text)}" for f in self.spec.fields]
        out += [f"--block {shlex.quote(b.text)}" for b in self.spec.block]
        return out

    def report(self) -> str:
        """The proposal for a person: the options, the kinds, the pair counts, the notes."""
        lines = ["  " + " \\\n  ".join(self.options())]
        kinds = ", ".join(f"{name} ({kind})" for name, kind in self.kinds.items())
        lines.append(f"fields compared as: {kinds}")
        if self.rule_counts:
            width = max(12, *(len(c.rule) for c in self.rule_counts))
            lines.append(f"{'rule':<{width}} {'pairs':>13} {'adds':>13}")
            lines += [f"{c.rule:<{width}} {c.pairs:>13,} {c.added:>13,}" for c in self.rule_counts]
            lines.append(f"{'total':<{width}} {'':>13} {self.pairs:>13,}")
            if self.coverage is not None:
                lines.append(
                    f"the rules keep {100 * self.coverage:.1f}% of the likely matches in a sample"
                    f" (pair budget {self.budget:,})"
                )
        else:
            lines.append(f"no blocking: all {self.pairs:,} pairs are scored")
        lines += self.notes
        return "\n".join(lines)


def _pick_id(profiles: Sequence[ColumnProfile]) -> str | None:
    ids = [p.name for p in profiles if p.kind == "id"]
    return ids[0] if ids else None


def _match_fields(
    left: Sequence[ColumnProfile],
    right: Sequence[ColumnProfile],
    left_id: str | None,
    right_id: str | None,
) -> tuple[list[tuple[ColumnProfile, ColumnProfile]], list[str]]:
    """Pairs of columns with the same name (or synonyms), and notes on the rest."""
    by_key: dict[str, list[ColumnProfile]] = {}
    for p in right:
        by_key.setdefault(column_key(p.name), []).append(p)
    pairs, notes, used = [], [], set()
    shared = False
    for lp in left:
        options = [p for p in by_key.get(column_key(lp.name), []) if p.name not in used]
        if not options:
            continue
        shared = True
        rp = next((p for p in options if p.name == lp.name), options[0])
        used.add(rp.name)
        shown = lp.name if lp.name == rp.name else f"{lp.name} = {rp.name}"
        reason = None
        if lp.name == left_id or rp.name == right_id or "id" in (lp.kind, rp.kind):
            reason = "an ID column"
        elif lp.missing >= MOSTLY_MISSING or rp.missing >= MOSTLY_MISSING:
            reason = "mostly missing"
        elif lp.near_constant or rp.near_constant:
            reason = "nearly the same value in every row"
        if reason:
            notes.append(f"left out {shown}: {reason}")
        else:
            pairs.append((lp, rp))
    if not shared:
        raise NoSharedColumns(
            "the two tables have no column names in common, so no set-up can be proposed"
            f" (left: {', '.join(p.name for p in left)}; right: {', '.join(p.name for p in right)})"
            ": choose the columns to compare yourself"
        )
    if not pairs:
        raise NoSharedColumns(
            "the columns the two tables share cannot be compared ("
            + "; ".join(n.removeprefix("left out ") for n in notes)
            + "): choose the columns to compare yourself"
        )
    only_left = [p.name for p in left if p.name != left_id and all(p is not a for a, _ in pairs)]
    only_right = [p.name for p in right if p.name != right_id and p.name not in used]
    for side, names in (("left", only_left), ("right", only_right)):
        names = [n for n in names if not any(n in note for note in notes)]
        if names:
            notes.append(f"only in the {side} table: {', '.join(names)}")
    return pairs, notes


def _keys_for(f: Field, kind: str) -> list[Key]:
    """The blocking keys a field offers: its value, and a coarser form of it."""
    if kind == "long_text":
        return []
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


class _SampleRules:
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
        li = lrows[order][_ragged_arange(first[at], count[at])]
        return li, np.repeat(rows, count[at])

    def keeps(self, k: int, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
        out = np.ones(len(li), bool)
        for key in self.rules[k].keys:
            a = self._left[key][0][li]
            out &= (a >= 0) & (a == self._right[key][0][ri])
        return out


def _likely_matches(
    blocking: _SampleRules, plain: dict[str, int], n_left: int, *, cap: int, all_pairs: int
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


def _choose_rules(
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
) -> tuple[list[Block], float | None]:
    """Greedy rules: the most newly kept likely matches per step, within the budget.

    Once every likely match is kept, rules that keep them a second time follow
    (up to ``max_rules``), while the budget allows.
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
    blocking = _SampleRules(rules, codes, rows, len(left))
    estimate = np.array(blocking.rule_sizes(), dtype=np.float64) * scale
    li, ri = _likely_matches(
        blocking, plain, len(rows), cap=max(budget, 1), all_pairs=len(left) * len(right)
    )
    if len(li) == 0:
        # Nothing agrees anywhere: the widest single-field rule the budget allows.
        singles = [k for k, r in enumerate(rules) if len(r.keys) == 1 and estimate[k] <= budget]
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


def propose(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    left_id: str | None = None,
    right_id: str | None = None,
    budget: int = DEFAULT_PAIR_BUDGET,
    sample: int = 5_000,
    max_rules: int = 5,
    seed: int = 0,
) -> Proposal:
    """Propose IDs, fields, scorers and blocking rules for two tables.

    Parameters
    ----------
    left, right : DataFrame
        The tables.
    left_id, right_id : str, optional
        ID columns already chosen; proposed (or row numbers) when None.
    budget : int
        Most pairs the blocking rules may keep together. Tables with no more
        pairs than this get no rules: every pair is scored.
    sample : int
        Left rows used to choose the rules (the counts shown are over the
        whole tables), and values read to guess each column's kind.
    max_rules : int
        Most blocking rules proposed.
    seed : int
        The same seed gives the same proposal.

    Returns
    -------
    Proposal

    Raises
    ------
    NoSharedColumns
        When no column name (or synonym) is on both sides, or the shared ones
        are IDs, nearly constant or nearly empty.
    ValueError
        When a table has no rows, or a given ID column is not in its table.
    """
    for side, frame in (("left", left), ("right", right)):
        if len(frame) == 0:
            raise ValueError(f"the {side} table has no rows, so no set-up can be proposed")
    lp = profile_table(left, sample=sample, seed=seed)
    rp = profile_table(right, sample=sample, seed=seed)
    for side, frame, column in (("left", left, left_id), ("right", right, right_id)):
        if column is not None and column not in frame.columns:
            raise ValueError(f"the {side} table has no ID column {column!r}")
    left_id = left_id if left_id is not None else _pick_id(lp)
    right_id = right_id if right_id is not None else _pick_id(rp)
    pairs, notes = _match_fields(lp, rp, left_id, right_id)
    fields, kinds = [], {}
    for a, b in pairs:
        kind = _joint_kind(a.kind, b.kind)
        kinds[a.name] = kind
        rows = min(len(left) * (1 - a.missing), len(right) * (1 - b.missing))
        scorer = scorer_for(kind, max(a.distinct, b.distinct), int(rows))
        fields.append(Field(a.name, b.name, scorer=scorer))
    if left_id is None or right_id is None:
        missing = [s for s, c in (("left", left_id), ("right", right_id)) if c is None]
        notes.append(
            f"no ID column found in the {' and '.join(missing)} table: rows are numbered from 0"
        )
    total = len(left) * len(right)
    rules: list[Block] = []
    coverage = None
    cache: dict = {}  # each key column cleaned once, for choosing and for counting
    if total > budget:
        rules, coverage = _choose_rules(
            left,
            right,
            fields,
            kinds,
            budget=budget,
            sample=sample,
            max_rules=max_rules,
            seed=seed,
            cache=cache,
        )
    counts: list[RuleCount] = []
    while rules:
        counts = count_rules(left, right, rules, cache=cache)
        pairs_kept = sum(c.added for c in counts)
        if pairs_kept <= budget or len(rules) == 1:
            break
        rules = rules[:-1]  # the sample's estimate was short: drop the last rule
    if any(c.added == 0 for c in counts) and len(rules) > 1:
        # A rule whose pairs the rules before it all keep adds nothing but work.
        rules = [r for r, c in zip(rules, counts) if c.added > 0] or rules[:1]
        counts = count_rules(left, right, rules, cache=cache)
    if rules:
        total = sum(c.added for c in counts)
        if total > budget:
            notes.append(f"{total:,} pairs is over the budget of {budget:,}: narrow the rules")
    elif len(left) * len(right) > budget:
        notes.append(
            f"no blocking rule keeps the pairs under the budget of {budget:,}: every pair is scored"
        )
    spec = Spec(fields=tuple(fields), left_id=left_id, right_id=right_id, block=tuple(rules))
    return Proposal(
        spec=spec,
        left_profile=lp,
        right_profile=rp,
        kinds=kinds,
        rule_counts=tuple(counts),
        pairs=total,
        budget=budget,
        coverage=coverage,
        notes=tuple(notes),
    )
