"""Matched tab: the accepted matches, removal with undo, and exports."""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from components.ids import ids

__all__ = ["matched_tab", "matched_columns"]


def matched_columns(columns: list[str]) -> list[dict]:
    """Grid columns for the matched table's columns, in order."""
    out = []
    for col in columns:
        spec: dict = {"field": col, "headerName": col}
        if col == "score":
            spec["valueFormatter"] = {"function": "d3.format('.2f')(params.value)"}
        out.append(spec)
    return out


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
                        "Export Parquet", id=ids.EXPORT_PARQUET, color="primary", outline=True
                    ),
                    html.Span(id=ids.MATCHED_SUMMARY, className="ms-3 text-muted"),
                ],
                className="mb-2 d-flex align-items-center",
            ),
            dag.AgGrid(
                id=ids.MATCHED_GRID,
                rowData=[],
                columnDefs=[],
                getRowId="params.data.left_id + '\u241f' + params.data.right_id",
                defaultColDef={
                    "resizable": True,
                    "sortable": True,
                    "filter": True,
                    "minWidth": 100,
                },
                dashGridOptions={
                    "rowSelection": {"mode": "multiRow", "checkboxes": True},
                    "pagination": True,
                    "paginationPageSize": 50,
                },
                className="ag-theme-quartz",
                style={"height": "60vh", "width": "100%"},
            ),
            dcc.Download(id=ids.DOWNLOAD),
            dcc.Store(id=ids.MATCHED_STORE, data=None),
        ],
        className="pt-3",
    )
