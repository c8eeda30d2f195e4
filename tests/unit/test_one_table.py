"""One table compared with itself: every pair once, never a record with itself."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.engine.blocking import Blocking, count_rules
from matching.engine.candidates import count_pairs, generate_candidates, iter_candidates
from matching.engine.spec import Field, Spec, parse_block

NAMES = ["ann lee", "anne lee", "bob ray", "bob rey", "cy li", "ann lee", "dee oh"]


def _table(picks: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(len(picks))],
            "name": [NAMES[p] for p in picks],
            "town": [NAMES[p].split()[0][:1] for p in picks],
        }
    )


def _reference(table: pd.DataFrame, spec: Spec, keep: float, top_k: int | None) -> pd.DataFrame:
    """The two-table candidates of the table against itself, top k taken after cutting
    them to the earlier record first and no self-pair (the plain way)."""
    two = generate_candidates(
        table, table, Spec(spec.fields, "id", "id", spec.block), keep=keep, top_k=None
    )
    at = {k: i for i, k in enumerate(table["id"])}
    earlier = [at[a] < at[b] for a, b in zip(two["left_id"], two["right_id"])]
    kept = two[pd.Series(earlier, index=two.index, dtype=bool)]
    if top_k is not None:
        kept = kept.groupby("left_id", sort=False).head(top_k)
    return kept.reset_index(drop=True)


@settings(max_examples=60, deadline=None)
@given(
    picks=st.lists(st.integers(0, len(NAMES) - 1), min_size=0, max_size=14),
    blocked=st.booleans(),
    top_k=st.sampled_from([None, 1, 2]),
)
def test_one_table_candidates_equal_the_two_table_ones_cut_to_each_pair_once(picks, blocked, top_k):
    table = _table(picks)
    block = (parse_block("exact:town"),) if blocked else ()
    spec = Spec((Field("name"),), "id", "id", block, one_table=True)
    found = generate_candidates(table, table, spec, keep=0.3, top_k=top_k)
    expected = _reference(table, spec, 0.3, top_k)
    pd.testing.assert_frame_equal(found, expected, check_dtype=False)
    assert not (found["left_id"] == found["right_id"]).any()
    pairs = {frozenset(p) for p in zip(found["left_id"], found["right_id"])}
    assert len(pairs) == len(found)
    # Chunked, the same pairs.
    chunks = list(iter_candidates(table, table, spec, keep=0.3, top_k=top_k, chunk_elements=3))
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), found, check_dtype=False)


def test_one_table_pair_counts_are_each_pair_once():
    table = _table([0, 0, 0, 2, 2, 4])  # towns: a a a b b c
    rules = [parse_block("exact:town")]
    assert count_pairs(table, table, rules, one_table=True) == 3 + 1
    assert count_pairs(table, table, None, one_table=True) == 15
    assert [c.pairs for c in count_rules(table, table, rules, one_table=True)] == [4]
    blocking = Blocking(table.iloc[2:], table, rules, one_table=True)
    li, ri = blocking.pairs()
    # A slice of the table keeps its rows' labels: row 2 (third "a") pairs with nobody later.
    assert list(zip(li.tolist(), ri.tolist())) == [(1, 4)]


def test_a_table_with_repeated_row_labels_is_refused():
    table = _table([0, 1]).set_index(pd.Index([0, 0]))
    with pytest.raises(ValueError, match="unique row labels"):
        Blocking(table, table, [parse_block("exact:town")], one_table=True)


def test_the_spec_keeps_one_table_through_its_dict_and_digest():
    spec = Spec((Field("name"),), "id", "id", one_table=True)
    assert Spec.from_dict(spec.to_dict()) == spec
    assert spec.digest() != Spec((Field("name"),), "id", "id").digest()
    assert "one_table" not in Spec((Field("name"),)).to_dict()
