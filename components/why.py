"""Why a candidate scored as it did: a waterfall of the prior and each field's match weight
in bits (as Splink draws it), or of each field's share of a weighted-mean score."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from matching.engine.rescore import SHARED_PART, STANDING_PART, ScoreParts

__all__ = ["why_figure", "why_panel"]


def why_figure(parts: ScoreParts) -> go.Figure:
    """A waterfall: the prior (learned weights), each field's part, then the total."""
    bits = parts.unit == "bits"
    names = [name for name, _ in parts.parts]
    values = [0.0 if v is None else v for _, v in parts.parts]
    x = (["prior"] if bits else []) + names + ["total"]
    y = ([parts.start] if bits else []) + values + [parts.total]
    measure = (["absolute"] if bits else []) + ["relative"] * len(names) + ["total"]
    form = "{:+.2f}" if bits else "{:.2f}"
    text = (
        ([form.format(parts.start)] if bits else [])
        + ["missing" if v is None else form.format(v) for _, v in parts.parts]
        + [form.format(parts.total)]
    )
    fig = go.Figure(
        go.Waterfall(
            x=x,
            y=y,
            measure=measure,
            text=text,
            textposition="outside",
            increasing={"marker": {"color": "#2e7d32"}},
            decreasing={"marker": {"color": "#c62828"}},
            totals={"marker": {"color": "#1565c0"}},
            connector={"line": {"color": "#9e9e9e", "width": 1}},
        )
    )
    fig.update_layout(
        height=260,
        margin={"l": 40, "r": 10, "t": 10, "b": 30},
        yaxis_title="match weight (bits)" if bits else "share of the score",
        showlegend=False,
    )
    return fig


def why_panel(right_id: str, parts: ScoreParts | None) -> html.Div:
    """The panel under the candidate grid for the candidate ``right_id``."""
    if parts is None:
        return html.Div()
    if parts.unit == "bits":
        chance = "" if parts.probability is None else f"match probability {parts.chance()}, "
        placed = any(name in (SHARED_PART, STANDING_PART) for name, _ in parts.parts)
        what = " and what its place among its record's candidates costs" if placed else ""
        heading = (
            f"Why {right_id} scored {parts.score:.2f}: {chance}from {parts.total:+.1f} bits"
            f" (the prior plus each field's match weight{what})"
        )
    else:
        heading = (
            f"Why {right_id} scored {parts.score:.2f}: each field's similarity times its"
            " weight, over the weights of the fields present"
        )
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(heading, className="small fw-semibold"),
                dcc.Graph(figure=why_figure(parts), config={"displayModeBar": False}),
                html.Div(parts.text(), className="small text-muted"),
            ]
        ),
        className="why-panel",
    )
