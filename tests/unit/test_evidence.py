"""The records' values shown where a lead decides in bulk: pattern previews, adjudication."""

from __future__ import annotations

from matching.decisions.evidence import (
    compared_values,
    record_summary,
    with_compared_values,
    with_verdict_values,
)
from tests.unit.test_conflicts import PROJECT


def test_compared_values_put_each_field_of_both_records_side_by_side():
    assert compared_values(PROJECT, "L2", "R3") == [
        {"field": "name", "left": "Anne Lee", "right": "Ann Leigh", "same": False}
    ]
    assert compared_values(PROJECT, "L1", None)[0]["right"] is None  # a no match
    rows = with_compared_values(PROJECT, [{"left_id": "L1", "right_id": "R1", "score": 1.0}])
    assert rows[0]["fields"][0] == {"field": "name", "left": "Ann Lee", "right": "Ann Lee",
                                    "same": True}  # fmt: skip


def test_adjudication_rows_carry_the_values_of_what_each_review_chose():
    rows = with_verdict_values(PROJECT, [{"left_id": "L3", "first_ids": ["R2"], "second_ids": []}])
    assert rows[0]["left"] == "Bob Ray"
    assert rows[0]["first_values"] == "Bob Ray"
    assert rows[0]["second_values"] == "no match"
    assert record_summary(PROJECT, "right", "nope") == ""
