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
from components.review import candidate_columns, reason_options, record_card, typical_chars
from matching.decisions.events import DEFAULT_REASONS
from matching.engine.project import Project
from server.services import Services, services_of

__all__ = [
    "register",
    "current_view",
    "update_review",
    "decode_session",
    "position_problem",
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
_MISFIT_STORE = (
    "The position kept in this browser did not fit this project; the page resumed where the "
    "decision log says."
)


def current_view(
    services: Services, project: Project, reviewer: str, *, restart: bool = False
) -> dict:
    """The record ``reviewer`` should see now, leased to them (see ``ReviewDesk.next_view``)."""
    _, role = services.actor(reviewer)
    return services.desk(project).next_view(reviewer, restart=restart, role=role)


def position_problem(project: Project, saved) -> str | None:
    """Why a position kept by the page does not fit the project, or None when it does."""
    if not isinstance(saved, dict):
        return "The page's position could not be read; nothing was recorded."
    left_id, position = saved.get("left_id"), saved.get("position")
    if not isinstance(left_id, str) or left_id not in project.left_pos:
        return "The page named a record this project does not have; nothing was recorded."
    if type(position) is not int or not 0 <= position < len(project.queue):
        return "The page's position is out of range for this project; nothing was recorded."
    if project.queue[position] != left_id:
        return "The page's position does not match its record; nothing was recorded."
    return None


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
    rows = view["rows"]
    if blind:
        hidden = {"score"}
        hidden.update(f"score_{f.name}" for f in fields)
        hidden.update(f"_diff_{f.right}" for f in fields)
        hidden.update(f"_marks_{f.right}" for f in fields)
        rows = [{k: v for k, v in row.items() if k not in hidden} for row in rows]
    right_id = project.spec.right_id
    columns = list(project.right.columns)
    pinned = {**view["pinned"], "_right_id": LEFT_ROW_ID}
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
        label=f"Record {view['position'] + 1:,} of {view['total']:,}"
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
) -> dict:
    """Decode the trigger, act through the review desk, render the record to show next.

    With ``audit`` on, the reviewer is served the records drawn for audits,
    blind, and their answers are recorded as verdicts that change no decision.
    """
    project = services.project(project_id if isinstance(project_id, str) else None)
    if project is None:
        return _empty(None)
    who, role = services.actor(reviewer)
    view = view if isinstance(view, dict) and view.get("project_id") == project_id else None
    previous = view.get("reviewer") if view else None
    desk = services.desk(project)
    if trigger == ids.REVIEWER and previous == who:
        raise PreventUpdate  # the name did not change: keep the reviewer's ticks
    if trigger == ids.TABS and (tab != "review" or desk.still_showing(who, view)):
        raise PreventUpdate
    if trigger == ids.REVIEWER and previous and previous != who:
        desk.release(previous)  # the record stays free for whoever types their name next
    if audit:
        return _audit_step(desk, project, who, role, trigger, view, selected_rows)
    saved, message = decode_session(session, project.project_id)
    color = "warning"
    outcome = None
    if trigger in ACTIONS and view:
        kind = ACTIONS[trigger]
        if kind == "undo":
            outcome = desk.undo(who, role=role, target=view.get("undo_target"))
        elif problem := position_problem(project, view):
            outcome = None
            message = problem
        else:
            outcome = desk.decide(
                who,
                view,
                kind,
                _selected_ids(selected_rows),
                _edits_for(edits, view["left_id"]),
                reason_text(reason, comment, project_reasons(services, project)),
                role=role,
            )
        if outcome is not None:
            message, color = outcome.message, "warning" if outcome.ok else "danger"
            fresh = outcome.view
        else:
            fresh = desk.next_view(who, role=role)
    else:
        reload = trigger in (None, ids.PROJECT_SELECT) and project.project_id in saved
        if reload and position_problem(project, saved[project.project_id]):
            message = message or _MISFIT_STORE
        fresh = desk.next_view(who, restart=trigger == ids.REVIEW_SKIPPED, role=role)
    out = render(project, fresh, message, color, blind=blind, show_scores=show_scores, shown=view)
    if trigger in ACTIONS and outcome is not None and outcome.written:
        out.update(reason=None, comment="")  # a reason goes with one decision
    if trigger == ids.SHOW_SCORES and view and fresh.get("left_id") == view.get("left_id"):
        out.update(rows=no_update, selected=no_update)  # keep the reviewer's ticks and edits
    if fresh.get("left_id") is not None:
        saved = dict(saved)
        saved[project.project_id] = {k: fresh[k] for k in ("left_id", "position")}
        out["session"] = saved
    return out


def project_reasons(services: Services, project: Project) -> list[str]:
    """The reasons a project offers (its own list, or the defaults)."""
    record = services.log.project(project.project_id) or {"meta": {}}
    reasons = record["meta"].get("reasons")
    if isinstance(reasons, list) and reasons and all(isinstance(r, str) for r in reasons):
        return reasons[:9]
    return list(DEFAULT_REASONS)


def reason_text(reason, comment, allowed: list[str]) -> str | None:
    """What is kept with a decision: ``"reason — comment"``, either part alone, or None.

    A reason the project does not offer is dropped (the page sent it); a comment
    is cut to 500 characters.
    """
    chosen = reason if isinstance(reason, str) and reason in allowed else ""
    note = comment.strip()[:500] if isinstance(comment, str) else ""
    if chosen and note:
        return f"{chosen} — {note}"
    if note:
        return f"— {note}"
    return chosen or None


def _audit_step(desk, project: Project, who: str, role: str, trigger, view, selected_rows) -> dict:
    """One step of a blind audit: record the verdict asked for, show the next drawn record."""
    message, color = None, "warning"
    if trigger in ACTIONS and view and view.get("audit"):
        kind = ACTIONS[trigger]
        if kind == "undo":
            outcome = desk.undo(who, role=role, target=view.get("undo_target"))
            fresh = desk.audits.next_audit_view(who, role=role)
        else:
            outcome = desk.audits.record_verdict(
                who, view, kind, _selected_ids(selected_rows), role=role
            )
            fresh = outcome.view
        message, color = outcome.message, "warning" if outcome.ok else "danger"
    else:
        fresh = desk.audits.next_audit_view(who, role=role)
    out = render(project, fresh, message, color, blind=True)
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
            f"Audit: record {fresh['position'] + 1:,} of {fresh['total']:,}"
            f" · {fresh['audit_open']:,} drawn records to check"
        )
    return out


_COLLECT_EDITS = """
function(changes, edits, view) {
    if (!changes || !view || !view.left_id) { return window.dash_clientside.no_update; }
    const out = Object.assign({}, edits || {});
    const mine = Object.assign({}, out[view.left_id] || {});
    for (const c of changes) {
        const rid = c.rowId;
        mine[rid] = Object.assign({}, mine[rid] || {});
        mine[rid][c.colId] = c.value == null ? "" : String(c.value);
    }
    out[view.left_id] = mine;
    return out;
}
"""


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
        },
    )(record_decision)

    def show_reasons(project_id):
        project = services.project(project_id if isinstance(project_id, str) else None)
        return reason_options(project_reasons(services, project) if project else [])

    app.callback(Output(ids.REASON, "options"), Input(ids.PROJECT_SELECT, "value"))(show_reasons)

    app.clientside_callback(
        _COLLECT_EDITS,
        Output(ids.EDITS_STORE, "data"),
        Input(ids.CANDIDATE_GRID, "cellValueChanged"),
        State(ids.EDITS_STORE, "data"),
        State(ids.VIEW_STORE, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        "function(n) { return n ? 'matched' : window.dash_clientside.no_update; }",
        Output(ids.TABS, "active_tab"),
        Input(ids.GO_MATCHED, "n_clicks"),
        prevent_initial_call=True,
    )
