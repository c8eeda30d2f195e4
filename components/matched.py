"""Matched tab: the accepted matches, removal with undo, and exports."""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from components.ids import ids

__all__ = [
    "matched_tab",
    "matched_columns",
    "record_columns",
    "conflicts_panel",
    "adjudication_panel",
    "CARDINALITY_OPTIONS",
    "CONFLICT_COLUMNS",
    "MATCHED_REFRESH_MS",
]

#: How often the open Matched tab looks for decisions made elsewhere, in ms.
MATCHED_REFRESH_MS = 3000


def record_columns(columns: list[str]) -> list[str]:
    """The columns that come from the two tables (``left_<col>``, ``right_<col>``)."""
    return [
        c for c in columns if c.startswith(("left_", "right_")) and c not in ("left_id", "right_id")
    ]


def matched_columns(columns: list[str], shown: list[str] | None = None) -> list[dict]:
    """Grid columns for the matched table, in order; record columns not in ``shown`` hidden.

    ``shown`` None or empty shows every column.
    """
    hidden = set(record_columns(columns)) - set(shown or record_columns(columns))
    out = []
    for col in columns:
        spec: dict = {"field": col, "headerName": col, "hide": col in hidden}
        if col == "score":
            spec["valueFormatter"] = {
                "function": "params.value == null ? '' : d3.format('.2f')(params.value)"
            }
            spec["filter"] = "agNumberColumnFilter"
        out.append(spec)
    return out


#: What the cardinality choices mean, for the page.
CARDINALITY_OPTIONS = [
    {
        "label": "Each right record matched once; a left record may have several",
        "value": "many-to-one",
    },
    {"label": "One to one: each record on both sides matched once", "value": "one-to-one"},
    {
        "label": "Each left record matched once; a right record may match several",
        "value": "one-to-many",
    },
    {"label": "Many to many: no limit", "value": "many-to-many"},
]

#: Long values wrap onto more lines instead of ending in "…".
_WRAP = {"wrapText": True, "autoHeight": True, "cellClass": "cell-wrap"}

CONFLICT_COLUMNS = [
    {"field": "right_id", "headerName": "Right record", "width": 130},
    {"field": "right", "headerName": "Right values", "flex": 2, **_WRAP},
    {"field": "left_id", "headerName": "Matched to", "width": 130},
    {"field": "left", "headerName": "Left values", "flex": 2, **_WRAP},
    {"field": "reviewer", "headerName": "By", "width": 120},
    {"field": "decided_at", "headerName": "When", "width": 170},
    {"field": "automatic", "headerName": "Automatic", "width": 110},
]


def pick_one_grid(grid_id: str, columns: list[dict], row_id: str) -> dag.AgGrid:
    """A small grid whose rows a lead picks one at a time (conflicts, adjudication)."""
    return dag.AgGrid(
        id=grid_id,
        rowData=[],
        columnDefs=columns,
        getRowId=row_id,
        defaultColDef={"resizable": True, "sortable": True},
        dashGridOptions={
            "rowSelection": {"mode": "singleRow", "checkboxes": True},
            "domLayout": "autoHeight",
            "suppressFieldDotNotation": True,
        },
        className="ag-theme-quartz",
        style={"width": "100%"},
    )


def conflicts_panel() -> html.Div:
    """Right records matched to several left records, and what a lead may do about each."""
    return html.Div(
        [
            html.H5("Conflicts", className="mt-4"),
            html.Div(
                [
                    html.Label("How records pair", htmlFor=ids.CARDINALITY, className="me-2"),
                    dcc.Dropdown(
                        id=ids.CARDINALITY,
                        options=CARDINALITY_OPTIONS,
                        clearable=False,
                        style={"minWidth": "32rem"},
                    ),
                ],
                className="d-flex align-items-center mb-2",
            ),
            html.P(id=ids.CONFLICT_SUMMARY, className="text-muted mb-2"),
            html.Div(
                [
                    dbc.Button(
                        "Keep selected match",
                        id=ids.CONFLICT_KEEP,
                        color="success",
                        outline=True,
                        className="me-2",
                    ),
                    dbc.Button(
                        "Keep all as exceptions",
                        id=ids.CONFLICT_KEEP_ALL,
                        color="secondary",
                        outline=True,
                        className="me-2",
                    ),
                    dbc.Button(
                        "Send back for review",
                        id=ids.CONFLICT_SEND_BACK,
                        color="danger",
                        outline=True,
                    ),
                ],
                className="mb-2",
            ),
            pick_one_grid(
                ids.CONFLICT_GRID,
                CONFLICT_COLUMNS,
                "params.data.right_id + '\u241f' + params.data.left_id",
            ),
        ]
    )


ADJUDICATION_COLUMNS = [
    {"field": "left_id", "headerName": "Left record", "width": 120},
    {"field": "left", "headerName": "Its values", "flex": 2, "minWidth": 200, **_WRAP},
    {"field": "first", "headerName": "First review by", "width": 140},
    {"field": "first_verdict", "headerName": "First review", "width": 130},
    {"field": "first_values", "headerName": "Its values", "flex": 2, "minWidth": 200, **_WRAP},
    {"field": "second", "headerName": "Second review by", "width": 150},
    {"field": "second_verdict", "headerName": "Second review", "width": 130},
    {"field": "second_values", "headerName": "Its values", "flex": 2, "minWidth": 200, **_WRAP},
]


def adjudication_panel() -> html.Div:
    """Records whose two reviews disagree, for a lead to settle."""
    return html.Div(
        [
            html.H5("Adjudication", className="mt-4"),
            html.P(id=ids.ADJUDICATION_SUMMARY, className="text-muted mb-2"),
            html.Div(
                [
                    dbc.Button(
                        "Keep first review",
                        id=ids.KEEP_FIRST,
                        color="secondary",
                        outline=True,
                        className="me-2",
                    ),
                    dbc.Button(
                        "Keep second review", id=ids.KEEP_SECOND, color="secondary", outline=True
                    ),
                ],
                className="mb-2",
            ),
            pick_one_grid(ids.ADJUDICATION_GRID, ADJUDICATION_COLUMNS, "params.data.left_id"),
        ]
    )


def matched_tab() -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    dbc.Button(
                        "Remove selected",
                        id=ids.MATCHED_REMOVE,
                        color="danger",
                        outline=True,
                        className="me-2",
                    ),
                    dbc.Button(
                        "Undo",
                        id=ids.MATCHED_UNDO,
                        color="secondary",
                        outline=True,
                        className="me-4",
                    ),
                    dbc.Button("Export CSV", id=ids.EXPORT_CSV, color="primary", className="me-2"),
                    dbc.Button(
                        "Export Excel", id=ids.EXPORT_EXCEL, color="primary", className="me-2"
                    ),
                    dbc.Button(
                        "Export Parquet",
                        id=ids.EXPORT_PARQUET,
                        color="primary",
                        outline=True,
                        className="me-2",
                    ),
                    dbc.DropdownMenu(
                        [
                            dbc.DropdownMenuItem("Every record's decision", header=True),
                            dbc.DropdownMenuItem("Decision record (CSV)", id=ids.EXPORT_RECORD_CSV),
                            dbc.DropdownMenuItem(
                                "Decision record (Excel)", id=ids.EXPORT_RECORD_EXCEL
                            ),
                            dbc.DropdownMenuItem(
                                "Decision record (Parquet)", id=ids.EXPORT_RECORD_PARQUET
                            ),
                            dbc.DropdownMenuItem(divider=True),
                            dbc.DropdownMenuItem("Every event, for lineage", header=True),
                            dbc.DropdownMenuItem(
                                "Decision log (JSON Lines)", id=ids.EXPORT_LOG_JSONL
                            ),
                            dbc.DropdownMenuItem(
                                "Decision log (Parquet)", id=ids.EXPORT_LOG_PARQUET
                            ),
                        ],
                        label="Full record",
                        color="primary",
                        toggleClassName="btn-outline-primary bg-transparent text-primary",
                        size="md",
                    ),
                    html.Span(id=ids.MATCHED_SUMMARY, className="ms-3 text-muted"),
                ],
                className="mb-2 d-flex align-items-center",
            ),
            html.Div(id=ids.EXPORT_MESSAGE, role="status", className="small mb-2"),
            dcc.Dropdown(
                id=ids.MATCHED_COLUMNS,
                multi=True,
                placeholder="Columns from both tables to show (all when empty)",
                className="mb-2",
            ),
            dag.AgGrid(
                id=ids.MATCHED_GRID,
                # Rows come a block at a time from the server, sorted and filtered
                # there: a million matches open as fast as ten.
                rowModelType="infinite",
                columnDefs=[],
                getRowId="params.data.left_id + '\u241f' + params.data.right_id",
                defaultColDef={
                    "resizable": True,
                    "sortable": True,
                    "filter": True,
                    "minWidth": 100,
                },
                dashGridOptions={
                    "rowSelection": {
                        "mode": "multiRow",
                        "checkboxes": True,
                        "headerCheckbox": False,
                    },
                    "pagination": True,
                    "paginationPageSize": 50,
                    "cacheBlockSize": 100,
                    "maxBlocksInCache": 20,
                    "suppressFieldDotNotation": True,
                },
                className="ag-theme-quartz",
                style={"height": "60vh", "width": "100%"},
            ),
            conflicts_panel(),
            adjudication_panel(),
            dcc.Store(id=ids.MATCHED_STORE, data=None),
            # While the tab is open, decisions made elsewhere show within seconds.
            dcc.Interval(id=ids.MATCHED_TICK, interval=MATCHED_REFRESH_MS, disabled=True),
        ],
        className="pt-3",
    )
