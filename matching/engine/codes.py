"""Model codes in a text: the words that mix letters and digits (``DSC-W55``,
``KDL40V2500``), which name one product where the rest of a title describes many.

:func:`codes_of` is the plain reference for one text; :func:`code_column` the fast path
for a column (each distinct value read once); :func:`holds_codes` whether a column's
values hold codes often enough, on a sample. A proposal compares a title's codes as a field of
their own (``title_codes``): two catalogues that word a product differently still
agree on its model code, and a code shared by few records weighs more than any word.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["CODE_SUFFIX", "CODE_SHARE", "codes_of", "code_column", "holds_codes"]

#: The name of a column of codes: its text column's name and this.
CODE_SUFFIX = "_codes"
#: Least share of a text column's values holding a code for its codes to be a field.
CODE_SHARE = 0.3
#: Fewest letters and digits in a code (``a4`` or ``x1`` are too common to name a model).
_LEAST = 4

_WORD = re.compile(r"[0-9a-z]+(?:[-/.][0-9a-z]+)*")
_JOINERS = re.compile(r"[-/.]")


def codes_of(value: object) -> str | None:
    """The distinct codes of a text, joiners (``-``, ``/``, ``.``) left out, sorted and
    joined by spaces; None when it has none: the plain reference.

    >>> codes_of("Sony DSC-W55 Cyber-shot 7.2MP camera, 2007")
    '72mp dscw55'
    >>> codes_of("Adobe Photoshop CS") is None
    True
    """
    if not isinstance(value, str):
        return None
    found = set()
    for word in _WORD.findall(value.casefold()):
        code = _JOINERS.sub("", word)
        if len(code) >= _LEAST and re.search(r"\d", code) and re.search(r"[a-z]", code):
            found.add(code)
    return " ".join(sorted(found)) or None


def code_column(column: pd.Series) -> pd.Series:
    """:func:`codes_of` of each value of ``column`` (each distinct value read once), as a
    column of text (None where there is no code): the fast path."""
    at, distinct = pd.factorize(column, use_na_sentinel=True)
    made = np.array([codes_of(v) for v in distinct] + [None], dtype=object)
    return pd.Series(made[at], index=column.index, dtype=object)  # -1 (missing): None


def holds_codes(column: pd.Series, *, sample: int = 2000, seed: int = 0) -> bool:
    """Whether a column is text of several words (a title, a name, a description) that
    holds model codes often enough to compare them as a field of their own: at least
    :data:`CODE_SHARE` of its values hold one, and half of them are two words or more
    (a column of codes alone, or of IDs, is compared as it is).

    >>> holds_codes(pd.Series(["HP LaserJet 4000n", "Canon PowerShot S400 camera"]))
    True
    >>> holds_codes(pd.Series(["rec-1-org", "rec-2-dup-0"]))
    False
    """
    if pd.api.types.is_numeric_dtype(column.dtype):
        return False
    if len(column) > sample:  # rows drawn by position: no pass over a large column
        column = column.iloc[np.random.default_rng(seed).integers(0, len(column), sample)]
    present = column.dropna()
    if not len(present):
        return False
    words = present.astype(str).str.strip().str.contains(r"\s", regex=True).mean()
    return bool(words >= 0.5 and code_column(present).notna().mean() >= CODE_SHARE)
