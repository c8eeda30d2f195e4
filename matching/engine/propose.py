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
    count_rules,
)
from matching.engine.codes import CODE_SUFFIX, holds_codes
from matching.engine.derive import DateParts, add_code_columns, add_derived, find_date_parts
from matching.engine.rule_choice import choose_rules
from matching.engine.scoring import parse_date
from matching.engine.spec import Block, Field, Key, Normalization, Spec

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
#: Tables with fewer pairs than this are compared in full.
MIN_PAIRS_TO_BLOCK = 200_000
#: Under the pair budget, rules are used when they keep at most 1/CUT of the pairs...
CUT = 10
#: ... and this share of the likely matches found in a sample.
MIN_COVERAGE = 0.995
#: Nearest right records a long text's TF-IDF rule keeps per left record.
NEAREST = 10

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
    "name": "name fullname title productname product",
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
    "text": "token_set",
    "long_text": "tfidf",
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
    return _SCORERS.get(kind, "token_set")


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
    derived : tuple of (tuple of DateParts, tuple of DateParts)
        Date columns made from year, month and day columns, per side
        (:meth:`add_columns` adds them; scoring the spec adds them itself).
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
    derived: tuple[tuple[DateParts, ...], tuple[DateParts, ...]] = ((), ())

    def add_columns(self, left: pd.DataFrame, right: pd.DataFrame):
        """The two tables with the columns the proposal made (dates from their parts, the
        codes of a text)."""
        codes = [f for f in self.spec.fields if self.kinds.get(f.name) == "codes"]
        left = add_code_columns(add_derived(left, self.derived[0]), [f.left for f in codes])
        right = add_code_columns(add_derived(right, self.derived[1]), [f.right for f in codes])
        return left, right

    def options(self) -> list[str]:
        """The command-line options that give this set-up (shell-quoted)."""
        out = []
        if self.spec.one_table:
            if self.spec.left_id:
                out.append(f"--id {shlex.quote(self.spec.left_id)}")
        elif self.spec.left_id:
            out.append(f"--left-id {shlex.quote(self.spec.left_id)}")
        if self.spec.right_id and not self.spec.one_table:
            out.append(f"--right-id {shlex.quote(self.spec.right_id)}")
        out += [f"--field {shlex.quote(f.text)}" for f in self.spec.fields]
        out += [f"--block {shlex.quote(b.text)}" for b in self.spec.block]
        return out

    def report(self, extra: Sequence[str] = ()) -> str:
        """The proposal for a person: the options (and ``extra`` ones after them), the
        kinds, the pair counts, the notes."""
        lines = ["  " + " \\\n  ".join([*self.options(), *extra])]
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
        if lp.name == left_id or rp.name == right_id:
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
    derive: bool = False,
    one_table: bool = False,
) -> Proposal:
    """Propose IDs, fields, scorers and blocking rules for two tables, or one.

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
    derive : bool
        Make one date column from year, month and day columns (on either side)
        and compare that instead. Scoring makes the column again from the tables
        as they are (:func:`~matching.engine.derive.with_spec_columns`), so
        the spec runs on them; :meth:`Proposal.add_columns` gives it for other uses.
    one_table : bool
        Deduplicate ``left`` (``right`` is ignored: pass the same table): each column
        is compared with itself, one ID column is proposed, and the pairs counted,
        the likely matches rules are chosen by and their coverage are pairs of two
        different records, each pair once (as :attr:`Spec.one_table` scores them).

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
    if one_table:
        right, right_id = left, left_id
    sides = (("",),) if one_table else (("left ",), ("right ",))
    for (side,), frame in zip(sides, (left, right)):
        if len(frame) == 0:
            raise ValueError(f"the {side}table has no rows, so no set-up can be proposed")
    derived = (tuple(find_date_parts(left)), tuple(find_date_parts(right))) if derive else ((), ())
    left, right = add_derived(left, derived[0]), add_derived(right, derived[1])
    lp = profile_table(left, sample=sample, seed=seed)
    rp = lp if one_table else profile_table(right, sample=sample, seed=seed)
    for (side,), frame, column in zip(sides, (left, right), (left_id, right_id)):
        if column is not None and column not in frame.columns:
            raise ValueError(f"the {side}table has no ID column {column!r}")
    left_id = left_id if left_id is not None else _pick_id(lp)
    right_id = left_id if one_table else right_id if right_id is not None else _pick_id(rp)
    pairs, notes = _match_fields(lp, rp, left_id, right_id)
    pairs, notes = _without_date_parts(pairs, notes, derived)
    fields, kinds = [], {}
    for a, b in pairs:
        kind = _joint_kind(a.kind, b.kind)
        kinds[a.name] = kind
        rows = min(len(left) * (1 - a.missing), len(right) * (1 - b.missing))
        if "id" in (a.kind, b.kind):
            kind = kinds[a.name] = "code"
            notes.append(f"{a.name} looks like an identifier and is compared as a field")
        scorer = scorer_for(kind, max(a.distinct, b.distinct), int(rows))
        fields.append(Field(a.name, b.name, scorer=scorer, normalization=_norm_for(a.name, kind)))
    left, right = _with_code_fields(left, right, fields, kinds, notes, one_table=one_table)
    if one_table and left_id is None:
        notes.append("no ID column found in the table: rows are numbered from 0")
    elif left_id is None or right_id is None:
        missing = [s for s, c in (("left", left_id), ("right", right_id)) if c is None]
        notes.append(
            f"no ID column found in the {' and '.join(missing)} table: rows are numbered from 0"
        )
    total = len(left) * (len(left) - 1) // 2 if one_table else len(left) * len(right)
    rules: list[Block] = []
    coverage = None
    cache: dict = {}  # each key column cleaned once, for choosing and for counting
    if total > min(budget, MIN_PAIRS_TO_BLOCK):
        # Under the budget, rules are worth it only when they cut the pairs a lot and
        # keep nearly every likely match.
        small = total <= budget
        rules, coverage = choose_rules(
            left,
            right,
            fields,
            kinds,
            budget=min(budget, total // CUT) if small else budget,
            sample=sample,
            max_rules=max_rules,
            seed=seed,
            cache=cache,
            one_table=one_table,
        )
        if small and (coverage is None or coverage < MIN_COVERAGE):
            rules, coverage = [], None
        rules += _nearest_rules(fields, kinds)
    counts: list[RuleCount] = []
    while rules:
        counts = count_rules(left, right, rules, cache=cache, one_table=one_table)
        pairs_kept = sum(c.added for c in counts)
        if pairs_kept <= budget or len(rules) == 1:
            break
        rules = rules[:-1]  # the sample's estimate was short: drop the last rule
    if any(c.added == 0 for c in counts) and len(rules) > 1:
        # A rule whose pairs the rules before it all keep adds nothing but work.
        rules = [r for r, c in zip(rules, counts) if c.added > 0] or rules[:1]
        counts = count_rules(left, right, rules, cache=cache, one_table=one_table)
    if rules:
        total = sum(c.added for c in counts)
        if total > budget:
            notes.append(f"{total:,} pairs is over the budget of {budget:,}: narrow the rules")
    elif total > budget:
        notes.append(
            f"no blocking rule keeps the pairs under the budget of {budget:,}: every pair is scored"
        )
    spec = Spec(
        fields=tuple(fields),
        left_id=left_id,
        right_id=right_id,
        block=tuple(rules),
        one_table=one_table,
    )
    for (side,), found in zip(sides, derived):
        for d in found:
            notes.append(
                f"{d.name} is made in the {side}table from {', '.join(d.parts)} (one date field)"
            )
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
        derived=derived,
    )


def _norm_for(name: str, kind: str) -> Normalization:
    """How a field's values are cleaned, by kind: phone numbers keep their digits only,
    numbers and codes are written one way (``1999.0`` is ``1999``)."""
    if column_key(name) == "phone":
        return Normalization(digits=True)
    if kind in ("number", "code"):
        return Normalization(numbers=True)
    return Normalization()


def _without_date_parts(pairs: list, notes: list, derived) -> tuple[list, list]:
    """Leave out year, month and day columns that a derived date field replaces."""
    parts = {p for side in derived for d in side for p in d.parts}
    kept = [(a, b) for a, b in pairs if a.name not in parts and b.name not in parts]
    gone = [a.name for a, b in pairs if (a, b) not in kept]
    if gone:
        notes = [*notes, f"left out {', '.join(gone)}: compared as one date"]
    return kept, notes


def _with_code_fields(
    left: pd.DataFrame,
    right: pd.DataFrame,
    fields: list[Field],
    kinds: dict,
    notes: list[str],
    *,
    one_table: bool,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add, for each long text holding model codes on both sides, a field of its codes
    (``title_codes``, compared word for word by ``token_set``), and the tables with
    those columns (a run makes them again from the tables as they are)."""
    for f in list(fields):
        if kinds.get(f.name) != "long_text":
            continue
        names = (f"{f.left}{CODE_SUFFIX}", f"{f.right}{CODE_SUFFIX}")
        if names[0] in left.columns or names[1] in right.columns or names[0] in kinds:
            continue
        if not (holds_codes(left[f.left]) and (one_table or holds_codes(right[f.right]))):
            continue
        fields.append(Field(names[0], names[1], scorer="token_set"))
        kinds[names[0]] = "codes"
        notes.append(
            f"{names[0]}: the model codes in {f.left} (words of letters and digits), "
            "compared as a field of their own"
        )
        left = add_code_columns(left, [names[0]])
        right = left if one_table else add_code_columns(right, [names[1]])
    return left, right


def _nearest_rules(fields: Sequence[Field], kinds: dict) -> list[Block]:
    """A TF-IDF nearest-neighbour rule on the first long text, where exact keys miss
    matches written differently (titles, product names)."""
    for f in fields:
        if kinds.get(f.name) == "long_text" or f.scorer == "tfidf":
            return [Block("tfidf", keys=(Key(f.left, f.right),), size=NEAREST)]
    return []
