"""Normalisation and the rapidfuzz scorers, all scaled to [0, 1]."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import distance, fuzz, process

from matching.engine.spec import Normalization
from matching.engine.tfidf import TfidfModel

__all__ = [
    "normalize",
    "normalize_column",
    "normalize_codes",
    "score_pair",
    "score_matrix",
    "score_pairs",
    "parse_date",
    "date_parts",
    "date_parts_plain",
    "DATE_SCORES",
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


#: The ``date`` scorer: the same date; the same year with day and month swapped; two of
#: the three parts the same (a slip in one); otherwise 0. A value that does not read as a
#: date is compared as text instead: 1 when the same, else its Levenshtein similarity
#: scaled by ``unreadable``.
DATE_SCORES = {"same": 1.0, "swapped": 0.8, "one_part": 0.6, "unreadable": 0.6}

_DATE_PARTS = re.compile(r"^(\d{1,4})\D+(\d{1,2})\D+(\d{1,4})(?:\D|$)")
_DATE_DIGITS = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:\D|$)")


def parse_date(text: str | None) -> tuple[int, int, int] | None:
    """``(year, month, day)`` of a date written year first or day first, else None.

    Reads ``1990-05-06``, ``1990 05 06`` (a cleaned ISO date), ``19900506``,
    ``06/05/1990`` (day first) and ``05/16/1990`` (month first, when the first
    part cannot be a month); a time after the date is ignored.

    >>> parse_date("1990 05 06"), parse_date("6/5/1990"), parse_date("1990-13-01")
    ((1990, 5, 6), (1990, 5, 6), None)
    """
    if not text:
        return None
    m = _DATE_PARTS.match(text) or _DATE_DIGITS.match(text)
    if m is None:
        return None
    a, b, c = m.groups()
    if len(a) == 4:
        year, month, day = int(a), int(b), int(c)
    elif len(c) == 4:
        day, month, year = int(a), int(b), int(c)
        if month > 12 >= day:
            day, month = month, day
    else:
        return None
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return year, month, day


def date_parts_plain(values: Sequence[str | None]) -> np.ndarray:
    """Each value's (year, month, day); a row of -1 where it does not read as a date.

    The plain reference of :func:`date_parts`, which reads each distinct value once.
    """
    parsed = [parse_date(v) or (-1, -1, -1) for v in values]
    return np.array(parsed, dtype=np.int64).reshape(len(parsed), 3)


def date_parts(values: Sequence[str | None]) -> np.ndarray:
    """As :func:`date_parts_plain`, parsing each distinct value once: the pairs of a run
    repeat each record's date many times over.

    >>> date_parts(["1990 05 06", None, "1990 05 06", "x"]).tolist()
    [[1990, 5, 6], [-1, -1, -1], [1990, 5, 6], [-1, -1, -1]]
    """
    codes, distinct = pd.factorize(np.asarray(values, dtype=object))
    # A last row of -1 for the missing values (code -1).
    parsed = np.vstack([date_parts_plain(list(distinct)), np.full((1, 3), -1, np.int64)])
    return parsed[codes]


def _date_score(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Date scores of parsed dates ``a`` and ``b`` (broadcast over their leading axes)."""
    same = (a == b).sum(axis=-1)
    swapped = (a[..., 0] == b[..., 0]) & (a[..., 1] == b[..., 2]) & (a[..., 2] == b[..., 1])
    s = DATE_SCORES
    return np.where(
        same == 3,
        s["same"],
        np.where(swapped, s["swapped"], np.where(same == 2, s["one_part"], 0.0)),
    )


def _unreadable(a: str, b: str) -> float:
    if a == b:
        return 1.0
    return DATE_SCORES["unreadable"] * distance.Levenshtein.normalized_similarity(a, b)


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and value != value


_NUMBER = re.compile(r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$")
_NOT_DIGIT = re.compile(r"\D+")


def _number_text(text: str) -> str:
    """A number written the one way (``1999.0`` -> ``1999``); other text as it is.

    >>> _number_text("1999.0"), _number_text(" 2.50 "), _number_text("1e3"), _number_text("12a")
    ('1999', '2.5', '1000', '12a')
    """
    if len(text) > 40 or not _NUMBER.match(text):
        return text
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return text
    if not value.is_finite():
        return text
    if value == value.to_integral_value():
        return format(value.to_integral_value(), "f")
    return format(value.normalize(), "f")


def normalize(value: object, norm: Normalization) -> str | None:
    """Clean one value; ``None`` when it is missing or empty after cleaning.

    >>> normalize("  José   O'Brien ", Normalization())
    'jose o brien'
    >>> normalize(1999.0, Normalization(numbers=True))
    '1999'
    >>> normalize("(02) 98-76", Normalization(digits=True))
    '029876'
    """
    if _is_missing(value):
        return None
    text = str(value)
    if norm.digits:
        return _NOT_DIGIT.sub("", text) or None
    if norm.numbers:
        text = _number_text(text)
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


#: ASCII characters Python counts as white space (``str.split``, ``str.strip``, ``\\s``).
_ASCII_SPACE = " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"


def _as_text_array(values: Iterable[object]) -> pa.Array | None:
    """The values as an Arrow string array when each is text or missing, else None."""
    if isinstance(values, pd.Series):
        if isinstance(values.dtype, (pd.StringDtype, pd.ArrowDtype)) or values.dtype == object:
            try:
                array = pa.array(values, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                return None
        else:
            return None
    else:
        values = list(values)
        if not all(v is None or isinstance(v, str) for v in values):
            return None
        array = pa.array(values, type=pa.string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_null(array.type):
        return array.cast(pa.string())
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    return array


def _normalize_distinct(texts: pa.Array, norm: Normalization) -> np.ndarray:
    """:func:`normalize` of each text (no missing ones): Arrow kernels for ASCII text."""
    if norm.numbers or norm.digits:
        return np.array([normalize(v, norm) for v in texts.to_pylist()] or [], dtype=object)
    out = np.empty(len(texts), dtype=object)
    ascii_mask = pc.string_is_ascii(texts).to_numpy(zero_copy_only=False)
    wide = np.flatnonzero(~ascii_mask)
    out[wide] = [normalize(v, norm) for v in texts.take(pa.array(wide)).to_pylist()]
    narrow = np.flatnonzero(ascii_mask)
    text = texts.take(pa.array(narrow))
    if norm.casefold:
        text = pc.ascii_lower(text)
    if norm.collapse:
        # Every ASCII character that is not a word character is punctuation or white
        # space, and both become one space: the same as normalize's translate + split.
        text = pc.replace_substring_regex(text, r"[^A-Za-z0-9_]+", " ")
        text = pc.utf8_trim(text, " ")
    else:
        text = pc.utf8_trim(text, _ASCII_SPACE)
    cleaned = text.to_numpy(zero_copy_only=False).astype(object)
    cleaned[cleaned == ""] = None
    out[narrow] = cleaned
    return out


def normalize_codes(values: Iterable[object], norm: Normalization) -> tuple[np.ndarray, np.ndarray]:
    """Cleaned values as codes into their distinct values, the same as :func:`normalize`.

    A text column (``str`` or missing values) is cleaned in Arrow: each distinct
    value once, ASCII ones with Arrow's string kernels and the rest with
    :func:`normalize`. Other columns fall back to :func:`normalize` per
    distinct value.

    Returns
    -------
    codes : ndarray of int64
        One per value, -1 where it is missing or empty after cleaning.
    uniques : ndarray of object
        The distinct cleaned values (``str``), in order of first appearance.

    Examples
    --------
    >>> codes, uniques = normalize_codes(["Ann", None, "ANN ", "Bob!"], Normalization())
    >>> codes.tolist(), uniques.tolist()
    ([0, -1, 0, 1], ['ann', 'bob'])
    """
    array = _as_text_array(values)
    if array is None:
        cleaned = pd.Series(_normalize_each(values, norm), dtype=object)
        codes, uniques = pd.factorize(cleaned, use_na_sentinel=True)
        return codes.astype(np.int64), np.asarray(uniques, dtype=object)
    encoded = array.dictionary_encode()
    raw = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    cleaned = _normalize_distinct(encoded.dictionary, norm)
    # Distinct raw values may clean alike ("Ann", "ANN "): code the cleaned ones.
    per_raw, uniques = pd.factorize(pd.Series(cleaned, dtype=object), use_na_sentinel=True)
    codes = np.append(per_raw.astype(np.int64), -1)[raw]
    # Renumber in order of first appearance in the column, as pd.factorize does.
    renumber, seen = pd.factorize(codes)
    present = seen >= 0
    rank = np.where(present, np.cumsum(present) - 1, -1)
    return rank[renumber].astype(np.int64), np.asarray(uniques, dtype=object)[seen[present]]


def normalize_column(values: Iterable[object], norm: Normalization) -> list[str | None]:
    """:func:`normalize` over a column, cleaning each distinct value once."""
    array = _as_text_array(values) if isinstance(values, pd.Series) else None
    if array is None:
        return _normalize_each(values, norm)
    codes, uniques = normalize_codes(values, norm)
    return np.append(uniques, None)[codes].tolist()


def _normalize_each(values: Iterable[object], norm: Normalization) -> list[str | None]:
    cache: dict[object, str | None] = {}
    out = []
    for v in values:
        # Keyed by type too: 1, 1.0 and True are equal dict keys but clean differently.
        key = None if _is_missing(v) else (type(v), v)
        if key not in cache:
            cache[key] = normalize(v, norm)
        out.append(cache[key])
    return out


def score_pair(
    a: str | None, b: str | None, scorer: str, *, model: TfidfModel | None = None
) -> float:
    """Score two cleaned values in [0, 1]; NaN when either is missing.

    This is the per-pair reference that the vectorised paths must agree with.
    ``model``: the fitted :class:`~matching.engine.tfidf.TfidfModel` of a ``tfidf`` field.
    """
    if a is None or b is None:
        return float("nan")
    if scorer == "tfidf":
        return _model(model).pair(a, b)
    if scorer == "exact":
        return 1.0 if a == b else 0.0
    if scorer == "date":
        da, db = parse_date(a), parse_date(b)
        if da is None or db is None:
            return _unreadable(a, b)
        return float(_date_score(np.array(da), np.array(db)))
    fn, scale = _RAPIDFUZZ[scorer]
    return float(fn(a, b, processor=None)) / scale


def _model(model: TfidfModel | None) -> TfidfModel:
    if model is None:
        raise ValueError("the tfidf scorer needs a model fitted on both tables")
    return model


def score_matrix(
    queries: Sequence[str],
    choices: Sequence[str],
    scorer: str,
    *,
    workers: int = -1,
    model: TfidfModel | None = None,
) -> np.ndarray:
    """All-against-all scores in [0, 1] as a float64 array of shape (len(queries), len(choices))."""
    if scorer == "tfidf":
        return _model(model).matrix(queries, choices)
    if scorer == "exact":
        q = np.asarray(queries, dtype=object)
        c = np.asarray(choices, dtype=object)
        return (q[:, None] == c[None, :]).astype(np.float64)
    if scorer == "date":
        return _date_matrix(queries, choices, workers)
    fn, scale = _RAPIDFUZZ[scorer]
    m = process.cdist(
        queries, choices, scorer=fn, processor=None, dtype=np.float64, workers=workers
    )
    if scale != 1.0:
        m /= scale
    return m


def score_pairs(
    queries: Sequence[str],
    choices: Sequence[str],
    scorer: str,
    *,
    workers: int = -1,
    model: TfidfModel | None = None,
) -> np.ndarray:
    """Element-wise scores in [0, 1]: ``queries[i]`` against ``choices[i]``."""
    if scorer == "tfidf":
        return _model(model).pairs(queries, choices)
    if scorer == "exact":
        q = np.asarray(queries, dtype=object)
        c = np.asarray(choices, dtype=object)
        return (q == c).astype(np.float64)
    if scorer == "date":
        return _date_pairs(queries, choices, workers)
    fn, scale = _RAPIDFUZZ[scorer]
    v = process.cpdist(
        queries, choices, scorer=fn, processor=None, dtype=np.float64, workers=workers
    )
    if scale != 1.0:
        v /= scale
    return v


def _date_matrix(queries: Sequence[str], choices: Sequence[str], workers: int) -> np.ndarray:
    q, c = date_parts(queries), date_parts(choices)
    out = _date_score(q[:, None, :], c[None, :, :]).astype(np.float64)
    bad_q = np.flatnonzero(q[:, 0] < 0)
    bad_c = np.flatnonzero(c[:, 0] < 0)
    if len(bad_q) and len(choices):
        out[bad_q, :] = _unreadable_matrix([queries[i] for i in bad_q], list(choices), workers)
    if len(bad_c) and len(queries):
        out[:, bad_c] = _unreadable_matrix(list(queries), [choices[j] for j in bad_c], workers)
    return out


def _unreadable_matrix(queries: list[str], choices: list[str], workers: int) -> np.ndarray:
    lev = distance.Levenshtein.normalized_similarity
    m = process.cdist(
        queries, choices, scorer=lev, processor=None, dtype=np.float64, workers=workers
    )
    same = np.asarray(queries, dtype=object)[:, None] == np.asarray(choices, dtype=object)[None, :]
    return np.where(same, 1.0, DATE_SCORES["unreadable"] * m)


def _date_pairs(queries: Sequence[str], choices: Sequence[str], workers: int) -> np.ndarray:
    q, c = date_parts(queries), date_parts(choices)
    out = _date_score(q, c).astype(np.float64)
    bad = np.flatnonzero((q[:, 0] < 0) | (c[:, 0] < 0))
    if len(bad):
        a, b = [queries[i] for i in bad], [choices[i] for i in bad]
        lev = distance.Levenshtein.normalized_similarity
        v = process.cpdist(a, b, scorer=lev, processor=None, dtype=np.float64, workers=workers)
        same = np.asarray(a, dtype=object) == np.asarray(b, dtype=object)
        out[bad] = np.where(same, 1.0, DATE_SCORES["unreadable"] * v)
    return out
