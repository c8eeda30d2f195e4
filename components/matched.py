"""Matched tab: the accepted matches, removal with undo, and exports."""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from components.ids import ids

__all__ = ["matched_tab", "matched_columns", "record_columns"]


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
            dcc.Download(id=ids.DOWNLOAD),
            dcc.Store(id=ids.MATCHED_STORE, data=None),
        ],
        className="pt-3",
    )
