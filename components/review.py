"""Review tab: the current left record, its candidates and the decision buttons.

The candidate grid is one comparison table: the left record is its pinned top
row and each candidate follows in the same columns, compared fields first.
Each compared cell of a candidate is tinted by its field's similarity (see
:data:`SIMILARITY_BANDS`), unless the page is in blind mode.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from components.ids import ids

if TYPE_CHECKING:
    from matching.engine.spec import Field

__all__ = [
    "reason_options",
    "review_tab",
    "record_card",
    "candidate_columns",
    "similarity_legend",
    "breakable",
    "typical_chars",
    "KEY_HELP",
    "DECISION_KEYS",
    "RECORD_FIELD",
    "SIMILARITY_BANDS",
    "LEFT_ROW_CLASS",
    "MISSING_CLASS",
]

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

#: Key -> the decision button it presses (assets/keys.js reads this map from the page).
DECISION_KEYS = {"a": ids.ACCEPT, "n": ids.REJECT, "s": ids.SKIP, "u": ids.UNDO}

#: The row field naming the left record a grid row belongs to (the pinned row and every
#: candidate carry it), so the page can say whose candidates are on screen.
RECORD_FIELD = "_record"

#: Grid events after which the grid says whose rows it holds (its ``eventData``).
_ROWS_CHANGED = ("firstDataRendered", "rowDataUpdated", "pinnedRowDataChanged")

_SAY_RECORD = f"shownRecord(params, setEventData, {json.dumps(RECORD_FIELD)})"

#: Tint of a compared cell: (CSS class, lowest field score, label), from
#: disagreement to agreement. A band runs up to the next band's lowest score.
SIMILARITY_BANDS = (
    ("sim-0", 0.0, "< 0.5"),
    ("sim-1", 0.5, "0.5+"),
    ("sim-2", 0.7, "0.7+"),
    ("sim-3", 0.85, "0.85+"),
    ("sim-4", 1.0, "1"),
)

#: Tint of a compared cell with no score (a value is missing on one side).
MISSING_CLASS = "sim-missing"

#: Class of the pinned left record row.
LEFT_ROW_CLASS = "left-record-row"

_BREAK_AFTER = "_.-/"


def breakable(name: str) -> str:
    """``name`` with a zero-width space after each ``_ . - /``, so a header can wrap there."""
    return "".join(c + "\u200b" if c in _BREAK_AFTER else c for c in name)


def record_card(left_id: str, rest: dict) -> html.Div:
    """The left record's id and the columns the grid does not show, on one line."""
    items: list = [html.Span(f"Left record {left_id}", className="fw-semibold me-3")]
    for col, value in rest.items():
        items.append(
            html.Span(
                [html.Span(col, className="text-muted me-1"), value or "—"],
                className="me-3 text-nowrap",
            )
        )
    return html.Div(items, className="left-record-card d-flex flex-wrap align-items-baseline")


def similarity_legend() -> html.Div:
    """The tint scale, from disagreement to agreement."""
    swatches = [
        html.Span(label, className=f"legend-swatch {cls}", title=f"field similarity {label}")
        for cls, _, label in SIMILARITY_BANDS
    ]
    swatches.append(
        html.Span(
            "missing", className=f"legend-swatch {MISSING_CLASS}", title="no value to compare"
        )
    )
    return html.Div(
        [html.Span("Field similarity", className="me-2 text-muted"), *swatches],
        className="similarity-legend small d-flex align-items-center",
    )


def _tint_rules(score_key: str) -> dict[str, str]:
    value = f"params.data[{json.dumps(score_key)}]"
    rules = {}
    for (cls, low, _), upper in zip(
        SIMILARITY_BANDS, [b[1] for b in SIMILARITY_BANDS[1:]] + [None]
    ):
        rule = f"{value} != null && {value} >= {low}"
        if upper is not None:
            rule += f" && {value} < {upper}"
        rules[cls] = rule
    rules[MISSING_CLASS] = f"{value} == null && !params.node.rowPinned"
    return rules


_NOT_PINNED = {"function": "!params.node.rowPinned"}

#: A corrected cell: its value differs from the one the row came with
#: (``_original``, kept by ``keepOriginal`` in assets/dashAgGridComponentFunctions.js).
EDITED_CLASS = "cell-edited"
_EDITED_RULE = (
    "params.data._original != null && params.data._original.hasOwnProperty(params.colDef.field)"
    " && params.data._original[params.colDef.field] !== params.value"
)

#: What makes a candidate cell a correction: only a double-click opens its editor
#: (typing a shortcut key on it never does), and its first value is kept.
_EDITING = {
    "editable": _NOT_PINNED,
    "valueSetter": {"function": "keepOriginal(params)"},
    "cellClassRules": {EDITED_CLASS: _EDITED_RULE},
}

# Width of a character and a cell's padding, in pixels, in the grid's font.
_CHAR_PX, _PAD_PX = 8, 34
# The grid's width on a 1440 px screen, and what its selection and score columns take.
_GRID_PX, _FIXED_PX = 1410, 44 + 120


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _flex(chars: dict[str, int], col: str, weight: float = 1.0) -> float:
    # The padding counts as four characters; columns not compared get less room.
    return round((_clamp(chars.get(col, 8), 6, 20) + 4) * weight, 1)


def typical_chars(frame: pd.DataFrame, *, rows: int = 200, share: float = 1.0) -> dict[str, int]:
    """Column -> characters that ``share`` of its values fit in, or its name's longest word.

    Measured on the first ``rows`` rows, so that every record gets the same
    column widths.

    >>> typical_chars(pd.DataFrame({"city": ["Oslo", None, "Rome"], "birth_date": ["", "", ""]}))
    {'city': 4, 'birth_date': 6}
    """
    out = {}
    head = frame.head(rows)
    for col in frame.columns:
        words = breakable(str(col)).replace("\u200b", " ").split()
        lengths = sorted(len(v) for v in head[col].tolist() if isinstance(v, str))
        typical = lengths[int(share * (len(lengths) - 1))] if lengths else 0
        out[col] = max([typical, *(len(w) for w in words)])
    return out


#: A column whose typical value is longer than this wraps (see :func:`candidate_columns`).
WRAP_CHARS = 40


def candidate_columns(
    right_columns: Sequence[str],
    fields: Sequence[Field],
    *,
    right_id: str | None = None,
    blind: bool = False,
    show_scores: bool = False,
    chars: dict[str, int] | None = None,
) -> list[dict]:
    """Grid columns: the total score, compared fields in spec order, then the rest.

    Parameters
    ----------
    right_columns : sequence of str
        The right table's columns, in table order.
    fields : sequence of Field
        The spec's compared fields; each compared right column appears once,
        tinted by the first field that compares it.
    right_id : str, optional
        The right id column, placed first after the compared fields and never
        narrower than its ids.
    blind : bool
        Leave out the tint, the marks on differing values and the scores.
    show_scores : bool
        Write each field's score in its compared cells (not in blind mode);
        otherwise the score shows on hover. Either way, the characters that
        differ from the left record's value are marked where the row has
        ``_marks_<column>``.
    chars : dict, optional
        Column -> characters of its typical value (see :func:`typical_chars`);
        columns share the grid's width in proportion, within bounds, so long
        values get more room and a compared column never gets too little.

    Returns
    -------
    list of dict
        AG Grid column definitions. Candidate cells are corrected by a
        double-click (never by typing), and a corrected cell is marked; the
        pinned left record row cannot be edited.
    """
    chars = chars or {}
    cols: list[dict] = [
        {
            "field": "score",
            "headerName": "Score",
            "editable": False,
            "flex": 0,
            "width": 120,
            "minWidth": 120,
            "cellRenderer": "ScoreBar",
            "cellClass": "score-cell",
            # Why this score, in one line; a click on the score shows it drawn below.
            "tooltipField": "_why",
        },
    ]
    first_field: dict[str, Field] = {}
    for f in fields:
        first_field.setdefault(f.right, f)
    id_px = max(90, _CHAR_PX * chars.get(right_id, 8) + _PAD_PX) if right_id else 0
    # Compared columns never shrink below their content, within what fits 1440 px:
    # other columns scroll before a compared value is cut.
    share = max(100, (_GRID_PX - _FIXED_PX - id_px) // max(1, len(first_field)))
    for col, f in first_field.items():
        same = f.left == f.right
        differs = json.dumps(f"_diff_{col}")
        spec = {
            "field": col,
            "headerName": breakable(col),
            "headerTooltip": (
                f"{col}: compared with the left record's {f.left} ({f.scorer}, weight {f.weight:g})"
                if not same
                else f"{col} ({f.scorer}, weight {f.weight:g})"
            ),
            **_EDITING,
            "flex": _flex(chars, col),
            "minWidth": _clamp(_CHAR_PX * chars.get(col, 8) + _PAD_PX, 80, share),
            "headerClass": "compared-header",
        }
        score_key = json.dumps(f"score_{f.name}")
        if blind:
            spec["tooltipField"] = col
        else:
            spec["cellClassRules"] = {
                "cell-differs": f"params.data[{differs}] === true",
                **_tint_rules(f"score_{f.name}"),
                EDITED_CLASS: _EDITED_RULE,
            }
            spec["tooltipValueGetter"] = {
                "function": (
                    f"params.data[{score_key}] == null ? params.value : "
                    f"(params.value == null ? '—' : params.value) + ' · similarity ' + "
                    f"d3.format('.2f')(params.data[{score_key}])"
                )
            }
            marks = f"_marks_{col}"
            spec["cellRendererParams"] = {"marksField": marks}
            if show_scores:
                spec["cellRenderer"] = "CompareCell"
                spec["cellRendererParams"]["scoreField"] = f"score_{f.name}"
            else:  # the plain cell, faster, unless there are characters to mark
                has_marks = f"params.data[{json.dumps(marks)}]"
                spec["cellRendererSelector"] = {
                    "function": f"{has_marks} ? {{component: 'CompareCell'}} : null"
                }
        cols.append(spec)
    others = [c for c in right_columns if c not in first_field]
    if right_id in others:
        others.remove(right_id)
        others.insert(0, right_id)
    for col in others:
        spec = {
            "field": col,
            "headerName": breakable(col),
            "headerTooltip": col,
            **_EDITING,
            "tooltipField": col,
            "flex": _flex(chars, col, 1.0 if col == right_id else 0.6),
        }
        if col == right_id:
            spec["minWidth"] = id_px
            spec["headerTooltip"] = f"{col} (id)"
        cols.append(spec)
    for spec in cols:
        if spec["field"] == right_id:  # the ID names the record: not a value to correct
            spec["editable"] = False
        # Long values (a title) wrap instead of ending in "…". Only those columns grow
        # rows to fit: measuring every cell's height slows each record's grid down.
        if chars.get(spec["field"], 0) > WRAP_CHARS:
            spec.update(wrapText=True, autoHeight=True)
    return cols


def reason_options(reasons) -> list[dict]:
    """The reason choices, numbered for the keys 1 to 9 that pick them."""
    return [{"label": f"{i} {r}", "value": r} for i, r in enumerate(reasons[:9], start=1)]


def review_tab() -> html.Div:
    buttons = dbc.ButtonGroup(
        [
            dbc.Button("Accept", id=ids.ACCEPT, color="success", title="a"),
            dbc.Button("No match", id=ids.REJECT, color="danger", outline=True, title="n"),
            dbc.Button("Skip", id=ids.SKIP, color="secondary", outline=True, title="s"),
            dbc.Button("Undo", id=ids.UNDO, color="secondary", outline=True, title="u"),
        ],
        className="me-4",
    )
    switches = [
        dbc.Switch(
            id=ids.SHOW_SCORES,
            label="Show scores",
            value=False,
            className="me-3 mb-0",
            persistence=True,
            persistence_type="local",
        ),
        dbc.Switch(
            id=ids.BLIND,
            label="Blind",
            value=False,
            className="me-3 mb-0",
            persistence=True,
            persistence_type="local",
        ),
        dbc.Switch(
            id=ids.AUDIT_MODE,
            label="Audit",
            value=False,
            className="me-3 mb-0",
        ),
    ]
    reasons = html.Div(
        [
            html.Span("Reason (keys 1 to 9)", className="small text-muted me-2"),
            dbc.RadioItems(id=ids.REASON, options=[], value=None, inline=True, className="small"),
            dbc.Input(
                id=ids.COMMENT,
                placeholder="Comment (optional)",
                value="",
                size="sm",
                maxLength=500,
                style={"maxWidth": "22rem"},
            ),
        ],
        className="d-flex align-items-center flex-wrap mb-2",
    )
    grid = dag.AgGrid(
        id=ids.CANDIDATE_GRID,
        rowData=[],
        columnDefs=[],
        getRowId="params.data._right_id",
        defaultColDef={
            "resizable": True,
            "sortable": False,
            "minWidth": 90,
            "flex": 1,
            "wrapHeaderText": True,
            "autoHeaderHeight": True,
            "suppressHeaderMenuButton": True,
            # The page's keys (a, n, s, u, digits, space) act on the record; a key
            # never opens a cell's editor, only a double-click does.
            "suppressKeyboardEvent": {"function": "noEditByKey(params)"},
        },
        dashGridOptions={
            "rowSelection": {
                "mode": "multiRow",
                "checkboxes": True,
                "headerCheckbox": False,
                "enableClickSelection": False,
                "isRowSelectable": {"function": "!params.rowPinned"},
            },
            "selectionColumnDef": {
                "width": 44,
                "minWidth": 44,
                "maxWidth": 44,
                "resizable": False,
                "suppressHeaderMenuButton": True,
            },
            "pinnedTopRowData": [],
            "rowClassRules": {LEFT_ROW_CLASS: "params.node.rowPinned === 'top'"},
            "enableBrowserTooltips": True,
            "domLayout": "autoHeight",
            "singleClickEdit": False,
            "stopEditingWhenCellsLoseFocus": True,
            "animateRows": False,
            # Column names are data: "a.b" is a column, not a path into a row.
            "suppressFieldDotNotation": True,
        },
        # eventData: {"data": {"record": <left id of every row on screen, or null>}}.
        eventListeners={event: [_SAY_RECORD] for event in _ROWS_CHANGED},
        className="ag-theme-quartz",
        style={"width": "100%"},
    )
    keys = {
        "keys": DECISION_KEYS,
        "grid": ids.CANDIDATE_GRID,
        "reasons": ids.REASON,
        "field": RECORD_FIELD,
    }
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
                        className="d-flex align-items-center mb-2",
                    ),
                    html.Div(
                        [
                            buttons,
                            *switches,
                            html.Div(similarity_legend(), id=ids.LEGEND, className="ms-auto"),
                        ],
                        className="review-toolbar d-flex align-items-center flex-wrap mb-2",
                    ),
                    reasons,
                    # Hidden when no record is shown; the buttons and switches stay, so a
                    # reviewer who is done can still turn Audit on or off.
                    html.Div(
                        [
                            html.Div(id=ids.RECORD_CARD, className="mb-2"),
                            dbc.Alert(
                                "No candidate scores above the keep threshold for this "
                                "record. Choose No match or Skip.",
                                id=ids.NO_CANDIDATES,
                                color="warning",
                                is_open=False,
                            ),
                            # Hidden while its rows are another record's than the card's.
                            html.Div(grid, id=ids.CANDIDATES_FRAME, className="candidates"),
                            html.Div(id=ids.WHY_PANEL, className="mt-2"),
                        ],
                        id=ids.REVIEW_RECORD,
                    ),
                ],
                id=ids.REVIEW_BODY,
            ),
            dcc.Store(id=ids.EDITS_STORE, data={}),
            dcc.Store(id=ids.VIEW_STORE, data=None),
            # The ids the keyboard shortcuts press (assets/keys.js) and the grid's row field
            # naming its record (assets/shown_record.js).
            html.Div(hidden=True, **{"data-review-ids": json.dumps(keys)}),
        ],
        className="pt-3",
    )
