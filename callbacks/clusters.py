"""Clusters tab: one table's clusters and their conflicts (settled by a lead, with Undo), the
representative record's rules, and the clusters' exports."""

from __future__ import annotations

from dash import ALL, Input, Output, State, ctx, no_update

from components.clusters import cluster_columns, rule_controls
from components.ids import ids, rep_rule
from matching.decisions.clusters import RepresentativeRules
from matching.decisions.roles import PermissionDenied
from server.export import export_script
from server.services import Services, services_of

__all__ = [
    "register",
    "update_clusters",
    "show_clusters_tab",
    "show_rules",
    "save_rules",
    "CLUSTER_OUTPUTS",
    "ACTIONS",
    "CLUSTER_EXPORTS",
]

#: The Clusters tab callback's outputs, by name.
CLUSTER_OUTPUTS = {
    "rows": Output(ids.CLUSTER_GRID, "rowData"),
    "columns": Output(ids.CLUSTER_GRID, "columnDefs"),
    "summary": Output(ids.CLUSTER_SUMMARY, "children"),
    "conflicts": Output(ids.CLUSTER_CONFLICT_GRID, "rowData"),
    "conflict_summary": Output(ids.CLUSTER_CONFLICT_SUMMARY, "children"),
    "store": Output(ids.CLUSTER_STORE, "data"),
}

#: Button -> what the desk does (see matching.desk.clusters.CLUSTER_ACTIONS).
ACTIONS = {ids.CLUSTER_SPLIT: "split", ids.CLUSTER_KEEP: "keep", ids.CLUSTER_UNDO: "undo"}

#: Export item -> the file the export route serves (``kind.format``).
CLUSTER_EXPORTS = {
    ids.EXPORT_CLUSTERS_CSV: "clusters.csv",
    ids.EXPORT_CLUSTERS_EXCEL: "clusters.xlsx",
    ids.EXPORT_REPS_CSV: "representatives.csv",
    ids.EXPORT_REPS_EXCEL: "representatives.xlsx",
    ids.EXPORT_REPS_PARQUET: "representatives.parquet",
}

_EMPTY = {"rows": [], "columns": [], "summary": "", "conflicts": [], "conflict_summary": ""}


def _one_table_project(services: Services, project_id):
    project = services.project(project_id if isinstance(project_id, str) else None)
    return project if project is not None and project.spec.one_table else None


def update_clusters(services: Services, project_id, tab, trigger, selected, reviewer, seen):
    """Do what the pressed button asks (remove a pair, keep a cluster, undo), then draw
    the clusters and their conflicts; nothing while another tab is open, nor on the
    tab's clock (``ids.CLUSTER_TICK``) unless the log has moved since the last drawing."""
    project = _one_table_project(services, project_id)
    if project is None:
        return {**_EMPTY, "store": None}
    action = ACTIONS.get(trigger)
    version = seen.get("version") if isinstance(seen, dict) else None
    if (tab != "clusters" and action is None) or (
        trigger == ids.CLUSTER_TICK and version == services.desk(project).refresh().last_seq
    ):
        return dict.fromkeys(CLUSTER_OUTPUTS, no_update)
    who, role = services.actor(reviewer)
    link = selected[0] if isinstance(selected, list) and selected else None
    target = seen.get("undo_target") if isinstance(seen, dict) else None
    page = services.desk(project).clusters.page(
        who, role=role, action=action, link=link if isinstance(link, dict) else None, target=target
    )
    shown = "" if page.listed == page.clusters else f" (the largest {page.listed:,} shown)"
    summary = (
        f"{page.clusters:,} clusters of two or more records{shown}, holding {page.clustered:,}"
        f" of {len(project.queue):,} records; the others stand alone."
    )
    count = len({r["conflict"] for r in page.conflicts})
    conflicts = (
        "No conflicts: no cluster joins two records a reviewer said are different."
        if not count
        else f"{count:,} pair{'s' if count > 1 else ''} of records said to be different"
        f" {'are' if count > 1 else 'is'} joined in a cluster by the accepted pairs listed."
        " A lead removes one of them, or keeps the cluster."
    )
    return {
        "rows": page.rows,
        "columns": cluster_columns(page.columns, record_ids=project.spec.left_id is None),
        "summary": summary,
        "conflicts": page.conflicts,
        "conflict_summary": f"{page.message} {conflicts}" if page.message else conflicts,
        "store": {"undo_target": page.undo_target, "version": page.version},
    }


def show_clusters_tab(services: Services, project_id) -> dict:
    """The Clusters tab shown for a project of one table's duplicates, hidden otherwise."""
    settings = services.settings(project_id) if isinstance(project_id, str) else None
    one = settings is not None and settings.spec is not None and settings.spec.one_table
    return {} if one else {"display": "none"}


def show_rules(services: Services, project_id, tab) -> dict:
    """The representative rules saved for the project, a choice per column."""
    keys = ("rules", "date_options", "date", "source_options", "source", "preferred")
    if tab != "clusters":
        return dict.fromkeys(keys, no_update)
    settings = services.settings(project_id) if isinstance(project_id, str) else None
    if settings is None or settings.columns is None:
        return dict(zip(keys, ([], [], None, [], None, None)))
    columns, chosen = list(settings.columns[0]), settings.representatives
    return {
        "rules": rule_controls(columns, chosen.rules),
        "date_options": columns,
        "date": chosen.date_column,
        "source_options": columns,
        "source": chosen.source_column,
        "preferred": chosen.preferred_source,
    }


def save_rules(services: Services, project_id, reviewer, values, names, date, source, preferred):
    """Save the lead's rules (``values`` per column ``names``: the dropdowns' ids)."""
    project = _one_table_project(services, project_id)
    if project is None:
        return "Open a project of one table's duplicates first."
    chosen = {
        str(n.get("column")): v for n, v in zip(names or [], values or []) if isinstance(n, dict)
    }
    rules = RepresentativeRules(
        rules=chosen,
        date_column=date or None,
        source_column=source or None,
        preferred_source=(preferred.strip() if isinstance(preferred, str) else "") or None,
    )
    try:
        role = services.actor(reviewer)[1]
    except PermissionDenied as exc:
        return f"Not saved: {exc}."
    return services.desk(project).choices.set_representatives(rules, role=role).message


def register(app) -> None:
    services = services_of(app)

    def describe_clusters(project_id, tab, _split, _keep, _undo, _tick, selected, reviewer, seen):
        trigger = ctx.triggered_id
        return update_clusters(services, project_id, tab, trigger, selected, reviewer, seen)

    app.callback(
        output=CLUSTER_OUTPUTS,
        inputs=[
            Input(ids.PROJECT_SELECT, "value"),
            Input(ids.TABS, "active_tab"),
            *(Input(button, "n_clicks") for button in ACTIONS),
            Input(ids.CLUSTER_TICK, "n_intervals"),
            State(ids.CLUSTER_CONFLICT_GRID, "selectedRows"),
            State(ids.REVIEWER, "value"),
            State(ids.CLUSTER_STORE, "data"),
        ],
    )(describe_clusters)

    app.clientside_callback(
        "function(tab) { return tab !== 'clusters'; }",
        Output(ids.CLUSTER_TICK, "disabled"),
        Input(ids.TABS, "active_tab"),
    )

    app.callback(
        Output(ids.CLUSTERS_TAB, "tab_style"),
        Input(ids.PROJECT_SELECT, "value"),
    )(lambda project_id: show_clusters_tab(services, project_id))

    app.callback(
        output={
            "rules": Output(ids.REP_RULES, "children"),
            "date_options": Output(ids.REP_DATE, "options"),
            "date": Output(ids.REP_DATE, "value"),
            "source_options": Output(ids.REP_SOURCE, "options"),
            "source": Output(ids.REP_SOURCE, "value"),
            "preferred": Output(ids.REP_PREFERRED, "value"),
        },
        inputs=[Input(ids.PROJECT_SELECT, "value"), Input(ids.TABS, "active_tab")],
    )(lambda project_id, tab: show_rules(services, project_id, tab))

    def save_rules_callback(_n, project_id, reviewer, values, names, date, source, preferred):
        return save_rules(services, project_id, reviewer, values, names, date, source, preferred)

    app.callback(
        Output(ids.REP_MESSAGE, "children"),
        Input(ids.REP_SAVE, "n_clicks"),
        State(ids.PROJECT_SELECT, "value"),
        State(ids.REVIEWER, "value"),
        State(rep_rule(ALL), "value"),
        State(rep_rule(ALL), "id"),
        State(ids.REP_DATE, "value"),
        State(ids.REP_SOURCE, "value"),
        State(ids.REP_PREFERRED, "value"),
        prevent_initial_call=True,
    )(save_rules_callback)

    app.clientside_callback(
        export_script(CLUSTER_EXPORTS),
        Output(ids.CLUSTER_EXPORT_MESSAGE, "children"),
        Output(ids.CLUSTER_EXPORT_MESSAGE, "className"),
        [Input(item, "n_clicks") for item in CLUSTER_EXPORTS],
        State(ids.PROJECT_SELECT, "value"),
        prevent_initial_call=True,
    )
