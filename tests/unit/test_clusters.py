"""Clusters of one table's records: the fast path against union-find, conflicts, representatives."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.decisions.clusters import (
    REPRESENTATIVE_RULES,
    cluster_conflicts,
    cluster_ids,
    cluster_ids_reference,
    cluster_table,
    representatives,
    representatives_fast,
)
from matching.decisions.events import make_event, replay


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 30),
    raw=st.lists(st.tuples(st.integers(0, 34), st.integers(0, 34)), max_size=60),
)
def test_cluster_ids_equal_the_union_find_reference(n, raw):
    ids = [f"r{i}" for i in range(n)]
    pairs = [(f"r{a}", f"r{b}") for a, b in raw]  # ids past n are unknown and ignored
    fast = cluster_ids(ids, pairs)
    assert fast.tolist() == cluster_ids_reference(ids, pairs).tolist()
    # Every pair of known records shares a cluster; clusters are numbered in first-seen order.
    at = {k: i for i, k in enumerate(ids)}
    for a, b in pairs:
        if a in at and b in at:
            assert fast[at[a]] == fast[at[b]]
    firsts = [int(fast[i]) for i in range(n) if fast[i] not in fast[:i]]
    assert firsts == list(range(len(firsts)))


def _accept(eid, left, rights, shown):
    return make_event(
        "accept", event_id=eid, left_id=left, right_ids=rights, scores=dict.fromkeys(shown, 0.7)
    )


def test_a_equals_b_equals_c_but_a_is_not_c_is_a_conflict():
    log = [
        _accept("1", "A", ["B"], ["B", "C"]),  # C was shown for A and not taken: A ≠ C
        _accept("2", "B", ["C"], ["C"]),
        _accept("3", "D", ["E"], ["E"]),
    ]
    state = replay(log)
    (conflict,) = cluster_conflicts(["A", "B", "C", "D", "E"], state)
    assert (conflict.first, conflict.second, conflict.path) == ("A", "C", ("A", "B", "C"))
    table = cluster_table(["A", "B", "C", "D", "E", "F"], state)
    assert table["cluster_id"].tolist() == ["C0", "C0", "C0", "C1", "C1", "C2"]
    assert table["cluster_size"].tolist() == [3, 3, 3, 2, 2, 1]


def test_no_conflict_when_the_records_are_said_different_but_never_joined():
    state = replay([make_event("reject", event_id="1", left_id="A", scores={"B": 0.6})])
    assert cluster_conflicts(["A", "B"], state) == []


def test_an_undone_accept_ends_the_conflict():
    log = [
        _accept("1", "A", ["B"], ["B", "C"]),
        _accept("2", "B", ["C"], ["C"]),
        make_event("undo", event_id="3", target="2"),
    ]
    assert cluster_conflicts(["A", "B", "C"], replay(log)) == []


def test_representatives_follow_each_fields_rule():
    table = pd.DataFrame(
        {
            "id": ["1", "2", "3", "4"],
            "name": ["Jon Smith", "John Smith", "Jon Smith", "Ann Lee"],
            "street": ["1 High St", "1 High Street", None, "2 Low Rd"],
            "seen": ["2020-01-01", "2023-05-01", "2021-01-01", "2019-01-01"],
            "source": ["crm", "web", "web", "crm"],
        }
    )
    clusters = pd.Series(["C0", "C0", "C0", "C1"])
    out = representatives(
        table,
        clusters,
        {
            "name": "most frequent",
            "street": "longest",
            "id": "most recent",
            "source": "preferred source",
        },
        date_column="seen",
        source_column="source",
        preferred_source="web",
    )
    first = out.iloc[0].to_dict()
    assert first["records"] == 3
    assert first["name"] == "Jon Smith" and first["street"] == "1 High Street"
    assert first["id"] == "2" and first["source"] == "web"
    assert out.iloc[1]["name"] == "Ann Lee" and out["cluster_id"].tolist() == ["C0", "C1"]


def test_a_rule_that_cannot_work_says_why():
    table = pd.DataFrame({"name": ["a"]})
    with pytest.raises(ValueError, match="needs a date column"):
        representatives(table, pd.Series(["C0"]), {"name": "most recent"})
    with pytest.raises(ValueError, match="unknown rule 'oldest'"):
        representatives(table, pd.Series(["C0"]), {"name": "oldest"})
    with pytest.raises(ValueError, match="no column 'nope'"):
        representatives(table, pd.Series(["C0"]), {"nope": "longest"})


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["C0", "C1", "C2", "C3"]),
            st.sampled_from(["Jon", "John", "jon", "Ann Lee", "", "  ", None, "é"]),
            st.sampled_from(["2020-01-01", "2021-06-30", "2019-12-31", "soon", None, ""]),
            st.sampled_from(["crm", "web", None]),
        ),
        max_size=25,
    ),
    name_rule=st.sampled_from(REPRESENTATIVE_RULES),
    seen_rule=st.sampled_from(REPRESENTATIVE_RULES),
)
def test_representatives_fast_equal_the_reference(rows, name_rule, seen_rule):
    table = pd.DataFrame(
        [r[1:] for r in rows], columns=["name", "seen", "source"], dtype=object
    ).set_index(pd.Index(range(100, 100 + len(rows))))
    clusters = pd.Series([r[0] for r in rows], dtype=object)
    rules = {"name": name_rule, "seen": seen_rule}
    options = {"date_column": "seen", "source_column": "source", "preferred_source": "web"}
    fast = representatives_fast(table, clusters, rules, **options)
    pd.testing.assert_frame_equal(fast, representatives(table, clusters, rules, **options))
