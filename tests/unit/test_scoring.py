"""Normalisation and scorers: every score in [0, 1], missing values stay missing."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import distance, fuzz

from matching.engine.scoring import (
    normalize,
    normalize_codes,
    normalize_column,
    score_matrix,
    score_pair,
    score_pairs,
)
from matching.engine.spec import SCORERS, Normalization
from matching.engine.tfidf import TfidfModel

RAW = Normalization(casefold=False, strip_accents=False, collapse=False)

#: Scorers that need nothing but the two values (``tfidf`` needs a model fitted on both tables).
PLAIN = tuple(s for s in SCORERS if s != "tfidf")

#: For each scorer: a pair it scores 1, and the rapidfuzz value it must match on another pair.
REFERENCE = {
    "qratio": lambda a, b: fuzz.QRatio(a, b) / 100,
    "ratio": lambda a, b: fuzz.ratio(a, b) / 100,
    "wratio": lambda a, b: fuzz.WRatio(a, b) / 100,
    "token_sort": lambda a, b: fuzz.token_sort_ratio(a, b) / 100,
    "token_set": lambda a, b: fuzz.token_set_ratio(a, b) / 100,
    "partial": lambda a, b: fuzz.partial_ratio(a, b) / 100,
    "jaro_winkler": distance.JaroWinkler.normalized_similarity,
    "levenshtein": distance.Levenshtein.normalized_similarity,
    "exact": lambda a, b: float(a == b),
    # Text that does not read as a date is compared by scaled Levenshtein similarity.
    "date": lambda a, b: 1.0 if a == b else 0.6 * distance.Levenshtein.normalized_similarity(a, b),
}


@pytest.mark.parametrize("scorer", PLAIN)
def test_scorer_matches_rapidfuzz_scaled_to_unit_range(scorer):
    pairs = [("smith", "smith"), ("smith", "smyth"), ("jon smith", "smith jon"), ("ab", "xyz")]
    for a, b in pairs:
        assert score_pair(a, b, scorer) == pytest.approx(REFERENCE[scorer](a, b), abs=1e-12)
    assert score_pair("smith", "smith", scorer) == 1.0


@pytest.mark.parametrize("scorer", PLAIN)
def test_matrix_and_pairs_agree_with_the_per_pair_reference(scorer):
    left = ["smith", "jon smith", "müller", "o brien"]
    right = ["smyth", "smith jon", "muller", "obrien", "smith"]
    matrix = score_matrix(left, right, scorer, workers=1)
    expected = np.array([[score_pair(a, b, scorer) for b in right] for a in left])
    np.testing.assert_allclose(matrix, expected, rtol=0, atol=1e-12)
    pairs = score_pairs(left, right[:4], scorer, workers=1)
    np.testing.assert_allclose(pairs, np.diag(expected[:, :4]), rtol=0, atol=1e-12)


@pytest.mark.parametrize("scorer", SCORERS)
def test_score_pair_of_a_missing_value_is_nan(scorer):
    assert math.isnan(score_pair(None, "smith", scorer))
    assert math.isnan(score_pair("smith", None, scorer))


@pytest.mark.parametrize("scorer", ["qratio", "ratio", "token_sort", "levenshtein", "exact"])
def test_symmetric_scorers_are_symmetric(scorer):
    assert score_pair("johnson", "jonson", scorer) == score_pair("jonson", "johnson", scorer)


@pytest.mark.parametrize(
    ("norm", "value", "expected"),
    [
        (Normalization(), "  José   O'Brien ", "jose o brien"),
        (Normalization(casefold=False), "José O'Brien", "Jose O Brien"),
        (Normalization(strip_accents=False), "José O'Brien", "josé o brien"),
        (Normalization(collapse=False), "José  O'Brien", "jose  o'brien"),
        (RAW, " José  O'Brien ", "José  O'Brien"),
        (Normalization(), "STRASSE", "strasse"),
        (Normalization(), "Straße", "strasse"),
        (Normalization(), "Ærøskøbing", "ærøskøbing"),
        (Normalization(), "Zoë-Ann", "zoe ann"),
        (Normalization(), "北京 市", "北京 市"),
        (Normalization(), 12345, "12345"),
    ],
)
def test_each_normalisation_option(norm, value, expected):
    assert normalize(value, norm) == expected


@pytest.mark.parametrize("value", [None, float("nan"), np.nan, pd.NA, "", "   ", "?!", "--"])
def test_missing_and_empty_values_normalise_to_none(value):
    assert normalize(value, Normalization()) is None


def test_punctuation_is_kept_without_collapse():
    assert normalize("?!", RAW) == "?!"


def test_normalize_column_matches_normalize_value_by_value():
    values = ["Ana", "ANA", None, "Ana", float("nan"), pd.NA, "Åsa", 1, "1", True]
    norm = Normalization()
    assert normalize_column(values, norm) == [normalize(v, norm) for v in values]


def test_accent_stripping_lets_accented_names_match():
    a, b = normalize("Zoë Núñez", Normalization()), normalize("ZOE NUNEZ", Normalization())
    assert score_pair(a, b, "qratio") == 1.0


text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@settings(max_examples=200, deadline=None)
@given(a=text, b=text, scorer=st.sampled_from(PLAIN))
def test_scores_stay_within_unit_range(a, b, scorer):
    norm = Normalization()
    na, nb = normalize(a, norm), normalize(b, norm)
    value = score_pair(na, nb, scorer)
    if na is None or nb is None:
        assert math.isnan(value)
    else:
        assert 0.0 <= value <= 1.0
        matrix = score_matrix([na], [nb], scorer, workers=1)
        assert 0.0 <= matrix[0, 0] <= 1.0


@settings(max_examples=300, deadline=None)
@given(value=st.text(alphabet=st.characters(max_codepoint=127), max_size=20))
def test_ascii_collapse_matches_the_regex_definition(value):
    import re

    slow = re.sub(r"\s+", " ", re.sub(r"[^\w\s]+", " ", value.casefold())).strip() or None
    assert normalize(value, Normalization()) == slow


@pytest.mark.parametrize("dtype", ["string", "string[pyarrow]", object])
def test_normalize_column_of_a_text_column_matches_normalize_value_by_value(dtype):
    values = ["José", None, "  josé ", "O'Brien", "", "José", "OBRIEN", "?!"]
    column = pd.Series(values, dtype=dtype)
    norm = Normalization()
    assert normalize_column(column, norm) == [normalize(v, norm) for v in column]


# ASCII controls, punctuation, white space of every kind, accents, ligatures and CJK.
messy = st.one_of(
    st.none(),
    st.text(
        alphabet=st.one_of(
            st.characters(max_codepoint=127),
            st.sampled_from(list("éÉßæøÅñ ﬁ\u0301\u00a0\u2003\u3000北京Ⅻ²_")),
        ),
        max_size=12,
    ),
)
norms = st.builds(Normalization, st.booleans(), st.booleans(), st.booleans())


@settings(max_examples=300, deadline=None)
@given(values=st.lists(messy, max_size=30), norm=norms, dtype=st.sampled_from([object, "str"]))
def test_columnar_normalisation_equals_normalize_value_by_value(values, norm, dtype):
    column = pd.Series(values, dtype=dtype)
    expected = [normalize(v, norm) for v in values]
    codes, uniques = normalize_codes(column, norm)
    assert np.append(uniques, None)[codes].tolist() == expected
    assert uniques.tolist() == list(dict.fromkeys(v for v in expected if v is not None))
    assert normalize_column(column, norm) == expected


def test_normalize_codes_of_mixed_values_falls_back_to_each_value():
    values = pd.Series(["Ana", 1, 1.0, True, None, "1"], dtype=object)
    codes, uniques = normalize_codes(values, Normalization())
    expected = [normalize(v, Normalization()) for v in values]
    assert (
        np.append(uniques, None)[codes].tolist()
        == expected
        == ["ana", "1", "1 0", "true", None, "1"]
    )


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1990 05 06", "1990 05 06", 1.0),
        ("1990 05 06", "06 05 1990", 1.0),  # day first
        ("1990 05 06", "19900506", 1.0),
        ("1990 05 06", "1990 06 05", 0.8),  # day and month swapped
        ("1990 05 06", "1991 05 06", 0.6),  # one part differs
        ("1990 05 06", "1990 05 07", 0.6),
        ("1990 05 06", "1991 07 06", 0.0),
        ("1990 05 06", "1990 05", 0.6 * 0.7),  # not a date: scaled Levenshtein
    ],
)
def test_date_scorer_reads_dates(a, b, expected):
    assert score_pair(a, b, "date") == pytest.approx(expected)
    assert score_matrix([a], [b], "date")[0, 0] == pytest.approx(expected)
    assert score_pairs([a], [b], "date")[0] == pytest.approx(expected)


@settings(max_examples=100, deadline=None)
@given(
    left=st.lists(st.text("ab c1", max_size=12), min_size=1, max_size=6),
    right=st.lists(st.text("ab c1", max_size=12), min_size=1, max_size=6),
)
def test_tfidf_matrix_and_pairs_agree_with_the_per_pair_reference(left, right):
    norm = Normalization()
    left = [normalize(v, norm) or "x" for v in left]
    right = [normalize(v, norm) or "x" for v in right]
    model = TfidfModel([*left, *right])
    matrix = score_matrix(left, right, "tfidf", model=model)
    expected = np.array([[score_pair(a, b, "tfidf", model=model) for b in right] for a in left])
    np.testing.assert_allclose(matrix, expected, rtol=0, atol=1e-12)
    assert ((matrix >= 0) & (matrix <= 1)).all()
    n = min(len(left), len(right))
    pairs = score_pairs(left[:n], right[:n], "tfidf", model=model)
    np.testing.assert_allclose(pairs, np.diag(expected[:n, :n]), rtol=0, atol=1e-12)
    # Texts the model was not fitted on (each distinct one transformed once), repeated.
    partial = TfidfModel(left)
    queries, choices = [*left, *left][: 2 * n], [*right, *right][: 2 * n]
    plain = [score_pair(a, b, "tfidf", model=partial) for a, b in zip(queries, choices)]
    fast = score_pairs(queries, choices, "tfidf", model=partial)
    np.testing.assert_allclose(fast, plain, rtol=0, atol=1e-12)
    # Both ways of multiplying pairs: distinct texts all against all (in one block, and
    # in blocks of a few products), and pair by pair.
    import matching.engine.tfidf as tfidf

    for grid, most in ((True, tfidf._GRID_MOST), (True, 3), (False, tfidf._GRID_MOST)):
        kept, tfidf._GRID_MOST = tfidf._GRID_MOST, most
        try:
            each = partial.pairs(queries, choices, grid=grid)
        finally:
            tfidf._GRID_MOST = kept
        np.testing.assert_allclose(each, plain, rtol=0, atol=1e-12)


def test_tfidf_rare_words_count_more_than_common_ones():
    texts = ["acme widget pro", "acme widget mini", "acme gizmo pro", "zenith widget pro"]
    model = TfidfModel(texts)
    # "zenith" is rare and "acme" common: sharing the rare word weighs more.
    assert model.pair("zenith widget", "zenith widget pro") > model.pair(
        "acme widget", "acme widget pro"
    )
    assert score_pair("acme widget pro", "acme widget pro", "tfidf", model=model) == 1.0
    with pytest.raises(ValueError, match="needs a model"):
        score_pair("a", "b", "tfidf")


@pytest.mark.parametrize(
    ("value", "norm", "expected"),
    [
        ("1999.0", Normalization(numbers=True), "1999"),
        (1999.0, Normalization(numbers=True), "1999"),
        (" 1999 ", Normalization(numbers=True), "1999"),
        ("2.50", Normalization(numbers=True), "2 5"),
        ("1e3", Normalization(numbers=True), "1000"),
        ("12a", Normalization(numbers=True), "12a"),
        ("1999.0", Normalization(), "1999 0"),
        ("(02) 9876-5432", Normalization(digits=True), "0298765432"),
        ("+61 2 9876 5432", Normalization(digits=True), "61298765432"),
        ("n/a", Normalization(digits=True), None),
        ("  smith   ", Normalization(), "smith"),
    ],
)
def test_normalisation_by_kind(value, norm, expected):
    assert normalize(value, norm) == expected
    codes, uniques = normalize_codes(pd.Series([value, value], dtype=object), norm)
    assert (uniques[codes[0]] if codes[0] >= 0 else None) == expected


_DATE_TEXT = st.one_of(
    st.none(),
    st.sampled_from(["1990 05 06", "06/05/1990", "19900506", "1990-13-01", "x", ""]),
    st.text(alphabet="0123456789/- ", max_size=12),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_DATE_TEXT, max_size=40))
def test_date_parts_reads_each_distinct_value_once_as_the_plain_reference_reads_all(values):
    from matching.engine.scoring import date_parts, date_parts_plain

    assert np.array_equal(date_parts(values), date_parts_plain(values))
    assert date_parts(values).shape == (len(values), 3)
