"""Tuning and Statistics tabs: the score histogram and the plain counts."""

from __future__ import annotations

from dash import dcc, html

from components.ids import ids

__all__ = ["tuning_tab", "statistics_tab"]


def tuning_tab() -> html.Div:
    return html.Div(
        [
            dcc.Graph(id=ids.HISTOGRAM, config={"displayModeBar": False}),
            html.Div(id=ids.TUNING_BODY),
        ],
        className="pt-3",
    )


def statistics_tab() -> html.Div:
    return html.Div(html.Div(id=ids.COUNTS), id=ids.STATS_BODY, className="pt-3")
