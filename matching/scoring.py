"""Normalisation and the rapidfuzz scorers, all scaled to [0, 1]."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from rapidfuzz import distance, fuzz, process

from matching.spec import Normalization

__all__ = [
    "normalize",
    "normalize_column",
    "normalize_codes",
    "score_pair",
    "score_matrix",
    "score_pairs",
]

_PUNCT = re.compile(r"[^\w\s]+", re.UNICODE)
_SPACE = re.compile(r"\s+", re.UNICODE)
#: ASCII characters that ``_PUNCT`` turns into spaces: the fast path for ASCII text.
_ASCII_PUNCT = {i: " " for i in range(128) if _PUNCT.match(chr(i))}

# name -> (rapidfuzz scorer, divisor that maps its range onto [0, 1])
_RAPIDFUZZ: dict[str, tuple[Callable, float]] = {
    "qratio": (fuzz.QRatio, 100.0),
    "ratio": (fuzz.ratio, 100.0),
    "wratio": (fuzz.WRatio, 100.0),
    "token_sort": (fuzz.token_sort_ratio, 100.0),
    "token_set": (fuzz.token_set_ratio, 100.0),
    "partial": (fuzz.partial_ratio, 100.0),
    "jaro_winkler": (distance.JaroWinkler.normalized_similarity, 1.0),
    "levenshtein": (distance.Levenshtein.normalized_similarity, 1.0),
}


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and value != value


def normalize(value: object, norm: Normalization) -> str | None:
    """Clean one value; ``None`` when it is missing or empty after cleaning.

    >>> normalize("  José   O'Brien ", Normalization())
    'jose o brien'
    """
    if _is_missing(value):
        return None
    text = str(value)
    if norm.strip_accents and not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    if norm.casefold:
        text = text.casefold()
    if norm.collapse:
        if text.isascii():
            # Same result as the regexes below, several times faster on the common case.
            return " ".join(text.translate(_ASCII_PUNCT).split()) or None
        text = _SPACE.sub(" ", _PUNCT.sub(" ", text))
    text = text.strip()
    return text or None


def normalize_column(values: Iterable[object], norm: Normalization) -> list[str | None]:
    """:func:`normalize` over a column, cleaning each distinct value once."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.StringDtype):
        # Text (or missing) only, so equal values clean alike: group them in C first.
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        cleaned = [normalize(v, norm) for v in uniques]
        return np.array([*cleaned, None], dtype=object)[codes].tolist()
    cache: dict[object, str | None] = {}
    out = []
    for v in values:
        # Keyed by type too: 1, 1.0 and True are equal dict keys but clean differently.
        key = None if _is_missing(v) else (type(v), v)
        if key not in cache:
            cache[key] = normalize(v, norm)
        out.append(cache[key])
    return out


def normalize_codes(values: Iterable[object], norm: Normalization) -> tuple[np.ndarray, np.ndarray]:
    """Cleaned values as codes into their distinct values.

    Returns
    -------
    codes : ndarray of int64
        One per value, -1 where it is missing or empty after cleaning.
    uniques : ndarray of object
        The distinct cleaned values (``str``), in order of first appearance.
    """
    cleaned = pd.Series(normalize_column(values, norm), dtype=object)
    codes, uniques = pd.factorize(cleaned, use_na_sentinel=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def score_pair(a: str | None, b: str | None, scorer: str) -> float:
    """Score two cleaned values in [0, 1]; NaN when either is missing.

    This is the per-pair reference that the vectorised paths must agree with.
    """
    if a is None or b is None:
        return float("nan")
    if scorer == "exact":
        return 1.0 if a == b else 0.0
    fn, scale = _RAPIDFUZZ[scorer]
    return float(fn(a, b, processor=None)) / scale


def score_matrix(
    queries: Sequence[str], choices: Sequence[str], scorer: str, *, workers: int = -1
) -> np.ndarray:
    """All-against-all scores in [0, 1] as a float64 array of shape (len(queries), len(choices))."""
    if scorer == "exact":
        q = np.asarray(queries, dtype=object)
        c = np.asarray(choices, dtype=object)
        return (q[:, None] == c[None, :]).astype(np.float64)
    fn, scale = _RAPIDFUZZ[scorer]
    m = process.cdist(
        queries, choices, scorer=fn, processor=None, dtype=np.float64, workers=workers
    )
    if scale != 1.0:
        m /= scale
    return m


def score_pairs(
    queries: Sequence[str], choices: Sequence[str], scorer: str, *, workers: int = -1
) -> np.ndarray:
    """Element-wise scores in [0, 1]: ``queries[i]`` against ``choices[i]``."""
    if scorer == "exact":
        q = np.asarray(queries, dtype=object)
        c = np.asarray(choices, dtype=object)
        return (q == c).astype(np.float64)
    fn, scale = _RAPIDFUZZ[scorer]
    v = process.cpdist(
        queries, choices, scorer=fn, processor=None, dtype=np.float64, workers=workers
    )
    if scale != 1.0:
        v /= scale
    return v
