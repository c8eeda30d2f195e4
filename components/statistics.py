"""Statistics tab for managers: progress, pace, reviewers and the scores of decisions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from components.ids import ids
from components.tuning import STATUS_COLOURS

__all__ = [
    "statistics_tab",
    "progress_panel",
    "reviewer_table",
    "over_time_figure",
    "scores_figure",
    "REFRESH_MS",
]

#: How often the open Statistics tab reads the decisions again.
REFRESH_MS = 5000


def statistics_tab() -> html.Div:
    return html.Div(
        [
            dcc.Interval(id=ids.STATS_INTERVAL, interval=REFRESH_MS, disabled=True),
            dcc.Store(id=ids.STATS_SEEN),
            html.Div(id=ids.STATS_PROGRESS),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            html.H6("Progress over time", className="mt-3"),
                            dcc.Graph(id=ids.STATS_OVER_TIME, config={"displayModeBar": False}),
                        ],
                        md=6,
                    ),
                    dbc.Col(
                        [
                            html.H6("Scores of accepted and rejected pairs", className="mt-3"),
                            dcc.Graph(id=ids.STATS_SCORES, config={"displayModeBar": False}),
                        ],
                        md=6,
                    ),
                ]
            ),
            html.H6("Reviewers", className="mt-3"),
            html.Div(id=ids.STATS_REVIEWERS),
        ],
        className="pt-3",
    )


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    return "about " + _spelled(minutes)


def _spelled(minutes: int) -> str:
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [(days, "d"), (hours, "h"), (minutes, "min")]
    return " ".join(f"{n} {unit}" for n, unit in parts if n)


def _records(n: int) -> str:
    return f"{n:,} record" if n == 1 else f"{n:,} records"


def _tile(value: str, label: str, detail: str = "") -> dbc.Col:
    return dbc.Col(
        html.Div(
            [
                html.Div(value, className="fs-4 fw-semibold"),
                html.Div(label, className="small"),
                html.Div(detail, className="small text-muted"),
            ],
            className="border rounded p-2 h-100",
        )
    )


def progress_panel(progress: Mapping[str, int | float | None], eta: float | None) -> html.Div:
    """Tiles of :func:`matching.decisions.statistics.progress` and the time to finish."""
    total = progress["records_total"]
    fraction = progress["fraction_decided"] or 0.0
    if eta is None:
        finish = "not enough recent manual decisions to tell"
    elif eta == 0:
        finish = "nothing left to decide"
    else:
        finish = f"{_duration(eta)} at the pace of the last hour"
    return html.Div(
        [
            dbc.Progress(
                value=round(100 * fraction),
                label=f"{progress['records_decided']:,} of {total:,} records decided",
                style={"height": "1.5rem"},
                className="mb-2",
            ),
            dbc.Row(
                [
                    _tile(
                        f"{progress['records_decided']:,} / {total:,}",
                        "records decided",
                        f"{progress['records_remaining']:,} to go",
                    ),
                    _tile(
                        f"{progress['records_accepted']:,}",
                        "records matched",
                        f"{progress['pairs_accepted']:,} pairs accepted",
                    ),
                    _tile(
                        f"{progress['records_rejected']:,}",
                        "records with no match",
                        f"their {progress['pairs_rejected']:,} candidate pairs rejected",
                    ),
                    _tile(f"{progress['records_skipped']:,}", "records skipped", "still undecided"),
                    _tile(
                        f"{progress['automatic']:,} / {progress['manual']:,}",
                        "automatic / manual decisions",
                    ),
                ],
                className="g-2",
            ),
            html.Div(f"Estimated time to finish: {finish}.", className="mt-2"),
        ]
    )


def reviewer_table(
    rows: Sequence[Mapping], *, only: str | None = None, team: int = 0
) -> html.Div | dbc.Table:
    """One row per reviewer of :func:`matching.decisions.statistics.per_reviewer`.

    ``only`` names the reviewer the rows were kept for (a reviewer sees their own
    row), said above the table; ``team`` is the team's manual decisions, all reviewers.
    """
    if only is not None:
        note = html.Div(
            f"Your own decisions ({only}); the team has made {team:,} manual decisions."
            " A lead or a manager sees every reviewer's row.",
            className="small text-muted mb-1",
        )
        if not rows:
            return html.Div(
                f"You have made no manual decisions yet; the team has made {team:,}."
                " A lead or a manager sees every reviewer's row.",
                className="small text-muted",
            )
        return html.Div([note, reviewer_table(rows)])
    if not rows:
        return html.Div("No manual decisions yet.", className="small text-muted")
    titles = ("Reviewer", "Decisions", "Accept rate", "Decisions per hour")
    head = html.Thead(html.Tr([html.Th(t) for t in titles]))
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(r["reviewer"]),
                    html.Td(f"{r['decisions']:,}"),
                    html.Td(f"{r['accept_rate']:.0%}"),
                    html.Td(
                        "n/a"
                        if r["decisions_per_hour"] is None
                        else f"{r['decisions_per_hour']:.0f}"
                    ),
                ]
            )
            for r in rows
        ]
    )
    return dbc.Table([head, body], size="sm", bordered=False, hover=True, className="w-auto")


def reasons_table(rows: Sequence[Mapping]) -> html.Div:
    """Decisions per reason given (see :func:`matching.decisions.statistics.reasons_breakdown`)."""
    title = html.H6("Reasons given", className="mt-3")
    if not rows:
        return html.Div([title, html.Div("No reasons given yet.", className="small text-muted")])
    titles = ("Reason", "Accepted", "No match", "With a comment")
    head = html.Thead(html.Tr([html.Th(t) for t in titles]))
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(r["reason"] or "(comment only)"),
                    html.Td(f"{r['accepted']:,}"),
                    html.Td(f"{r['rejected']:,}"),
                    html.Td(f"{r['comments']:,}"),
                ]
            )
            for r in rows
        ]
    )
    table = dbc.Table([head, body], size="sm", bordered=False, hover=True, className="w-auto")
    return html.Div([title, table])


def agreement_table(rows: Sequence[Mapping]) -> html.Div:
    """Cohen's kappa per pair of reviewers and overall, with 95% intervals."""
    title = html.H6("Agreement between reviewers (double review)", className="mt-3")
    if not rows:
        return html.Div([title, html.Div("No double reviews yet.", className="small text-muted")])

    def kappa(r) -> str:
        if r["kappa"] != r["kappa"]:  # NaN: one answer only, kappa undefined
            return "n/a"
        return f"{r['kappa']:.2f} ({r['low']:.2f} to {r['high']:.2f})"

    head = html.Thead(
        html.Tr([html.Th(t) for t in ("Reviewers", "Records", "Agree", "Kappa (95% interval)")])
    )
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td("All pairs" if r["pair"] == "all" else r["pair"]),
                    html.Td(f"{r['n']:,}"),
                    html.Td(f"{r['observed']:.0%}"),
                    html.Td(kappa(r)),
                ]
            )
            for r in rows
        ]
    )
    table = dbc.Table([head, body], size="sm", bordered=False, hover=True, className="w-auto")
    return html.Div([title, table])


def _empty(figure: go.Figure, when_empty: bool) -> go.Figure:
    """Say so, instead of drawing empty axes, when there is nothing to show yet."""
    if when_empty:
        figure.update_layout(
            xaxis={"visible": False},
            yaxis={"visible": False},
            showlegend=False,
            annotations=[
                {
                    "text": "No decisions yet",
                    "showarrow": False,
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0.5,
                    "y": 0.5,
                    "font": {"color": "#6c757d", "size": 14},
                }
            ],
        )
    return figure


def over_time_figure(
    times: Sequence, decided: Sequence[int], automatic: Sequence[int], manual: Sequence[int]
) -> go.Figure:
    """Cumulative decisions over time: all, automatic and manual."""
    lines = (
        ("decided", decided, "#1d6fa5", "solid"),
        ("manual", manual, "#495057", "dot"),
        ("automatic", automatic, STATUS_COLOURS["accepted"], "dot"),
    )
    figure = go.Figure(
        [
            go.Scatter(
                x=list(times),
                y=list(values),
                name=name,
                mode="lines+markers",
                line={"color": colour, "dash": dash, "shape": "hv"},
            )
            for name, values, colour, dash in lines
        ],
        {
            "height": 280,
            "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
            "yaxis": {"title": {"text": "records decided"}, "rangemode": "tozero"},
            "legend": {"orientation": "h", "y": -0.2},
            "plot_bgcolor": "white",
        },
    )
    return _empty(figure, len(times) == 0)


def scores_figure(
    bin_start: Sequence[float],
    bin_end: Sequence[float],
    accepted: Sequence[int],
    rejected: Sequence[int],
) -> go.Figure:
    """Accepted against rejected pairs per score bin, overlaid."""
    centres = [(a + b) / 2 for a, b in zip(bin_start, bin_end)]
    width = [b - a for a, b in zip(bin_start, bin_end)]
    figure = go.Figure(
        [
            go.Bar(
                x=centres,
                y=list(counts),
                width=width,
                name=name,
                opacity=0.75,
                marker={"color": STATUS_COLOURS[name], "line": {"width": 0}},
            )
            for name, counts in (("accepted", accepted), ("rejected", rejected))
        ],
        {
            "barmode": "overlay",
            "height": 280,
            "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
            "xaxis": {"title": {"text": "score"}, "range": [0, 1]},
            "yaxis": {"title": {"text": "pairs"}},
            "legend": {"orientation": "h", "y": -0.2},
            "plot_bgcolor": "white",
        },
    )
    return _empty(figure, sum(accepted) + sum(rejected) == 0)
