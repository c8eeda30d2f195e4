"""Learning from decisions: labels from the log, learning again, scoring the kept pairs
again, the most informative records first, and a learned project in another process."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.decisions.settings import ProjectSettings
from matching.desk.learning import decision_labels, learning_summary, model_of
from matching.engine.project import record_view
from matching.engine.rescore import best_select, informative_order, label_quality, rescore
from matching.engine.weights import LearnedWeights, levels_of
from matching.workspace import Workspace, WorkspaceConfig
from tests.learning_tables import KEEP, SELECT, SPEC, tables

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path):
    return WorkspaceConfig(db_url=f"sqlite:///{tmp_path / 'd.db'}", data_dir=str(tmp_path / "data"))


def opened(config):
    workspace = Workspace(config)
    project = workspace.open_project(*tables(), SPEC, name="people", keep=KEEP, select=SELECT)
    return workspace, project


def preselected(project, select=SELECT) -> dict[str, list[str]]:
    out = {}
    for left_id in project.queue:
        rows = project.candidate_rows(left_id)
        out[left_id] = rows.loc[rows["score"] >= select, "right_id"].tolist()
    return out


def decide_truly(desk, count: int, reviewer: str = "ann") -> list[str]:
    """Accept each record's true candidate (T<n> of P<n>) for ``count`` records."""
    view, done = desk.next_view(reviewer), []
    for _ in range(count):
        left_id = view["left_id"]
        outcome = desk.decide(reviewer, view, "accept", ["T" + left_id[1:]])
        assert outcome.ok, outcome.message
        done.append(left_id)
        view = outcome.view
    return done


def learned(config, decisions: int = 8):
    """A project whose reviewer decided ``decisions`` records truly and that learned from
    them: the workspace, the project as made, and as the learned model scores it."""
    workspace, project = opened(config)
    desk = workspace.desk(project)
    decide_truly(desk, decisions)
    outcome = desk.learning.relearn("lea", role="lead")
    assert outcome.ok, outcome.message
    return workspace, project, workspace.project(project.project_id)


def test_labels_are_the_accepted_pair_and_the_other_shown_candidates_of_each_hand_decision(
    config,
):
    workspace, project = opened(config)
    desk = workspace.desk(project)
    view = desk.next_view("ann")
    first = view["left_id"]
    outcome = desk.decide("ann", view, "accept", ["T" + first[1:]])
    second = outcome.view["left_id"]
    outcome = desk.decide("ann", outcome.view, "reject")
    third = outcome.view["left_id"]
    desk.decide("ann", outcome.view, "skip")  # says nothing
    labels = decision_labels(project, desk.refresh(), keep=KEEP)
    assert labels.decisions == 2
    pairs = project.candidates.iloc[labels.rows]
    got = sorted(zip(labels.left_ids, pairs["right_id"], labels.label))
    want = []
    for left_id, accepted in ((first, {"T" + first[1:]}), (second, set())):
        rows = project.candidate_rows(left_id)
        shown = rows[(rows["score"] >= KEEP) | rows["right_id"].isin(accepted)]
        want += [(left_id, r, int(r in accepted)) for r in shown["right_id"]]
    assert got == sorted(want)
    assert third not in set(labels.left_ids)
    assert sum(label for *_, label in got) == 1
    # With the decisions' events, "shown" is what each decision's own scores and keep
    # showed, so learning (which scores the pairs again) leaves the labels as they were.
    ledger = desk.refresh()
    made = [ledger.decisions[left].event_id for left in (first, second)]
    events = workspace.log.events_by_id(project.project_id, made)
    with_events = decision_labels(project, ledger, keep=KEEP, events=events)
    assert sorted(zip(with_events.left_ids, with_events.rows)) == sorted(
        zip(labels.left_ids, labels.rows)
    )
    decide_truly(desk, 6)
    assert desk.learning.relearn("lea", role="lead").ok
    current = workspace.project(project.project_id)
    ledger = workspace.desk(current).refresh()
    made = [ledger.decisions[left].event_id for left in (first, second)]
    events = workspace.log.events_by_id(project.project_id, made)
    again = decision_labels(current, ledger, keep=KEEP, events=events)
    mine = {(left, current.candidates["right_id"].iloc[r], y)
            for left, r, y in zip(again.left_ids, again.rows, again.label)
            if left in (first, second)}  # fmt: skip
    assert mine == set(got)


def test_learning_from_decisions_changes_the_pre_selection_of_the_undecided_records(config):
    workspace, project = opened(config)
    truth = {p: [f"T{p[1:]}"] for p in project.queue}
    before = preselected(project)
    assert sum(before[p] != truth[p] for p in project.queue) >= 15  # the mean is fooled
    desk = workspace.desk(project)
    decided = decide_truly(desk, 8)

    outcome = desk.learning.relearn("lea", role="lead")
    assert outcome.ok, outcome.message
    assert outcome.message.startswith("Learned from 8 decisions")
    assert "Learned from 8 decisions" in desk.learning.summary()
    assert "precision" in desk.learning.summary() and "recall" in desk.learning.summary()
    settings = workspace.settings(project.project_id)
    assert settings.model_version == 1 and settings.learned["decisions"] == 8
    assert settings.learned["precision"][1] > settings.learned["precision"][0]

    current = workspace.project(project.project_id)
    assert current.model_version == 1 and current is not project
    after = preselected(current)
    undecided = [p for p in project.queue if p not in decided]
    assert all(after[p] == truth[p] for p in undecided)
    # Decided records keep their decisions; the rows of each record stay where they were.
    ledger = workspace.desk(current).refresh()
    assert all(ledger.decisions[p].right_ids == ("T" + p[1:],) for p in decided)
    for left_id in project.queue:
        assert sorted(current.candidate_rows(left_id)["right_id"]) == sorted(
            project.candidate_rows(left_id)["right_id"]
        )
    # The next decision names the model that scored its record.
    view = workspace.desk(current).next_view("ann")
    done = workspace.desk(current).decide("ann", view, "accept", view["selected"])
    assert done.ok
    events = workspace.log.events(project.project_id)
    assert events[-1].thresholds["model"] == 1.0
    assert all("model" not in e.thresholds for e in events[:-1])


def test_learning_needs_a_lead_and_both_kinds_of_label(config):
    workspace, project = opened(config)
    desk = workspace.desk(project)
    assert not desk.learning.relearn("ann", role="reviewer").ok
    refused = desk.learning.relearn("lea", role="lead")
    assert not refused.ok and "at least one of each" in refused.message
    assert workspace.settings(project.project_id).model_version == 0


def test_every_n_decisions_the_project_learns_by_itself(config):
    workspace, project = opened(config)
    desk = workspace.desk(project)
    assert desk.learning.set_learning(5, "table", role="lead").ok
    assert not desk.learning.set_learning(-1, "table", role="lead").ok
    assert not desk.learning.set_learning(5, "random", role="lead").ok
    assert not desk.learning.set_learning(5, "table", role="reviewer").ok
    decide_truly(desk, 4)
    assert desk.learning.relearn_if_due() is None
    decide_truly(desk, 1)
    outcome = desk.learning.relearn_if_due()
    assert outcome is not None and outcome.ok
    assert workspace.settings(project.project_id).learned["reviewer"] == "matchdesk"
    assert desk.learning.relearn_if_due() is None  # not due again until 5 more


def test_learning_by_itself_refused_waits_for_n_more_decisions(config):
    workspace, project = opened(config)
    desk = workspace.desk(project)
    assert desk.learning.set_learning(2, "table", role="lead").ok
    view = desk.next_view("ann")
    for _ in range(2):  # no match twice: no matching pair to learn from
        view = desk.decide("ann", view, "reject").view
    refused = desk.learning.relearn_if_due()
    assert refused is not None and not refused.ok
    assert desk.learning.relearn_if_due() is None  # not tried again at once
    decide_truly(desk, 2)
    assert desk.learning.relearn_if_due().ok


def test_rescore_keeps_each_records_rows_together_best_first():
    frame = pd.DataFrame(
        {
            "left_id": ["a", "a", "a", "b", "b"],
            "right_id": ["x", "y", "z", "x", "y"],
            "score": [0.9, 0.8, 0.7, 0.6, 0.5],
            "score_f": [0.2, 1.0, 0.5, np.nan, 1.0],
        }
    )
    weights = LearnedWeights(
        ("f",), m=((0.9, 0.05, 0.05),), u=((0.01, 0.09, 0.9),), prior=0.1, bounds=((0.6,),)
    )
    fields = [frame["score_f"].to_numpy()]
    out = rescore(frame, weights, fields)
    assert out["left_id"].tolist() == ["a", "a", "a", "b", "b"]
    assert out["right_id"].tolist() == ["y", "z", "x", "y", "x"]
    want = weights.score([out["score_f"].to_numpy()])
    np.testing.assert_allclose(out["score"], want)
    assert np.isnan(out.loc[4, "weight_f"]) and out.loc[0, "weight_f"] == weights.bits(0)[0]
    assert frame["right_id"].tolist() == ["x", "y", "z", "x", "y"]  # the input untouched


def test_label_quality_counts_precision_and_recall_at_the_threshold():
    got = label_quality(np.array([0.9, 0.8, 0.4, np.nan]), np.array([1, 0, 1, 1]), 0.75)
    assert (got.precision, got.recall) == (0.5, pytest.approx(1 / 3))
    assert label_quality(np.array([0.1]), np.array([0]), 0.5).precision is None


def _plain_order(scores, names, record_of, records, select):
    """The rule of informative_order without weights, written plainly."""
    doubt = {}
    kind = {}
    for i, pos in enumerate(record_of):
        d = abs(scores[i][0] - select)
        if pos not in doubt or d < doubt[pos]:
            doubt[pos] = d
            kind[pos] = tuple(int(levels_of(np.array([s]), (0.9, 0.7))[0]) for s in scores[i][1:])
    ranked = sorted(doubt, key=lambda p: (doubt[p], p))
    seen: dict = {}
    rank = {}
    for p in ranked:
        rank[p] = seen.get(kind[p], 0)
        seen[kind[p]] = rank[p] + 1
    with_candidates = sorted(ranked, key=lambda p: (rank[p], doubt[p], p))
    return with_candidates + [p for p in range(records) if p not in doubt]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 5),
            st.sampled_from([0.1, 0.5, 0.75, 0.8, 0.95, 1.0]),
            st.sampled_from([0.0, 0.72, 0.95, 1.0]),
        ),
        max_size=25,
    )
)
def test_informative_order_matches_the_plain_rule(rows):
    frame = pd.DataFrame(
        {"score": [r[1] for r in rows], "score_a": [r[2] for r in rows]}, dtype=np.float64
    )
    record_of = np.array([r[0] for r in rows], np.int64)
    got = informative_order(frame, record_of, 6, weights=None, select=0.8).tolist()
    want = _plain_order([(r[1], r[2]) for r in rows], ["a"], record_of.tolist(), 6, 0.8)
    assert got == want


def test_most_informative_first_serves_the_least_certain_record_first(config):
    workspace, project, current = learned(config, 6)
    desk = workspace.desk(current)
    assert desk.learning.set_learning(0, "informative", role="lead").ok
    order = desk.learning.order(desk.settings()).tolist()
    ledger = desk.refresh()
    open_ = [p for p in order if ledger.waiting[p]]
    assert desk.next_view("bob")["position"] == open_[0]
    assert desk.next_view("cy")["position"] == open_[1]  # bob holds the first
    assert sorted(order) == list(range(len(project.queue)))


def test_summary_says_how_many_decisions_and_the_change_in_precision_and_recall():
    settings = ProjectSettings(
        model_version=2,
        learned={
            "decisions": 1240,
            "labels": 5000,
            "precision": [0.8, 0.9],
            "recall": [0.5, None],
            "time": 0,
        },
    )
    text = learning_summary(settings)
    assert text.startswith("Learned from 1,240 decisions")
    assert "precision 80% → 90%" in text and "recall 50% → unknown" in text
    assert learning_summary(ProjectSettings()) is None
    hint = dataclasses.replace(
        settings, learned={**settings.learned, "suggested": [0.72, 0.95, 0.9]}
    )
    assert learning_summary(hint).endswith(
        "Pre-selecting from 0.72 would give precision 95% and recall 90% (set it on the"
        " sliders above)."
    )


def test_the_best_select_is_the_threshold_of_the_best_f1_on_the_labels():
    score = np.array([0.95, 0.9, 0.8, 0.6, 0.5, 0.2])
    label = np.array([1, 1, 0, 1, 0, 0])
    at, quality = best_select(score, label)
    # From 0.6: 3 of 4 pre-selected are matches, all 3 matches found (F1 0.857),
    # better than from 0.9 (2 of 2, 2 of 3: F1 0.8).
    assert at == 0.6 and (quality.precision, quality.recall) == (0.75, 1.0)
    assert best_select(score, np.zeros(6)) is None


def test_a_learned_project_survives_a_restart_and_is_seen_by_another_process(config):
    workspace, project = opened(config)
    other = Workspace(config)  # another process holding the project before it learns
    assert other.project(project.project_id).model_version == 0
    decide_truly(workspace.desk(project), 8)
    assert workspace.desk(project).learning.relearn("lea", role="lead").ok
    script = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from matching.workspace import Workspace, WorkspaceConfig
ws = Workspace(WorkspaceConfig(db_url={config.db_url!r}, data_dir={config.data_dir!r}))
p = ws.project({project.project_id!r})
rows = p.candidate_rows("P19")
print(p.model_version, ws.scorings, rows["right_id"].iloc[0], "weight_name" in rows.columns)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert out == ["1", "0", "T19", "True"]
    # Its next review step reads the settings and maps the new model's candidates.
    other.desk(other.project(project.project_id)).next_view("cy")
    held = other.project(project.project_id)
    assert held.model_version == 1
    assert preselected(held)["P19"] == ["T19"]


def test_the_matched_export_gets_each_fields_match_weight_once_the_project_learned(config):
    from matching.decisions.export import matched_chunks_of_pairs

    workspace, project = opened(config)
    desk = workspace.desk(project)
    decided = decide_truly(desk, 8)

    def chunks(p):
        return matched_chunks_of_pairs(
            workspace.desk(p).views.accepted_pairs(), p.candidates, p.left, p.right,
            spec_left_id="id", spec_right_id="id", left_pos=p.left_pos, right_pos=p.right_pos,
        )  # fmt: skip

    (plain,) = list(desk.learning.with_weights(chunks(project)))
    assert not [c for c in plain.columns if c.startswith("weight_")]  # the mean: no bits
    assert desk.learning.relearn("lea", role="lead").ok
    current = workspace.project(project.project_id)
    (table,) = list(workspace.desk(current).learning.with_weights(chunks(current)))
    columns = list(table.columns)
    assert columns[columns.index("score") + 1 : columns.index("score") + 3] == [
        "weight_name",
        "weight_city",
    ]
    assert table["left_id"].tolist() == decided
    for left, right, bits in zip(table["left_id"], table["right_id"], table["weight_name"]):
        rows = current.candidate_rows(left)
        assert bits == rows.loc[rows["right_id"] == right, "weight_name"].iloc[0]


def test_why_a_learned_score_is_the_prior_plus_each_fields_bits(config):
    from matching.engine.rescore import STANDING_PART

    workspace, _, current = learned(config, 8)
    model = model_of(current, workspace.settings(current.project_id))
    # Decisions taught that a record's true partner is its best candidate: a standing.
    assert model.standing > 0
    rows = current.candidate_rows("P19")
    for right in rows["right_id"]:
        parts = workspace.desk(current).learning.why("P19", right)
        row = rows[rows["right_id"] == right].iloc[0]
        assert parts.unit == "bits"
        assert [n for n, _ in parts.parts] == ["name", "city", STANDING_PART]
        fields = [row["weight_name"], row["weight_city"]]
        assert [v for _, v in parts.parts][:2] == fields
        behind = fields[0] + fields[1] - max(rows["weight_name"] + rows["weight_city"])
        assert parts.parts[2][1] == pytest.approx(model.standing * behind)
        assert parts.total == pytest.approx(parts.start + sum(fields) + parts.parts[2][1])
        assert model.unscale(row["score"]) == pytest.approx(parts.total - parts.start)
    parts = workspace.desk(current).learning.why("P19", "T19")
    row = rows[rows["right_id"] == "T19"].iloc[0]
    assert parts.parts[2][1] == 0.0  # its best candidate loses nothing
    assert parts.probability == pytest.approx(1 / (1 + 2 ** (-parts.total)))
    assert parts.score == row["score"]
    assert parts.text().startswith(f"prior {parts.start:+.1f} + name ")
    assert parts.text().endswith(f"bits ({parts.chance()} match)")
    from components.why import why_panel
    from tests.helpers import texts

    heading = texts(why_panel("T19", parts))[0]
    assert heading.startswith(f"Why T19 scored {parts.score:.2f}: match probability ")
    assert f"from {parts.total:+.1f} bits" in heading
    assert workspace.desk(current).learning.why("P19", "nobody") is None


def test_once_learned_keep_may_go_below_the_floor_to_show_pairs_the_model_scores_low(config):
    workspace, project = opened(config)
    desk = workspace.desk(project)
    refused = desk.choices.set_thresholds(KEEP - 0.2, SELECT, role="lead")
    assert not refused.ok and "cannot go below" in refused.message
    decide_truly(desk, 8)
    assert desk.learning.relearn("lea", role="lead").ok
    current = workspace.project(project.project_id)
    desk = workspace.desk(current)
    left = next(p for p in current.queue if (current.candidate_rows(p)["score"] < KEEP).any())
    rows = current.candidate_rows(left)

    def shown() -> int:
        keep = desk.thresholds()["keep"]
        return len(record_view(current, left, keep=keep, select=SELECT)["rows"])

    assert shown() == int((rows["score"] >= KEEP).sum()) < len(rows)
    assert desk.choices.set_thresholds(0.0, SELECT, role="lead").ok
    assert workspace.settings(project.project_id).keep_floor is None
    assert shown() == len(rows)


def test_a_bulk_batch_keeps_the_model_that_scored_its_records(config):
    workspace, project = opened(config)
    desk = workspace.desk(project)
    decide_truly(desk, 8)
    assert desk.learning.relearn("lea", role="lead").ok
    desk = workspace.desk(workspace.project(project.project_id))
    done = desk.batches.apply_bulk("lea", "accept", threshold=0.6, role="lead")
    assert done.ok and done.written > 0
    pairs = desk.views.accepted_pairs()
    automatic = pairs[pairs["automatic"]]
    assert len(automatic) == done.written
    assert all(t["model"] == 1.0 for t in automatic["thresholds"])
    assert all("model" not in t for t in pairs[~pairs["automatic"]]["thresholds"])
