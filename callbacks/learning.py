"""Tuning tab, learning from decisions: what the project learned last, learn now, and how
often it learns and in what order records are served (each a decode, one desk call, a render)."""

from __future__ import annotations

import time

from dash import Input, Output, State

from components.ids import ids
from matching.decisions.roles import PermissionDenied
from server.services import Services, services_of

__all__ = ["register", "load_learning", "learn_now", "save_learning"]

_NONE = {"summary": "", "every": 0, "order": "table"}


def load_learning(services: Services, project_id) -> dict:
    """The learning panel of a project: the summary, every N decisions, the queue order."""
    project = services.project(project_id if isinstance(project_id, str) else None)
    if project is None:
        return _NONE
    learning = services.desk(project).learning
    settings = services.desk(project).settings()
    return {
        "summary": learning.summary(),
        "every": settings.learn_every,
        "order": settings.queue_order,
    }


def learn_now(services: Services, project_id, reviewer) -> dict:
    """Learn from the decisions now (a lead); the message says what changed."""
    project = services.project(project_id if isinstance(project_id, str) else None)
    if project is None:
        return {"message": "Open a project first.", "done": None}
    try:
        name, role = services.actor(reviewer)
    except PermissionDenied as exc:
        return {"message": f"Not learned: {exc}.", "done": None}
    outcome = services.desk(project).learning.relearn(name, role=role)
    return {"message": outcome.message, "done": time.time() if outcome.ok else None}


def save_learning(services: Services, project_id, reviewer, every, order) -> str:
    """Learn every ``every`` decisions and serve records in ``order`` (a lead)."""
    project = services.project(project_id if isinstance(project_id, str) else None)
    if project is None:
        return "Open a project first."
    try:
        role = services.actor(reviewer)[1]
    except PermissionDenied as exc:
        return f"Not saved: {exc}."
    every = 0 if every in (None, "") else every
    return services.desk(project).learning.set_learning(every, order, role=role).message


def register(app) -> None:
    services = services_of(app)

    def load_callback(project_id, _done):
        return load_learning(services, project_id)

    app.callback(
        output={
            "summary": Output(ids.LEARN_SUMMARY, "children"),
            "every": Output(ids.LEARN_EVERY, "value"),
            "order": Output(ids.QUEUE_ORDER, "value"),
        },
        inputs={
            "project_id": Input(ids.PROJECT_SELECT, "value"),
            "_done": Input(ids.LEARN_DONE, "data"),
        },
    )(load_callback)

    def learn_callback(_n, project_id, reviewer):
        return learn_now(services, project_id, reviewer)

    app.callback(
        output={
            "message": Output(ids.LEARN_MESSAGE, "children"),
            "done": Output(ids.LEARN_DONE, "data"),
        },
        inputs={
            "_n": Input(ids.LEARN_NOW, "n_clicks"),
            "project_id": State(ids.PROJECT_SELECT, "value"),
            "reviewer": State(ids.REVIEWER, "value"),
        },
        prevent_initial_call=True,
    )(learn_callback)

    def save_callback(_n, project_id, reviewer, every, order):
        return save_learning(services, project_id, reviewer, every, order)

    app.callback(
        Output(ids.LEARN_MESSAGE, "children", allow_duplicate=True),
        Input(ids.LEARN_SAVE, "n_clicks"),
        State(ids.PROJECT_SELECT, "value"),
        State(ids.REVIEWER, "value"),
        State(ids.LEARN_EVERY, "value"),
        State(ids.QUEUE_ORDER, "value"),
        prevent_initial_call=True,
    )(save_callback)
