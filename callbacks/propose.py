"""Data panel set-up: previews of the uploads, the proposed set-up, set-up files.

After each upload the panel shows the table's first rows with what each column
holds; after both, :func:`matching.engine.propose.propose` fills the IDs, fields and
blocking rules, each marked "proposed" while it keeps the proposed value. For
large tables (a proposal takes seconds at 1,000,000 rows) the panel first says
"Proposing a set-up…" and a chained callback fills the form, Run disabled
meanwhile. A
set-up can be downloaded (TOML or JSON) and loaded back, and opening a project
shows the set-up it was run with.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import PurePath

import pandas as pd
from dash import ALL, Input, Output, Patch, State, ctx, dcc, html, no_update

from components.data import (
    FIELD_FORM,
    FIELD_PARTS,
    MODES,
    ONE_TABLE,
    SIDES,
    field_controls,
    field_form,
    preview_grid,
    proposed_badge,
    uploads_in_mode,
)
from components.ids import field_row, ids
from matching.engine.derive import add_made_columns, made_sources
from matching.engine.form import spec_from_rows
from matching.engine.io import TableReadError
from matching.engine.propose import NoSharedColumns, profile_table, propose
from matching.engine.spec import (
    Setup,
    Spec,
    cleaning_name,
    cleaning_text,
    dumps_setup,
    loads_setup,
    setup_format,
)
from server.services import Services, services_of

__all__ = [
    "register",
    "preview_of",
    "panel_values",
    "proposal_for",
    "fill_panel",
    "fill_proposal",
    "proposed_marks",
    "setup_file",
    "PREVIEW_ROWS",
]

#: Rows of each table the preview shows.
PREVIEW_ROWS = 8

#: Tables with more rows than this (both together) are proposed for after the upload
#: has filled the panel, by a chained callback: at 1,000,000 rows a proposal takes seconds.
PROPOSE_LATER_ROWS = 200_000

#: Largest set-up file the panel reads.
MAX_SETUP_BYTES = 1024 * 1024


def preview_of(services: Services, info: object) -> html.Div:
    """The preview of one upload: its first rows, each column's kind, missing share,
    distinct; then the columns a run makes of it (a date of its parts, a text's codes),
    made for those rows."""
    record, frame = services.uploaded(info)
    profiles = [p.to_dict() for p in profile_table(frame)]
    made = made_sources(frame, record.get("made") or record.get("dates") or [])
    head = add_made_columns(frame.head(PREVIEW_ROWS), made).astype(object)
    rows = head.where(pd.notna(head), None).to_dict("records")
    return preview_grid(record["name"], profiles, rows, made=made)


def update_previews(services: Services, uploads: object) -> dict:
    """``{"left", "right"}``: each side's preview, or a message when it cannot be read."""
    out = {}
    for side in SIDES:
        info = (uploads or {}).get(side) if isinstance(uploads, dict) else None
        if info is None:
            out[side] = None
            continue
        try:
            out[side] = preview_of(services, info)
        except (ValueError, OSError) as exc:
            out[side] = html.Div(f"⚠ {exc}", className="small text-danger")
    return out


def panel_values(spec: Spec) -> dict:
    """The panel's form values of a spec: IDs, field rows (each a dict of
    :data:`~components.data.FIELD_PARTS`) and rules text (JSON-safe)."""
    return {
        "left_id": spec.left_id,
        "right_id": spec.right_id,
        "fields": [
            {
                "left": f.left,
                "right": f.right,
                "scorer": f.scorer,
                "weight": f.weight,
                "clean": cleaning_text(f.normalization),
            }
            for f in spec.fields
        ],
        "rules": "\n".join(b.text for b in spec.block),
    }


def proposal_for(
    left: pd.DataFrame, right: pd.DataFrame, *, one_table: bool = False
) -> tuple[dict | None, html.Div]:
    """The proposal's form values and a note on it, or None and why there is none.

    ``one_table``: ``left`` compared with itself (``right`` is the same table).
    """
    try:
        proposal = propose(left, right, one_table=one_table, derive=True)
    except NoSharedColumns as exc:
        text = f"⚠ No set-up proposed: {exc}."
        return None, html.Div(text, className="text-danger")
    notes = list(proposal.notes)
    if proposal.coverage is not None:
        notes.insert(
            0,
            f"the rules keep {100 * proposal.coverage:.1f}% of the likely matches in a sample"
            f" and stay within {proposal.budget:,} pairs",
        )
    kinds = ", ".join(f"{name} ({kind.replace('_', ' ')})" for name, kind in proposal.kinds.items())
    return panel_values(proposal.spec), html.Div(
        [
            html.Div(
                [proposed_badge(), f" Set-up proposed from the tables; fields compared as {kinds}."]
            ),
            html.Ul([html.Li(n) for n in notes], className="mb-0 text-muted") if notes else None,
        ]
    )


def _rows(values: dict, left_cols: list, right_cols: list) -> list:
    if not values["fields"]:
        return [field_controls(0, left_cols, right_cols)]
    return [
        field_controls(i, left_cols, right_cols, *(f[part] for part in FIELD_PARTS))
        for i, f in enumerate(values["fields"])
    ]


def _columns(uploads: object) -> tuple[list, list]:
    """Each side's columns to offer: the table's own, then those it makes (dates of year,
    month and day columns, a text's model codes; a run adds them). ``dates``: what an
    upload kept before codes were made."""
    uploads = uploads if isinstance(uploads, dict) else {}
    infos = [uploads.get(side) or {} for side in SIDES]
    return tuple(
        list(dict.fromkeys([*i.get("columns", []), *i.get("made", []), *i.get("dates", [])]))
        for i in infos
    )


def _read_setup_upload(contents: object, filename: object) -> Setup:
    name = str(filename or "set-up")
    fmt = setup_format(name)
    try:
        _, payload = str(contents).split(",", 1)
        raw = base64.b64decode(payload, validate=True)
    except (ValueError, binascii.Error):
        raise ValueError(f"{name}: the file could not be decoded") from None
    if len(raw) > MAX_SETUP_BYTES:
        raise ValueError(f"{name}: a set-up file is at most {MAX_SETUP_BYTES // 1024} KB")
    try:
        return loads_setup(raw.decode("utf-8"), fmt)
    except UnicodeDecodeError:
        raise ValueError(f"{name}: not UTF-8 text") from None
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _project_setup(services: Services, project_id: object) -> tuple[Setup, dict] | None:
    """The set-up that makes the project again (keep: its floor), and its log record."""
    record = services.log.project(project_id) if isinstance(project_id, str) else None
    settings = record["settings"] if record is not None else None
    if settings is None or settings.spec is None:
        return None
    keep = next((k for k in (settings.floor, settings.show_from) if k is not None), 0.5)
    setup = Setup(
        settings.spec,
        settings.sources.get("left"),
        settings.sources.get("right"),
        keep=keep,
        select=settings.select if settings.select is not None else max(keep, 0.8),
    )
    return setup, record


def fill_panel(
    services: Services,
    trigger,
    uploads,
    children,
    setup_file,
    project_id,
    shown=None,
    mode: str | None = None,
) -> dict:
    """The panel's form after an upload, a loaded set-up file or a project opened.

    ``trigger`` is what changed: the upload store (a new table: after both,
    the proposal, unless a set-up file was loaded: it stays), the mode (two
    tables, or one compared with itself: as after an upload), the Add field
    button, the set-up upload (``setup_file`` is ``{"contents", "filename"}``)
    or the project (its saved set-up and mode; also on the page's first load).
    ``shown`` is the proposal store: ``{"source": "proposal" | "file", ...}``,
    the form values the panel last filled in, or ``{"source": "project", "project":
    id}`` after "Re-run this project" (its set-up fills the panel). Returns a dict of the outputs.
    """
    out = dict.fromkeys(
        ("fields", "left_options", "right_options", "left_id", "right_id", "rules"), no_update
    )
    out |= dict.fromkeys(
        ("keep", "select", "proposal", "note", "request", "mode", "learn"), no_update
    )
    uploads = uploads_in_mode(uploads, mode)
    if trigger == ids.DATA_MODE:
        trigger = ids.UPLOAD_STORE  # the tables read differently: propose again
    left_cols, right_cols = _columns(uploads)
    if trigger == ids.ADD_FIELD:
        patch = Patch()
        count = len(children) if isinstance(children, list) else 0
        patch.append(field_controls(count, left_cols, right_cols))
        return out | {"fields": patch}
    from_file = isinstance(shown, dict) and shown.get("source") == "file"
    # "Re-run this project" put its stored tables in the panel: its own set-up fills it.
    rerun = trigger == ids.UPLOAD_STORE and isinstance(shown, dict)
    rerun = rerun and shown.get("source") == "project"
    if trigger == ids.UPLOAD_STORE and from_file:
        values = {k: shown[k] for k in ("left_id", "right_id", "fields", "rules")}
        lacking = _lacking(_spec_of(values), left_cols, right_cols)
        note = f"The set-up loaded from {shown.get('name')} is kept."
        note += f" The uploaded tables lack {', '.join(lacking)}." if lacking else ""
        out |= {"left_options": left_cols, "right_options": right_cols, "note": note}
    elif trigger == ids.UPLOAD_STORE and not rerun:
        out |= {"left_options": left_cols, "right_options": right_cols, "proposal": None}
        out |= {"note": None, "rules": "", "keep": 0.5, "select": 0.8}
        values = {"left_id": None, "right_id": None, "fields": [], "rules": ""}
        if left_cols and right_cols and _rows_of(uploads) > PROPOSE_LATER_ROWS:
            request = _request(uploads, mode)
            out |= {"note": PROPOSING, "request": request}
        elif left_cols and right_cols:
            try:
                (_, left), (_, right) = (services.uploaded(uploads[s]) for s in SIDES)
                proposed, note = proposal_for(left, right, one_table=mode == ONE_TABLE)
            except (ValueError, OSError, TableReadError) as exc:
                proposed, note = None, html.Div(f"⚠ {exc}", className="text-danger")
            values = proposed or values
            store = {"source": "proposal", **proposed} if proposed else None
            out |= {"proposal": store, "note": note, "rules": values["rules"]}
            if proposed:
                out["learn"] = _request(uploads, mode)
    elif trigger == ids.SETUP_UPLOAD:
        try:
            setup = _read_setup_upload(setup_file.get("contents"), setup_file.get("filename"))
        except ValueError as exc:
            return out | {"note": html.Div(f"⚠ {exc}", className="text-danger")}
        values = panel_values(setup.spec)
        name = PurePath(str(setup_file.get("filename"))).name
        note = f"Set-up loaded from {name}."
        lacking = _lacking(setup.spec, left_cols, right_cols)
        if lacking:
            note += f" The uploaded tables lack {', '.join(lacking)}."
        if setup.spec.learned is not None:
            note += " Its learned weights are not loaded: use Learn weights again."
        note += _own_cleanings(setup.spec)
        if not (left_cols and right_cols):
            note += " Upload the two tables to run it."
            left_cols, right_cols = _spec_columns(setup.spec, left_cols, right_cols)
        store = {"source": "file", "name": name, **values}
        out |= {"keep": setup.keep, "select": setup.select, "proposal": store, "note": note}
        out |= {"mode": ONE_TABLE if setup.spec.one_table else MODES[0]["value"]}
        out |= {"left_options": left_cols, "right_options": right_cols, "rules": values["rules"]}
    else:
        found = _project_setup(services, shown.get("project") if rerun else project_id)
        if found is None:
            return out
        setup, record = found
        values = panel_values(setup.spec)
        columns = record["settings"].columns or ((), ())
        if not (left_cols and right_cols):
            left_cols, right_cols = _spec_columns(setup.spec, *columns)
        note = f"The set-up of the project {record['name']}." + _own_cleanings(setup.spec)
        if rerun:
            note += " Change it and Run to make the project's next version."
        out |= {"keep": setup.keep, "select": setup.select, "note": note}
        out |= {"proposal": no_update if rerun else None}
        out |= {"mode": ONE_TABLE if setup.spec.one_table else MODES[0]["value"]}
        out |= {"left_options": left_cols, "right_options": right_cols, "rules": values["rules"]}
    return out | {
        "fields": _rows(values, left_cols, right_cols),
        "left_id": values["left_id"],
        "right_id": values["right_id"],
    }


#: What the panel says while a chained callback proposes the set-up.
PROPOSING = "Proposing a set-up…"


def _request(uploads: dict, mode: object) -> dict:
    """What a chained proposal is for: the uploads' ids, and the mode when it is one table."""
    request = {s: (uploads.get(s) or {}).get("token") for s in SIDES}
    return request | {"mode": ONE_TABLE} if mode == ONE_TABLE else request


def _rows_of(uploads: dict) -> int:
    """Rows of both uploads, as the page holds them (only to choose when to propose)."""
    try:
        return sum(int(uploads[side].get("rows") or 0) for side in SIDES)
    except (TypeError, ValueError, AttributeError):
        return 0


def fill_proposal(
    services: Services, request: object, uploads: object, mode: str | None = None
) -> dict:
    """The proposal's form values for the uploads ``request`` names (a chained callback).

    ``request`` is ``{"left": token, "right": token}`` (and ``"mode"`` for one table) as
    :func:`fill_panel` left it; when the uploads or the mode have changed since,
    nothing is filled (a newer request follows). Returns the IDs, field rows,
    rules, proposal store and note, and a request to learn the proposal's weights.
    """
    keys = ("fields", "left_id", "right_id", "rules", "proposal", "note", "learn")
    uploads = uploads_in_mode(uploads, mode)
    current = _request(uploads, mode)
    if not isinstance(request, dict) or request != current:
        return dict.fromkeys(keys, no_update)
    left_cols, right_cols = _columns(uploads)
    try:
        (_, left), (_, right) = (services.uploaded(uploads[s]) for s in SIDES)
        proposed, note = proposal_for(left, right, one_table=mode == ONE_TABLE)
    except (ValueError, OSError, TableReadError) as exc:
        proposed, note = None, html.Div(f"⚠ {exc}", className="text-danger")
    values = proposed or {"left_id": None, "right_id": None, "fields": [], "rules": ""}
    return {
        "fields": _rows(values, left_cols, right_cols),
        "left_id": values["left_id"],
        "right_id": values["right_id"],
        "rules": values["rules"],
        "proposal": {"source": "proposal", **proposed} if proposed else None,
        "note": note,
        # Asks for the proposal's weights to be learned (only a proposal does).
        "learn": request if proposed else no_update,
    }


def _spec_of(values: dict) -> Spec:
    """The spec of the panel's form values, as :func:`panel_values` writes them."""
    rows = [[f[part] for f in values["fields"]] for part in FIELD_PARTS]
    return spec_from_rows(*rows, values["left_id"], values["right_id"], values["rules"])


def _own_cleanings(spec: Spec) -> str:
    """What the panel says of fields cleaned in a way the "Clean as" choices do not name
    (a set-up file's own flags): they are kept as they are; "" when there are none."""
    own = [f.name for f in spec.fields if cleaning_name(f.normalization) is None]
    if not own:
        return ""
    return f" Kept with the set-up's own cleaning (Clean as 'as loaded'): {', '.join(own)}."


def _lacking(spec: Spec, left_cols: list, right_cols: list) -> list[str]:
    if not (left_cols and right_cols):
        return []
    need_left = [f.left for f in spec.fields] + [spec.left_id]
    need_right = [f.right for f in spec.fields] + [spec.right_id]
    lacking = [f"left column {c!r}" for c in need_left if c and c not in left_cols]
    return lacking + [f"right column {c!r}" for c in need_right if c and c not in right_cols]


def _spec_columns(spec: Spec, left_cols: list, right_cols: list) -> tuple[list, list]:
    """The columns to offer: the tables', and the spec's own so its values show."""
    left = [*left_cols, *(c for c in [spec.left_id, *(f.left for f in spec.fields)] if c)]
    right = [*right_cols, *(c for c in [spec.right_id, *(f.right for f in spec.fields)] if c)]
    return list(dict.fromkeys(left)), list(dict.fromkeys(right))


def proposed_marks(
    proposal: object, lefts, rights, scorers, weights, cleanings, left_id, right_id, rules
) -> dict:
    """A "proposed" badge on each value that is still the proposal's, nothing elsewhere:
    a field row keeps it while its columns, scorer, weight and cleaning all do."""
    badge = proposed_badge
    proposed = isinstance(proposal, dict) and proposal.get("source") == "proposal"
    fields = proposal.get("fields", []) if proposed else None
    marks = []
    for i, row in enumerate(zip(lefts, rights, scorers, weights, cleanings)):
        p = fields[i] if fields is not None and i < len(fields) else None
        same = p is not None and row[:3] == (p["left"], p["right"], p["scorer"])
        same = same and _number(row[3]) == p["weight"] and row[4] == p.get("clean")
        marks.append(badge() if same else None)
    if fields is None:
        return {"fields": marks, "left_id": None, "right_id": None, "rules": None}

    def lines(text: object) -> list[str]:
        return [line.strip() for line in str(text or "").splitlines() if line.strip()]

    return {
        "fields": marks,
        "left_id": badge() if left_id == proposal["left_id"] else None,
        "right_id": badge() if right_id == proposal["right_id"] else None,
        "rules": badge() if lines(rules) == lines(proposal["rules"]) else None,
    }


def _number(value: object) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def setup_file(
    services: Services, uploads, project_id, form: tuple, keep, select, fmt, mode=None
) -> dict:
    """The panel's set-up as a file to download, or a message saying what is wrong."""
    uploads = uploads_in_mode(uploads, mode)
    try:
        spec = spec_from_rows(*form, one_table=mode == ONE_TABLE)
        for label, value in (("keep", keep), ("pre-select", select)):
            if not isinstance(value, (int, float)) or not 0 <= float(value) <= 1:
                raise ValueError(f"{label} must be a number between 0 and 1")
        if fmt not in ("toml", "json"):
            raise ValueError("choose TOML or JSON")
        names = [((uploads or {}).get(s) or {}).get("name") for s in SIDES]
        if not all(names):
            found = _project_setup(services, project_id)
            names = [found[0].left, found[0].right] if found else [None, None]
        setup = Setup(spec, *names, keep=float(keep), select=float(select))
        text = dumps_setup(setup, fmt)
    except (ValueError, TypeError) as exc:
        return {"file": no_update, "message": html.Span(f"⚠ {exc}", className="text-danger")}
    return {
        "file": dcc.send_string(text, f"matchdesk-setup.{fmt}"),
        "message": f"Downloaded matchdesk-setup.{fmt}.",
    }


def register(app) -> None:
    services = services_of(app)

    def update_previews_callback(uploads):
        return update_previews(services, uploads)

    app.callback(
        output={
            "left": Output(ids.PREVIEW_LEFT, "children"),
            "right": Output(ids.PREVIEW_RIGHT, "children"),
        },
        inputs=[Input(ids.UPLOAD_STORE, "data")],
        prevent_initial_call=True,
    )(update_previews_callback)

    def fill_setup(uploads, _add, contents, project_id, mode, filename, children, shown):
        setup = {"contents": contents, "filename": filename}
        trigger = ctx.triggered_id
        return fill_panel(services, trigger, uploads, children, setup, project_id, shown, mode)

    app.callback(
        output={
            "fields": Output(ids.FIELDS, "children"),
            "left_options": Output(ids.LEFT_ID, "options"),
            "right_options": Output(ids.RIGHT_ID, "options"),
            "left_id": Output(ids.LEFT_ID, "value"),
            "right_id": Output(ids.RIGHT_ID, "value"),
            "rules": Output(ids.BLOCK_RULES, "value"),
            "keep": Output(ids.KEEP, "value"),
            "select": Output(ids.SELECT, "value"),
            "proposal": Output(ids.PROPOSAL_STORE, "data"),
            "note": Output(ids.PROPOSAL_NOTE, "children"),
            "request": Output(ids.PROPOSAL_REQUEST, "data"),
            "mode": Output(ids.DATA_MODE, "value"),
            "learn": Output(ids.LEARN_REQUEST, "data"),
        },
        inputs=[
            Input(ids.UPLOAD_STORE, "data"),
            Input(ids.ADD_FIELD, "n_clicks"),
            Input(ids.SETUP_UPLOAD, "contents"),
            Input(ids.PROJECT_SELECT, "value"),
            Input(ids.DATA_MODE, "value"),
        ],
        state=[
            State(ids.SETUP_UPLOAD, "filename"),
            State(ids.FIELDS, "children"),
            State(ids.PROPOSAL_STORE, "data"),
        ],
    )(fill_setup)

    def fill_proposal_callback(request, uploads, mode):
        return fill_proposal(services, request, uploads, mode)

    app.callback(
        output={
            "fields": Output(ids.FIELDS, "children", allow_duplicate=True),
            "left_id": Output(ids.LEFT_ID, "value", allow_duplicate=True),
            "right_id": Output(ids.RIGHT_ID, "value", allow_duplicate=True),
            "rules": Output(ids.BLOCK_RULES, "value", allow_duplicate=True),
            "proposal": Output(ids.PROPOSAL_STORE, "data", allow_duplicate=True),
            "note": Output(ids.PROPOSAL_NOTE, "children", allow_duplicate=True),
            "learn": Output(ids.LEARN_REQUEST, "data", allow_duplicate=True),
        },
        inputs=[Input(ids.PROPOSAL_REQUEST, "data")],
        state=[State(ids.UPLOAD_STORE, "data"), State(ids.DATA_MODE, "value")],
        running=[(Output(ids.RUN, "disabled"), True, False)],
        prevent_initial_call=True,
    )(fill_proposal_callback)

    def mark_proposed(proposal, *form):
        return proposed_marks(proposal, *form)

    app.callback(
        output={
            "fields": Output(field_row("mark", ALL), "children"),
            "left_id": Output(ids.LEFT_ID_MARK, "children"),
            "right_id": Output(ids.RIGHT_ID_MARK, "children"),
            "rules": Output(ids.RULES_MARK, "children"),
        },
        inputs=[
            Input(ids.PROPOSAL_STORE, "data"),
            *field_form(Input),
            Input(ids.BLOCK_RULES, "value"),
        ],
    )(mark_proposed)

    def download_setup(_n, uploads, project_id, *form):
        *fields, keep, select, fmt, mode = form
        return setup_file(services, uploads, project_id, tuple(fields), keep, select, fmt, mode)

    app.callback(
        output={
            "file": Output(ids.SETUP_FILE, "data"),
            "message": Output(ids.SETUP_MESSAGE, "children"),
        },
        inputs=[Input(ids.SETUP_DOWNLOAD, "n_clicks")],
        state=[
            State(ids.UPLOAD_STORE, "data"),
            State(ids.PROJECT_SELECT, "value"),
            *FIELD_FORM,
            State(ids.BLOCK_RULES, "value"),
            State(ids.LEARNED_STORE, "data"),
            State(ids.KEEP, "value"),
            State(ids.SELECT, "value"),
            State(ids.SETUP_FORMAT, "value"),
            State(ids.DATA_MODE, "value"),
        ],
        prevent_initial_call=True,
    )(download_setup)
