"""Review tab: the current left record, its candidates and the decision buttons."""

from __future__ import annotations

import json

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from components.ids import ids

__all__ = ["review_tab", "record_card", "candidate_columns", "KEY_HELP"]

#: Keyboard shortcuts, as listed in the help popover.
KEY_HELP = [
    ("a", "Accept the selected candidates"),
    ("n", "No match"),
    ("s", "Skip this record"),
    ("u", "Undo the last decision"),
    ("j / ↓", "Next candidate"),
    ("k / ↑", "Previous candidate"),
    ("space", "Select or clear the highlighted candidate"),
]


def record_card(left: dict, label: str) -> dbc.Card:
    """The left record as a card: every column and its value."""
    rows = [
        html.Tr([html.Th(col, className="text-muted fw-normal pe-3"), html.Td(value or "—")])
        for col, value in left.items()
    ]
    return dbc.Card(
        [
            dbc.CardHeader(label),
            dbc.CardBody(html.Table(html.Tbody(rows), className="table table-sm mb-0")),
        ]
    )


def candidate_columns(
    right_columns: list[str], field_names: list[str], compared: list[str]
) -> list[dict]:
    """Grid columns: score, per-field scores, then the right table's columns (editable)."""
    cols: list[dict] = [
        {
            "field": "score",
            "headerName": "Score",
            "editable": False,
            "width": 100,
            "valueFormatter": {"function": "d3.format('.2f')(params.value)"},
        },
    ]
    for name in field_names:
        cols.append(
            {
                "field": f"score_{name}",
                "headerName": f"{name} score",
                "editable": False,
                "width": 120,
                "valueFormatter": {
                    "function": "params.value == null ? '—' : d3.format('.2f')(params.value)"
                },
            }
        )
    for col in right_columns:
        spec = {"field": col, "headerName": col, "editable": True}
        if col in compared:
            key = json.dumps(f"_diff_{col}")  # any column name, quotes included
            spec["cellClassRules"] = {"cell-differs": f"params.data[{key}] === true"}
        cols.append(spec)
    return cols


def review_tab() -> html.Div:
    buttons = dbc.ButtonGroup(
        [
            dbc.Button("Accept", id=ids.ACCEPT, color="success", title="a"),
            dbc.Button("No match", id=ids.REJECT, color="danger", outline=True, title="n"),
            dbc.Button("Skip", id=ids.SKIP, color="secondary", outline=True, title="s"),
            dbc.Button("Undo", id=ids.UNDO, color="secondary", outline=True, title="u"),
        ],
        className="mb-2",
    )
    grid = dag.AgGrid(
        id=ids.CANDIDATE_GRID,
        rowData=[],
        columnDefs=[],
        getRowId="params.data._right_id",
        defaultColDef={"resizable": True, "sortable": False, "minWidth": 90, "flex": 1},
        dashGridOptions={
            "rowSelection": {
                "mode": "multiRow",
                "checkboxes": True,
                "headerCheckbox": False,
                "enableClickSelection": False,
            },
            "domLayout": "autoHeight",
            "singleClickEdit": False,
            "stopEditingWhenCellsLoseFocus": True,
            "animateRows": False,
            # Column names are data: "a.b" is a column, not a path into a row.
            "suppressFieldDotNotation": True,
        },
        className="ag-theme-quartz",
        style={"width": "100%"},
    )
    return html.Div(
        [
            dbc.Alert(
                [
                    html.H5("The queue is done.", id=ids.DONE_HEADING, className="alert-heading"),
                    html.P(id=ids.DONE_TEXT),
                    dbc.Button(
                        "Open Matched", id=ids.GO_MATCHED, color="success", className="me-2"
                    ),
                    dbc.Button(
                        "Review skipped records",
                        id=ids.REVIEW_SKIPPED,
                        color="secondary",
                        outline=True,
                    ),
                ],
                id=ids.DONE,
                is_open=False,
                color="success",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.Span(id=ids.RECORD_LABEL, className="fw-semibold me-3"),
                            dbc.Progress(
                                id=ids.PROGRESS,
                                value=0,
                                className="flex-grow-1",
                                style={"height": "0.8rem"},
                            ),
                        ],
                        className="d-flex align-items-center mb-3",
                    ),
                    dbc.Row(
                        [
                            dbc.Col(html.Div(id=ids.RECORD_CARD), md=4),
                            dbc.Col(
                                [
                                    buttons,
                                    dbc.Alert(
                                        "No candidate scores above the keep threshold for this "
                                        "record. Choose No match or Skip.",
                                        id=ids.NO_CANDIDATES,
                                        color="warning",
                                        is_open=False,
                                    ),
                                    grid,
                                ],
                                md=8,
                            ),
                        ]
                    ),
                ],
                id=ids.REVIEW_BODY,
            ),
            dcc.Store(id=ids.EDITS_STORE, data={}),
            dcc.Store(id=ids.VIEW_STORE, data=None),
        ],
        className="pt-3",
    )
