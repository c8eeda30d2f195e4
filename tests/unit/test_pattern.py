"""Deciding by agreement pattern: per-field conditions pick records, one undoable batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matching.decisions.events import replay
from matching.decisions.log import DecisionLog
from matching.decisions.tuning import pattern_events, pattern_mask
from matching.desk import ReviewDesk
from matching.engine.project import build_project
from matching.engine.spec import Field, Spec

CANDS = pd.DataFrame(
    {
        "left_id": ["1", "1", "2", "2", "3"],
        "right_id": ["a", "b", "c", "d", "e"],
        "score": [0.9, 0.8, 0.7, 0.3, 0.2],
        "score_surname": [0.96, 1.0, 0.97, 0.2, 0.1],
        "score_given": [0.5, 0.9, 0.85, 0.1, np.nan],
    }
)


def test_accept_takes_each_records_best_candidate_that_matches():
    events = pattern_events(
        CANDS,
        replay([]),
        {"surname": (">=", 0.95), "given": (">=", 0.8)},
        kind="accept",
        reviewer="lee",
        batch="p1",
        now=0.0,
    )
    assert [(e.left_id, e.right_ids) for e in events] == [("1", ("b",)), ("2", ("c",))]
    assert all(e.automatic and e.batch == "p1" for e in events)
    assert events[0].thresholds == {"surname >=": 0.95, "given >=": 0.8}


def test_reject_takes_records_whose_every_candidate_matches():
    events = pattern_events(
        CANDS, replay([]), {"surname": ("<", 0.5)}, kind="reject", reviewer="lee", batch="p2"
    )
    assert [e.left_id for e in events] == ["3"]


@pytest.mark.parametrize(
    "bad", [{"nope": (">=", 0.5)}, {"surname": ("~", 0.5)}], ids=["field", "comparison"]
)
def test_a_bad_condition_is_named(bad):
    with pytest.raises(ValueError, match=r"nope|~"):
        pattern_mask(CANDS, bad)


def test_missing_scores_never_match():
    assert pattern_mask(CANDS, {"given": ("<=", 1.0)}).tolist() == [True, True, True, True, False]


def test_the_desk_applies_a_pattern_for_a_lead_and_one_undo_reverts_it(tmp_path):
    left = pd.DataFrame({"id": ["1", "2", "3"], "sur": ["Lee", "Ray", "Kim"], "giv": list("ABC")})
    right = pd.DataFrame({"id": ["a", "b", "c"], "sur": ["Lee", "Ray", "Kin"], "giv": list("ABX")})
    spec = Spec((Field("sur"), Field("giv")), left_id="id", right_id="id")
    project = build_project(left, right, spec, name="p", keep=0.1, select=0.9)
    log = DecisionLog(f"sqlite:///{tmp_path / 'p.db'}")
    log.ensure_project(project.project_id, name="p")
    desk = ReviewDesk(log, project)
    rule = {"sur": ("=", 1.0), "giv": ("=", 1.0)}
    count, sample = desk.batches.pattern_preview("accept", rule)
    assert count == 2 and [(r["left_id"], r["right_id"]) for r in sample] == [
        ("1", "a"),
        ("2", "b"),
    ]
    assert not desk.batches.apply_pattern("ann", "accept", rule, role="reviewer").ok
    assert (
        "no field"
        in desk.batches.apply_pattern("lee", "accept", {"x": ("=", 1)}, role="lead").message
    )
    done = desk.batches.apply_pattern("lee", "accept", rule, role="lead")
    assert done.ok and done.written == 2
    assert desk.batches.pattern_preview("accept", rule)[0] == 0
    assert desk.undo("lee", role="lead").ok
    assert desk.refresh().counts()["decided"] == 0
