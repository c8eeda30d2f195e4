"""The full decision record and the decision log's own exports, read back and checked."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from matching.decisions.events import Event, replay
from matching.decisions.log import DecisionLog
from matching.decisions.record import (
    LOG_COLUMNS,
    RECORD_COLUMNS,
    decision_record,
    log_rows,
    write_log_jsonl,
    write_log_parquet,
)
from matching.desk import ReviewDesk
from matching.engine.project import build_project
from matching.engine.spec import Field, Spec, parse_block


def _desk(tmp_path, n=12) -> ReviewDesk:
    names = [f"person {i:03d}" for i in range(n)]
    left = pd.DataFrame({"id": [f"L{i:03d}" for i in range(n)], "name": names})
    right = pd.DataFrame({"id": [f"R{i:03d}" for i in range(n)], "name": names})
    spec = Spec((Field("name"),), left_id="id", right_id="id", block=(parse_block("exact:name"),))
    project = build_project(left, right, spec, name="record", keep=0.5, select=0.9)
    log = DecisionLog(f"sqlite:///{tmp_path / 'd.db'}")
    log.ensure_project(project.project_id, name="record")
    return ReviewDesk(log, project)


def _review(desk: ReviewDesk) -> None:
    """ann accepts L000 with a corrected name, says no match on L001 with a reason,
    skips L002; a lead bulk-accepts the rest, and an auditor answers one of them."""
    view = desk.next_view("ann")
    assert view["left_id"] == "L000"
    right = view["rows"][0]["_right_id"]
    view = desk.decide("ann", view, "accept", [right], edits={right: {"name": "Person Zero"}}).view
    view = desk.decide("ann", view, "reject", reason="different person").view
    desk.decide("ann", view, "skip")
    desk.release("ann")
    assert desk.batches.apply_bulk("lee", "accept", threshold=0.5, role="lead").ok
    batch = desk.batches.automatic_batches()[0]["batch"]
    assert desk.audits.draw_audit("lee", batch, margin=0.5, role="lead").ok
    audit = desk.audits.next_audit_view("bob")
    desk.audits.record_verdict("bob", audit, "reject")


def test_every_left_record_appears_once_with_what_the_log_says(tmp_path):
    desk = _desk(tmp_path)
    _review(desk)
    events = desk.log.events(desk.project_id)
    record = decision_record(
        events,
        list(desk.project.left["id"]),
        right=desk.project.right,
        right_pos=desk.project.right_pos,
    )
    assert list(record.columns) == list(RECORD_COLUMNS)
    assert list(record["left_id"]) == [f"L{i:03d}" for i in range(12)]
    by = record.set_index("left_id")

    first = by.loc["L000"]
    assert (first["status"], first["decided_by"], first["reviewer"]) == (
        "accepted",
        "manual",
        "ann",
    )
    assert first["right_ids"] == "R000"
    assert json.loads(first["edits"]) == {
        "R000": {"name": {"original": "person 000", "edited": "Person Zero"}}
    }
    assert by.loc["L001", "status"] == "no match"
    assert by.loc["L001", "reason"] == "different person"
    # A skipped record stays undecided in the queue; the bulk rule may take it.
    state = replay(events)
    for left, row in by.iterrows():
        d = state.decisions.get(left)
        if d is None:
            assert row["status"] in ("skipped", "undecided")
            continue
        assert row["status"] == {"accepted": "accepted", "rejected": "no match"}[d.status]
        assert row["decided_by"] == ("automatic" if d.automatic else "manual")
        assert row["right_ids"] == "; ".join(d.right_ids)
        assert row["event_id"] == d.event_id
    automatic = by[by["decided_by"] == "automatic"]
    assert len(automatic) >= 8 and (automatic["batch"] != "").all()
    assert (automatic["reviewer"] == "lee").all()
    audited = by[by["audit_verdicts"] != ""]
    assert list(audited["audit_verdicts"]) == ["bob: no match"]


def test_undecided_and_skipped_records_are_told_apart(tmp_path):
    desk = _desk(tmp_path, n=3)
    view = desk.next_view("ann")
    desk.decide("ann", view, "skip")
    record = decision_record(desk.log.events(desk.project_id), ["L000", "L001", "L002"])
    assert list(record["status"]) == ["skipped", "undecided", "undecided"]
    assert list(record["skipped_by"]) == ["ann", "", ""]
    assert list(record["decided_by"]) == ["", "", ""]


def test_an_undone_decision_is_undecided_again(tmp_path):
    desk = _desk(tmp_path, n=3)
    view = desk.next_view("ann")
    desk.decide("ann", view, "accept", [view["rows"][0]["_right_id"]])
    assert desk.undo("ann").ok
    record = decision_record(desk.log.events(desk.project_id), ["L000"])
    assert record.loc[0, "status"] == "undecided" and record.loc[0, "reviewer"] == ""


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_the_log_written_out_reads_back_as_the_same_events(tmp_path, fmt):
    desk = _desk(tmp_path)
    _review(desk)
    rows = desk.log.event_rows(desk.project_id)
    out = io.BytesIO()
    if fmt == "jsonl":
        n = write_log_jsonl(rows, out)
        lines = out.getvalue().decode().splitlines()
        assert n == len(lines) == len(rows)
        back = [Event.from_dict(json.loads(line)) for line in lines]
        assert back == [e for _, e in rows]
        assert [json.loads(line)["seq"] for line in lines] == [s for s, _ in rows]
    else:
        n = write_log_parquet(rows, out)
        frame = pd.read_parquet(io.BytesIO(out.getvalue()))
        assert n == len(frame) == len(rows)
        assert list(frame.columns) == list(LOG_COLUMNS)
        assert list(frame["event_id"]) == [e.event_id for _, e in rows]
        assert [json.loads(r) for r in frame["right_ids"]] == [list(e.right_ids) for _, e in rows]
        pd.testing.assert_frame_equal(frame, log_rows(rows))


def test_an_empty_log_gives_every_record_undecided():
    record = decision_record([], ["a", "b"])
    assert list(record["status"]) == ["undecided", "undecided"]
    assert log_rows([]).columns.tolist() == list(LOG_COLUMNS)
