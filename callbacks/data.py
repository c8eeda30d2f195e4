"""Data panel: read uploads, build the field rows, count pairs, run a project."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path

import pandas as pd
from dash import ALL, Input, Output, State, ctx, html, no_update

from components.data import (
    FIELD_FORM,
    ONE_TABLE,
    SIDES,
    learned_table,
    rule_count_table,
    uploads_in_mode,
)
from components.ids import field_row, ids
from matching.decisions.roles import PermissionDenied, require
from matching.decisions.versions import clean_name, default_name, latest_project
from matching.engine.blocking import count_rules
from matching.engine.candidates import StepProgress
from matching.engine.form import LearnedForFields, spec_from_rows
from matching.engine.io import TableReadError
from matching.engine.project import project_id_for
from matching.engine.spec import Spec, parse_rules
from matching.engine.training import KEEP_PROBABILITY
from server.broker import NOT_STARTED, broker_answers
from server.runs import (
    RunCancelled,
    Ticket,
    cancel_ticket,
    discard_unrecorded,
    one_run_per_project,
    reporter,
    write_ticket,
)
from server.services import Services, services_of

__all__ = [
    "register",
    "count_message",
    "count_view",
    "learned_weights_view",
    "PAIR_BUDGET",
    "start_run",
    "finish_run",
    "run_project",
    "cancelled_run",
]

_log = logging.getLogger("matchdesk")

#: What the page says of a run cancelled before it saved anything.
CANCELLED = "Run cancelled: no project was made, and the open project is unchanged."

#: Above this many pairs the Data panel warns before a run.
PAIR_BUDGET = 50_000_000


def count_view(
    left: pd.DataFrame, right: pd.DataFrame, rules_text: str | None, *, one_table: bool = False
):
    """The pair count the panel shows: per rule with blocking, else the full product
    (for one table compared with itself, each pair of its records once).

    Raises ``ValueError`` naming a bad rule or a rule's missing column.
    """
    rules = parse_rules(rules_text)
    if not rules:
        total, note = _full_count(len(left), len(right), one_table=one_table)
        return rule_count_table([], total, budget=PAIR_BUDGET, note=note)
    # From group sizes: no pairs are made.
    counts = count_rules(left, right, rules, one_table=one_table)
    rows = [(c.rule, c.pairs, c.added) for c in counts]
    total = sum(c.added for c in counts)
    note = f"{total:,} pairs to score after blocking"
    return rule_count_table(rows, total, budget=PAIR_BUDGET, note=note)


def learned_weights_view(
    services: Services, uploads, *form, proposed: bool = False
) -> tuple[dict | None, object, object, object]:
    """Weights learned for the panel's fields (the Learn weights button, and after a
    proposal, as the command line learns them), the table that shows them, and the
    keep and pre-select thresholds they mean (by match probability; see
    :data:`~matching.engine.training.KEEP_PROBABILITY`), or ``no_update`` for those
    when nothing was learned."""
    *fields, mode = form
    one_table = mode == ONE_TABLE
    uploads = uploads_in_mode(uploads, mode)
    try:
        role = services.actor(None)[1]
        require(role, "rerun_project")
        if not all(s in uploads for s in SIDES):
            raise ValueError("upload the table first" if one_table else "upload both tables first")
        require(role, _run_action([uploads[s] for s in SIDES]))
        spec = spec_from_rows(*fields, one_table=one_table)
        right = None if one_table else uploads["right"]
        learned = services.learn_for_uploads(uploads["left"], right, spec)
    except (ValueError, TableReadError, OSError, PermissionDenied) as exc:
        if proposed:  # the proposal stands; Run scores by the weighted mean
            note = f"Weights not learned ({exc}): Run scores by the fields' weighted mean."
            return None, note, no_update, no_update
        return None, f"⚠ Could not learn weights: {exc}", no_update, no_update
    keep, select = learned.keep, learned.select
    caption = html.Div(
        ("Proposed: " if proposed else "")
        + "learned match weights, log2(m/u); Run scores with them while the fields' columns,"
        " scorers and cleanings stay the same (else by the weighted mean, until Learn weights"
        f" runs again). Keep is set to {keep:.2f} (a {KEEP_PROBABILITY:.0%} match probability) "
        f"and pre-select to {select:.2f} (as likely a match as not).",
        className="text-muted",
    )
    shown = [html.Div(f"⚠ {w}", className="text-warning") for w in learned.warnings]
    held = LearnedForFields.of(learned.weights, spec.fields).to_dict()
    table = learned_table(learned.weights.to_dict())
    return held, html.Div([table, caption, *shown]), keep, select


def _full_count(left: int, right: int, *, one_table: bool) -> tuple[int, str]:
    """Pairs scored without blocking, and the panel's words for them."""
    if one_table:
        total = left * (left - 1) // 2
        return total, f"{total:,} pairs to score (each pair of the {left:,} records once)"
    total = left * right
    return total, f"{total:,} pairs to score ({left:,} x {right:,})"


def count_message(uploads: dict, *, one_table: bool = False) -> str:
    """How many pairs a Run would score (from the page's copy: display only)."""
    try:
        left, right = (int(uploads[side]["rows"]) for side in SIDES)
    except (KeyError, TypeError, ValueError):
        if one_table:
            return "Upload the table to see how many pairs will be scored."
        return "Upload both tables to see how many pairs will be scored."
    return _full_count(left, right, one_table=one_table)[1]


def start_run(
    services: Services,
    uploads,
    fields: tuple,
    keep,
    select,
    *,
    one_table: bool = False,
    name: object = None,
) -> str:
    """Check a Run in the request and keep it on the server; returns its ticket id.

    The role is that of the request's user: a lead may re-run a project from its
    stored tables, an admin also run uploads. The tables must be on the server
    (only their ids are kept). ``one_table``: find the duplicates within the left
    upload (see :func:`~components.data.uploads_in_mode`). ``name``: the project's
    name as typed (None: from the tables' names); a name already used makes the
    next version of that project. Raises ``ValueError``,
    ``TypeError`` or :class:`PermissionDenied` with a message for the page.
    """
    actor, role = services.actor(None)
    require(role, "rerun_project")
    if one_table:
        uploads = uploads_in_mode(uploads, ONE_TABLE)
    if not isinstance(uploads, dict) or not all(s in uploads for s in SIDES):
        raise ValueError("upload the table first" if one_table else "upload both tables first")
    action = _run_action([uploads[side] for side in SIDES])
    require(role, action)
    broker = services.config.celery_broker
    if broker and not broker_answers(broker):
        raise ValueError(NOT_STARTED)
    spec = spec_from_rows(*fields, one_table=one_table)
    for label, value in (("keep", keep), ("pre-select", select)):
        if not isinstance(value, (int, float)) or not 0 <= float(value) <= 1:
            raise ValueError(f"{label} must be a number between 0 and 1")
    tables = [services.table_source(uploads[side]) for side in SIDES]
    order = {
        "actor": actor,
        "role": role,
        "action": action,
        "name": None if name is None else clean_name(name),
        "uploads": tables,
        "spec": spec.to_dict(),
        "keep": float(keep),
        "select": float(select),
    }
    return write_ticket(services, order)


def _run_action(tables: list) -> str:
    """What a run of the tables the page names is: a re-run of a project's stored
    tables (a lead's), or a project of uploads (an admin's)."""
    stored = all(isinstance(t, dict) and "project" in t for t in tables)
    return "rerun_project" if stored else "create_project"


def _failed(problem: object) -> dict:
    return {
        "options": no_update,
        "project": no_update,
        "message": f"Could not run: {problem}",
        "color": "danger",
        "is_open": True,
    }


def finish_run(services: Services, ticket: object, progress: StepProgress | None = None) -> dict:
    """Score the project of a Run's ticket; the outputs by name for the page.

    Runs in the background process. Everything is read again on the server:
    the order from the ticket, the role from the user store, the tables by
    their upload ids. ``progress(step, done, total)`` hears ``"reading"``,
    then the engine's steps (see :func:`matching.engine.project.build_project`),
    then ``"saving"``. A run that fails, or is cancelled before it saves,
    leaves the project list, the open project and the data folder as they were.
    """
    try:
        run = Ticket(services, ticket)
    except ValueError as exc:
        return _failed(exc)
    folders: list[Path] = []
    try:
        project = _run(services, run, progress or (lambda *_: None), folders)
    except RunCancelled:
        outcome = {**_failed(""), "message": CANCELLED, "color": "warning"}
    except (ValueError, TypeError, KeyError, TableReadError, OSError, PermissionDenied) as exc:
        outcome = _failed(exc)
    except MemoryError:
        outcome = _failed("the server ran out of memory; add a blocking rule, or a narrower one")
    except Exception as exc:  # a scorer's or the engine's own failure: say so in the page
        _log.error("run failed", exc_info=exc)
        outcome = _failed(f"the scoring failed ({type(exc).__name__}: {exc})")
    else:
        return {
            "options": services.project_options(),
            "project": project.project_id,
            "message": _ready_text(services, project, reopened=not folders),
            "color": "success",
            "is_open": True,
        }
    finally:
        run.close()
    for folder in folders:
        discard_unrecorded(services, folder)
    return outcome


def _run(services: Services, run: Ticket, report: StepProgress, folders: list[Path]):
    """The project of a ticket, scored and recorded; ``folders`` gets the project
    folder before anything is written to it."""
    run.check_role()
    order = run.order
    spec = Spec.from_dict(order["spec"])
    report("reading", 0, 2)
    left_info, left = services.uploaded(order["uploads"][0])
    report("reading", 1, 2)
    if spec.one_table:  # the table compared with itself: read once
        right_info, right = left_info, left
    else:
        right_info, right = services.uploaded(order["uploads"][1])
    report("reading", 2, 2)
    name = order.get("name") or default_name(left_info["name"], right_info["name"], spec.one_table)
    project_id = project_id_for(left, right, spec, keep=order["keep"], top_k=10)
    folder = Path(services.config.data_dir) / project_id
    with one_run_per_project(services, project_id, run, report), ExitStack() as saving:
        created = not folder.exists()
        if created:
            folders.append(folder)
        run.started(folder if created else None)
        claimed = []

        def step(name: str, done: int, total: int) -> None:
            if name == "saving" and not claimed:
                claimed.append(saving.enter_context(run.saving()))
            report(name, done, total)

        try:
            return services.open_project(
                left,
                right,
                spec,
                name=name,
                keep=order["keep"],
                select=order["select"],
                sources={
                    "left": left_info["name"],
                    "right": right_info["name"],
                    "uploads": [t["token"] for t in order["uploads"] if "token" in t],
                },
                progress=step,
                project_id=project_id,
            )
        except BaseException:  # cancelled, failed or stopped: its folder goes while it is locked
            if created:
                discard_unrecorded(services, folder, locked=True)
            raise


def _ready_text(services: Services, project, *, reopened: bool = False) -> str:
    """What the page says of a finished run; ``reopened``: the run's tables and set-up
    were those of a project already made, which is opened as it was."""
    text = (
        f"Ready: {len(project.candidates):,} candidate pairs for "
        f"{len(project.queue):,} records. Close this panel to review."
    )
    settings = services.settings(project.project_id)
    if reopened:
        which = f" (version {settings.version})" if settings and settings.version else ""
        return f"Nothing changed: these tables and set-up are {project.name}{which}. {text}"
    carried = settings.carried if settings is not None else None
    if settings is not None and settings.version and settings.version > 1:
        text = f"Version {settings.version} of {project.name}. {text}"
    if carried:
        text += (
            f" From the version before: {carried['carried']:,} decisions"
            f" carried over, {carried['came_back']:,} changed records back in the queue,"
            f" {carried['new']:,} new records."
        )
    return text


def run_project(
    services: Services,
    uploads,
    fields: tuple,
    keep,
    select,
    progress=None,
    *,
    one_table: bool = False,
) -> tuple:
    """A whole Run in this process (:func:`start_run` then :func:`finish_run`).

    Returns ``(options, project_id, message, color, open)``.
    """
    try:
        ticket = start_run(services, uploads, fields, keep, select, one_table=one_table)
    except (ValueError, TypeError, PermissionDenied) as exc:
        out = _failed(exc)
    else:
        out = finish_run(services, ticket, progress)
    return out["options"], out["project"], out["message"], out["color"], out["is_open"]


def cancelled_run(services: Services, ticket: object) -> dict:
    """What the page says when Cancel is clicked: cancelled, or too late to cancel."""
    if cancel_ticket(services, ticket):
        text, color = CANCELLED, "warning"
    else:
        text, color = (
            "The run had already begun saving, so it finishes: reload the page to find "
            "the new project in the list.",
            "info",
        )
    return {"message": text, "color": color, "is_open": True}


def confirm_delete(services: Services, project_id) -> tuple:
    """Open the confirmation naming the project (admins only), or say why not."""
    record = services.log.project(project_id) if isinstance(project_id, str) else None
    if record is None:
        return True, "Choose a project first."
    return True, (
        f"Delete the project {record['name']!r}? Its decisions, its tables and its scored"
        " candidates are removed for everyone. This cannot be undone."
    )


def delete_project(services: Services, project_id) -> tuple:
    """Delete a project (admins only): options without it, the latest project, a message."""
    try:
        require(services.actor(None)[1], "delete_project")
        if not isinstance(project_id, str) or not services.delete_project(project_id):
            raise ValueError("there is no such project")
    except (ValueError, PermissionDenied) as exc:
        return no_update, no_update, f"Could not delete: {exc}", "danger", True
    following = latest_project(services.log.projects())
    return services.project_options(), following, "Project deleted.", "success", True


#: After the panel's closing slide (about 0.3 s), when it gives the focus back.
_RELEASE_DATA_BUTTON = """
function(isOpen) {
    if (!isOpen) {
        setTimeout(function () {
            const button = document.getElementById("DATA_BUTTON");
            if (button && document.activeElement === button) { button.blur(); }
        }, 600);
    }
    return window.dash_clientside.no_update;
}
"""


def register(app) -> None:
    services = services_of(app)

    def update_pair_count(uploads, lefts, rules_text, mode):
        one_table = mode == ONE_TABLE
        uploads = uploads_in_mode(uploads, mode)
        ready = all(s in uploads for s in SIDES) and any(lefts or [])
        if not all(s in uploads for s in SIDES):
            return count_message(uploads, one_table=one_table), True
        try:
            left = services.uploaded(uploads["left"])[1]
            right = left if one_table else services.uploaded(uploads["right"])[1]
            return count_view(left, right, rules_text, one_table=one_table), not ready
        except (ValueError, OSError) as exc:
            return f"⚠ {exc}", True

    app.callback(
        Output(ids.PAIR_COUNT, "children"),
        Output(ids.RUN, "disabled"),
        Input(ids.UPLOAD_STORE, "data"),
        Input(field_row("left", ALL), "value"),
        Input(ids.BLOCK_RULES, "value"),
        Input(ids.DATA_MODE, "value"),
    )(update_pair_count)

    def learn_weights(_n, uploads, *form):
        return learned_weights_view(services, uploads, *form)

    app.callback(
        Output(ids.LEARNED_STORE, "data"),
        Output(ids.LEARNED_VIEW, "children"),
        Output(ids.KEEP, "value", allow_duplicate=True),
        Output(ids.SELECT, "value", allow_duplicate=True),
        Input(ids.LEARN_WEIGHTS, "n_clicks"),
        State(ids.UPLOAD_STORE, "data"),
        *FIELD_FORM,
        State(ids.BLOCK_RULES, "value"),
        State(ids.DATA_MODE, "value"),
        prevent_initial_call=True,
    )(learn_weights)

    def propose_learned(_request, proposal, uploads, *form):
        if not isinstance(proposal, dict) or proposal.get("source") != "proposal":
            return no_update, no_update, no_update, no_update
        return learned_weights_view(services, uploads, *form, proposed=True)

    app.callback(
        Output(ids.LEARNED_STORE, "data", allow_duplicate=True),
        Output(ids.LEARNED_VIEW, "children", allow_duplicate=True),
        Output(ids.KEEP, "value", allow_duplicate=True),
        Output(ids.SELECT, "value", allow_duplicate=True),
        Input(ids.LEARN_REQUEST, "data"),
        State(ids.PROPOSAL_STORE, "data"),
        State(ids.UPLOAD_STORE, "data"),
        *FIELD_FORM,
        State(ids.BLOCK_RULES, "value"),
        State(ids.DATA_MODE, "value"),
        # Run waits for the weights, but only while they are learned: a proposal's own
        # wait is fill_proposal's.
        running=[(Output(ids.RUN, "disabled"), True, False)],
        prevent_initial_call=True,
    )(propose_learned)

    def projects_callback(_run, _delete, uploads, *form):
        rows, rest = form[: len(FIELD_FORM)], form[len(FIELD_FORM) :]
        keep, select, rules, learned, project_id, mode, name = rest
        if ctx.triggered_id == ids.DELETE_CONFIRM:
            options, following, text, color, is_open = delete_project(services, project_id)
            return {
                "options": options,
                "project": following,
                "message": text,
                "color": color,
                "is_open": is_open,
                "ticket": no_update,
            }
        fields = (*rows, rules, learned)
        try:
            one = mode == ONE_TABLE
            ticket = start_run(services, uploads, fields, keep, select, one_table=one, name=name)
        except (ValueError, TypeError, PermissionDenied) as exc:
            return {**_failed(exc), "ticket": no_update}
        return {
            "options": no_update,
            "project": no_update,
            "message": "",
            "color": "info",
            "is_open": False,
            "ticket": ticket,
        }

    app.callback(
        output={
            "options": Output(ids.PROJECT_SELECT, "options"),
            "project": Output(ids.PROJECT_SELECT, "value"),
            "message": Output(ids.DATA_MESSAGE, "children"),
            "color": Output(ids.DATA_MESSAGE, "color"),
            "is_open": Output(ids.DATA_MESSAGE, "is_open"),
            "ticket": Output(ids.RUN_TICKET, "data"),
        },
        inputs=[
            Input(ids.RUN, "n_clicks"),
            Input(ids.DELETE_CONFIRM, "submit_n_clicks"),
            State(ids.UPLOAD_STORE, "data"),
            *FIELD_FORM,
            State(ids.KEEP, "value"),
            State(ids.SELECT, "value"),
            State(ids.BLOCK_RULES, "value"),
            State(ids.LEARNED_STORE, "data"),
            State(ids.PROJECT_SELECT, "value"),
            State(ids.DATA_MODE, "value"),
            State(ids.PROJECT_NAME, "value"),
        ],
        prevent_initial_call=True,
    )(projects_callback)

    def run_in_background(set_progress, ticket):
        services.after_fork()
        # Progress from a thread of its own: a broker that stops answering cannot stop the run.
        return finish_run(services, ticket, reporter(set_progress, in_thread=True))

    app.callback(
        output={
            "options": Output(ids.PROJECT_SELECT, "options", allow_duplicate=True),
            "project": Output(ids.PROJECT_SELECT, "value", allow_duplicate=True),
            "message": Output(ids.DATA_MESSAGE, "children", allow_duplicate=True),
            "color": Output(ids.DATA_MESSAGE, "color", allow_duplicate=True),
            "is_open": Output(ids.DATA_MESSAGE, "is_open", allow_duplicate=True),
        },
        inputs={"ticket": Input(ids.RUN_TICKET, "data")},
        background=True,
        interval=500,
        progress=[
            Output(ids.RUN_PROGRESS, "value"),
            Output(ids.RUN_PROGRESS, "label"),
            Output(ids.RUN_STEP, "children"),
        ],
        progress_default=[0, "", "Starting…"],
        running=[
            (Output(ids.RUN, "disabled"), True, False),
            (Output(ids.RUN_CANCEL, "disabled"), False, True),
            (Output(ids.RUN_STATUS, "style"), {"display": "block"}, {"display": "none"}),
        ],
        cancel=[Input(ids.RUN_CANCEL, "n_clicks")],
        prevent_initial_call=True,
    )(run_in_background)

    def say_cancelled(_n, ticket):
        return cancelled_run(services, ticket)

    app.callback(
        output={
            "message": Output(ids.DATA_MESSAGE, "children", allow_duplicate=True),
            "color": Output(ids.DATA_MESSAGE, "color", allow_duplicate=True),
            "is_open": Output(ids.DATA_MESSAGE, "is_open", allow_duplicate=True),
        },
        inputs=[Input(ids.RUN_CANCEL, "n_clicks"), State(ids.RUN_TICKET, "data")],
        prevent_initial_call=True,
    )(say_cancelled)

    def ask_delete(_n, project_id):
        return confirm_delete(services, project_id)

    app.callback(
        Output(ids.DELETE_CONFIRM, "displayed"),
        Output(ids.DELETE_CONFIRM, "message"),
        Input(ids.DELETE_PROJECT, "n_clicks"),
        State(ids.PROJECT_SELECT, "value"),
        prevent_initial_call=True,
    )(ask_delete)

    # One table: the panel hides the second table's upload, ID and columns.
    app.clientside_callback(
        "function(mode) { return mode === 'ONE' ? 'one-table' : ''; }".replace("ONE", ONE_TABLE),
        Output(ids.DATA_PANEL, "className"),
        Input(ids.DATA_MODE, "value"),
    )

    app.callback(
        Output(ids.DATA_PANEL, "is_open"),
        Input(ids.DATA_BUTTON, "n_clicks"),
        State(ids.DATA_PANEL, "is_open"),
        prevent_initial_call=True,
    )(lambda _n, is_open: not is_open)

    # A closed panel hands the focus back to the Data button, where a reviewer's next
    # space (the key that ticks a candidate) would open it again: the button lets go.
    app.clientside_callback(
        _RELEASE_DATA_BUTTON.replace("DATA_BUTTON", ids.DATA_BUTTON),
        Output(ids.DATA_BUTTON, "title"),
        Input(ids.DATA_PANEL, "is_open"),
        prevent_initial_call=True,
    )
