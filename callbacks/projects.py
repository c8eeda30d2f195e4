"""Named projects in the page: the Data panel's project name, re-running the open project
from its stored tables, and the project each user reopens."""

from __future__ import annotations

from dash import Input, Output, State, no_update

from components.data import ONE_TABLE, SIDES, uploads_in_mode
from components.ids import ids
from matching.decisions.roles import PermissionDenied, require
from matching.decisions.versions import clean_name, default_name, is_header, next_version
from server.services import Services, services_of

__all__ = ["register", "proposed_name", "name_note", "rerun_tables", "remember_project"]


def proposed_name(services: Services, uploads: object, mode: object) -> str | None:
    """The name the panel proposes for its tables: a re-run's project's name; for uploads,
    the name of the latest project whose tables had the same columns (new versions of
    its tables make its next version), else the file names. From the page's copy (only
    a proposal, typed over at will); None when the tables are not all there."""
    uploads = uploads_in_mode(uploads, mode)
    if not all(isinstance(uploads.get(s), dict) for s in SIDES):
        return None
    stored = uploads["left"].get("project")
    record = services.log.project(stored) if isinstance(stored, str) else None
    if record is not None:
        return record["name"]
    columns = [uploads[s].get("columns") for s in SIDES]
    if all(isinstance(c, list) for c in columns):
        earlier = services.name_for_columns(*columns)
        if earlier is not None:  # new versions of that project's tables
            return earlier
    names = [str(uploads[s].get("name") or s) for s in SIDES]
    return default_name(*names, one_table=mode == ONE_TABLE)


def name_note(services: Services, name: object) -> str:
    """What a Run under ``name`` makes: a new project, or the next version of one."""
    try:
        name = clean_name(name)
    except ValueError as exc:
        return f"⚠ {str(exc).capitalize()}." if name else ""
    projects = services.log.projects()
    version = next_version(projects, name)
    if version == 1:
        return "Run makes a new project of this name."
    return (
        f"Run makes version {version} of this project; decisions on records whose values "
        "and candidates are unchanged are carried over."
    )


def rerun_tables(services: Services, project_id: object) -> dict:
    """The open project's stored tables in the panel, for a lead to change the set-up and
    Run its next version; or a message saying why not.

    Returns the panel's uploads (each side naming the project's table, which the
    server checks again at Run), the words under each upload, the proposal store
    (which tells the panel to fill in the project's own set-up) and the message.
    """
    out = dict.fromkeys(("uploads", "left_info", "right_info", "proposal"), no_update)
    try:
        require(services.actor(None)[1], "rerun_project")
        record = services.log.project(project_id) if isinstance(project_id, str) else None
        if record is None or record["settings"].spec is None:
            raise ValueError("open a project first")
        sides = ("left",) if record["settings"].spec.one_table else SIDES
        uploads = {}
        for side in sides:
            info, _ = services.uploaded({"project": project_id, "side": side})
            uploads[side] = {"project": project_id, "side": side, **info}
    except (ValueError, OSError, PermissionDenied) as exc:
        return out | {"message": f"Could not re-run: {exc}", "color": "danger", "is_open": True}
    words = {
        side: f"{info['name']}: {info['rows']:,} rows, kept with the project"
        for side, info in uploads.items()
    }
    return out | {
        "uploads": uploads,
        "left_info": words["left"],
        "right_info": words.get("right", no_update),
        "proposal": {"source": "project", "project": project_id},
        "message": (
            f"The tables and set-up of {record['name']} are loaded: change the set-up and"
            " Run to make its next version."
        ),
        "color": "info",
        "is_open": True,
    }


def remember_project(services: Services, project_id: object) -> None:
    """Keep the project the signed-in user opened, to reopen it in their next page (in
    open mode, with no users, nothing is kept)."""
    user = services.signed_in()
    if user is None or not isinstance(project_id, str) or is_header(project_id):
        return
    if services.log.project(project_id) is not None:
        services.users.remember_project(user[0], project_id)


def register(app) -> None:
    services = services_of(app)

    def propose_name(uploads, mode):
        return proposed_name(services, uploads, mode) or no_update

    app.callback(
        Output(ids.PROJECT_NAME, "value"),
        Input(ids.UPLOAD_STORE, "data"),
        Input(ids.DATA_MODE, "value"),
        prevent_initial_call=True,
    )(propose_name)

    def describe_name(name):
        return name_note(services, name)

    app.callback(Output(ids.PROJECT_NAME_NOTE, "children"), Input(ids.PROJECT_NAME, "value"))(
        describe_name
    )

    def load_for_rerun(_n, project_id):
        return rerun_tables(services, project_id)

    app.callback(
        output={
            "uploads": Output(ids.UPLOAD_STORE, "data", allow_duplicate=True),
            "left_info": Output(ids.UPLOAD_LEFT_INFO, "children", allow_duplicate=True),
            "right_info": Output(ids.UPLOAD_RIGHT_INFO, "children", allow_duplicate=True),
            "proposal": Output(ids.PROPOSAL_STORE, "data", allow_duplicate=True),
            "message": Output(ids.DATA_MESSAGE, "children", allow_duplicate=True),
            "color": Output(ids.DATA_MESSAGE, "color", allow_duplicate=True),
            "is_open": Output(ids.DATA_MESSAGE, "is_open", allow_duplicate=True),
        },
        inputs=[Input(ids.RERUN_PROJECT, "n_clicks"), State(ids.PROJECT_SELECT, "value")],
        prevent_initial_call=True,
    )(load_for_rerun)

    def remember(project_id):
        remember_project(services, project_id)

    app.callback(Input(ids.PROJECT_SELECT, "value"), prevent_initial_call=True)(remember)
