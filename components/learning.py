"""The Tuning tab's panel on learning from decisions: what the project learned last, a
button to learn now, how often it learns by itself, and the order records are served in."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.ids import ids

__all__ = ["learning_panel", "QUEUE_ORDER_OPTIONS"]

#: The queue orders a lead picks from (values: ``ProjectSettings.queue_order``).
QUEUE_ORDER_OPTIONS = [
    {"label": "Table order", "value": "table"},
    {"label": "Most informative first (the model's least certain records)", "value": "informative"},
]


def learning_panel() -> html.Div:
    """Learn from the reviewers' decisions: now, every N decisions, and the queue order."""
    return html.Div(
        [
            html.H6("Learning from decisions", className="mt-4"),
            html.Div(
                "The project learns match weights from the decisions made by hand (an"
                " accepted pair is a match, the record's other shown candidates are not),"
                " then scores its pairs again: undecided records are re-ranked and"
                " pre-selected by what it learned; decided records keep their decisions.",
                className="small text-muted",
            ),
            dcc.Loading(
                html.Div(id=ids.LEARN_SUMMARY, className="small my-2"), type="dot", delay_show=300
            ),
            dbc.Button("Learn from decisions now", id=ids.LEARN_NOW, color="primary", size="sm"),
            dcc.Loading(
                html.Div(id=ids.LEARN_MESSAGE, className="small mt-1"), type="dot", delay_show=300
            ),
            dbc.Label("Learn again every", html_for=ids.LEARN_EVERY, className="small mt-3 mb-0"),
            dbc.InputGroup(
                [
                    dbc.Input(id=ids.LEARN_EVERY, type="number", min=0, step=1, value=0),
                    dbc.InputGroupText("decisions (0: only when asked)"),
                ],
                size="sm",
                className="mb-2",
            ),
            dbc.Label("Serve records in", html_for=ids.QUEUE_ORDER, className="small mb-0"),
            dbc.RadioItems(
                id=ids.QUEUE_ORDER,
                options=QUEUE_ORDER_OPTIONS,
                value="table",
                className="small mb-2",
            ),
            dbc.Button("Save learning settings", id=ids.LEARN_SAVE, color="secondary", size="sm"),
            dcc.Store(id=ids.LEARN_DONE),
        ],
        className="mt-2",
    )
