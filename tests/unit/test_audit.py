"""Intervals, audit sample sizes and kappa against hand-computed values and properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching.decisions.agreement import cohen_kappa
from matching.decisions.audit import audit_sample_size, audited_errors, draw_sample, wilson_interval


@given(st.integers(0, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_holds_the_proportion_inside_zero_one(pair):
    k, n = pair
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= high <= 1.0
    if n:
        assert low - 1e-12 <= k / n <= high + 1e-12


def test_wilson_interval_known_values():
    assert [round(x, 4) for x in wilson_interval(81, 263)] == [0.2553, 0.3662]
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


def test_audit_sample_size_matches_the_textbook_formula():
    assert audit_sample_size(10**9, margin=0.05) == 385
    assert audit_sample_size(10**9, margin=0.03) == 1068
    assert audit_sample_size(5000) == 880
    assert audit_sample_size(0) == 0
    sizes = [audit_sample_size(100_000, margin=m) for m in (0.01, 0.02, 0.03, 0.05)]
    assert sizes == sorted(sizes, reverse=True)


def test_a_sample_is_random_repeatable_and_without_repeats():
    ids = [str(i) for i in range(1000)]
    one = draw_sample(ids, 100, seed=7)
    assert one == draw_sample(ids, 100, seed=7) != draw_sample(ids, 100, seed=8)
    assert len(set(one)) == 100 and one == sorted(one, key=int)
    assert draw_sample(ids, 5000, seed=1) == ids


def test_audited_errors_scale_to_the_batch():
    r = audited_errors(0, 880, 5000)
    assert r["rate"] == 0 and r["estimated_wrong"] == 0 and r["estimated_wrong_high"] > 0


def test_kappa_hand_computed_table():
    # 50 records: both yes 20, first yes second no 5, first no second yes 10, both no 15.
    first = ["y"] * 25 + ["n"] * 25
    second = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    r = cohen_kappa(first, second)
    assert r["observed"] == pytest.approx(0.7) and r["expected"] == pytest.approx(0.5)
    assert r["kappa"] == pytest.approx(0.4)
    se = math.sqrt(0.7 * 0.3 / (50 * 0.25))
    assert r["low"] == pytest.approx(0.4 - 1.959964 * se, abs=1e-5)


@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("abc")), min_size=1))
def test_kappa_is_symmetric_and_one_for_identical_verdicts(pairs):
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    ab, ba = cohen_kappa(a, b), cohen_kappa(b, a)
    assert ab["kappa"] == pytest.approx(ba["kappa"], nan_ok=True)
    same = cohen_kappa(a, a)
    assert math.isnan(same["kappa"]) or same["kappa"] == pytest.approx(1.0)


# -- audits through the review desk ----------------------------------------------------


def _desk(tmp_path, n=400):
    import pandas as pd

    from matching.decisions.log import DecisionLog
    from matching.desk import ReviewDesk
    from matching.engine.project import build_project
    from matching.engine.spec import Field, Spec, parse_block

    names = [f"person {i:04d}" for i in range(n)]
    left = pd.DataFrame({"id": [f"L{i:04d}" for i in range(n)], "name": names})
    right = pd.DataFrame({"id": [f"R{i:04d}" for i in range(n)], "name": names})
    spec = Spec((Field("name"),), left_id="id", right_id="id", block=(parse_block("exact:name"),))
    project = build_project(left, right, spec, name="audit", keep=0.5, select=0.9)
    log = DecisionLog(f"sqlite:///{tmp_path / 'a.db'}")
    log.ensure_project(project.project_id, name="audit")
    return ReviewDesk(log, project)


def test_an_audit_samples_a_batch_blind_and_estimates_its_errors(tmp_path):
    desk = _desk(tmp_path)
    assert desk.batches.apply_bulk("lee", "accept", threshold=0.9, role="lead").written == 400
    (batch,) = desk.batches.automatic_batches()
    assert not desk.audits.draw_audit("ann", batch["batch"], role="reviewer").ok
    drawn = desk.audits.draw_audit("lee", batch["batch"], margin=0.05, role="lead")
    assert drawn.ok and drawn.written == 1
    assert desk.audits.draw_audit("lee", batch["batch"], margin=0.05, role="lead").written == 0
    size = audit_sample_size(400, margin=0.05)
    # The truth, as a generator's links would give it: every 20th automatic match is wrong.
    wrong_truth = {f"L{i:04d}" for i in range(0, 400, 20)}

    view = desk.audits.next_audit_view("ann")
    assert view["blind"] is True and view["selected"] == [] and view["audit"]
    other = desk.audits.next_audit_view("bob")
    assert other["left_id"] != view["left_id"]  # two auditors, two records
    audited = []
    while view["left_id"] is not None:
        left = view["left_id"]
        audited.append(left)
        if left in wrong_truth:
            out = desk.audits.record_verdict("ann", view, "reject")
        else:
            out = desk.audits.record_verdict("ann", view, "accept", [view["rows"][0]["_right_id"]])
        assert out.ok, out.message
        view = out.view
        if len(audited) == 1:
            late = desk.audits.record_verdict("bob", {**other, "left_id": left}, "reject")
            assert not late.ok and "audited by ann" in late.message
    desk.release("bob")
    view = desk.audits.next_audit_view("ann")
    while view["left_id"] is not None:  # the record bob held
        audited.append(view["left_id"])
        view = desk.audits.record_verdict(
            "ann", view, "accept", [view["rows"][0]["_right_id"]]
        ).view
    (result,) = desk.audits.audit_results()
    assert result["audited"] == result["sampled"] == size == len(set(audited))
    assert result["wrong"] == len(wrong_truth & set(audited))
    assert result["low"] <= 0.05 <= result["high"]
    assert result["estimated_wrong"] == round(result["wrong"] / size * 400)
    assert desk.refresh().counts()["decided"] == 400  # audits change no decision
    from matching.decisions.log import DecisionLog
    from matching.desk import ReviewDesk

    again = ReviewDesk(DecisionLog(str(desk.log.url)), desk.project)  # another worker
    assert again.audits.audit_results() == desk.audits.audit_results()


def test_audit_mode_on_the_review_page_and_the_tuning_panel(services, project):
    from callbacks.review import update_review
    from callbacks.tuning import update_audits
    from components.ids import ids
    from tests.helpers import on_screen

    desk = services.desk(project)
    assert desk.batches.apply_bulk("ann", "accept", threshold=0.3, role="lead").written == 5
    panel = update_audits(services, project.project_id, "tuning", None, None, 3, "ann")
    (option,) = panel["options"]
    assert option["label"].startswith("auto-accept of 5 records by ann")
    refused = update_audits(
        services, project.project_id, "tuning", ids.AUDIT_DRAW, option["value"], 90, "ann"
    )
    assert "between 0.1% and 50%" in refused["message"]
    drawn = update_audits(
        services, project.project_id, "tuning", ids.AUDIT_DRAW, option["value"], 3, "ann"
    )
    assert "5 of 5 records drawn" in drawn["message"]

    def step(trigger=None, view=None, selected=()):
        return update_review(
            project.project_id,
            "ann",
            [{"_right_id": r} for r in selected],
            {},
            view,
            services=services,
            trigger=trigger,
            audit=True,
            shown=on_screen(view),
        )

    out = step()
    assert out["label"].startswith("Audit: record") and out["selected"] == {"ids": []}
    assert all("score" not in row for row in out["rows"])  # blind
    answers = 0
    while not out["done"]:
        view = out["view"]
        rights = [r["_right_id"] for r in out["rows"]][:1]
        out = step(ids.ACCEPT if answers % 2 else ids.REJECT, view, rights)
        answers += 1
    assert answers == 5 and "Every drawn record has a verdict" in out["done_text"]
    table = update_audits(services, project.project_id, "tuning", None, None, 3, "ann")["table"]
    cells = [str(td.children) for tr in table.children[1].children for td in tr.children]
    assert cells[:4] == ["auto-accept", "5", "5 of 5", "3"]
    assert desk.refresh().counts()["decided"] == 5


def test_a_reason_and_comment_go_with_one_decision_to_the_log_and_statistics(services, project):
    from callbacks.statistics import update_statistics
    from components.ids import ids
    from tests.helpers import on_screen, review_step

    view = review_step(services, project)["view"]
    from callbacks.review import update_review

    out = update_review(
        project.project_id,
        "ann",
        [{"_right_id": "101"}],
        {},
        view,
        services=services,
        trigger=ids.ACCEPT,
        shown=on_screen(view),
        reason="same family",
        comment="cousins",
    )
    assert out["reason"] is None and out["comment"] == ""  # cleared for the next record
    state = services.log.state(project.project_id)
    assert state.decisions["1"].reason == "same family — cousins"
    stats = update_statistics(services, project.project_id, "statistics", None)
    assert "same family" in str(stats[2]) and "Reasons given" in str(stats[2])


def test_wilson_interval_ends_exactly_at_zero_and_one():
    assert wilson_interval(0, 862)[0] == 0.0 and wilson_interval(862, 862)[1] == 1.0
