"""Tuning tab: threshold sliders, the score histogram, live counts, bulk decisions, estimates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from components.ids import ids, pattern_part
from components.learning import learning_panel

__all__ = [
    "tuning_tab",
    "tuning_figure",
    "counts_panel",
    "band_figure",
    "floor_note",
    "STATUS_COLOURS",
    "SLIDER_IDS",
]

#: Threshold name -> the slider that sets it, in the order the callbacks read them.
SLIDER_IDS = {
    "keep": ids.TUNING_KEEP,
    "select": ids.TUNING_SELECT,
    "auto_accept": ids.TUNING_AUTO_ACCEPT,
    "margin": ids.TUNING_MARGIN,
    "auto_reject": ids.TUNING_AUTO_REJECT,
}

STATUS_COLOURS = {
    "accepted": "#2a9d8f",
    "rejected": "#e76f51",
    "undecided": "#adb5bd",
    "pairs": "#4c72b0",
}

# name shown on the chart, line colour, dash; margin is not a score, so it has no line.
_LINES = {
    "keep": ("keep", "#495057", "dash"),
    "select": ("select", "#1d6fa5", "dash"),
    "auto_accept": ("auto-accept", "#2a9d8f", "dot"),
    "auto_reject": ("auto-reject", "#e76f51", "dot"),
}

_SLIDERS = (
    ("keep", "Keep", "Pairs scoring at least this are shown to reviewers."),
    ("select", "Select", "Pairs scoring at least this (and keep) are pre-selected."),
    (
        "auto_accept",
        "Auto-accept",
        "A record is accepted when its best candidate scores at least this…",
    ),
    ("margin", "Margin", "…and beats the runner-up (0 when alone) by at least this."),
    ("auto_reject", "Auto-reject", "A record is rejected when its best candidate is below this."),
)

_MARKS = {0: "0", 0.25: "0.25", 0.5: "0.5", 0.75: "0.75", 1: "1"}


def _slider(name: str, label: str, help_text: str) -> html.Div:
    # Under keep, which pairs exist at all: the project's floor (see floor_note).
    floor = [html.Div(id=ids.TUNING_FLOOR, className="small text-muted")] if name == "keep" else []
    return html.Div(
        [
            dbc.Label(label, html_for=SLIDER_IDS[name], className="fw-semibold mb-0"),
            html.Div(help_text, className="small text-muted"),
            *floor,
            dcc.Slider(
                0,
                1,
                0.01,
                value=0.5,
                marks=_MARKS,
                updatemode="drag",
                id=SLIDER_IDS[name],
            ),
        ],
        className="mb-3",
    )


def _confirm_modal(modal: str, text: str, cancel: str, confirm: str) -> dbc.Modal:
    """A dialog asking to confirm a batch of automatic decisions (its text names the count)."""
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Apply automatic decisions")),
            dbc.ModalBody(id=text),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id=cancel, color="secondary", outline=True),
                    dbc.Button("Confirm", id=confirm, color="primary"),
                ]
            ),
        ],
        id=modal,
        is_open=False,
    )


def _bulk_modal() -> dbc.Modal:
    return _confirm_modal(ids.BULK_MODAL, ids.BULK_TEXT, ids.BULK_CANCEL, ids.BULK_CONFIRM)


#: The comparisons offered for an agreement pattern; "any" leaves the field out.
PATTERN_CHOICES = [
    {"label": "any", "value": "any"},
    {"label": "≥", "value": ">="},
    {"label": "≤", "value": "<="},
    {"label": "=", "value": "="},
    {"label": ">", "value": ">"},
    {"label": "<", "value": "<"},
]


def pattern_panel() -> html.Div:
    """Choose per-field agreement, preview the records it picks, decide them as one batch."""
    return html.Div(
        [
            html.H6("Decide by agreement pattern", className="mt-4"),
            html.P(
                "Pick records by how their fields agree, for example surname ≥ 0.95 and date"
                " of birth = 1. Accept takes each record's best candidate that fits; No match"
                " takes records whose every candidate fits. One Undo on the Review tab"
                " reverts the batch.",
                className="small text-muted mb-2",
            ),
            html.Div(id=ids.PATTERN_FIELDS),
            html.Div(
                [
                    dbc.Button(
                        "Preview",
                        id=ids.PATTERN_PREVIEW,
                        size="sm",
                        color="primary",
                        className="me-2",
                    ),
                    dbc.Button(
                        "Accept these",
                        id=ids.PATTERN_ACCEPT,
                        size="sm",
                        color="success",
                        outline=True,
                        className="me-2",
                    ),
                    dbc.Button(
                        "Mark these no match",
                        id=ids.PATTERN_REJECT,
                        size="sm",
                        color="danger",
                        outline=True,
                    ),
                ],
                className="mt-2 mb-2",
            ),
            html.Div(id=ids.PATTERN_RESULT, className="small"),
            _confirm_modal(
                ids.PATTERN_MODAL, ids.PATTERN_TEXT, ids.PATTERN_CANCEL, ids.PATTERN_CONFIRM
            ),
            dcc.Store(id=ids.PATTERN_PENDING),
        ]
    )


def pattern_rows(fields: Sequence[str]) -> list:
    """One row per compared field: the comparison and the score it is compared with."""
    return [
        html.Div(
            [
                html.Span(name, className="me-2", style={"minWidth": "9rem"}),
                dcc.Dropdown(
                    id=pattern_part("op", i),
                    options=PATTERN_CHOICES,
                    value="any",
                    clearable=False,
                    style={"width": "6rem"},
                    className="me-2",
                ),
                dbc.Input(
                    id=pattern_part("value", i),
                    type="number",
                    min=0,
                    max=1,
                    step=0.01,
                    value=0.9,
                    size="sm",
                    style={"width": "6rem"},
                ),
            ],
            className="d-flex align-items-center mb-1",
        )
        for i, name in enumerate(fields)
    ]


def _side_by_side(fields: Sequence[Mapping]) -> list[html.Td]:
    """One cell per compared field: the left value above the candidate's, bold where
    they differ, as the review grid shows them."""
    cells = []
    for f in fields:
        left, right = f["left"] or "—", f["right"] or "—"
        weight = "" if f["same"] else " fw-semibold"
        cells.append(
            html.Td(
                [html.Div(left, className="text-muted"), html.Div(right, className=weight)],
                className="pattern-values",
            )
        )
    return cells


def pattern_sample(count: int, kind: str, rows: Sequence[Mapping]) -> html.Div:
    """The preview: how many records a pattern picks, and a few of them with the values
    of their compared fields side by side (left record above, candidate below)."""
    verb = "accepted" if kind == "accept" else "marked no match"
    head = html.P(f"{count:,} undecided records would be {verb}.", className="mb-1")
    if not rows:
        return html.Div(head)
    names = [f["field"] for f in rows[0].get("fields", ())]
    table = html.Table(
        [
            html.Thead(
                html.Tr(
                    [html.Th("Left record"), html.Th("Right record"), html.Th("Score")]
                    + [html.Th(n) for n in names]
                )
            ),
            html.Tbody(
                [
                    html.Tr(
                        [
                            html.Td(r["left_id"]),
                            html.Td(r["right_id"] or "—"),
                            html.Td("—" if r["score"] is None else f"{r['score']:.2f}"),
                            *_side_by_side(r.get("fields", ())),
                        ]
                    )
                    for r in rows
                ]
            ),
        ],
        className="table table-sm small pattern-sample",
    )
    return html.Div([head, table])


def _percent_input(
    before: str, input_id: str, after: str, value: float, low: float, high: float, step: float
) -> dbc.InputGroup:
    """A small number field with its words on either side, e.g. "Margin ± [3] % at 95%"."""
    return dbc.InputGroup(
        [
            dbc.InputGroupText(before),
            dbc.Input(
                id=input_id,
                type="number",
                value=value,
                min=low,
                max=high,
                step=step,
                style={"maxWidth": "5rem"},
            ),
            dbc.InputGroupText(after),
        ],
        size="sm",
        className="me-2 w-auto",
    )


def audit_panel() -> html.Div:
    """Draw a blind audit of an automatic batch, and what the audits found."""
    return html.Div(
        [
            html.H6("Audits of automatic decisions", className="mt-4"),
            html.P(
                "Draw a random sample of a batch; reviewers check it blind with Audit on the "
                "Review tab. The estimate below covers the whole batch.",
                className="small text-muted mb-2",
            ),
            html.Div(
                [
                    dcc.Dropdown(
                        id=ids.AUDIT_BATCH,
                        placeholder="Automatic batch",
                        clearable=False,
                        style={"minWidth": "22rem"},
                        className="me-2",
                    ),
                    _percent_input("Margin ±", ids.AUDIT_MARGIN, "% at 95%", 3, 0.1, 50, 0.5),
                    dbc.Button("Draw audit", id=ids.AUDIT_DRAW, size="sm", color="primary"),
                ],
                className="d-flex align-items-center mb-2",
            ),
            html.Div(
                [
                    _percent_input("Review", ids.DOUBLE_SHARE, "% of records twice", 10, 1, 100, 1),
                    dbc.Button(
                        "Draw for double review", id=ids.DOUBLE_DRAW, size="sm", color="primary"
                    ),
                ],
                className="d-flex align-items-center mb-2",
            ),
            html.Div(id=ids.AUDIT_MESSAGE, className="small mb-2"),
            html.Div(id=ids.AUDIT_TABLE),
        ]
    )


def audit_table(results: Sequence[Mapping]) -> html.Table | html.P:
    """One row per audit: batch, drawn and audited records, errors with their interval."""
    if not results:
        return html.P("No audits yet.", className="small text-muted")
    head = html.Thead(
        html.Tr(
            [
                html.Th(h)
                for h in (
                    "Batch",
                    "Records",
                    "Audited",
                    "Wrong",
                    "Error rate (95% interval)",
                    "Estimated wrong in batch",
                )
            ]
        )
    )
    rows = []
    for r in results:
        rate = "—" if not r["audited"] else f"{r['rate']:.1%} ({r['low']:.1%} to {r['high']:.1%})"
        wrong = (
            "—"
            if not r["audited"]
            else f"{r['estimated_wrong']:,} ({r['estimated_wrong_low']:,} to "
            f"{r['estimated_wrong_high']:,})"
        )
        label = "auto-accept" if r["kind"] == "accept" else "auto-reject"
        rows.append(
            html.Tr(
                [
                    html.Td(label),
                    html.Td(f"{r['records']:,}"),
                    html.Td(f"{r['audited']:,} of {r['sampled']:,}"),
                    html.Td(f"{r['wrong']:,}"),
                    html.Td(rate),
                    html.Td(wrong),
                ]
            )
        )
    return html.Table([head, html.Tbody(rows)], className="table table-sm small")


def floor_note(floor: float | None) -> str:
    """What the page says under the keep slider about the project's floor."""
    if floor is None:
        return ""
    return (
        f"This project was scored from {floor:.2f}: no pair under it was kept, so keep"
        " goes no lower. Run the project again with a lower keep to see more pairs."
    )


def _reasons_panel() -> html.Div:
    """The reasons reviewers pick from with the keys 1 to 9, edited by a lead."""
    return html.Div(
        [
            dbc.Label(
                "Reasons reviewers pick from",
                html_for=ids.REASONS_TEXT,
                className="fw-semibold mb-0",
            ),
            html.Div(
                "One a line, up to nine (keys 1 to 9 on the Review tab); none brings back"
                " the defaults.",
                className="small text-muted",
            ),
            dbc.Textarea(id=ids.REASONS_TEXT, rows=5, className="mb-2"),
            dbc.Button("Save reasons", id=ids.REASONS_SAVE, color="primary", size="sm"),
            html.Div(id=ids.REASONS_SAVED, className="small mt-1"),
        ],
        className="mt-4",
    )


def tuning_tab() -> html.Div:
    """Sliders on the left; chart, counts and estimates on the right."""
    controls = dbc.Col(
        [
            *(_slider(*s) for s in _SLIDERS),
            dbc.Button(
                "Use these thresholds for review", id=ids.TUNING_SAVE, color="primary", size="sm"
            ),
            html.Div(id=ids.TUNING_SAVED, className="small mt-1 mb-3"),
            html.Div(
                [
                    dbc.Button(
                        "Apply auto-accept",
                        id=ids.AUTO_ACCEPT,
                        color="success",
                        outline=True,
                        size="sm",
                        className="me-2",
                    ),
                    dbc.Button(
                        "Apply auto-reject",
                        id=ids.AUTO_REJECT,
                        color="danger",
                        outline=True,
                        size="sm",
                    ),
                ]
            ),
            html.Div(id=ids.BULK_RESULT, className="small mt-1"),
            _bulk_modal(),
            dcc.Store(id=ids.BULK_PENDING),
            dcc.Store(id=ids.BULK_DONE),
            dcc.Store(id=ids.TUNING_STATUS),
            _reasons_panel(),
            learning_panel(),
        ],
        md=4,
    )
    chart = dbc.Col(
        [
            dcc.Graph(id=ids.TUNING_CHART, config={"displayModeBar": False}),
            html.Div(id=ids.TUNING_COUNTS),
            html.H6("Estimates from reviewed pairs", className="mt-4"),
            html.Div(id=ids.ESTIMATE_TEXT, className="small"),
            dcc.Graph(
                id=ids.BAND_CHART, config={"displayModeBar": False}, style={"display": "none"}
            ),
            pattern_panel(),
            audit_panel(),
        ],
        md=8,
    )
    return html.Div(dbc.Row([controls, chart]), className="pt-3")


def tuning_figure(
    edges: Sequence[float],
    bars: Mapping[str, Sequence[int]],
    thresholds: Mapping[str, float],
) -> go.Figure:
    """The score histogram, one stacked bar trace per entry of ``bars``
    (``pairs``, or ``accepted``/``rejected``/``undecided``), with a vertical
    line at each threshold of ``thresholds`` that is a score.
    """
    width = edges[1] - edges[0]
    centres = [lo + width / 2 for lo in edges[:-1]]
    traces = [
        go.Bar(
            x=centres,
            y=list(counts),
            width=width,
            name=name,
            marker={"color": STATUS_COLOURS[name], "line": {"width": 0}},
        )
        for name, counts in bars.items()
    ]
    shapes, notes = [], []
    for i, (key, (label, colour, dash)) in enumerate(_LINES.items()):
        value = thresholds[key]
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": value,
                "x1": value,
                "y0": 0,
                "y1": 1,
                "line": {"color": colour, "dash": dash, "width": 2},
            }
        )
        # Staggered heights keep the labels readable when thresholds are close.
        notes.append(
            {
                "x": value,
                "y": 1 - 0.09 * i,
                "xref": "x",
                "yref": "paper",
                "text": f"{label} {value:.2f}",
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "top",
                "font": {"color": colour, "size": 11},
                "bgcolor": "rgba(255,255,255,0.8)",
            }
        )
    return go.Figure(
        traces,
        {
            "barmode": "stack",
            "bargap": 0,
            "height": 340,
            "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
            "xaxis": {"title": {"text": "score"}, "range": [0, 1]},
            "yaxis": {"title": {"text": "candidate pairs"}},
            "legend": {"orientation": "h", "y": -0.18},
            "showlegend": len(traces) > 1,
            "shapes": shapes,
            "annotations": notes,
            "plot_bgcolor": "white",
        },
    )


_COUNTS = (
    ("pairs_kept", "Pairs kept", "pairs"),
    ("records_with_candidate", "Records with ≥1 kept candidate", "records"),
    ("pairs_selected", "Pairs pre-selected", "pairs"),
    ("auto_accept", "Records auto-accepted", "records"),
    ("auto_reject", "Records auto-rejected", "records"),
)


def counts_panel(counts: Mapping[str, int]) -> html.Div:
    """The live counts of :meth:`~matching.engine.score_index.ScoreIndex.counts`, as tiles."""
    tiles = [
        dbc.Col(
            html.Div(
                [
                    html.Div(f"{counts[key]:,}", className="fs-4 fw-semibold"),
                    html.Div(label, className="small"),
                    html.Div(f"of {counts[total]:,} {total}", className="small text-muted"),
                ],
                className="border rounded p-2 h-100",
                title=key,
            ),
        )
        for key, label, total in _COUNTS
    ]
    note = html.Div(
        "Counts cover every candidate pair and record, decided or not; "
        "the Apply buttons act on undecided records only.",
        className="small text-muted mt-1",
    )
    return html.Div([dbc.Row(tiles, className="g-2"), note])


def band_figure(
    band_start: Sequence[float],
    band_end: Sequence[float],
    reviewed: Sequence[int],
    rate: Sequence[float | None],
) -> go.Figure:
    """Acceptance rate of reviewed pairs per score band, with the pair count on hover."""
    centres = [(a + b) / 2 for a, b in zip(band_start, band_end)]
    return go.Figure(
        go.Bar(
            x=centres,
            y=list(rate),
            width=[b - a for a, b in zip(band_start, band_end)],
            customdata=list(reviewed),
            hovertemplate="score %{x:.2f}: %{y:.0%} of %{customdata} reviewed pairs<extra></extra>",
            marker={"color": STATUS_COLOURS["accepted"], "line": {"color": "white", "width": 1}},
        ),
        {
            "height": 240,
            "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
            "xaxis": {"title": {"text": "score band"}, "range": [0, 1]},
            "yaxis": {"title": {"text": "accepted"}, "range": [0, 1], "tickformat": ".0%"},
            "plot_bgcolor": "white",
        },
    )
