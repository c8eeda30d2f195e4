"""Review tab: show the current record, record decisions, undo.

``update_review`` is the single writer of the review view. It decodes the
trigger, records the action through :func:`apply_action` and renders what
:func:`current_view` returns.
"""

from __future__ import annotations

from dash import Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

from callbacks.services import Services, services_of
from components.ids import ids
from components.review import candidate_columns, record_card
from matching.project import Project, record_view
from matching.review import make_event, next_record, undo_target, validate_event

__all__ = ["register", "current_view", "apply_action", "update_review", "ACTIONS"]

#: Button id -> event kind.
ACTIONS = {ids.ACCEPT: "accept", ids.REJECT: "reject", ids.SKIP: "skip", ids.UNDO: "undo"}


def reviewer_name(value: str | None) -> str:
    return (value or "").strip() or "anonymous"


def current_view(
    services: Services, project: Project, reviewer: str, *, restart: bool = False
) -> dict:
    """The record ``reviewer`` should see now, with its candidates, as JSON-safe data."""
    log = services.log
    state = log.state(project.project_id)
    busy = set(log.busy_records(project.project_id, reviewer))
    view = {
        "project_id": project.project_id,
        "version": state.version,
        "total": len(project.queue),
        "decided": len(state.decisions),
        "skipped": len(state.skipped),
        "left_id": None,
        "reviewer": reviewer,
    }
    for _ in range(20):
        pos = next_record(state, project.queue, reviewer, busy=busy, restart=restart)
        if pos is None:
            return view
        left_id = project.queue[pos]
        if log.acquire_lease(
            project.project_id, left_id, reviewer, ttl=services.config.lease_seconds
        ):
            th = services.thresholds(project)
            view.update(record_view(project, left_id, keep=th["keep"], select=th["select"]))
            view["position"] = pos
            return view
        busy.add(left_id)
    return view


def position_problem(project: Project, saved: dict) -> str | None:
    """Why a position kept by the browser does not fit the project, or None when it does."""
    left_id, position = saved.get("left_id"), saved.get("position")
    if left_id not in project.left_pos:
        return "The page named a record this project does not have; nothing was recorded."
    if not isinstance(position, int) or not 0 <= position < len(project.queue):
        return "The page's position is out of range for this project; nothing was recorded."
    if project.queue[position] != left_id:
        return "The page's position does not match its record; nothing was recorded."
    return None


def apply_action(
    services: Services,
    project: Project,
    reviewer: str,
    kind: str,
    view: dict,
    selected: list[str],
    edits: dict,
) -> str | None:
    """Record one reviewer action; returns a message when it is refused.

    ``view`` is what the browser was showing; the event id is built from it,
    so a double click sends the same id twice and records one event.
    """
    log = services.log
    state = log.state(project.project_id)
    version = view.get("version", 0)
    if kind == "undo":
        target = undo_target(state, reviewer)
        event = make_event(
            "undo", event_id=f"{reviewer}|undo|{version}", reviewer=reviewer, target=target
        )
        proposed: dict = {}
    else:
        left_id = view.get("left_id")
        problem = position_problem(project, view)
        if problem:
            return problem
        cands = project.candidate_rows(left_id)
        proposed = {left_id: cands["right_id"].tolist()}
        scores = dict(zip(cands["right_id"], cands["score"].astype(float)))
        right_ids = selected if kind == "accept" else []
        event = make_event(
            kind,
            event_id=f"{reviewer}|{kind}|{left_id}|{version}",
            reviewer=reviewer,
            left_id=left_id,
            right_ids=right_ids,
            edits={r: e for r, e in (edits or {}).get(left_id, {}).items() if r in right_ids},
            scores=scores,
            thresholds=services.thresholds(project),
        )
    problem = validate_event(event, state, proposed, reviewer)
    if problem:
        return problem
    log.append(project.project_id, event)
    return None


def _render(project: Project | None, view: dict | None, message: str | None) -> tuple:
    if project is None or view is None:
        return (
            [],
            "",
            0,
            "",
            [],
            [],
            {"ids": []},
            False,
            False,
            "",
            {"display": "none"},
            None,
            message or "Open a project with the Data button.",
            True,
        )
    done = view.get("left_id") is None
    total = max(view["total"], 1)
    progress = round(100 * view["decided"] / total)
    progress_label = f"{view['decided']} of {view['total']} decided"
    if done:
        text = f"All {view['total']} records have been handled: {view['decided']} decided" + (
            f", {view['skipped']} skipped and still undecided." if view["skipped"] else "."
        )
        return (
            [],
            "",
            progress,
            progress_label,
            [],
            no_update,
            {"ids": []},
            False,
            True,
            text,
            {"display": "none"},
            view,
            message,
            bool(message),
        )
    label = f"Record {view['position'] + 1} of {view['total']}"
    card = record_card(view["left"], f"Left record {view['left_id']}")
    columns = candidate_columns(
        [c for c in project.right.columns],
        [f.name for f in project.spec.fields],
        [f.right for f in project.spec.fields],
    )
    rows = view["rows"]
    return (
        card,
        label,
        progress,
        progress_label,
        rows,
        columns,
        {"ids": view["selected"]},
        not rows,
        False,
        "",
        {},
        view,
        message,
        bool(message),
    )


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
):
    """Decode the trigger, record the action, render the record to show next."""
    project = services.project(project_id)
    if project is None:
        return (*_render(None, None, None), no_update)
    who = reviewer_name(reviewer)
    message = None
    previous = (view or {}).get("reviewer")
    if trigger == ids.REVIEWER and previous == who:
        raise PreventUpdate  # the name did not change: keep the reviewer's ticks
    if trigger == ids.TABS and (tab != "review" or _still_current(services, project, view)):
        raise PreventUpdate
    if trigger == ids.REVIEWER and previous and previous != who:
        # The record stays free for whoever types their name next.
        services.log.release_leases(project.project_id, previous)
    if trigger in ACTIONS and view and view.get("project_id") == project_id:
        selected = [r["_right_id"] for r in (selected_rows or []) if "_right_id" in r]
        message = apply_action(services, project, who, ACTIONS[trigger], view, selected, edits)
    saved = (session or {}).get(project.project_id)
    if trigger in (None, ids.PROJECT_SELECT) and saved and position_problem(project, saved):
        message = (
            "The position kept in this browser did not fit this project; the page "
            "resumed where the decision log says."
        )
    fresh = current_view(services, project, who, restart=trigger == ids.REVIEW_SKIPPED)
    session = dict(session or {})
    if fresh.get("left_id") is not None:
        session[project.project_id] = {k: fresh[k] for k in ("left_id", "position", "version")}
    return (*_render(project, fresh, message), session)


def _still_current(services: Services, project: Project, view: dict | None) -> bool:
    """True when nothing was decided since ``view`` was drawn (another tab may decide)."""
    if not view or view.get("project_id") != project.project_id:
        return False
    return services.log.state(project.project_id).version == view.get("version")


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

    def callback(project_id, reviewer, tab, *clicks_and_state):
        selected_rows, edits, view, session = clicks_and_state[-4:]
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
        )

    app.callback(
        Output(ids.RECORD_CARD, "children"),
        Output(ids.RECORD_LABEL, "children"),
        Output(ids.PROGRESS, "value"),
        Output(ids.PROGRESS, "label"),
        Output(ids.CANDIDATE_GRID, "rowData"),
        Output(ids.CANDIDATE_GRID, "columnDefs"),
        Output(ids.CANDIDATE_GRID, "selectedRows"),
        Output(ids.NO_CANDIDATES, "is_open"),
        Output(ids.DONE, "is_open"),
        Output(ids.DONE_TEXT, "children"),
        Output(ids.REVIEW_BODY, "style"),
        Output(ids.VIEW_STORE, "data"),
        Output(ids.MESSAGE, "children"),
        Output(ids.MESSAGE, "is_open"),
        Output(ids.SESSION_STORE, "data"),
        Input(ids.PROJECT_SELECT, "value"),
        Input(ids.REVIEWER, "value"),
        Input(ids.TABS, "active_tab"),
        Input(ids.ACCEPT, "n_clicks"),
        Input(ids.REJECT, "n_clicks"),
        Input(ids.SKIP, "n_clicks"),
        Input(ids.UNDO, "n_clicks"),
        Input(ids.REVIEW_SKIPPED, "n_clicks"),
        State(ids.CANDIDATE_GRID, "selectedRows"),
        State(ids.EDITS_STORE, "data"),
        State(ids.VIEW_STORE, "data"),
        State(ids.SESSION_STORE, "data"),
    )(callback)

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
