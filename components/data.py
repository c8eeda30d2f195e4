"""Data panel: upload two tables (or one, to find its duplicates), choose ids and fields,
see the pair count, run."""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import ALL, Input, State, dcc, html

from components.ids import field_row, ids
from matching.engine.spec import CLEANING_FLAGS, CLEANINGS, SCORERS
from matching.engine.weights import LearnedWeights

__all__ = [
    "SIDES",
    "FIELD_FORM",
    "FIELD_PARTS",
    "cleaning_options",
    "field_form",
    "data_panel",
    "field_controls",
    "rule_count_table",
    "learned_table",
    "preview_grid",
    "excel_choice",
    "EXCEL_IDS",
    "proposed_badge",
    "run_controls",
    "MODES",
    "ONE_TABLE",
    "uploads_in_mode",
]

#: The two tables of a project, as the Data panel keys its uploads.
SIDES = ("left", "right")

#: The Data panel's modes: match two tables, or find the duplicates within one.
ONE_TABLE = "one"
MODES = [
    {"label": "Two tables", "value": "two"},
    {"label": "One table (find duplicates)", "value": ONE_TABLE},
]


def uploads_in_mode(uploads: object, mode: object) -> dict:
    """The panel's uploads as the set-up reads them: in one-table mode, the one table
    (the left upload) on both sides, so that it is compared with itself.

    >>> uploads_in_mode({"left": {"token": "a"}, "right": {"token": "b"}}, ONE_TABLE)
    {'left': {'token': 'a'}, 'right': {'token': 'a'}}
    >>> uploads_in_mode({"right": {"token": "b"}}, ONE_TABLE)
    {}
    """
    uploads = dict(uploads) if isinstance(uploads, dict) else {}
    if mode != ONE_TABLE:
        return uploads
    return {side: uploads["left"] for side in SIDES} if "left" in uploads else {}


def _by_mode(two: str, one: str) -> list:
    """Words that read ``two`` when matching two tables and ``one`` for one table."""
    return [html.Span(two, className="two-only"), html.Span(one, className="one-only")]


#: The parts of a field row the set-up form reads, in the order it hands them on
#: (the order :func:`matching.engine.spec.spec_from_rows` takes them in).
FIELD_PARTS = ("left", "right", "scorer", "weight", "clean")


def field_form(dependency: type[State] | type[Input] = State) -> tuple:
    """The set-up form's fields (each row's parts, :data:`FIELD_PARTS`) and ID columns,
    in that order, as ``State`` (or ``Input``) of the callbacks that read the form."""
    return (
        *(dependency(field_row(part, ALL), "value") for part in FIELD_PARTS),
        dependency(ids.LEFT_ID, "value"),
        dependency(ids.RIGHT_ID, "value"),
    )


#: The set-up form as Learn weights, Run, Download set-up and Propose read it.
FIELD_FORM = field_form(State)

#: Each kind of column as the preview names it.
KIND_LABELS = {
    "id": "ID",
    "name": "name",
    "text": "text",
    "long_text": "long text",
    "number": "number",
    "code": "code",
    "date": "date",
    "email": "e-mail",
}


#: File endings the file picker offers (the server reads these; see matching.engine.io.FORMATS).
ACCEPT = ".csv,.tsv,.txt,.xlsx,.parquet,.pq,.jsonl,.ndjson"


def _upload(side: str, label: str, *, root: bool, max_bytes: int) -> html.Div:
    """One side's upload area: drop zone, progress, open by path, info.

    ``assets/uploads.js`` finds the area by its ``data-upload-side``, adds the
    file input (Dash has no file input component but ``dcc.Upload``, which
    reads the whole file into the page) and reads the ids of the inbox and
    progress bar from its data attributes.
    """
    box, info, progress, typed, open_button = {
        "left": (
            ids.UPLOAD_LEFT,
            ids.UPLOAD_LEFT_INFO,
            ids.UPLOAD_LEFT_PROGRESS,
            ids.DATA_ROOT_LEFT,
            ids.DATA_ROOT_OPEN_LEFT,
        ),
        "right": (
            ids.UPLOAD_RIGHT,
            ids.UPLOAD_RIGHT_INFO,
            ids.UPLOAD_RIGHT_PROGRESS,
            ids.DATA_ROOT_RIGHT,
            ids.DATA_ROOT_OPEN_RIGHT,
        ),
    }[side]
    return html.Div(
        [
            html.Label(label, className="form-label fw-semibold"),
            html.Div(
                ["Drop a file here or ", html.Span("choose one", className="link-primary")],
                id=box,
                className="upload-box",
                role="button",
                **{
                    "data-upload-side": side,
                    "data-accept": ACCEPT,
                    "data-max-bytes": str(max_bytes),
                    "data-inbox": ids.UPLOAD_INBOX,
                    "data-progress": progress,
                },
            ),
            dbc.Progress(id=progress, value=0, className="mt-1 d-none", style={"height": "1.2rem"}),
            dbc.InputGroup(
                [
                    dbc.Input(
                        id=typed,
                        placeholder="or a file in the server's data folder, e.g. crm/people.csv",
                        list=ids.DATA_ROOT_FILES,
                        size="sm",
                    ),
                    dbc.Button("Open", id=open_button, size="sm", color="secondary", outline=True),
                ],
                size="sm",
                className="mt-1" if root else "d-none",
            ),
            html.Div(id=info, className="small text-muted mt-1"),
            excel_choice(side),
        ],
        className="mb-3",
    )


#: Per side: the Excel choice's box, its sheet dropdown and its header row input.
EXCEL_IDS = {
    "left": (ids.EXCEL_LEFT, ids.EXCEL_LEFT_SHEET, ids.EXCEL_LEFT_HEADER),
    "right": (ids.EXCEL_RIGHT, ids.EXCEL_RIGHT_SHEET, ids.EXCEL_RIGHT_HEADER),
}


def excel_choice(side: str) -> html.Div:
    """For an Excel workbook: which sheet to read and the row holding the column names
    (a title row above them is common); shown once a workbook is uploaded."""
    box, sheet, header = EXCEL_IDS[side]
    return html.Div(
        dbc.Row(
            [
                dbc.Col(
                    dbc.InputGroup(
                        [
                            dbc.InputGroupText("Sheet"),
                            dbc.Select(id=sheet, options=[], size="sm"),
                        ],
                        size="sm",
                    ),
                    width=7,
                ),
                dbc.Col(
                    dbc.InputGroup(
                        [
                            dbc.InputGroupText("Header row"),
                            dbc.Input(
                                id=header, type="number", min=1, step=1, value=1, debounce=True
                            ),
                        ],
                        size="sm",
                    ),
                    width=5,
                ),
            ],
            className="g-1 mt-1",
        ),
        id=box,
        style={"display": "none"},
    )


def proposed_badge() -> dbc.Badge:
    """The mark of a value the panel proposed and the user has not changed."""
    return dbc.Badge("proposed", color="info", pill=True, className="proposed-badge")


def cleaning_options(clean: str) -> list[dict]:
    """The "Clean as" choices of a row: the named cleanings, and ``clean`` itself when it
    is a set-up file's own (see :func:`matching.engine.spec.cleaning_text`), so that it
    stays as loaded until changed.

    >>> [o["label"] for o in cleaning_options("flags:casefold+numbers")]
    ['text', 'number', 'digits', 'as loaded: casefold, numbers']
    """
    options = [{"label": name, "value": name} for name in CLEANINGS]
    if isinstance(clean, str) and clean.startswith(CLEANING_FLAGS):
        flags = clean.removeprefix(CLEANING_FLAGS).split("+")
        words = ", ".join(f.replace("_", " ") for f in flags if f) or "no cleaning"
        options.append({"label": f"as loaded: {words}", "value": clean})
    return options


def field_controls(
    index: int,
    left_columns: list[str],
    right_columns: list[str],
    left: str | None = None,
    right: str | None = None,
    scorer: str = "qratio",
    weight: float = 1,
    clean: str = "text",
) -> dbc.Row:
    """One field row: left column, right column, scorer, how values are cleaned, weight,
    and its 'proposed' mark."""
    return dbc.Row(
        [
            dbc.Col(
                dcc.Dropdown(
                    left_columns,
                    left,
                    id=field_row("left", index),
                    placeholder="Left column",
                    clearable=True,
                ),
            ),
            dbc.Col(
                dcc.Dropdown(
                    right_columns,
                    right,
                    id=field_row("right", index),
                    placeholder="Right column",
                    clearable=False,
                ),
                className="right-only",
            ),
            dbc.Col(
                dcc.Dropdown(list(SCORERS), scorer, id=field_row("scorer", index), clearable=False),
                className="field-scorer",
            ),
            dbc.Col(
                dcc.Dropdown(
                    cleaning_options(clean),
                    clean,
                    id=field_row("clean", index),
                    clearable=False,
                    searchable=False,
                ),
                className="field-clean",
            ),
            dbc.Col(
                dbc.Input(
                    id=field_row("weight", index),
                    type="number",
                    value=weight,
                    min=0.1,
                    step=0.1,
                    placeholder="Weight",
                ),
                className="field-weight",
            ),
            dbc.Col(html.Span(id=field_row("mark", index)), className="field-mark small pt-2"),
        ],
        className="field-row g-1 mb-1",
    )


def preview_grid(
    name: str, profiles: list[dict], rows: list[dict], made: dict[str, str] | None = None
) -> html.Div:
    """The first rows of a table under headers that say what each column holds.

    ``profiles`` are :class:`~matching.engine.propose.ColumnProfile` dicts, one per
    column in order; ``rows`` the first rows as ``{column: text}``. The pinned
    first row gives each column's share of missing values and distinct count.
    ``made``: the columns a run makes of the table (a date of its parts, a text's
    codes), each with what it is made of, shown after the table's own.
    """
    made = made or {}
    columns = [
        {
            "field": p["name"],
            "headerName": f"{p['name']} ({KIND_LABELS.get(p['kind'], p['kind'])})",
            "headerTooltip": f"{p['name']}: {KIND_LABELS.get(p['kind'], p['kind'])}",
        }
        for p in profiles
    ]
    columns += [
        {
            "field": column,
            "headerName": f"{column} (made)",
            "headerTooltip": f"{column}: made by a run from {source}",
        }
        for column, source in made.items()
    ]
    summary = {
        p["name"]: f"{100 * p['missing']:.0f}% missing · {p['distinct']:,} distinct"
        for p in profiles
    }
    summary.update({column: f"made from {source}" for column, source in made.items()})
    return html.Div(
        [
            html.Div(f"{name}: first {len(rows)} rows", className="small text-muted"),
            dag.AgGrid(
                rowData=rows,
                columnDefs=columns,
                defaultColDef={"resizable": True, "minWidth": 110},
                dashGridOptions={
                    "pinnedTopRowData": [summary],
                    "domLayout": "autoHeight",
                    "suppressFieldDotNotation": True,
                    "suppressColumnVirtualisation": True,
                    "rowHeight": 26,
                    "headerHeight": 30,
                },
                className="ag-theme-quartz preview-grid",
                style={"width": "100%"},
            ),
        ],
        className="mb-3",
    )


def _labelled(text: str | list, mark_id: str) -> dbc.Label:
    return dbc.Label([*(text if isinstance(text, list) else [text]), " ", html.Span(id=mark_id)])


def _setup_controls() -> html.Div:
    """Download the panel's set-up as a file, or load one."""
    return html.Div(
        [
            dbc.Label("Set-up file (tables, IDs, fields, rules, thresholds)"),
            html.Div(
                [
                    dbc.RadioItems(
                        id=ids.SETUP_FORMAT,
                        options=[
                            {"label": "TOML", "value": "toml"},
                            {"label": "JSON", "value": "json"},
                        ],
                        value="toml",
                        inline=True,
                        className="me-2",
                    ),
                    dbc.Button(
                        "Download set-up",
                        id=ids.SETUP_DOWNLOAD,
                        size="sm",
                        color="secondary",
                        outline=True,
                        className="me-2",
                    ),
                    dcc.Upload(
                        id=ids.SETUP_UPLOAD,
                        children=dbc.Button(
                            "Load a set-up file", size="sm", color="secondary", outline=True
                        ),
                        accept=".toml,.json",
                        multiple=False,
                    ),
                ],
                className="d-flex align-items-center flex-wrap",
            ),
            html.Div(id=ids.SETUP_MESSAGE, className="small mt-1"),
            dcc.Download(id=ids.SETUP_FILE),
        ],
        className="mb-3",
    )


def rule_count_table(
    rows: list[tuple[str, int, int]], total: int, *, budget: int, note: str = ""
) -> html.Div:
    """Pairs per blocking rule (its own, and what it adds to the rules above), then the total.

    No table without rules; ``note`` follows it. A warning shows above when the
    total is over ``budget``.
    """
    children = []
    if total > budget:
        children.append(
            dbc.Alert(
                f"{total:,} pairs is over the budget of {budget:,}: add a column to a rule "
                "or use a narrower one.",
                color="warning",
                className="py-1 mb-1",
            )
        )
    if rows:
        body = [
            html.Tr([html.Td(rule), html.Td(f"{own:,}"), html.Td(f"{added:,}")])
            for rule, own, added in rows
        ]
        body.append(html.Tr([html.Th("total"), html.Td(""), html.Th(f"{total:,}")]))
        children.append(
            dbc.Table(
                [
                    html.Thead(html.Tr([html.Th("rule"), html.Th("pairs"), html.Th("adds")])),
                    html.Tbody(body),
                ],
                size="sm",
                className="mb-1",
            )
        )
    if note:
        children.append(html.Div(note))
    return html.Div(children)


def learned_table(learned: dict) -> dbc.Table:
    """Learned match weights in bits, per field and similarity level (levels per scorer)."""
    weights = LearnedWeights.from_dict(learned)
    width = max((len(m) for m in weights.m), default=0)
    rows = []
    for f, name in enumerate(weights.fields):
        cells = [html.Td(name)]
        for k, (level, bits) in enumerate(zip(weights.level_names(f), weights.bits(f))):
            note = f"{level}: m {weights.m[f][k]:.3f}, u {weights.u[f][k]:.4f}"
            cells.append(html.Td(f"{level} {bits:+.1f}", title=note))
        cells += [html.Td("") for _ in range(width - len(weights.m[f]))]
        if weights.slope and weights.slope[f] > 0:
            cells[0] = html.Td(
                name, title=f"labels add {weights.slope[f]:+.1f} per unit of similarity"
            )
        rows.append(html.Tr(cells))
    return dbc.Table(
        [
            html.Thead(
                html.Tr([html.Th("field"), html.Th("match weight by level", colSpan=width)])
            ),
            html.Tbody(rows),
        ],
        size="sm",
        className="mb-1",
    )


def _name_controls() -> html.Div:
    """The project's name: proposed from the file names; a name already used makes the
    run that project's next version, as the note under it says."""
    return html.Div(
        [
            dbc.Label("Project name", html_for=ids.PROJECT_NAME),
            # Sent when it loses the focus or on Enter (a click on Run does both), not at
            # each key: the note under it asks the server whether the name is taken.
            dbc.Input(id=ids.PROJECT_NAME, type="text", maxlength=120, debounce=True),
            html.Div(id=ids.PROJECT_NAME_NOTE, className="small text-muted mt-1"),
        ],
        className="mb-3",
    )


def run_controls() -> html.Div:
    """Run, and beside it while a run is under way its progress bar, Cancel and the
    current step."""
    return html.Div(
        [
            dbc.Button("Run", id=ids.RUN, color="primary", disabled=True),
            html.Div(
                [
                    html.Div(
                        [
                            dbc.Progress(
                                id=ids.RUN_PROGRESS,
                                value=0,
                                label="",
                                striped=True,
                                animated=True,
                                className="flex-grow-1 me-2",
                                style={"height": "1.5rem"},
                            ),
                            dbc.Button(
                                "Cancel",
                                id=ids.RUN_CANCEL,
                                color="secondary",
                                outline=True,
                                size="sm",
                                disabled=True,
                            ),
                        ],
                        className="d-flex align-items-center",
                    ),
                    html.Div(id=ids.RUN_STEP, className="small text-muted"),
                ],
                id=ids.RUN_STATUS,
                className="flex-grow-1 ms-2",
                style={"display": "none"},
            ),
            dcc.Store(id=ids.RUN_TICKET),
        ],
        className="d-flex align-items-start",
    )


def data_panel(
    root_files: list[str] | None = None, max_upload_bytes: int = 512 * 1024 * 1024
) -> dbc.Offcanvas:
    """The Data panel; a file over ``max_upload_bytes`` is refused in the page.

    ``root_files`` are the files an admin may open by path (relative to the
    server's ``--data-root``), offered as suggestions; None when the server has
    no such folder, and then the path boxes are not shown.
    """
    upload = {"root": root_files is not None, "max_bytes": max_upload_bytes}
    return dbc.Offcanvas(
        [
            html.P(
                _by_mode(
                    "Upload the two tables (CSV, Excel, Parquet or JSON Lines), choose the ID "
                    "columns and the fields to compare, then Run.",
                    "Upload the table (CSV, Excel, Parquet or JSON Lines), choose its ID "
                    "column and the fields to compare, then Run: each pair of its records "
                    "is scored once, and accepted pairs join into clusters.",
                ),
                className="small",
            ),
            dbc.Button(
                "Re-run this project",
                id=ids.RERUN_PROJECT,
                size="sm",
                color="secondary",
                outline=True,
                className="mb-2",
                title="Load the open project's tables and set-up to change them and Run again",
            ),
            dbc.RadioItems(
                id=ids.DATA_MODE, options=MODES, value="two", inline=True, className="mb-2"
            ),
            _upload("left", _by_mode("Left table", "Table"), **upload),
            html.Div(id=ids.PREVIEW_LEFT),
            html.Div(
                [_upload("right", "Right table", **upload), html.Div(id=ids.PREVIEW_RIGHT)],
                className="right-only",
            ),
            html.Datalist([html.Option(value=f) for f in root_files or []], id=ids.DATA_ROOT_FILES),
            html.Div(id=ids.PROPOSAL_NOTE, className="small mb-2"),
            dcc.Store(id=ids.PROPOSAL_STORE, data=None),
            dcc.Store(id=ids.PROPOSAL_REQUEST, data=None),
            dcc.Store(id=ids.LEARN_REQUEST, data=None),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            _labelled(_by_mode("Left ID column", "ID column"), ids.LEFT_ID_MARK),
                            dcc.Dropdown(id=ids.LEFT_ID, placeholder="Row number"),
                        ]
                    ),
                    dbc.Col(
                        [
                            _labelled("Right ID column", ids.RIGHT_ID_MARK),
                            dcc.Dropdown(id=ids.RIGHT_ID, placeholder="Row number"),
                        ],
                        className="right-only",
                    ),
                ],
                className="mb-3",
            ),
            dbc.Label(
                _by_mode(
                    "Fields to compare (left column, right column, scorer, clean as, weight)",
                    "Fields to compare (column, scorer, clean as, weight)",
                )
            ),
            html.Div(id=ids.FIELDS, children=[]),
            dbc.Button(
                "Add field",
                id=ids.ADD_FIELD,
                size="sm",
                color="secondary",
                outline=True,
                className="mb-3 d-block",
            ),
            dbc.Label(
                [
                    "Blocking rules, one per line (e.g. exact:postcode or "
                    "exact:surname+birth_date) ",
                    html.Span(id=ids.RULES_MARK),
                ]
            ),
            dbc.Textarea(
                id=ids.BLOCK_RULES,
                placeholder="none: every pair is scored",
                rows=3,
                debounce=True,
                className="mb-2 font-monospace small",
            ),
            html.Div(
                [
                    dbc.Button(
                        "Learn weights",
                        id=ids.LEARN_WEIGHTS,
                        size="sm",
                        color="secondary",
                        outline=True,
                        className="mb-1",
                    ),
                    html.Div(id=ids.LEARNED_VIEW, className="small"),
                    dcc.Store(id=ids.LEARNED_STORE, data=None),
                ],
                className="mb-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label("Keep at least"),
                            dbc.Input(
                                id=ids.KEEP, type="number", min=0, max=1, step=0.01, value=0.5
                            ),
                        ]
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Pre-select at least"),
                            dbc.Input(
                                id=ids.SELECT, type="number", min=0, max=1, step=0.01, value=0.8
                            ),
                        ]
                    ),
                ],
                className="mb-3",
            ),
            _setup_controls(),
            _name_controls(),
            html.Div(id=ids.PAIR_COUNT, className="mb-2 fw-semibold"),
            run_controls(),
            dbc.Alert(id=ids.DATA_MESSAGE, is_open=False, className="mt-3"),
            dcc.Store(id=ids.UPLOAD_STORE, data={}),
            dcc.Store(id=ids.UPLOAD_INBOX),
            html.Hr(className="my-4"),
            dbc.Button(
                "Delete this project",
                id=ids.DELETE_PROJECT,
                color="danger",
                outline=True,
                size="sm",
            ),
            dcc.ConfirmDialog(id=ids.DELETE_CONFIRM),
        ],
        id=ids.DATA_PANEL,
        title="Data",
        placement="end",
        is_open=False,
        style={"width": "52rem"},
    )
