"""Review tab: show the current record, record decisions, undo.

``update_review`` is the single writer of the review view: it decodes what the
page sent, hands it to the project's :class:`~matching.desk.ReviewDesk` (which
owns every review rule) and renders the view the desk returns.
"""

from __future__ import annotations

import hashlib
import json

from dash import Input, Output, Patch, State, ctx, no_update
from dash.exceptions import PreventUpdate

from components.ids import ids
from components.review import (
    RECORD_FIELD,
    candidate_columns,
    reason_options,
    record_card,
    typical_chars,
)
from matching.desk.page import PageRequest
from matching.engine.project import Project
from server.services import Services, services_of

__all__ = [
    "register",
    "current_view",
    "update_review",
    "decode_session",
    "shown_record",
    "show_reasons",
    "ACTIONS",
    "OUTPUTS",
]

#: Button id -> decision kind.
ACTIONS = {ids.ACCEPT: "accept", ids.REJECT: "reject", ids.SKIP: "skip", ids.UNDO: "undo"}

#: The review callback's outputs, by name.
OUTPUTS = {
    "card": Output(ids.RECORD_CARD, "children"),
    "label": Output(ids.RECORD_LABEL, "children"),
    "progress": Output(ids.PROGRESS, "value"),
    "progress_label": Output(ids.PROGRESS, "label"),
    "rows": Output(ids.CANDIDATE_GRID, "rowData"),
    "columns": Output(ids.CANDIDATE_GRID, "columnDefs"),
    "grid_options": Output(ids.CANDIDATE_GRID, "dashGridOptions"),
    "selected": Output(ids.CANDIDATE_GRID, "selectedRows"),
    "no_candidates": Output(ids.NO_CANDIDATES, "is_open"),
    "done": Output(ids.DONE, "is_open"),
    "done_heading": Output(ids.DONE_HEADING, "children"),
    "done_text": Output(ids.DONE_TEXT, "children"),
    "body_style": Output(ids.REVIEW_RECORD, "style"),
    "legend_style": Output(ids.LEGEND, "style"),
    "show_scores_disabled": Output(ids.SHOW_SCORES, "disabled"),
    "view": Output(ids.VIEW_STORE, "data"),
    "message": Output(ids.MESSAGE, "children"),
    "message_open": Output(ids.MESSAGE, "is_open"),
    "message_color": Output(ids.MESSAGE, "color"),
    "session": Output(ids.SESSION_STORE, "data"),
    "reason": Output(ids.REASON, "value"),
    "comment": Output(ids.COMMENT, "value"),
}

_BAD_STORE = (
    "The review position kept in this browser could not be read and was ignored; the page "
    "resumed where the decision log says."
)

#: What the page asks the desk for, by the trigger (a display switch redraws the record).
_ASKS = {
    **ACTIONS,
    None: "open",
    ids.PROJECT_SELECT: "open",
    ids.REVIEWER: "name",
    ids.TABS: "tab",
    ids.REVIEW_SKIPPED: "restart",
}


def current_view(
    services: Services, project: Project, reviewer: str, *, restart: bool = False
) -> dict:
    """The record ``reviewer`` should see now, leased to them (see ``ReviewDesk.next_view``)."""
    _, role = services.actor(reviewer)
    return services.desk(project).next_view(reviewer, restart=restart, role=role)


def decode_session(session, project_id: str) -> tuple[dict, str | None]:
    """The browser's stored positions as a dict, and a message when they were unreadable.

    Local storage holds whatever was put there: any JSON type is accepted here,
    and anything but a dict of dicts is dropped with a message.
    """
    if session is None:
        return {}, None
    if not isinstance(session, dict):
        return {}, _BAD_STORE
    clean = {k: v for k, v in session.items() if isinstance(k, str) and isinstance(v, dict)}
    if project_id in session and project_id not in clean:
        return clean, _BAD_STORE
    return clean, None


def shown_record(event_data) -> str | None:
    """The left record whose rows the grid says it holds (its ``eventData``), or None."""
    data = event_data.get("data") if isinstance(event_data, dict) else None
    record = data.get("record") if isinstance(data, dict) else None
    return record if isinstance(record, str) else None


def _selected_ids(selected_rows) -> list[str]:
    if not isinstance(selected_rows, list):
        return []
    return [str(r["_right_id"]) for r in selected_rows if isinstance(r, dict) and "_right_id" in r]


def _edits_for(edits, left_id) -> dict:
    mine = edits.get(left_id) if isinstance(edits, dict) else None
    return mine if isinstance(mine, dict) else {}


def _empty(message: str | None) -> dict:
    return {
        "card": [],
        "label": "",
        "progress": 0,
        "progress_label": "",
        "rows": [],
        "columns": [],
        "grid_options": _pinned([]),
        "selected": {"ids": []},
        "no_candidates": False,
        "done": False,
        "done_heading": "",
        "done_text": "",
        "body_style": {"display": "none"},
        "legend_style": no_update,
        "show_scores_disabled": no_update,
        "view": None,
        "message": message or "Open a project with the Data button.",
        "message_open": True,
        "message_color": "info",
        "session": no_update,
        "reason": no_update,
        "comment": no_update,
    }


def _done_text(view: dict) -> tuple[str, str]:
    if view.get("read_only"):
        return (
            "Read only.",
            "A manager reads Statistics, Matched and the exports; records are decided by "
            "reviewers.",
        )
    if view.get("open"):
        others = view["open"]
        records = "record is" if others == 1 else "records are"
        return (
            "Nothing for you right now.",
            f"The remaining {others:,} open {records} with other reviewers. Press Review "
            "skipped records to look again, or come back in a few minutes.",
        )
    text = f"All {view['total']:,} records have been handled: {view['decided']:,} decided" + (
        f", {view['skipped']:,} skipped and still undecided." if view["skipped"] else "."
    )
    return "The queue is done.", text


#: Row id of the pinned left record (the grid asks every row for one).
LEFT_ROW_ID = "(left record)"


def _pinned(rows: list[dict]) -> Patch:
    options = Patch()
    options["pinnedTopRowData"] = rows
    return options


#: What the page keeps of a view: enough for the desk to check it again, not its rows.
_VIEW_KEPT_OUT = ("rows", "left", "pinned", "left_rest")


def _stored(view: dict, blind: bool) -> dict:
    out = {k: v for k, v in view.items() if k not in _VIEW_KEPT_OUT}
    if blind:
        out.pop("selected", None)
    return out


def _chars(project: Project, rows: list[dict]) -> dict[str, int]:
    chars = typical_chars(project.right)
    right_id = project.spec.right_id
    if right_id in chars:  # an id is never cut
        longest = max((len(r.get(right_id) or "") for r in rows), default=0)
        chars[right_id] = max(chars[right_id], longest)
    return chars


def render(
    project: Project,
    view: dict,
    message: str | None,
    color: str = "warning",
    *,
    blind: bool = False,
    show_scores: bool = False,
    shown: dict | None = None,
) -> dict:
    """The page for ``view`` (a desk view), with ``message`` shown above it.

    In ``blind`` mode the candidates go out without their scores and marks of
    difference, the grid without its tint and the record without its
    pre-selection; the layout stays the same. ``shown`` is the view the page
    shows now: when its grid had the same columns, they are not sent again.
    """
    total = max(view["total"], 1)
    out = {
        "progress": round(100 * view["decided"] / total),
        "progress_label": f"{view['decided']:,} of {view['total']:,} decided",
        "view": _stored(view, blind),
        "message": message,
        "message_open": bool(message),
        "message_color": color,
        "session": no_update,
        "reason": no_update,
        "comment": no_update,
        "legend_style": {"visibility": "hidden"} if blind else {},
        "show_scores_disabled": blind,
    }
    shown_grid = shown.get("grid") if isinstance(shown, dict) else None
    if view.get("left_id") is None:
        heading, text = _done_text(view)
        out["view"]["grid"] = shown_grid  # the grid keeps its columns
        out.update(
            card=[],
            label="",
            rows=[],
            columns=no_update,
            grid_options=_pinned([]),
            selected={"ids": []},
            no_candidates=False,
            done=True,
            done_heading=heading,
            done_text=text,
            body_style={"display": "none"},
        )
        return out
    fields = project.spec.fields
    hidden = set()
    if blind:
        hidden = {"score", "_why"}
        hidden.update(f"score_{f.name}" for f in fields)
        hidden.update(f"_diff_{f.right}" for f in fields)
        hidden.update(f"_marks_{f.right}" for f in fields)
    # Every row names its record, so the page can tell whose candidates are on screen.
    record = {RECORD_FIELD: view["left_id"]}
    rows = [{**{k: v for k, v in row.items() if k not in hidden}, **record} for row in view["rows"]]
    right_id = project.spec.right_id
    columns = list(project.right.columns)
    pinned = {**view["pinned"], "_right_id": LEFT_ROW_ID, **record}
    defs = candidate_columns(
        columns,
        fields,
        right_id=right_id,
        blind=blind,
        show_scores=show_scores,
        chars=_chars(project, [pinned, *rows]),
    )
    if any(row.get("_taken") for row in rows):
        # Where each right record may be matched once, say which candidates already are.
        taken = {
            "field": "_taken",
            "headerName": "Already matched",
            "editable": False,
            "minWidth": 200,
            "cellClass": "cell-taken",
        }
        defs = [*defs, taken]
    # Most records have the same columns: the grid then keeps its own, unprocessed.
    grid = hashlib.blake2b(json.dumps(defs).encode(), digest_size=8).hexdigest()
    out["view"]["grid"] = grid
    out.update(
        card=record_card(view["left_id"], view["left_rest"]),
        label=f"Record {view.get('number', view['position'] + 1):,} of {view['total']:,}"
        + (f" · {view['note']}" if view.get("note") else ""),
        rows=rows,
        columns=no_update if grid == shown_grid else defs,
        grid_options=_pinned([pinned]),
        selected={"ids": [] if blind else view["selected"]},
        no_candidates=not view["rows"],
        done=False,
        done_heading="",
        done_text="",
        body_style={},
    )
    return out


def update_review(
    project_id,
    reviewer,
    selected_rows,
    edits,
    view,
    session=None,
    *,
    services: Services,
    trigger,
    tab: str = "review",
    blind: bool = False,
    show_scores: bool = False,
    audit: bool = False,
    reason=None,
    comment=None,
    shown=None,
) -> dict:
    """Decode the trigger, take the step through the review desk, render the record to show.

    ``shown`` is the candidate grid's ``eventData``: the record whose rows it
    held when the key was pressed (see :func:`shown_record`). With ``audit``
    on, the reviewer is served the records drawn for audits, blind, and their
    answers are recorded as verdicts that change no decision.
    """
    project = services.project(project_id if isinstance(project_id, str) else None)
    if project is None:
        return _empty(None)
    if trigger == ids.TABS and tab != "review":
        raise PreventUpdate
    saved, session_message = decode_session(session, project.project_id)
    who, role = services.actor(reviewer)
    request = PageRequest(
        who,
        role,
        _ASKS.get(trigger, "redraw"),
        **_decode_page(view, shown, selected_rows, edits),
        reason=reason,
        comment=comment,
        saved=saved.get(project.project_id),
        audit=audit,
    )
    step = services.desk(project).page.answer(request)
    if step is None:
        raise PreventUpdate
    out = _page(project, step, request, saved, session_message, blind, show_scores)
    if trigger == ids.SHOW_SCORES and step.view.get("left_id") == request.view.get("left_id"):
        out.update(rows=no_update, selected=no_update)  # keep the reviewer's ticks and edits
    return out


def _decode_page(view, shown, selected_rows, edits) -> dict:
    """The page's view, the record its grid showed, the ticked rows and their edits."""
    view = view if isinstance(view, dict) else {}
    return {
        "view": view,
        "shown": shown_record(shown),
        "right_ids": tuple(_selected_ids(selected_rows)),
        "edits": _edits_for(edits, view.get("left_id")),
    }


def _page(project, step, request, saved, session_message, blind, show_scores) -> dict:
    """The outputs for the desk's answer ``step`` to ``request``."""
    fresh, message = step.view, session_message or step.message
    color = "warning" if step.ok else "danger"
    if request.audit:
        return _audit_page(render(project, fresh, message, color, blind=True), fresh)
    out = render(
        project, fresh, message, color, blind=blind, show_scores=show_scores, shown=request.view
    )
    if request.action in ACTIONS.values() and step.written:
        out.update(reason=None, comment="")  # a reason goes with one decision
    if fresh.get("left_id") is not None:
        saved = dict(saved)
        saved[project.project_id] = {k: fresh[k] for k in ("left_id", "position")}
        out["session"] = saved
    return out


def _audit_page(out: dict, fresh: dict) -> dict:
    """An audit's page: its own label, and what is left to audit when nothing is."""
    if fresh.get("left_id") is None:
        left = fresh.get("audit_open", 0)
        out["done_heading"] = "No audit records for you right now."
        out["done_text"] = (
            f"{left:,} drawn records are open with other auditors."
            if left
            else "Every drawn record has a verdict; the Tuning tab shows what the audits "
            "found. Turn Audit off to go back to the queue."
        )
    else:
        out["label"] = (
            f"Audit: record {fresh.get('number', fresh['position'] + 1):,} of {fresh['total']:,}"
            f" · {fresh['audit_open']:,} drawn records to check"
        )
    return out


# A row names its record: an edit made while the grid still held another record's rows
# is kept for that record, not for the one in the card.
_COLLECT_EDITS = """
function(changes, edits, view) {
    if (!changes || !view || !view.left_id) { return window.dash_clientside.no_update; }
    const out = Object.assign({}, edits || {});
    for (const c of changes) {
        const record = (c.data && c.data[RECORD]) || view.left_id;
        const mine = Object.assign({}, out[record] || {});
        mine[c.rowId] = Object.assign({}, mine[c.rowId] || {});
        mine[c.rowId][c.colId] = c.value == null ? "" : String(c.value);
        out[record] = mine;
    }
    return out;
}
""".replace("RECORD", json.dumps(RECORD_FIELD))

_HIDE_OTHER_RECORDS = """
function(shown, view) {
    window.tellShownRecord();
    const record = shown && shown.data ? shown.data.record : null;
    const pending = !!(view && view.left_id) && record !== view.left_id;
    return pending ? "candidates candidates-pending" : "candidates";
}
"""


def show_reasons(services: Services, project_id) -> list[dict]:
    """The reason choices of the project (its lead's list, or the defaults), numbered."""
    project = services.project(project_id if isinstance(project_id, str) else None)
    if project is None:
        return []
    return reason_options(services.desk(project).settings().reasons)


def register(app) -> None:
    services = services_of(app)

    def record_decision(
        project_id,
        reviewer,
        tab,
        clicks,
        selected_rows,
        edits,
        view,
        session,
        blind,
        scores,
        audit,
        reason,
        comment,
        shown,
    ):
        return update_review(
            project_id,
            reviewer,
            selected_rows,
            edits,
            view,
            session,
            services=services,
            trigger=ctx.triggered_id,
            tab=tab,
            blind=blind is True,
            show_scores=scores is True,
            audit=audit is True,
            reason=reason,
            comment=comment,
            shown=shown,
        )

    app.callback(
        output=OUTPUTS,
        inputs={
            "project_id": Input(ids.PROJECT_SELECT, "value"),
            "reviewer": Input(ids.REVIEWER, "value"),
            "tab": Input(ids.TABS, "active_tab"),
            "clicks": [
                Input(ids.ACCEPT, "n_clicks"),
                Input(ids.REJECT, "n_clicks"),
                Input(ids.SKIP, "n_clicks"),
                Input(ids.UNDO, "n_clicks"),
                Input(ids.REVIEW_SKIPPED, "n_clicks"),
            ],
            "blind": Input(ids.BLIND, "value"),
            "scores": Input(ids.SHOW_SCORES, "value"),
            "audit": Input(ids.AUDIT_MODE, "value"),
            "selected_rows": State(ids.CANDIDATE_GRID, "selectedRows"),
            "edits": State(ids.EDITS_STORE, "data"),
            "view": State(ids.VIEW_STORE, "data"),
            "session": State(ids.SESSION_STORE, "data"),
            "reason": State(ids.REASON, "value"),
            "comment": State(ids.COMMENT, "value"),
            "shown": State(ids.CANDIDATE_GRID, "eventData"),
        },
    )(record_decision)

    def reasons_callback(project_id, _tab, _saved):
        return show_reasons(services, project_id)

    app.callback(
        Output(ids.REASON, "options"),
        Input(ids.PROJECT_SELECT, "value"),
        Input(ids.TABS, "active_tab"),
        Input(ids.REASONS_SAVED, "children"),
    )(reasons_callback)

    app.clientside_callback(
        _COLLECT_EDITS,
        Output(ids.EDITS_STORE, "data"),
        Input(ids.CANDIDATE_GRID, "cellValueChanged"),
        State(ids.EDITS_STORE, "data"),
        State(ids.VIEW_STORE, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        _HIDE_OTHER_RECORDS,
        Output(ids.CANDIDATES_FRAME, "className"),
        Input(ids.CANDIDATE_GRID, "eventData"),
        Input(ids.VIEW_STORE, "data"),
    )
    app.clientside_callback(
        "function(n) { return n ? 'matched' : window.dash_clientside.no_update; }",
        Output(ids.TABS, "active_tab"),
        Input(ids.GO_MATCHED, "n_clicks"),
        prevent_initial_call=True,
    )
