"""Columns a proposal makes from others: a date held as year, month and day columns.

:func:`find_date_parts` finds, in one table, groups of three columns named like
``dob_year``, ``dob_month``, ``dob_day`` (or ``birth year``/``BirthMonth``..., or
plain ``year``, ``month``, ``day``) whose values are mostly numbers;
:func:`add_derived` adds each group's date as one ISO column (``dob``), so that the
date is compared as one field and not as three that outvote the others.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["DateParts", "find_date_parts", "add_derived"]

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
    out = frame.copy()
    for d in derived:
        year, month, day = _part(frame[d.year], 4), _part(frame[d.month], 2), _part(frame[d.day], 2)
        date = year + "-" + month + "-" + day
        out[d.name] = date.astype(object).where(date.notna(), None)
    return out
