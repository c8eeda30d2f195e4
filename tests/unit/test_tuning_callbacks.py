"""Tuning and Statistics callbacks called as plain functions on the demo app."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dash import no_update

from callbacks.review import current_view
from callbacks.statistics import time_step, update_statistics
from callbacks.tuning import (
    handle_bulk,
    load_thresholds,
    read_pending,
    refresh_status,
    save_thresholds,
    update_estimates,
    update_tuning_view,
)
from components.ids import ids
from matching.engine.demo import generate_tables
from matching.engine.spec import Field, Spec
from tests.helpers import review_step

NAMES = ("keep", "select", "auto_accept", "margin", "auto_reject")


def tiles(counts_panel) -> dict[str, int]:
    """The live counts of a counts panel: tile title -> the number it shows."""
    row = counts_panel.children[0]
    return {
        col.children.title: int(col.children.children[0].children.replace(",", ""))
        for col in row.children
    }


def brute_counts(candidates: pd.DataFrame, th: dict) -> dict[str, int]:
    scores = candidates["score"].to_numpy(float)
    ranked = candidates.sort_values("score", ascending=False)
    best = ranked.groupby("left_id")["score"].max()
    second = ranked.groupby("left_id")["score"].apply(
        lambda s: sorted(s, reverse=True)[1] if len(s) > 1 else 0.0
    )
    return {
        "pairs_kept": int((scores >= th["keep"]).sum()),
        "records_with_candidate": int((best >= th["keep"]).sum()),
        "pairs_selected": int((scores >= max(th["select"], th["keep"])).sum()),
        "auto_accept": int(((best >= th["auto_accept"]) & (best - second >= th["margin"])).sum()),
        "auto_reject": int((best < th["auto_reject"]).sum()),
    }


def review(services, project, trigger=None, view=None, selected=(), who="ann"):
    return review_step(services, project, trigger, view, selected, who=who)["view"]


def bulk(services, project, th, kind=ids.AUTO_ACCEPT, who="ann"):
    """Open the dialog for ``kind``, then confirm it; returns both answers."""
    opened = handle_bulk(services, project.project_id, who, th, None, trigger=kind)
    confirmed = handle_bulk(
        services, project.project_id, who, th, opened[3], trigger=ids.BULK_CONFIRM
    )
    return opened, confirmed


def test_sliders_start_at_the_projects_saved_thresholds(services, project):
    values = dict(zip(NAMES, load_thresholds(services, project.project_id)))
    assert values == {
        "keep": 0.26,
        "select": 0.33,
        "auto_accept": 0.9,
        "margin": 0.1,
        "auto_reject": 0.26,
    }


@pytest.mark.parametrize(
    "th",
    [
        dict(keep=0.26, select=0.33, auto_accept=0.9, margin=0.1, auto_reject=0.26),
        dict(keep=0.0, select=0.0, auto_accept=0.0, margin=0.0, auto_reject=0.0),
        dict(keep=1.0, select=1.0, auto_accept=1.0, margin=1.0, auto_reject=1.0),
        dict(keep=0.5, select=0.37, auto_accept=0.6, margin=0.05, auto_reject=0.51),
    ],
)
def test_slider_counts_agree_with_brute_force(services, project, th):
    figure, counts = update_tuning_view(services, project.project_id, th, None)
    assert tiles(counts) == brute_counts(project.candidates, th)
    assert sum(sum(trace.y) for trace in figure.data) == len(project.candidates)
    lines = {round(shape.x0, 2) for shape in figure.layout.shapes}
    assert lines == {th["keep"], th["select"], th["auto_accept"], th["auto_reject"]}


def test_random_slider_positions_agree_with_brute_force(services, project):
    rng = np.random.default_rng(4)
    for _ in range(25):
        th = dict(zip(NAMES, np.round(rng.random(5), 2).tolist()))
        _, counts = update_tuning_view(services, project.project_id, th, None)
        assert tiles(counts) == brute_counts(project.candidates, th)


def test_moving_a_slider_changes_counts_and_the_chart(services, project):
    th = dict(keep=0.26, select=0.33, auto_accept=0.9, margin=0.1, auto_reject=0.26)
    fig1, counts1 = update_tuning_view(services, project.project_id, th, None)
    fig2, counts2 = update_tuning_view(services, project.project_id, {**th, "keep": 0.5}, None)
    assert tiles(counts2)["pairs_kept"] < tiles(counts1)["pairs_kept"]
    assert fig1.layout.shapes[0].x0 == 0.26 and fig2.layout.shapes[0].x0 == 0.5


def test_an_empty_direct_input_box_changes_nothing(services, project):
    th = dict(keep=None, select=0.33, auto_accept=0.9, margin=0.1, auto_reject=0.26)
    assert update_tuning_view(services, project.project_id, th, None) == (no_update, no_update)


def test_chart_is_coloured_by_status_once_decided(services, project):
    pid = project.project_id
    status = refresh_status(services, pid, "tuning", None)
    assert status["bars"] is None
    review(services, project, ids.ACCEPT, review(services, project), ["101"])
    assert refresh_status(services, pid, "review", status) is no_update
    status = refresh_status(services, pid, "tuning", status)
    assert status["decided"] == 1
    assert refresh_status(services, pid, "tuning", status) is no_update  # nothing changed
    th = dict(keep=0.26, select=0.33, auto_accept=0.9, margin=0.1, auto_reject=0.26)
    figure, _ = update_tuning_view(services, pid, th, status)
    by_name = {trace.name: sum(trace.y) for trace in figure.data}
    assert by_name == {
        "accepted": 1,
        "rejected": len(project.candidate_rows("1")) - 1,
        "undecided": len(project.candidates) - len(project.candidate_rows("1")),
    }


def test_dialog_names_the_count_of_undecided_records(services, project):
    review(services, project, ids.ACCEPT, review(services, project), ["101"])
    th = dict(keep=0.26, select=0.33, auto_accept=0.5, margin=0.0, auto_reject=0.26)
    is_open, text, disabled, token, *_ = handle_bulk(
        services, project.project_id, "ann", th, None, trigger=ids.AUTO_ACCEPT
    )
    _, counts = update_tuning_view(services, project.project_id, th, None)
    assert is_open is True and disabled is False
    assert f"of {tiles(counts)['auto_accept'] - 1} undecided records" in text
    pending = read_pending(services, token)
    assert pending["batch"] == "auto-accept|1|0.5|0.0"


def test_dialog_with_nothing_to_apply_disables_confirm(services, project):
    th = dict(keep=0.26, select=0.33, auto_accept=0.9, margin=0.1, auto_reject=0.0)
    is_open, text, disabled, *_ = handle_bulk(
        services, project.project_id, "ann", th, None, trigger=ids.AUTO_REJECT
    )
    assert is_open and disabled and "nothing to apply" in text


def test_cancel_writes_nothing(services, project):
    th = dict(keep=0.26, select=0.33, auto_accept=0.5, margin=0.0, auto_reject=0.26)
    opened = handle_bulk(services, project.project_id, "ann", th, None, trigger=ids.AUTO_ACCEPT)
    closed = handle_bulk(
        services, project.project_id, "ann", th, opened[3], trigger=ids.BULK_CANCEL
    )
    assert closed[0] is False and closed[3] is None
    assert services.log.events(project.project_id) == []


def test_bulk_accept_is_automatic_one_batch_and_a_second_confirm_writes_nothing(services, project):
    th = dict(keep=0.26, select=0.33, auto_accept=0.5, margin=0.0, auto_reject=0.26)
    opened, confirmed = bulk(services, project, th)
    events = services.log.events(project.project_id)
    assert confirmed[5]["written"] == len(events) == 5
    assert {(e.automatic, e.reviewer, e.batch) for e in events} == {
        (True, "ann", read_pending(services, opened[3])["batch"])
    }
    again = handle_bulk(
        services, project.project_id, "ann", th, opened[3], trigger=ids.BULK_CONFIRM
    )
    assert again[4] is no_update
    assert len(services.log.events(project.project_id)) == 5


def test_bulk_accept_then_undo_leaves_decisions_as_before(services, project):
    pid = project.project_id
    view = review(services, project, ids.REJECT, review(services, project))
    before = dict(services.log.state(pid).decisions)
    th = dict(keep=0.26, select=0.33, auto_accept=0.3, margin=0.0, auto_reject=0.26)
    bulk(services, project, th)
    after = services.log.state(pid).decisions
    assert len(after) == 5 and after["1"] == before["1"]
    assert sum(d.automatic for d in after.values()) == 4
    stale = review(services, project, ids.UNDO, view)  # drawn before the batch
    assert len(services.log.state(pid).decisions) == 5
    review(services, project, ids.UNDO, stale)
    assert dict(services.log.state(pid).decisions) == before


def test_bulk_reject_then_undo_leaves_decisions_as_before(services, project):
    pid = project.project_id
    th = dict(keep=0.26, select=0.33, auto_accept=0.9, margin=0.1, auto_reject=0.95)
    _, confirmed = bulk(services, project, th, kind=ids.AUTO_REJECT, who="bob")
    decisions = services.log.state(pid).decisions
    assert confirmed[5]["written"] == len(decisions) > 0
    assert {d.status for d in decisions.values()} == {"rejected"}
    review(services, project, ids.UNDO, review(services, project, who="bob"), who="bob")
    assert services.log.state(pid).decisions == {}


def test_saved_thresholds_change_the_next_review_view_not_decisions(services, project):
    pid = project.project_id
    review(services, project, ids.ACCEPT, review(services, project), ["101"])
    decided = dict(services.log.state(pid).decisions)
    before = current_view(services, project, "bob")
    text = save_thresholds(services, pid, 0.9, 0.95)
    assert "0.90" in text and "0.95" in text
    after = current_view(services, project, "bob")
    assert before["left_id"] == after["left_id"]
    assert len(after["rows"]) < len(before["rows"])
    assert services.desk(project).thresholds() == {"keep": 0.9, "select": 0.95}
    assert dict(services.log.state(pid).decisions) == decided
    assert load_thresholds(services, pid)[:2] == (0.9, 0.95)


@pytest.fixture
def larger(app_config):
    """A project of 60 generated owners and cars, matched on surname."""
    from app import create_app

    tables = generate_tables(60, seed=3)
    app = create_app(
        app_config.__class__(
            left=tables.owners,
            right=tables.cars,
            spec=Spec(fields=(Field("surname"),), left_id="owner_id", right_id="car_id"),
            keep=0.3,
            select=0.8,
            name="generated",
            db_url=app_config.db_url,
            data_dir=app_config.data_dir,
        )
    )
    services = app.matchdesk
    return services, services.project(services.project_options()[0]["value"])


def test_estimates_wait_for_20_reviewed_pairs_then_show(larger):
    from matching.decisions.tuning import estimate_precision_recall

    services, project = larger
    pid = project.project_id
    status = refresh_status(services, pid, "tuning", None)
    text, _, style = update_estimates(services, pid, 0.3, 0.8, status, trigger=None)
    assert "once reviewers have decided 20 pairs (0 so far" in text
    assert style == {"display": "none"}
    view = review(services, project)
    for _ in range(25):
        kind = ids.ACCEPT if view["selected"] else ids.REJECT
        view = review(services, project, kind, view, view["selected"])
    status = refresh_status(services, pid, "tuning", status)
    text, figure, style = update_estimates(services, pid, 0.3, 0.8, status, trigger=None)
    estimate = estimate_precision_recall(
        project.candidates, services.log.state(pid), keep=0.3, select=0.8
    )
    assert estimate is not None
    assert f"Estimate from {estimate['reviewed']:,} reviewed pairs" in text
    assert f"precision {estimate['precision']:.0%}" in text
    assert f"recall {estimate['recall']:.0%}" in text
    assert style == {} and len(figure.data) == 1
    moved, figure, style = update_estimates(
        services, pid, 0.3, 0.95, status, trigger=ids.TUNING_SELECT
    )
    assert "pre-selecting pairs from 0.95" in moved and figure is no_update


def test_statistics_refresh_only_on_their_tab_and_when_decisions_change(services, project):
    pid = project.project_id
    assert update_statistics(services, pid, "review", None) == (no_update,) * 5
    first = update_statistics(services, pid, "statistics", None)
    assert first[4] == {"project_id": pid, "version": 0}
    assert update_statistics(services, pid, "statistics", first[4]) == (no_update,) * 5
    review(services, project, ids.ACCEPT, review(services, project), ["101"])
    progress, over_time, reviewers, scores, seen = update_statistics(
        services, pid, "statistics", first[4]
    )
    assert seen["version"] == 1
    assert "1 of 5 records decided" in str(progress)
    assert "ann" in str(reviewers)
    assert over_time.data[0].y[-1] == 1
    assert sum(scores.data[0].y) == 1  # the accepted pair


def test_time_step_keeps_the_progress_line_short():
    assert time_step(0) == "1min"
    assert time_step(3 * 3600) == "10min"
    assert time_step(90 * 86400) == "1D"


@pytest.mark.parametrize(
    "forged",
    [
        {"kind": "reject", "threshold": 1.01, "margin": 0.0, "batch": "x"},
        "not-a-signed-action",
        None,
    ],
)
def test_a_forged_pending_bulk_action_records_nothing(services, project, forged):
    th = dict(keep=0.26, select=0.33, auto_accept=0.3, margin=0.0, auto_reject=0.26)
    is_open, _, _, pending, result, _ = handle_bulk(
        services, project.project_id, "ann", th, forged, trigger=ids.BULK_CONFIRM
    )
    assert is_open is False and pending is None
    assert "could not be checked" in result and "Nothing was recorded" in result
    assert services.log.events(project.project_id) == []


def test_the_tuning_chart_follows_a_model_learned_from_the_decisions(tmp_path):
    from tests.helpers import generated_app

    services = generated_app(tmp_path).matchdesk
    pid = services.project_options()[0]["value"]
    project = services.project(pid)
    status = refresh_status(services, pid, "tuning", None)
    desk = services.desk(project)
    view = desk.next_view("ann")
    for _ in range(12):
        view = desk.decide("ann", view, "accept", view["selected"][:1]).view
    status = refresh_status(services, pid, "tuning", status)
    assert refresh_status(services, pid, "tuning", status) is no_update
    learned = desk.learning.relearn("lee", role="lead")
    assert learned.ok, learned.message
    fresh = refresh_status(services, pid, "tuning", status)
    assert fresh is not no_update and fresh["model"] == 1 and fresh["version"] == status["version"]
    assert refresh_status(services, pid, "tuning", fresh) is no_update


def test_too_few_decisions_on_tables_too_small_for_em_learn_nothing(services, project):
    desk = services.desk(project)
    view = desk.next_view("ann")
    view = desk.decide("ann", view, "accept", view["selected"][:1]).view
    desk.decide("ann", view, "reject")
    refused = desk.learning.relearn("lee", role="lead")
    assert not refused.ok and "too few" in refused.message
    assert services.settings(project.project_id).model_version == 0
