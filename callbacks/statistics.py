"""Statistics tab: progress, pace, reviewers and scores, refreshed while the tab is open.

The interval runs only while the Tuning or Statistics tab is open (a clientside
callback switches it), and :func:`update_statistics` redraws only when the
decisions changed, so a reviewer's page never polls and a manager's does not
flicker.
"""

from __future__ import annotations

import math

from dash import Input, Output, State, html, no_update

from components.ids import ids
from components.statistics import (
    agreement_table,
    over_time_figure,
    progress_panel,
    reasons_table,
    reviewer_table,
    scores_figure,
)
from matching.decisions.roles import allowed
from matching.decisions.statistics import (
    eta,
    per_reviewer,
    progress,
    progress_over_time,
    reasons_breakdown,
    score_distribution,
)
from server.services import Services, services_of

__all__ = ["register", "update_statistics", "time_step"]

_OUTPUTS = 5


def time_step(span_seconds: float) -> str:
    """A step for the progress line that gives it some tens of points at most."""
    for limit, step in ((3600, "1min"), (6 * 3600, "10min"), (2 * 86400, "1h"), (14 * 86400, "6h")):
        if span_seconds <= limit:
            return step
    return "1D"


def update_statistics(services: Services, project_id, tab, seen) -> tuple:
    """Progress tiles, progress line, reviewer table, score chart and the version drawn.

    Everything is ``no_update`` unless the Statistics tab is open and the
    decisions changed since ``seen``.
    """
    project = services.project(project_id)
    if project is None or tab != "statistics":
        return (no_update,) * _OUTPUTS
    desk = services.desk(project)
    drawn = {"project_id": project_id, "version": desk.refresh().last_seq}
    if seen == drawn:
        return (no_update,) * _OUTPUTS
    state = desk.views.decisions()  # the decisions in force, as columns the desk keeps
    done = progress(state, len(project.queue))
    times = state.frame["time"]
    span = float(times.max() - times.min()) if len(times) else 0.0
    over = progress_over_time(state, freq=time_step(span))
    reviewers = per_reviewer(state).to_dict("records")
    team = sum(int(row["decisions"]) for row in reviewers)
    who, role = services.actor(None)
    only = None
    if not allowed(role, "statistics_all"):  # a reviewer sees their own row only, told so
        reviewers = [row for row in reviewers if row["reviewer"] == who]
        only = who
    for row in reviewers:
        if math.isnan(row["decisions_per_hour"]):
            row["decisions_per_hour"] = None
    scores = score_distribution(state)
    return (
        progress_panel(done, eta(state, done["records_remaining"])),
        over_time_figure(over["time"], over["decided"], over["automatic"], over["manual"]),
        html.Div(
            [
                reviewer_table(reviewers, only=only, team=team),
                reasons_table(reasons_breakdown(state).to_dict("records")),
                agreement_table(desk.audits.agreement()),
            ]
        ),
        scores_figure(
            scores["bin_start"], scores["bin_end"], scores["accepted"], scores["rejected"]
        ),
        drawn,
    )


_INTERVAL_SWITCH = """
function(tab) { return !(tab === "statistics" || tab === "tuning"); }
"""


def register(app) -> None:
    services = services_of(app)

    def statistics_callback(project_id, tab, _tick, seen):
        return update_statistics(services, project_id, tab, seen)

    app.callback(
        Output(ids.STATS_PROGRESS, "children"),
        Output(ids.STATS_OVER_TIME, "figure"),
        Output(ids.STATS_REVIEWERS, "children"),
        Output(ids.STATS_SCORES, "figure"),
        Output(ids.STATS_SEEN, "data"),
        Input(ids.PROJECT_SELECT, "value"),
        Input(ids.TABS, "active_tab"),
        Input(ids.STATS_INTERVAL, "n_intervals"),
        State(ids.STATS_SEEN, "data"),
    )(statistics_callback)

    app.clientside_callback(
        _INTERVAL_SWITCH,
        Output(ids.STATS_INTERVAL, "disabled"),
        Input(ids.TABS, "active_tab"),
    )
