"""Columns a proposal makes from others: a date held as year, month and day columns, and
the model codes of a text column (:mod:`matching.engine.codes`).

:func:`find_date_parts` finds, in one table, groups of three columns named like
``dob_year``, ``dob_month``, ``dob_day`` (or ``birth year``/``BirthMonth``..., or
plain ``year``, ``month``, ``day``) whose values are mostly numbers;
:func:`add_derived` adds each group's date as one ISO column (``dob``), so that the
date is compared as one field and not as three that outvote the others.
:func:`add_date_columns` adds, of the columns a set-up names, those a table makes so:
a set-up naming ``dob`` runs on the tables as they were uploaded
(:func:`with_spec_columns`, which scoring and projects call). :func:`add_code_columns`
does the same for columns named ``<text column>_codes``, and :func:`made_names` lists
what a table can make, for the app's column lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from matching.engine.codes import CODE_SUFFIX, code_column, holds_codes

if TYPE_CHECKING:
    from matching.engine.spec import Spec

__all__ = [
    "DateParts",
    "find_date_parts",
    "add_derived",
    "add_date_columns",
    "add_code_columns",
    "add_made_columns",
    "date_names",
    "code_names",
    "made_names",
    "made_sources",
    "tables_with_made",
    "spec_columns",
    "with_spec_columns",
]

_PART_WORDS = {
    "year": ("year", "yr", "yyyy", "yy"),
    "month": ("month", "mon", "mm"),
    "day": ("day", "dd"),
}


@dataclass(frozen=True)
class DateParts:
    """A date made of three columns: its new column's name and the columns it comes from."""

    name: str
    year: str
    month: str
    day: str

    @property
    def parts(self) -> tuple[str, str, str]:
        return self.year, self.month, self.day


def _split(name: str) -> tuple[str, str | None]:
    """``(stem, part)``: ``dob_year`` -> ``("dob", "year")``; part None for other names."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", str(name))
    words = [w.casefold() for w in words]
    for part, names in _PART_WORDS.items():
        for at in (len(words) - 1, 0):
            if words and words[at] in names:
                rest = words[:at] + words[at + 1 :]
                return "_".join(rest), part
    return "_".join(words), None


def _numbers(column: pd.Series) -> float:
    values = column.dropna().astype(str).str.strip()
    values = values[values != ""]
    if not len(values):
        return 0.0
    return float(values.str.fullmatch(r"\d{1,4}(?:\.0+)?").mean())


def find_date_parts(frame: pd.DataFrame) -> list[DateParts]:
    """Groups of year, month and day columns of one table, each to become one date column.

    >>> t = pd.DataFrame({"dob_year": [1990.0], "dob_month": [5], "dob_day": ["6"], "x": [1]})
    >>> find_date_parts(t)
    [DateParts(name='dob', year='dob_year', month='dob_month', day='dob_day')]
    """
    groups: dict[str, dict[str, str]] = {}
    for column in frame.columns:
        stem, part = _split(str(column))
        if part is not None and _numbers(frame[column]) >= 0.9:
            groups.setdefault(stem, {}).setdefault(part, str(column))
    out = []
    for stem, parts in groups.items():
        if len(parts) == 3:
            name = stem or "date"
            while name in frame.columns:
                name += "_date"
            out.append(DateParts(name, parts["year"], parts["month"], parts["day"]))
    return out


def _part(column: pd.Series, width: int) -> pd.Series:
    number = pd.to_numeric(column, errors="coerce")
    whole = number.notna() & (number == np.floor(number)) & (number >= 0)
    text = number.where(whole).astype("Int64").astype("string").str.zfill(width)
    return text.where(whole, None)


def add_derived(frame: pd.DataFrame, derived: Sequence[DateParts]) -> pd.DataFrame:
    """A copy of ``frame`` with each group's date as an ISO ``YYYY-MM-DD`` column.

    A row missing any part, or with a part that is not a whole number, has no date.

    >>> t = pd.DataFrame({"y": ["1990.0", None], "m": ["5", "7"], "d": [6, 2]})
    >>> add_derived(t, [DateParts("dob", "y", "m", "d")])["dob"].tolist()
    ['1990-05-06', None]
    """
    if not derived:
        return frame
    # Copy-on-write: the new frame shares the old one's columns until either is written.
    out = frame.copy(deep=False)
    for d in derived:
        year, month, day = _part(frame[d.year], 4), _part(frame[d.month], 2), _part(frame[d.day], 2)
        date = year + "-" + month + "-" + day
        out[d.name] = date.astype(object).where(date.notna(), None)
    return out


def add_date_columns(frame: pd.DataFrame, columns: Iterable[object]) -> pd.DataFrame:
    """``frame`` with each of ``columns`` it lacks that is the name of one of its date-part
    groups (:func:`find_date_parts`) added as :func:`add_derived` makes it.

    ``frame`` itself is returned when it lacks none of ``columns``; other missing columns
    are left for the caller's check to name.

    >>> t = pd.DataFrame({"dob_year": ["1990.0"], "dob_month": [5], "dob_day": [6]})
    >>> add_date_columns(t, ["dob", "name"])["dob"].tolist()
    ['1990-05-06']
    >>> add_date_columns(t, ["dob_year"]) is t
    True
    """
    missing = {str(c) for c in columns if c is not None and c not in frame.columns}
    if not missing:
        return frame
    return add_derived(frame, [d for d in find_date_parts(frame) if d.name in missing])


def date_names(frame: pd.DataFrame) -> list[str]:
    """The dates ``frame`` makes of its year, month and day columns: columns a set-up may
    name beside the table's own.

    >>> date_names(pd.DataFrame({"dob_year": [1990], "dob_month": [5], "dob_day": [6]}))
    ['dob']
    """
    return [d.name for d in find_date_parts(frame)]


def add_code_columns(frame: pd.DataFrame, columns: Iterable[object]) -> pd.DataFrame:
    """``frame`` with each of ``columns`` it lacks that is named ``<its column>_codes``
    added: the model codes of that column (:func:`~matching.engine.codes.code_column`).

    >>> t = pd.DataFrame({"title": ["Sony KDL40V2500 TV", "a lamp"]})
    >>> add_code_columns(t, ["title_codes"])["title_codes"].tolist()
    ['kdl40v2500', None]
    """
    made = {}
    for name in {str(c) for c in columns if c is not None and c not in frame.columns}:
        stem = name.removesuffix(CODE_SUFFIX)
        if stem != name and stem in frame.columns:
            made[name] = code_column(frame[stem])
    if not made:
        return frame
    out = frame.copy(deep=False)
    for name, column in made.items():
        out[name] = column
    return out


def add_made_columns(frame: pd.DataFrame, columns: Iterable[object]) -> pd.DataFrame:
    """``frame`` with each of ``columns`` it lacks and makes: a date of its parts
    (:func:`add_date_columns`) or a column's codes (:func:`add_code_columns`)."""
    columns = list(columns)
    return add_code_columns(add_date_columns(frame, columns), columns)


def code_names(frame: pd.DataFrame) -> list[str]:
    """The columns of codes ``frame`` makes of its text columns that hold model codes
    (:func:`~matching.engine.codes.holds_codes`, on a sample).

    >>> code_names(pd.DataFrame({"name": ["HP LJ4000n", "Canon S400"], "n": [1, 2]}))
    ['name_codes']
    """
    return [
        f"{c}{CODE_SUFFIX}"
        for c in frame.columns
        if f"{c}{CODE_SUFFIX}" not in frame.columns and holds_codes(frame[c])
    ]


def made_names(frame: pd.DataFrame) -> list[str]:
    """The columns ``frame`` makes (:func:`date_names`, then :func:`code_names`): names a
    set-up may give beside the table's own."""
    return date_names(frame) + code_names(frame)


def made_sources(frame: pd.DataFrame, names: Iterable[object]) -> dict[str, str]:
    """Of ``names``, those ``frame`` makes, each with the columns it is made of (in
    words, for a person).

    >>> t = pd.DataFrame({"dob_year": [1990], "dob_month": [5], "dob_day": [6], "t": ["x"]})
    >>> made_sources(t, ["dob", "t_codes", "other"])
    {'dob': 'dob_year, dob_month, dob_day', 't_codes': 't'}
    """
    wanted = {str(n) for n in names if n is not None and n not in frame.columns}
    out = {d.name: ", ".join(d.parts) for d in find_date_parts(frame) if d.name in wanted}
    for name in sorted(wanted - set(out)):
        stem = name.removesuffix(CODE_SUFFIX)
        if stem != name and stem in frame.columns:
            out[name] = stem
    return out


def tables_with_made(
    left: pd.DataFrame,
    right: pd.DataFrame,
    need_left: Iterable[object],
    need_right: Iterable[object],
    *,
    one_table: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`add_made_columns` on each table with the columns it needs. ``one_table``:
    the two are one table (``left`` may be some of its rows), so each gets the columns
    either names, and ``right`` stays ``left`` when it was."""
    need_left, need_right = list(need_left), list(need_right)
    if one_table:
        need_left = need_right = need_left + need_right
    same = one_table and right is left
    left = add_made_columns(left, need_left)
    return left, left if same else add_made_columns(right, need_right)


def spec_columns(spec: Spec, *, keys: bool = True) -> tuple[list[str], list[str]]:
    """The columns a spec names in the left and the right table: its fields', then its
    ID columns, then (``keys``) its blocking rules' key columns; repeats kept."""
    need_left = [f.left for f in spec.fields]
    need_right = [f.right for f in spec.fields]
    if spec.left_id:
        need_left.append(spec.left_id)
    if spec.right_id:
        need_right.append(spec.right_id)
    if keys:
        for rule in spec.block:
            need_left += [k.left for k in rule.keys]
            need_right += [k.right for k in rule.keys]
    return need_left, need_right


def with_spec_columns(
    left: pd.DataFrame, right: pd.DataFrame, spec: Spec
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two tables with each column the spec names (a field's, an ID's or a blocking
    key's) that a table lacks but makes (:func:`add_made_columns`): a set-up with a date
    field ``dob`` runs on tables holding ``dob_year``, ``dob_month`` and ``dob_day``, one
    with ``title_codes`` on tables holding ``title``. Tables that lack nothing are
    returned as they are; with :attr:`~matching.engine.spec.Spec.one_table`, as
    :func:`tables_with_made`.

    >>> from matching.engine.spec import Field, Spec
    >>> t = pd.DataFrame({"dob_year": [1990], "dob_month": [5], "dob_day": [6]})
    >>> left, right = with_spec_columns(t, t, Spec((Field("dob", scorer="date"),)))
    >>> left["dob"].tolist(), right["dob"].tolist()
    (['1990-05-06'], ['1990-05-06'])
    """
    need_left, need_right = spec_columns(spec)
    return tables_with_made(left, right, need_left, need_right, one_table=spec.one_table)
