"""The page: navbar, Data panel, the tabs and the client stores."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.auth import signed_in_menu
from components.clusters import clusters_tab
from components.data import data_panel
from components.ids import ids
from components.matched import matched_tab
from components.review import KEY_HELP, review_tab
from components.statistics import statistics_tab
from components.tuning import tuning_tab
from matching.decisions.roles import allowed

__all__ = ["main_layout"]


def _help() -> html.Div:
    rows = [
        html.Tr([html.Td(html.Kbd(k), className="pe-3"), html.Td(what)]) for k, what in KEY_HELP
    ]
    return html.Div(
        [
            dbc.Button("Keys", id=ids.HELP_BUTTON, color="light", size="sm", className="ms-2"),
            dbc.Popover(
                [
                    dbc.PopoverHeader("Keyboard"),
                    dbc.PopoverBody(
                        [
                            html.Table(html.Tbody(rows)),
                            html.P(
                                "Keys do nothing while a text field has focus.",
                                className="small text-muted mb-0 mt-2",
                            ),
                        ]
                    ),
                ],
                target=ids.HELP_BUTTON,
                trigger="legacy",
                placement="bottom",
                id=ids.HELP_POPOVER,
            ),
        ]
    )


def _reviewer(user: tuple[str, str] | None):
    """The name box in open mode; with sign-in, the signed-in user and Sign out."""
    if user is None:
        return dbc.Input(
            id=ids.REVIEWER,
            placeholder="Your name",
            debounce=True,
            size="sm",
            className="ms-3",
            style={"width": "10rem"},
            persistence=True,
            persistence_type="local",
        )
    # The callbacks still read the box; the server ignores it and uses the session.
    hidden = dcc.Input(id=ids.REVIEWER, type="hidden", value=user[0])
    return html.Div([hidden, signed_in_menu(*user)], className="d-flex align-items-center")


#: What each action needs on the page, so a role sees only what it may do.
_CONTROLS_FOR = {
    "decide": (ids.MATCHED_REMOVE, ids.MATCHED_UNDO, ids.CLUSTER_UNDO),
    "change_settings": (ids.REP_SAVE,),
    "rerun_project": (ids.DATA_BUTTON, ids.RERUN_PROJECT),
    "upload": (ids.UPLOAD_LEFT, ids.UPLOAD_RIGHT),
    "delete_project": (ids.DELETE_PROJECT,),
    "save_thresholds": (ids.TUNING_SAVE,),
    "bulk": (
        ids.AUTO_ACCEPT,
        ids.AUTO_REJECT,
        ids.PATTERN_ACCEPT,
        ids.PATTERN_REJECT,
        ids.AUDIT_DRAW,
        ids.DOUBLE_DRAW,
    ),
    "change_others": (
        ids.CONFLICT_KEEP,
        ids.CONFLICT_KEEP_ALL,
        ids.CONFLICT_SEND_BACK,
        ids.KEEP_FIRST,
        ids.KEEP_SECOND,
        ids.CLUSTER_SPLIT,
        ids.CLUSTER_KEEP,
    ),
}


def _hide_forbidden(component, role: str):
    """Hide (not remove: callbacks name them) the controls ``role`` may not use."""
    hidden = {
        i
        for action, controls in _CONTROLS_FOR.items()
        if not allowed(role, action)
        for i in controls
    }
    stack = [component]
    while stack:
        node = stack.pop()
        if getattr(node, "id", None) in hidden:
            node.style = {**(getattr(node, "style", None) or {}), "display": "none"}
        children = getattr(node, "children", None)
        if isinstance(children, (list, tuple)):
            stack.extend(c for c in children if hasattr(c, "to_plotly_json"))
        elif hasattr(children, "to_plotly_json"):
            stack.append(children)
    return component


def _navbar(
    project_options: list[dict], project_id: str | None, user: tuple[str, str] | None
) -> dbc.Navbar:
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("matchdesk", className="fw-bold"),
                html.Div(
                    [
                        dcc.Dropdown(
                            project_options,
                            project_id,
                            id=ids.PROJECT_SELECT,
                            clearable=False,
                            placeholder="Project",
                            style={"minWidth": "16rem"},
                        ),
                        dbc.Button(
                            "Data", id=ids.DATA_BUTTON, color="light", size="sm", className="ms-2"
                        ),
                        _reviewer(user),
                        _help(),
                    ],
                    className="d-flex align-items-center",
                ),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="mb-2",
    )


def main_layout(
    project_options: list[dict],
    project_id: str | None,
    *,
    user: tuple[str, str] | None = None,
    root_files: list[str] | None = None,
    max_upload_bytes: int = 512 * 1024 * 1024,
) -> html.Div:
    """The whole page; ``project_id`` is the project opened first.

    ``user`` is the signed-in ``(name, role)``, or None in open mode (where
    the reviewer types a name and may do everything). ``root_files`` and
    ``max_upload_bytes``: see :func:`~components.data.data_panel`.
    """
    decides = user is None or allowed(user[1], "decide")
    # A reader's page keeps the Review and Tuning tabs (callbacks name their parts) unseen.
    writer = {} if decides else {"tab_style": {"display": "none"}}
    page = html.Div(
        [
            dcc.Store(id=ids.SESSION_STORE, storage_type="local", data={}),
            _navbar(project_options, project_id, user),
            data_panel(root_files, max_upload_bytes),
            dbc.Container(
                [
                    dbc.Alert(id=ids.MESSAGE, is_open=False, dismissable=True, color="danger"),
                    dbc.Tabs(
                        [
                            dbc.Tab(review_tab(), label="Review", tab_id="review", **writer),
                            dbc.Tab(matched_tab(), label="Matched", tab_id="matched"),
                            dbc.Tab(
                                clusters_tab(),
                                label="Clusters",
                                tab_id="clusters",
                                id=ids.CLUSTERS_TAB,
                                # Shown for one table's duplicates (callbacks/clusters.py).
                                tab_style={"display": "none"},
                            ),
                            dbc.Tab(tuning_tab(), label="Tuning", tab_id="tuning", **writer),
                            dbc.Tab(statistics_tab(), label="Statistics", tab_id="statistics"),
                        ],
                        id=ids.TABS,
                        active_tab="review" if decides else "statistics",
                    ),
                ],
                fluid=True,
            ),
        ]
    )
    return page if user is None else _hide_forbidden(page, user[1])
