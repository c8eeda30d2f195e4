"""Tuning and Statistics tabs: the score histogram and the plain counts."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, html, no_update

from callbacks.services import Services, services_of
from components.ids import ids

__all__ = ["register", "update_insights"]


def update_insights(services: Services, project_id, tab):
    project = services.project(project_id)
    if project is None or tab not in ("tuning", "statistics"):
        return no_update, no_update
    th = services.thresholds(project)
    scores = project.candidates["score"].to_numpy()
    counts, edges = np.histogram(scores, bins=50, range=(0, 1))
    fig = go.Figure(
        go.Bar(
            x=(edges[:-1] + edges[1:]) / 2,
            y=counts,
            width=0.02,
            marker_color="#4c72b0",
            name="pairs",
        )
    )
    for name, value, colour in (("keep", th["keep"], "#888"), ("select", th["select"], "#2a9d8f")):
        fig.add_vline(
            x=value, line_dash="dash", line_color=colour, annotation_text=f"{name} {value:.2f}"
        )
    fig.update_layout(
        height=320,
        margin={"l": 40, "r": 10, "t": 30, "b": 40},
        xaxis_title="score",
        yaxis_title="pairs",
        bargap=0,
    )
    state = services.log.state(project.project_id)
    accepted = sum(len(d.right_ids) for d in state.decisions.values())
    rejected = sum(1 for d in state.decisions.values() if d.status == "rejected")
    items = [
        ("Records", len(project.queue)),
        ("Candidate pairs", len(scores)),
        ("Pairs kept", int((scores >= th["keep"]).sum())),
        ("Pairs pre-selected", int((scores >= max(th["select"], th["keep"])).sum())),
        ("Records decided", len(state.decisions)),
        ("Pairs accepted", accepted),
        ("Records with no match", rejected),
        ("Records skipped", len(state.skipped)),
    ]
    table = html.Table(
        html.Tbody(
            [html.Tr([html.Th(k, className="pe-4 fw-normal"), html.Td(f"{v:,}")]) for k, v in items]
        ),
        className="table table-sm w-auto",
    )
    return fig, table


def register(app) -> None:
    services = services_of(app)
    app.callback(
        Output(ids.HISTOGRAM, "figure"),
        Output(ids.COUNTS, "children"),
        Input(ids.PROJECT_SELECT, "value"),
        Input(ids.TABS, "active_tab"),
    )(lambda project_id, tab: update_insights(services, project_id, tab))
