"""Review tab, why this score: a click on a candidate's score draws why it scored as it did."""

from __future__ import annotations

from dash import Input, Output, State, ctx, no_update

from components.ids import ids
from components.why import why_panel
from server.services import Services, services_of

__all__ = ["register", "show_why"]


def show_why(services: Services, project_id, clicked, view, blind, *, trigger) -> object:
    """The why-this-score panel for the clicked score cell of the shown record's grid;
    empty when another record is shown."""
    if trigger == ids.VIEW_STORE:
        return why_panel("", None)
    if not isinstance(clicked, dict) or clicked.get("colId") != "score" or blind:
        return no_update
    if isinstance(view, dict) and view.get("audit"):
        return no_update  # an audit is judged blind
    project = services.project(project_id if isinstance(project_id, str) else None)
    left_id = view.get("left_id") if isinstance(view, dict) else None
    if project is None or not isinstance(left_id, str):
        return why_panel("", None)
    right_id = clicked.get("rowId")
    parts = services.desk(project).learning.why(left_id, right_id)
    return why_panel(str(right_id), parts)


def register(app) -> None:
    services = services_of(app)

    def why_callback(clicked, view, project_id, blind, audit):
        hidden = bool(blind) or bool(audit)  # judged without the machine's opinion
        return show_why(services, project_id, clicked, view, hidden, trigger=ctx.triggered_id)

    app.callback(
        Output(ids.WHY_PANEL, "children"),
        Input(ids.CANDIDATE_GRID, "cellClicked"),
        Input(ids.VIEW_STORE, "data"),
        State(ids.PROJECT_SELECT, "value"),
        State(ids.BLIND, "value"),
        State(ids.AUDIT_MODE, "value"),
        prevent_initial_call=True,
    )(why_callback)
