"""Candidate generation: scores, missing values, order, top_k, chunking and blocking."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.engine import full
from matching.engine.blocking import KEY_NORMALIZATION
from matching.engine.candidates import count_pairs, generate_candidates
from matching.engine.demo import generate_tables
from matching.engine.scoring import normalize, score_pair
from matching.engine.spec import SCORERS, Block, Field, Normalization, Spec
from matching.engine.tfidf import TfidfModel

COLUMNS = ["left_id", "right_id", "score"]


def one_field(name: str = "name", **kwargs) -> Spec:
    return Spec(fields=(Field(name, **kwargs),))


@pytest.fixture(scope="module")
def people():
    tables = generate_tables(300, seed=7)
    return tables.owners, tables.cars, tables.links


def brute_force(left, right, spec, *, keep=0.0):
    """Every pair scored with normalize + score_pair, weighted mean over present fields."""
    rows = []
    models = {}
    for f in spec.fields:
        if f.scorer == "tfidf":
            texts = [normalize(v, f.normalization) for v in [*left[f.left], *right[f.right]]]
            models[f.name] = TfidfModel([t for t in texts if t])
    for i, j in itertools.product(range(len(left)), range(len(right))):
        num = den = 0.0
        fields = []
        for f in spec.fields:
            a = normalize(left[f.left].iloc[i], f.normalization)
            b = normalize(right[f.right].iloc[j], f.normalization)
            s = score_pair(a, b, f.scorer, model=models.get(f.name))
            fields.append(s)
            if not np.isnan(s):
                num += f.weight * s
                den += f.weight
        if den > 0 and num / den >= keep:
            rows.append([i, j, num / den, *fields])
    names = COLUMNS + [f"score_{f.name}" for f in spec.fields]
    frame = pd.DataFrame(rows, columns=names).astype({"left_id": np.int64, "right_id": np.int64})
    return frame.astype({c: np.float64 for c in names[2:]})


def by_pair(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["left_id", "right_id"], ignore_index=True)


def assert_ranked(result: pd.DataFrame) -> None:
    """Rows by left record, then score descending, ties by right record."""
    keys = list(zip(result["left_id"], -result["score"], result["right_id"]))
    assert keys == sorted(keys)


def test_docstring_example_scores_and_orders_pairs():
    left = pd.DataFrame({"name": ["Smith", "Jones"]})
    right = pd.DataFrame({"name": ["smith", "Jonas", "Brown"]})
    result = generate_candidates(left, right, one_field(), keep=0.5)
    expected = pd.DataFrame(
        {"left_id": [0, 1], "right_id": [0, 1], "score": [1.0, 0.8], "score_name": [1.0, 0.8]}
    )
    pd.testing.assert_frame_equal(result, expected)


def test_ids_come_from_the_id_columns():
    left = pd.DataFrame({"id": ["007", "008"], "name": ["Ann", "Bob"]})
    right = pd.DataFrame({"key": ["A1", "B2"], "name": ["Bob", "Ann"]})
    spec = Spec(fields=(Field("name"),), left_id="id", right_id="key")
    result = generate_candidates(left, right, spec, keep=1.0)
    assert result[["left_id", "right_id"]].values.tolist() == [["007", "B2"], ["008", "A1"]]


def test_result_is_sorted_by_left_then_score_then_right_index():
    left = pd.DataFrame({"name": ["anna", "bob"]})
    right = pd.DataFrame({"name": ["bobby", "anne", "bob", "anna", "anne"]})
    result = generate_candidates(left, right, one_field(scorer="ratio"), keep=0.0, top_k=None)
    assert result["left_id"].tolist() == [0] * 5 + [1] * 5
    first = result[result["left_id"] == 0]
    # anna: itself first, then the two equal "anne" ties by right index, then the rest.
    assert first["right_id"].tolist()[:3] == [3, 1, 4]
    assert_ranked(result)
    assert result.index.equals(pd.RangeIndex(len(result)))


@pytest.mark.parametrize("top_k", [1, 2, 3, None])
def test_top_k_keeps_the_best_pairs_per_left_record(top_k):
    left = pd.DataFrame({"name": ["anna", "bob", "carl"]})
    right = pd.DataFrame({"name": ["anne", "anna", "bobby", "bob", "karl", "anja"]})
    every = generate_candidates(left, right, one_field(), keep=0.0, top_k=None)
    result = generate_candidates(left, right, one_field(), keep=0.0, top_k=top_k)
    expected = every.groupby("left_id").head(top_k or len(right)).reset_index(drop=True)
    pd.testing.assert_frame_equal(result, expected)
    assert result.groupby("left_id").size().max() == min(top_k or len(right), len(right))


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.8, 1.0])
def test_keep_drops_pairs_scoring_below_it(keep):
    left = pd.DataFrame({"name": ["anna", "bob", "carl"]})
    right = pd.DataFrame({"name": ["anne", "anna", "bobby", "bob", "karl", "anja"]})
    every = generate_candidates(left, right, one_field(), keep=0.0, top_k=None)
    result = generate_candidates(left, right, one_field(), keep=keep, top_k=None)
    expected = every[every["score"] >= keep].reset_index(drop=True)
    pd.testing.assert_frame_equal(result, expected)


def test_ties_at_the_top_k_boundary_keep_the_lower_right_index():
    left = pd.DataFrame({"name": ["ann"]})
    right = pd.DataFrame({"name": ["anx", "ann", "any", "anz"]})
    result = generate_candidates(left, right, one_field(), keep=0.0, top_k=2)
    assert result["right_id"].tolist() == [1, 0]


@pytest.mark.parametrize("scorer", SCORERS)
def test_each_scorer_gives_the_reference_score(scorer):
    left = pd.DataFrame({"name": ["Jon Smith", "Müller", "O'Brien-Lee"]})
    right = pd.DataFrame({"name": ["smith jon", "MULLER", "obrien lee", "Jonathan Smyth"]})
    spec = one_field(scorer=scorer)
    result = generate_candidates(left, right, spec, keep=0.0, top_k=None)
    pd.testing.assert_frame_equal(
        by_pair(result), by_pair(brute_force(left, right, spec)), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("missing", [None, float("nan"), pd.NA, "", "  "])
def test_a_missing_value_leaves_its_field_out_and_reweights(missing):
    left = pd.DataFrame({"a": ["anna", missing], "b": ["smith", "jones"]}, dtype=object)
    right = pd.DataFrame({"a": ["anne"], "b": ["smith"]}, dtype=object)
    spec = Spec(fields=(Field("a", scorer="ratio", weight=3.0), Field("b", scorer="ratio")))
    result = generate_candidates(left, right, spec, keep=0.0, top_k=None)
    a = score_pair("anna", "anne", "ratio")
    b = score_pair("jones", "smith", "ratio")
    expected = pd.DataFrame(
        {
            "left_id": [0, 1],
            "right_id": [0, 0],
            "score": [(3 * a + 1.0) / 4, b],
            "score_a": [a, np.nan],
            "score_b": [1.0, b],
        }
    )
    pd.testing.assert_frame_equal(result, expected)


@pytest.mark.parametrize("missing", [None, float("nan"), pd.NA, ""])
def test_a_pair_with_no_shared_field_is_not_kept(missing):
    left = pd.DataFrame({"a": ["anna", missing], "b": [missing, "x"]}, dtype=object)
    right = pd.DataFrame({"a": [missing, "anna"], "b": ["x", missing]}, dtype=object)
    spec = Spec(fields=(Field("a"), Field("b")))
    for block in (None, Block("sorted", "a", size=3)):
        spec = Spec(fields=spec.fields, block=block)
        result = generate_candidates(left, right, spec, keep=0.0, top_k=None)
        pairs = list(zip(result["left_id"], result["right_id"]))
        assert (0, 0) not in pairs
        assert (1, 1) not in pairs
        assert result["score"].notna().all()


def test_a_missing_value_scores_neither_zero_nor_one():
    left = pd.DataFrame({"a": ["anna"], "b": [None]}, dtype=object)
    right = pd.DataFrame({"a": ["anne"], "b": ["smith"]}, dtype=object)
    result = generate_candidates(left, right, Spec(fields=(Field("a"), Field("b"))), keep=0.0)
    assert result["score"].iloc[0] == score_pair("anna", "anne", "qratio")


def test_unicode_values_match_across_accents_case_and_scripts():
    left = pd.DataFrame({"name": ["José Núñez", "Ærø", "北京", "Zoë"]})
    right = pd.DataFrame({"name": ["JOSE NUNEZ", "北京", "zoe", "aero"]})
    result = generate_candidates(left, right, one_field(), keep=1.0)
    assert sorted(zip(result["left_id"], result["right_id"])) == [(0, 0), (2, 1), (3, 2)]


def test_inputs_are_not_modified(people):
    left, right, _ = people
    before_left, before_right = left.copy(), right.copy()
    generate_candidates(left, right, one_field("surname"), keep=0.0)
    pd.testing.assert_frame_equal(left, before_left)
    pd.testing.assert_frame_equal(right, before_right)


@pytest.mark.parametrize("rows", [0, 1])
def test_empty_tables_give_an_empty_frame_with_every_column(rows):
    left = pd.DataFrame({"name": ["ann"] * rows}, dtype=object)
    right = pd.DataFrame({"name": []}, dtype=object)
    for a, b in ((left, right), (right, left)):
        result = generate_candidates(a, b, one_field(), keep=0.0)
        assert list(result.columns) == [*COLUMNS, "score_name"]
        assert len(result) == 0


def test_missing_column_error_names_the_column_and_side():
    left = pd.DataFrame({"name": ["ann"]})
    right = pd.DataFrame({"other": ["ann"]})
    with pytest.raises(ValueError, match=r"right table has no column 'name'"):
        generate_candidates(left, right, one_field())


@pytest.mark.parametrize(("kwargs", "message"), [({"keep": 1.5}, "keep"), ({"top_k": 0}, "top_k")])
def test_bad_keep_or_top_k_is_refused(kwargs, message):
    frame = pd.DataFrame({"name": ["ann"]})
    with pytest.raises(ValueError, match=message):
        generate_candidates(frame, frame, one_field(), **kwargs)


def test_repeated_or_empty_ids_are_refused():
    frame = pd.DataFrame({"id": ["1", "1"], "name": ["a", "b"]})
    with pytest.raises(ValueError, match="repeats '1'"):
        generate_candidates(frame, frame, Spec(fields=(Field("name"),), left_id="id"))
    frame = pd.DataFrame({"id": ["1", None], "name": ["a", "b"]})
    with pytest.raises(ValueError, match="empty values"):
        generate_candidates(frame, frame, Spec(fields=(Field("name"),), right_id="id"))


MULTI = Spec(
    fields=(
        Field("given_name", scorer="jaro_winkler", weight=2.0),
        Field("surname"),
        Field("city", scorer="exact", weight=0.5),
        Field("birth_date", scorer="levenshtein"),
    ),
    left_id="owner_id",
    right_id="car_id",
)


@pytest.mark.parametrize("top_k", [3, None])
def test_chunk_sizes_give_identical_frames(people, top_k):
    left, right, _ = people
    left, right = left.iloc[:60], right.iloc[:50]
    whole = generate_candidates(left, right, MULTI, keep=0.3, top_k=top_k, chunk_rows=None)
    assert len(whole) > 0
    for rows in (1, 7, len(left)):
        chunked = generate_candidates(left, right, MULTI, keep=0.3, top_k=top_k, chunk_rows=rows)
        pd.testing.assert_frame_equal(chunked, whole, check_exact=True)
    for elements in (1, 7 * len(right), 10**9):
        chunked = generate_candidates(
            left, right, MULTI, keep=0.3, top_k=top_k, chunk_elements=elements
        )
        pd.testing.assert_frame_equal(chunked, whole, check_exact=True)


@pytest.mark.parametrize("block", [Block("exact", "city"), Block("sorted", "surname", size=4)])
def test_blocking_chunk_sizes_give_identical_frames(people, block):
    left, right, _ = people
    spec = Spec(fields=MULTI.fields, left_id="owner_id", right_id="car_id", block=block)
    whole = generate_candidates(left, right, spec, keep=0.3, top_k=3, chunk_elements=10**9)
    assert len(whole) > 0
    for elements in (1, 7):
        chunked = generate_candidates(left, right, spec, keep=0.3, top_k=3, chunk_elements=elements)
        pd.testing.assert_frame_equal(chunked, whole, check_exact=True)


def test_progress_reports_every_chunk_up_to_the_total(people):
    left, right, _ = people
    calls = []
    generate_candidates(
        left.iloc[:20], right, MULTI, chunk_rows=7, progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(7, 20), (14, 20), (20, 20)]


def keys(frame: pd.DataFrame, column: str, block: Block) -> list[str | None]:
    values = [normalize(v, KEY_NORMALIZATION) for v in frame[column]]
    if block.kind == "prefix":
        values = [None if v is None else v[: block.size] for v in values]
    return values


@pytest.mark.parametrize(
    "block",
    [Block("exact", "city"), Block("exact", "postcode"), Block("prefix", "surname", size=2)],
)
def test_blocking_keeps_every_true_pair_whose_key_agrees(people, block):
    left, right, links = people
    spec = Spec(fields=MULTI.fields, left_id="owner_id", right_id="car_id", block=block)
    result = generate_candidates(left, right, spec, keep=0.0, top_k=None)
    found = set(zip(result["left_id"], result["right_id"]))
    lk = dict(zip(left["owner_id"], keys(left, block.left, block)))
    rk = dict(zip(right["car_id"], keys(right, block.right, block)))
    agreeing = [(a, b) for a, b in zip(links["left_id"], links["right_id"]) if lk[a] == rk[b]]
    assert len(agreeing) > 0.8 * len(links)
    assert all(lk[a] is not None for a, _ in agreeing)
    assert set(agreeing) <= found
    # and nothing outside the blocks
    assert all(lk[a] == rk[b] for a, b in found)
    assert count_pairs(left, right, block) >= len(found)


def test_exact_and_prefix_count_pairs_equals_the_pairs_scored():
    left = pd.DataFrame({"k": ["ab", "Ab", "ac", None, "b"], "v": ["x"] * 5})
    right = pd.DataFrame({"k": ["AB", "acd", "", "b", "b"], "v": ["x"] * 5})
    spec = Spec(fields=(Field("v"),))
    for block, pairs in ((Block("exact", "k"), 4), (Block("prefix", "k", size=1), 8)):
        result = generate_candidates(
            left, right, Spec(spec.fields, block=block), keep=0.0, top_k=None
        )
        assert count_pairs(left, right, block) == len(result) == pairs
    assert count_pairs(left, right) == 25


def sorted_neighbourhood(left_keys, right_keys, window):
    """Independent reference: both sides sorted on the key, equal keys interleaving.

    Among records with the same key, the i-th left record (in row order) stands
    just before the i-th right record; pairs are left and right records within
    ``window`` places of each other.
    """
    entries = []
    for side, keys in ((0, left_keys), (1, right_keys)):
        seen: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k is not None:
                entries.append((k, seen.get(k, 0), side, i))
                seen[k] = seen.get(k, 0) + 1
    entries.sort()
    pairs = set()
    for p, q in itertools.combinations(range(len(entries)), 2):
        if q - p <= window and entries[p][2] != entries[q][2]:
            a, b = (entries[p], entries[q]) if entries[p][2] == 0 else (entries[q], entries[p])
            pairs.add((a[3], b[3]))
    return pairs


@pytest.mark.parametrize("window", [1, 3, 10])
def test_sorted_blocking_keeps_exactly_the_pairs_in_the_window(people, window):
    left, right, _ = people
    left, right = left.iloc[:80], right.iloc[:90]
    block = Block("sorted", "surname", size=window)
    spec = Spec(fields=(Field("given_name"),), block=block)
    result = generate_candidates(left, right, spec, keep=0.0, top_k=None)
    expected = sorted_neighbourhood(
        keys(left, "surname", block), keys(right, "surname", block), window
    )
    gn = Normalization()
    scored = {
        (i, j)
        for i, j in expected
        if normalize(left["given_name"].iloc[i], gn) and normalize(right["given_name"].iloc[j], gn)
    }
    assert set(zip(result["left_id"], result["right_id"])) == scored
    assert count_pairs(left, right, block) == len(expected)


def test_sorted_blocking_keeps_a_true_pair_with_a_unique_key():
    left = pd.DataFrame({"s": ["Adams", "Brown", "Clark", "Young"]})
    right = pd.DataFrame({"s": ["young", "CLARK", "brown", "adams"]})
    spec = Spec(fields=(Field("s"),), block=Block("sorted", "s", size=1))
    result = generate_candidates(left, right, spec, keep=1.0, top_k=1)
    assert list(zip(result["left_id"], result["right_id"])) == [(0, 3), (1, 2), (2, 1), (3, 0)]


# Values chosen so that duplicates, near-duplicates and every kind of missing value occur.
cell = st.sampled_from(
    [
        "ann",
        "Ann",
        "anne",
        "anna b",
        "b anna",
        "bob",
        "Bøb",
        "x",
        "12",
        "012",
        "",
        None,
        np.nan,
        pd.NA,
    ]
)


@st.composite
def tables(draw):
    n_fields = draw(st.integers(1, 3))
    fields = tuple(
        Field(
            f"f{k}",
            scorer=draw(st.sampled_from(SCORERS)),
            weight=draw(st.sampled_from([1.0, 0.5, 2.0, 3.0])),
            normalization=Normalization(
                *draw(st.tuples(st.booleans(), st.booleans(), st.booleans()))
            ),
        )
        for k in range(n_fields)
    )
    columns = [f.name for f in fields]
    n_left, n_right = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    left = pd.DataFrame(
        {c: draw(st.lists(cell, min_size=n_left, max_size=n_left)) for c in columns}, dtype=object
    )
    right = pd.DataFrame(
        {c: draw(st.lists(cell, min_size=n_right, max_size=n_right)) for c in columns},
        dtype=object,
    )
    return left, right, Spec(fields=fields)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=tables(), chunk_rows=st.sampled_from([None, 1, 2, 5]))
def test_engine_agrees_with_brute_force_per_pair_scoring(data, chunk_rows):
    left, right, spec = data
    result = generate_candidates(left, right, spec, keep=0.0, top_k=None, chunk_rows=chunk_rows)
    expected = brute_force(left, right, spec)
    assert result["score"].between(0.0, 1.0).all()
    assert_ranked(result)
    pd.testing.assert_frame_equal(by_pair(result), expected, check_dtype=False, rtol=0, atol=1e-9)


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=tables(), chunk=st.sampled_from([1, 3, 1000]))
def test_exact_blocking_agrees_with_brute_force_on_pairs_sharing_the_key(data, chunk):
    left, right, spec = data
    block = Block("exact", spec.fields[0].name)
    result = generate_candidates(
        left, right, Spec(spec.fields, block=block), keep=0.0, top_k=None, chunk_elements=chunk
    )
    expected = brute_force(left, right, spec)
    lk, rk = keys(left, block.left, block), keys(right, block.right, block)
    same = [
        lk[i] is not None and lk[i] == rk[j] for i, j in zip(expected.left_id, expected.right_id)
    ]
    expected = expected[np.array(same, dtype=bool)].reset_index(drop=True)
    assert_ranked(result)
    pd.testing.assert_frame_equal(by_pair(result), expected, check_dtype=False, rtol=0, atol=1e-9)


def row_by_row(monkeypatch, *args, **kwargs) -> pd.DataFrame:
    """The engine with every row its own record: no value-level grouping of repeated rows."""

    def one_record_per_row(columns):
        n = len(columns[0])
        return full.Records(np.arange(n), np.arange(n))

    with monkeypatch.context() as patch:
        patch.setattr(full.Records, "of", staticmethod(one_record_per_row))
        return generate_candidates(*args, **kwargs)


@st.composite
def repetitive_tables(draw):
    """Few distinct values, so records repeat, scores tie and some values are missing."""
    values = st.sampled_from(["ann", "anne", "Ann", "bob", "bobby", "x", "", None, np.nan, pd.NA])
    n_fields = draw(st.integers(1, 2))
    fields = tuple(
        Field(
            f"f{k}", scorer=draw(st.sampled_from(SCORERS)), weight=draw(st.sampled_from([1.0, 2.5]))
        )
        for k in range(n_fields)
    )
    n_left, n_right = draw(st.integers(1, 30)), draw(st.integers(1, 30))
    left = pd.DataFrame(
        {f.name: draw(st.lists(values, min_size=n_left, max_size=n_left)) for f in fields},
        dtype=object,
    )
    right = pd.DataFrame(
        {f.name: draw(st.lists(values, min_size=n_right, max_size=n_right)) for f in fields},
        dtype=object,
    )
    return left, right, Spec(fields=fields)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=repetitive_tables(),
    keep=st.sampled_from([0.0, 0.4, 0.9]),
    top_k=st.sampled_from([1, 2, 3, 10, None]),
    chunk_rows=st.sampled_from([None, 1, 7]),
)
def test_repeated_records_give_the_same_frame_as_row_by_row(data, keep, top_k, chunk_rows):
    left, right, spec = data
    with pytest.MonkeyPatch.context() as monkeypatch:
        expected = row_by_row(monkeypatch, left, right, spec, keep=keep, top_k=top_k)
    result = generate_candidates(left, right, spec, keep=keep, top_k=top_k, chunk_rows=chunk_rows)
    pd.testing.assert_frame_equal(result, expected, check_exact=True)


@pytest.mark.parametrize("top_k", [1, 3, 10, None])
@pytest.mark.parametrize("field", ["surname", "city", "street"])
def test_one_field_on_generated_data_matches_row_by_row_at_every_chunk_size(
    people, monkeypatch, field, top_k
):
    left, right, _ = people
    spec = Spec(fields=(Field(field),), left_id="owner_id", right_id="car_id")
    expected = row_by_row(monkeypatch, left, right, spec, keep=0.3, top_k=top_k)
    assert len(expected) > 0
    for rows in (1, 7, None):
        result = generate_candidates(left, right, spec, keep=0.3, top_k=top_k, chunk_rows=rows)
        pd.testing.assert_frame_equal(result, expected, check_exact=True)


def test_ties_across_repeated_values_are_ordered_by_right_row():
    # "anne" (rows 0, 3) and "anny" (row 1) score the same against "anna":
    # the rows interleave by index, and top_k cuts across both values.
    left = pd.DataFrame({"name": ["anna", "bob", "anna"]})
    right = pd.DataFrame({"name": ["anne", "anny", "bob", "anne", "anna"]})
    result = generate_candidates(left, right, one_field(scorer="ratio"), keep=0.5, top_k=3)
    assert result["left_id"].tolist() == [0, 0, 0, 1, 2, 2, 2]
    assert result["right_id"].tolist() == [4, 0, 1, 2, 4, 0, 1]
    assert_ranked(result)


def test_a_right_value_shared_by_many_rows_fills_top_k_in_row_order(monkeypatch):
    left = pd.DataFrame({"name": ["smith", None, "smith"]})
    right = pd.DataFrame({"name": ["jones", *(["Smith"] * 6), "smyth", None]})
    for top_k in (2, 6, 7, None):
        expected = row_by_row(monkeypatch, left, right, one_field(), keep=0.5, top_k=top_k)
        result = generate_candidates(left, right, one_field(), keep=0.5, top_k=top_k)
        pd.testing.assert_frame_equal(result, expected, check_exact=True)
    result = generate_candidates(left, right, one_field(), keep=0.5, top_k=2)
    assert result[["left_id", "right_id"]].values.tolist() == [[0, 1], [0, 2], [2, 1], [2, 2]]


def test_progress_counts_left_rows_when_records_repeat():
    left = pd.DataFrame({"name": ["a", "b", "a", "c", "b"]})
    right = pd.DataFrame({"name": ["a"]})
    calls = []
    generate_candidates(
        left, right, one_field(), chunk_rows=2, progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(4, 5), (5, 5)]


@pytest.mark.parametrize("budget", [0, 300, 3_000, 10**9])
def test_fields_scored_once_for_the_whole_table_give_the_same_frame(people, monkeypatch, budget):
    left, right, _ = people
    left, right = left.iloc[:120], right.iloc[:100]
    expected = generate_candidates(left, right, MULTI, keep=0.3, top_k=3, chunk_rows=1)
    monkeypatch.setattr(full, "_WHOLE_ELEMENTS", budget)
    for rows in (7, None):
        result = generate_candidates(left, right, MULTI, keep=0.3, top_k=3, chunk_rows=rows)
        pd.testing.assert_frame_equal(result, expected, check_exact=True)
