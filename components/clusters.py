"""Clusters tab (one table's duplicates): the clusters with their records side by side, the
conflicts inside them a lead settles, the representative record's rules and the exports."""

from __future__ import annotations

from collections.abc import Mapping

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from components.ids import ids, rep_rule
from components.matched import MATCHED_REFRESH_MS, pick_one_grid
from matching.decisions.clusters import REPRESENTATIVE_RULES

__all__ = [
    "clusters_tab",
    "cluster_columns",
    "rule_controls",
    "CLUSTER_CONFLICT_COLUMNS",
]

#: Long values wrap onto more lines instead of ending in "…".
_WRAP = {"wrapText": True, "autoHeight": True, "cellClass": "cell-wrap"}


def cluster_columns(columns: list[str], *, record_ids: bool) -> list[dict]:
    """The clusters grid's columns: cluster, size, (the record's row number when the table
    has no ID column), then the table's columns, so that a cluster's records line up."""
    out = [
        {"field": "cluster_id", "headerName": "Cluster", "width": 110, "pinned": "left"},
        {"field": "cluster_size", "headerName": "Records", "width": 105, "pinned": "left"},
    ]
    if record_ids:
        out.append({"field": "record_id", "headerName": "Row", "width": 90})
    return out + [
        {"field": c, "headerName": c, "minWidth": 120, "flex": 1, **_WRAP} for c in columns
    ]


CLUSTER_CONFLICT_COLUMNS = [
    {"field": "cluster_id", "headerName": "Cluster", "width": 95},
    {"field": "conflict", "headerName": "Said different", "width": 130},
    {"field": "path", "headerName": "Joined by", "width": 150, **_WRAP},
    {"field": "left_id", "headerName": "Accepted pair", "width": 125},
    {"field": "left", "headerName": "Its values", "flex": 2, "minWidth": 220, **_WRAP},
    {"field": "right_id", "headerName": "and", "width": 90},
    {"field": "right", "headerName": "Its values", "flex": 2, "minWidth": 220, **_WRAP},
    {"field": "by", "headerName": "Accepted by", "width": 115},
    {"field": "different_by", "headerName": "Said different by", "width": 140},
]


def rule_controls(columns: list[str], rules: Mapping[str, str]) -> list:
    """A rule to choose per column of the table, ``rules``' or "most frequent"."""
    return [
        dbc.Row(
            [
                dbc.Col(html.Label(column, htmlFor=f"rule-{i}", className="small"), width=4),
                dbc.Col(
                    dcc.Dropdown(
                        list(REPRESENTATIVE_RULES),
                        rules.get(column, REPRESENTATIVE_RULES[0]),
                        id=rep_rule(column),
                        clearable=False,
                    ),
                    width=8,
                ),
            ],
            className="g-1 mb-1 align-items-center",
        )
        for i, column in enumerate(columns)
    ]


def _conflicts() -> html.Div:
    return html.Div(
        [
            html.H5("Conflicts in clusters", className="mt-4"),
            html.P(id=ids.CLUSTER_CONFLICT_SUMMARY, className="text-muted mb-2"),
            html.Div(
                [
                    dbc.Button(
                        "Remove the selected pair",
                        id=ids.CLUSTER_SPLIT,
                        color="danger",
                        outline=True,
                        className="me-2",
                    ),
                    dbc.Button(
                        "Keep the cluster: the two are the same",
                        id=ids.CLUSTER_KEEP,
                        color="success",
                        outline=True,
                        className="me-2",
                    ),
                    dbc.Button("Undo", id=ids.CLUSTER_UNDO, color="secondary", outline=True),
                ],
                className="mb-2",
            ),
            pick_one_grid(ids.CLUSTER_CONFLICT_GRID, CLUSTER_CONFLICT_COLUMNS, "params.data.key"),
        ]
    )


def _representatives() -> html.Div:
    return html.Div(
        [
            html.H5("Representative records", className="mt-4"),
            html.P(
                "One record per cluster: each field takes a value from the cluster's records by"
                " its rule (most frequent, longest, most recent by a date column, or from a"
                " preferred source).",
                className="text-muted mb-2",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label("Date column (most recent)", html_for=ids.REP_DATE),
                            dcc.Dropdown(id=ids.REP_DATE, placeholder="none"),
                        ]
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Source column", html_for=ids.REP_SOURCE),
                            dcc.Dropdown(id=ids.REP_SOURCE, placeholder="none"),
                        ]
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Preferred source", html_for=ids.REP_PREFERRED),
                            dbc.Input(id=ids.REP_PREFERRED, placeholder="e.g. crm"),
                        ]
                    ),
                ],
                className="mb-2",
            ),
            html.Div(id=ids.REP_RULES, style={"maxWidth": "40rem"}),
            dbc.Button("Save rules", id=ids.REP_SAVE, color="primary", size="sm", className="mt-2"),
            html.Div(id=ids.REP_MESSAGE, role="status", className="small mt-1"),
        ]
    )


def _exports() -> html.Div:
    return html.Div(
        [
            dbc.DropdownMenu(
                [
                    dbc.DropdownMenuItem("Every record with its cluster", header=True),
                    dbc.DropdownMenuItem("Clusters (CSV)", id=ids.EXPORT_CLUSTERS_CSV),
                    dbc.DropdownMenuItem("Clusters (Excel)", id=ids.EXPORT_CLUSTERS_EXCEL),
                    dbc.DropdownMenuItem(divider=True),
                    dbc.DropdownMenuItem("One record per cluster", header=True),
                    dbc.DropdownMenuItem("Representatives (CSV)", id=ids.EXPORT_REPS_CSV),
                    dbc.DropdownMenuItem("Representatives (Excel)", id=ids.EXPORT_REPS_EXCEL),
                    dbc.DropdownMenuItem("Representatives (Parquet)", id=ids.EXPORT_REPS_PARQUET),
                ],
                label="Export",
                color="primary",
                className="me-3",
            ),
            html.Span(id=ids.CLUSTER_SUMMARY, className="text-muted"),
        ],
        className="mb-2 d-flex align-items-center",
    )


def clusters_tab() -> html.Div:
    """The Clusters tab; the page shows it for projects of one table's duplicates."""
    return html.Div(
        [
            _exports(),
            html.Div(id=ids.CLUSTER_EXPORT_MESSAGE, role="status", className="small mb-2"),
            dag.AgGrid(
                id=ids.CLUSTER_GRID,
                rowData=[],
                columnDefs=[],
                getRowId="params.data.record_id",
                defaultColDef={"resizable": True, "sortable": False},
                rowClassRules={"cluster-band": "params.data.band === 1"},
                # As high as its rows, a page of them at a time: a few clusters take
                # little room, and a thousand no more than a page.
                dashGridOptions={
                    "suppressFieldDotNotation": True,
                    "suppressCellFocus": True,
                    "domLayout": "autoHeight",
                    "pagination": True,
                    "paginationPageSize": 50,
                    "paginationPageSizeSelector": False,
                },
                className="ag-theme-quartz",
                style={"width": "100%"},
            ),
            _conflicts(),
            _representatives(),
            dcc.Store(id=ids.CLUSTER_STORE, data=None),
            # While the tab is open, decisions made elsewhere show within seconds.
            dcc.Interval(id=ids.CLUSTER_TICK, interval=MATCHED_REFRESH_MS, disabled=True),
        ],
        className="pt-3",
    )
