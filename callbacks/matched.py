"""Matched tab: the accepted matches from the log, removal and its undo, exports."""

from __future__ import annotations

import json

from dash import Input, Output, State, ctx, no_update

from components.ids import ids
from components.matched import matched_columns, record_columns
from matching.decisions.evidence import with_verdict_values
from matching.decisions.matched import (
    MatchedTable,
    conflict_rows,
    matched_columns_of,
    matched_count,
    page_of,
    page_order,
)
from matching.engine.project import Project
from server.export import export_script
from server.services import Services, services_of

__all__ = [
    "register",
    "remove_matches",
    "update_matched",
    "matched_rows",
    "update_conflicts",
    "update_adjudication",
    "update_matched_tab",
    "MATCHED_OUTPUTS",
    "TAB_OUTPUTS",
]

#: The Matched tab callback's outputs, by name.
MATCHED_OUTPUTS = {
    "columns": Output(ids.MATCHED_GRID, "columnDefs"),
    "summary": Output(ids.MATCHED_SUMMARY, "children"),
    "store": Output(ids.MATCHED_STORE, "data"),
    "options": Output(ids.MATCHED_COLUMNS, "options"),
}

# After a removal or undo the grid's cached blocks are stale: ask for them again.
_REFRESH_GRID = """
function(store, gridId) {
    if (store) {
        dash_ag_grid.getApiAsync(gridId).then(api => api.purgeInfiniteCache());
    }
}
"""

#: Export button -> the file the export route serves (``kind.format``).
EXPORT_BUTTONS = {
    ids.EXPORT_CSV: "matches.csv",
    ids.EXPORT_EXCEL: "matches.xlsx",
    ids.EXPORT_PARQUET: "matches.parquet",
    ids.EXPORT_RECORD_CSV: "record.csv",
    ids.EXPORT_RECORD_EXCEL: "record.xlsx",
    ids.EXPORT_RECORD_PARQUET: "record.parquet",
    ids.EXPORT_LOG_JSONL: "log.jsonl",
    ids.EXPORT_LOG_PARQUET: "log.parquet",
}


def remove_matches(
    services: Services, project: Project, reviewer: str, rows: list[dict], role: str = "admin"
) -> str | None:
    """Take the selected rows' pairs out of the matches; returns a message when refused.

    The review desk checks each pair is recorded and the reviewer may change
    its decision; a repeated click finds the pairs gone and records nothing.
    """
    pairs = [
        (str(r["left_id"]), str(r["right_id"]))
        for r in (rows if isinstance(rows, list) else [])
        if isinstance(r, dict) and "left_id" in r and "right_id" in r
    ]
    outcome = services.desk(project).matches.unmatch(reviewer, pairs, role=role)
    return outcome.message


def update_matched(
    services: Services, project_id, tab, trigger, selected, reviewer, seen, chosen=None
) -> dict:
    """Apply a removal or undo, then describe the matched table.

    ``seen`` is what the page's Undo would revert (the server said so when it
    drew the page); ``chosen`` the record columns to show. The rows themselves
    are sent a block at a time by :func:`matched_rows`.
    """
    skip = dict.fromkeys(MATCHED_OUTPUTS, no_update)
    project = services.project(project_id if isinstance(project_id, str) else None)
    if project is None:
        return {"columns": [], "summary": "", "store": None, "options": []}
    acting = trigger in (ids.MATCHED_REMOVE, ids.MATCHED_UNDO)
    if tab != "matched" and not acting:
        return skip
    who, role = services.actor(reviewer)
    desk = services.desk(project)
    message = ""
    if trigger == ids.MATCHED_REMOVE:
        if not selected:
            message = "Select the rows to remove first. "
        else:
            refused = remove_matches(services, project, who, selected, role)
            message = (refused or f"Removed {len(selected)}.") + " "
    elif trigger == ids.MATCHED_UNDO:
        target = seen.get("undo_target") if isinstance(seen, dict) else None
        outcome = desk.undo(who, role=role, target=target)
        message = (outcome.message or "Undone.") + " "
    # The count and the columns, not the table: the grid asks for its rows itself.
    count = desk.memo("matched-count", matched_count)
    ledger = desk.refresh()
    columns = matched_columns_of(project)
    return {
        "columns": matched_columns(columns, chosen if isinstance(chosen, list) else None),
        "summary": f"{message}{count:,} accepted pair{'' if count == 1 else 's'}",
        "store": {"undo_target": ledger.undo_target(who), "version": ledger.last_seq},
        "options": record_columns(columns),
    }


def matched_rows(services: Services, project_id, request) -> dict:
    """One block of matched rows for the grid, sorted and filtered on the server."""
    project = services.project(project_id if isinstance(project_id, str) else None)
    if project is None or not isinstance(request, dict):
        return {"rowData": [], "rowCount": 0}
    table = _matched_table(services.desk(project), project)
    try:
        start, end = int(request.get("startRow", 0)), int(request.get("endRow", 100))
    except (TypeError, ValueError):
        start, end = 0, 100
    sort_model, filter_model = request.get("sortModel"), request.get("filterModel")
    try:
        asked = json.dumps([sort_model, filter_model], sort_keys=True)
    except (TypeError, ValueError):  # not what the grid sends: nothing sorted or filtered
        sort_model = filter_model = None
        asked = "[null, null]"
    order = table.order(
        asked, lambda: page_order(table, sort_model=sort_model, filter_model=filter_model)
    )
    return {"rowData": page_of(table, order, start=start, end=end), "rowCount": len(order)}


def _matched_table(desk, project: Project) -> MatchedTable:
    return desk.memo("matched", lambda ledger: MatchedTable.of_ledger(project, ledger))


#: Conflict button -> what the lead keeps: the selected record, all of them, or none.
RESOLUTIONS = {
    ids.CONFLICT_KEEP: "selected",
    ids.CONFLICT_KEEP_ALL: "*",
    ids.CONFLICT_SEND_BACK: None,
}

CONFLICT_OUTPUTS = {
    "rows": Output(ids.CONFLICT_GRID, "rowData"),
    "summary": Output(ids.CONFLICT_SUMMARY, "children"),
    "cardinality": Output(ids.CARDINALITY, "value"),
}


def update_conflicts(
    services: Services, project_id, tab, trigger, selected, reviewer, cardinality
) -> dict:
    """Resolve the selected conflict or save how records pair, then list the conflicts."""
    project = services.project(project_id if isinstance(project_id, str) else None)
    if project is None:
        return {"rows": [], "summary": "", "cardinality": None, "done": no_update}
    acting = trigger in RESOLUTIONS or trigger == ids.CARDINALITY
    if tab != "matched" and not acting:
        return dict.fromkeys(CONFLICT_OUTPUTS, no_update)
    who, role = services.actor(reviewer)
    desk = services.desk(project)
    message, done = "", no_update
    if trigger == ids.CARDINALITY and cardinality != desk.cardinality():
        message = desk.choices.set_cardinality(cardinality, role=role).message + " "
    elif trigger in RESOLUTIONS:
        row = selected[0] if isinstance(selected, list) and selected else None
        if not isinstance(row, dict) or "right_id" not in row:
            message = "Select a conflict first. "
        else:
            keep = RESOLUTIONS[trigger]
            keep = str(row.get("left_id")) if keep == "selected" else keep
            outcome = desk.matches.resolve_conflict(who, str(row["right_id"]), keep, role=role)
            message = (outcome.message or "Resolved; Undo on this tab reverts it.") + " "
            done = {"written": outcome.written, "version": desk.refresh().last_seq}
    conflicts = desk.matches.conflicts()
    count = len(conflicts)
    summary = (
        "No conflicts."
        if not count
        else f"{count:,} right record{'s are' if count > 1 else ' is'} matched to more than "
        "one left record. A lead keeps one, keeps all as exceptions, or sends them back."
    )
    return {
        "rows": conflict_rows(project, desk.refresh(), conflicts),
        "summary": message + summary,
        "cardinality": desk.cardinality(),
        "done": done,
    }


ADJUDICATION_OUTPUTS = {
    "rows": Output(ids.ADJUDICATION_GRID, "rowData"),
    "summary": Output(ids.ADJUDICATION_SUMMARY, "children"),
}

#: Adjudication button -> which review stands.
KEEPS = {ids.KEEP_FIRST: "first", ids.KEEP_SECOND: "second"}


def update_adjudication(services: Services, project_id, tab, trigger, selected, reviewer) -> dict:
    """Settle the selected disagreement when a lead asks, then list those left."""
    project = services.project(project_id if isinstance(project_id, str) else None)
    if project is None:
        return {"rows": [], "summary": "", "done": no_update}
    if tab != "matched" and trigger not in KEEPS:
        return dict.fromkeys(ADJUDICATION_OUTPUTS, no_update)
    desk = services.desk(project)
    message, done = "", no_update
    if trigger in KEEPS:
        row = selected[0] if isinstance(selected, list) and selected else None
        if not isinstance(row, dict) or "left_id" not in row:
            message = "Select a record first. "
        else:
            who, role = services.actor(reviewer)
            outcome = desk.audits.adjudicate(who, str(row["left_id"]), KEEPS[trigger], role=role)
            message = (outcome.message or "Settled; Undo on this tab reverts it.") + " "
            done = {"written": outcome.written}
    rows = with_verdict_values(project, desk.audits.adjudication())
    count = len(rows)
    summary = (
        "No disagreements between first and second reviews."
        if not count
        else f"{count:,} double-reviewed record{'s' if count > 1 else ''} where the two "
        "reviews disagree. A lead keeps one of them."
    )
    return {"rows": rows, "summary": message + summary, "done": done}


#: Every output of the Matched tab, by name: the matched table's, the Conflicts
#: panel's (``conflicts_…``) and the Adjudication panel's (``adjudication_…``).
TAB_OUTPUTS = {
    **MATCHED_OUTPUTS,
    **{f"conflicts_{k}": v for k, v in CONFLICT_OUTPUTS.items()},
    **{f"adjudication_{k}": v for k, v in ADJUDICATION_OUTPUTS.items()},
}


def update_matched_tab(services: Services, trigger, values: dict) -> dict:
    """One action on the Matched tab, then its three panels drawn from the same state.

    The action is whichever ``trigger`` names: remove or undo (the matched table),
    resolve a conflict or change how records pair (Conflicts), settle a
    disagreement (Adjudication). Each panel is then drawn again, so each shows
    every action's effect: an Undo brings back the conflict it reverted. On the
    tab's clock (``ids.MATCHED_TICK``) nothing is done and the panels are drawn
    only when the log has moved since the page was drawn (decisions made
    elsewhere). ``values`` holds the callback's inputs and states by name.
    """
    project_id, tab, seen = values["project_id"], values["tab"], values["seen"]
    if trigger == ids.MATCHED_TICK:
        project = services.project(project_id if isinstance(project_id, str) else None)
        version = services.desk(project).refresh().last_seq if project else None
        if tab != "matched" or (isinstance(seen, dict) and seen.get("version") == version):
            return dict.fromkeys(TAB_OUTPUTS, no_update)
        trigger = None
    reviewer = values["reviewer"]

    def matched(acting) -> dict:
        return update_matched(
            services,
            project_id,
            tab,
            acting,
            values["matched_selected"],
            reviewer,
            seen,
            values["chosen"],
        )

    def conflicts(acting) -> dict:
        out = update_conflicts(
            services,
            project_id,
            tab,
            acting,
            values["conflict_selected"],
            reviewer,
            values["cardinality"],
        )
        return {f"conflicts_{k}": out[k] for k in CONFLICT_OUTPUTS}

    def adjudication(acting) -> dict:
        out = update_adjudication(
            services, project_id, tab, acting, values["adjudication_selected"], reviewer
        )
        return {f"adjudication_{k}": out[k] for k in ADJUDICATION_OUTPUTS}

    panels = [matched, conflicts, adjudication]
    if trigger in RESOLUTIONS or trigger == ids.CARDINALITY:
        panels = [conflicts, matched, adjudication]
    elif trigger in KEEPS:
        panels = [adjudication, matched, conflicts]
    out = panels[0](trigger)  # the one that acts, first; the others draw what it did
    for panel in panels[1:]:
        out.update(panel(None))
    return out


def register(app) -> None:
    services = services_of(app)

    def describe_matched_tab(**values):
        return update_matched_tab(services, ctx.triggered_id, values)

    app.callback(
        output=TAB_OUTPUTS,
        inputs={
            "project_id": Input(ids.PROJECT_SELECT, "value"),
            "tab": Input(ids.TABS, "active_tab"),
            "remove": Input(ids.MATCHED_REMOVE, "n_clicks"),
            "undo": Input(ids.MATCHED_UNDO, "n_clicks"),
            "chosen": Input(ids.MATCHED_COLUMNS, "value"),
            "resolve": [Input(button, "n_clicks") for button in RESOLUTIONS],
            "cardinality": Input(ids.CARDINALITY, "value"),
            "keep": [Input(button, "n_clicks") for button in KEEPS],
            "tick": Input(ids.MATCHED_TICK, "n_intervals"),
        },
        state={
            "matched_selected": State(ids.MATCHED_GRID, "selectedRows"),
            "conflict_selected": State(ids.CONFLICT_GRID, "selectedRows"),
            "adjudication_selected": State(ids.ADJUDICATION_GRID, "selectedRows"),
            "reviewer": State(ids.REVIEWER, "value"),
            "seen": State(ids.MATCHED_STORE, "data"),
        },
    )(describe_matched_tab)

    app.clientside_callback(
        "function(tab) { return tab !== 'matched'; }",
        Output(ids.MATCHED_TICK, "disabled"),
        Input(ids.TABS, "active_tab"),
    )

    def send_matched_rows(request, project_id):
        return matched_rows(services, project_id, request)

    app.callback(
        Output(ids.MATCHED_GRID, "getRowsResponse"),
        Input(ids.MATCHED_GRID, "getRowsRequest"),
        State(ids.PROJECT_SELECT, "value"),
        prevent_initial_call=True,
    )(send_matched_rows)

    app.clientside_callback(
        _REFRESH_GRID,
        Input(ids.MATCHED_STORE, "data"),
        State(ids.MATCHED_GRID, "id"),
        prevent_initial_call=True,
    )

    app.clientside_callback(
        export_script(EXPORT_BUTTONS),
        Output(ids.EXPORT_MESSAGE, "children"),
        Output(ids.EXPORT_MESSAGE, "className"),
        [Input(button, "n_clicks") for button in EXPORT_BUTTONS],
        State(ids.PROJECT_SELECT, "value"),
        prevent_initial_call=True,
    )
