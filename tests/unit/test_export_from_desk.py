"""The export built from the review desk's ledger is the export of the replayed log.

``callbacks/export.py`` writes the matched table from ``desk.views.accepted_pairs``
(the ledger's columns, a batch's scores and thresholds from its columns) instead of
replaying the whole log; the file must not change by a byte.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from matching.decisions.export import (
    matched_chunks_of_pairs,
    matched_table,
    to_csv_bytes,
    write_csv,
)
from matching.decisions.log import DecisionLog
from matching.decisions.settings import ProjectSettings
from matching.desk import ReviewDesk
from matching.engine.demo import tutorial_cars, tutorial_owners
from matching.engine.project import build_project
from matching.engine.spec import Field, Spec

PROJECT = build_project(
    tutorial_owners(),
    tutorial_cars(),
    Spec(fields=(Field("OwnerSurname"),), left_id="OwnerID", right_id="CarID"),
    name="demo",
    keep=0.26,
    select=0.33,
)
LEFTS = list(PROJECT.queue)[:8]
EDITABLE = next(c for c in PROJECT.right.columns if c != "CarID")

_ops = st.lists(
    st.tuples(
        st.sampled_from(
            ["accept", "accept2", "reject", "skip", "change", "unmatch", "undo", "bulk", "bulk-no"]
        ),
        st.sampled_from(["ann", "bob", "lee"]),
        st.sampled_from(LEFTS),
        st.sampled_from([0.0, 0.3, 0.5, 0.9]),
        st.booleans(),
    ),
    max_size=25,
)


def _export(desk: ReviewDesk, chunk_rows: int | None = None, *, indexed: bool = True) -> bytes:
    """The CSV as the export route writes it (the project's own id positions), or
    with ``indexed=False`` finding records by an index of the tables' ids."""
    out = io.BytesIO()
    p = desk.project
    where = {"left_pos": p.left_pos, "right_pos": p.right_pos} if indexed else {}
    write_csv(
        matched_chunks_of_pairs(
            desk.views.accepted_pairs(), p.candidates, p.left, p.right,
            spec_left_id=p.spec.left_id, spec_right_id=p.spec.right_id, chunk_rows=chunk_rows,
            **where,
        ),
        out,
    )  # fmt: skip
    return out.getvalue()


def _old_export(log: DecisionLog) -> bytes:
    p = PROJECT
    return to_csv_bytes(
        matched_table(
            log.state(p.project_id), p.candidates, p.left, p.right,
            spec_left_id=p.spec.left_id, spec_right_id=p.spec.right_id,
        )
    )  # fmt: skip


@given(_ops, st.sampled_from(["many-to-one", "many-to-many"]))
# Skipped records decided by a bulk accept: their batch decisions are ordinary entries.
@example([("skip", "ann", "1", 0.0, False), ("bulk", "lee", "1", 0.0, False)], "many-to-one")
# A batch member unmatched and the unmatch undone: the record goes back to its place
# among the batch's records (they share one time), as in the replayed log.
@example(
    [
        ("accept", "ann", "1", 0.0, False),
        ("bulk", "lee", "1", 0.0, False),
        ("unmatch", "lee", "2", 0.0, False),
        ("undo", "lee", "1", 0.0, False),
    ],
    "many-to-one",
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_export_from_the_desk_is_the_export_of_the_replayed_log(ops, cardinality):
    log = DecisionLog("sqlite://")
    pairing = ProjectSettings(cardinality=cardinality)
    log.ensure_project(PROJECT.project_id, name="demo", settings=pairing)
    desk = ReviewDesk(log, PROJECT, lease_seconds=0)
    for i, (op, who, left, threshold, flag) in enumerate(ops):
        now = 1_700_000_000.0 + i * 61.25
        role = "lead" if who == "lee" else "reviewer"
        rights = PROJECT.candidate_rows(left)["right_id"].tolist()
        view = {"left_id": left, "view_id": f"v{i}"}
        if op == "undo":
            desk.undo(who, role=role, now=now)
        elif op == "unmatch":
            desk.matches.unmatch(who, [(left, r) for r in rights[:1]], role=role, now=now)
        elif op in ("bulk", "bulk-no"):
            kind = "accept" if op == "bulk" else "reject"
            desk.batches.apply_bulk(
                "lee", kind, threshold=threshold, margin=0.0, role="lead", now=now
            )
        elif op == "skip":
            desk.decide(who, view, "skip", role=role, now=now)
        elif op == "reject" or not rights:
            desk.decide(who, view, "reject", role=role, now=now, change=flag, comment="no")
        else:
            chosen = (
                rights[:2] if op == "accept2" and cardinality == "many-to-many" else rights[-1:]
            )
            edits = {chosen[0]: {EDITABLE: f"fixed {i}"}} if flag else None
            desk.decide(
                who, view, "accept", chosen, edits=edits, comment="same" if flag else None,
                role=role, now=now, change=op == "change",
            )  # fmt: skip
    expected = _old_export(log)
    assert _export(desk) == expected
    assert _export(desk, chunk_rows=2, indexed=False) == expected
    # Another worker, reading the log once.
    assert _export(ReviewDesk(log, PROJECT)) == expected


def test_a_record_the_tables_lack_is_named_when_records_are_found_by_position():
    log = DecisionLog("sqlite://")
    log.ensure_project(PROJECT.project_id, name="demo")
    desk = ReviewDesk(log, PROJECT)
    left = PROJECT.queue[0]
    right = PROJECT.candidate_rows(left)["right_id"].iloc[0]
    assert desk.decide("ann", {"left_id": left, "view_id": "v"}, "accept", [right]).ok
    pairs = desk.views.accepted_pairs()
    p = PROJECT
    chunks = matched_chunks_of_pairs(
        pairs, p.candidates, p.left, p.right, spec_left_id=p.spec.left_id,
        spec_right_id=p.spec.right_id, left_pos=p.left_pos, right_pos={},
    )  # fmt: skip
    with pytest.raises(ValueError, match=f"the right table has no record '{right}'"):
        list(chunks)


def test_the_pairs_of_a_bulk_accept_keep_their_right_ids_as_arrow_text():
    log = DecisionLog("sqlite://")
    log.ensure_project(PROJECT.project_id, name="demo")
    desk = ReviewDesk(log, PROJECT)
    assert desk.batches.apply_bulk("lee", "accept", threshold=0.5, margin=0.0, role="lead").written
    pairs = desk.views.accepted_pairs()
    assert len(pairs) and pairs["right_id"].dtype != object  # no str per pair
    assert _export(desk) == _old_export(log)
