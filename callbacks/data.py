"""Data panel: read uploads, build the field rows, count pairs, run a project."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

import pandas as pd
from dash import ALL, Input, Output, Patch, State, ctx, html, no_update

from callbacks.services import Services, services_of
from components.data import field_controls, learned_table, rule_count_table
from components.ids import field_row, ids
from matching.blocking import Blocking
from matching.candidates import learn, plan
from matching.io import TableReadError, load_table, read_table
from matching.roles import PermissionDenied, require
from matching.safety import check_shape, check_table_bytes
from matching.spec import Block, Field, Spec, parse_block
from matching.weights import LearnedWeights

__all__ = [
    "register",
    "read_upload",
    "uploaded",
    "build_spec",
    "count_message",
    "parse_rules",
    "count_view",
    "learn_for",
    "PAIR_BUDGET",
]

SIDES = ("left", "right")

#: Above this many pairs the Data panel warns before a run.
PAIR_BUDGET = 50_000_000


def read_upload(services: Services, contents: str, filename: str) -> dict:
    """Decode an upload, check it, keep the table on the server and describe it.

    Returns ``{"token", "name", "columns", "rows", "report"}``, where
    ``token`` is the server's id for the table (see :func:`uploaded`); the
    rest is for the page only. Raises :class:`TableReadError` with a message
    for the page; a file that would cost too much to read
    (:func:`~matching.safety.check_table_bytes`) is refused before parsing.
    """
    name = str(filename or "upload")
    try:
        _, payload = contents.split(",", 1)
        raw = base64.b64decode(payload, validate=True)
    except (ValueError, AttributeError, binascii.Error):
        raise TableReadError(f"{name}: the upload could not be decoded") from None
    max_cells = services.config.max_cells
    check_table_bytes(raw, name, max_cells=max_cells)
    loaded = load_table(raw, name=name)
    check_shape(loaded.frame, name, max_cells=max_cells)
    token = hashlib.sha256(name.encode() + b"\0" + raw).hexdigest()[:32]
    info = {
        "token": token,
        "name": name,
        "columns": list(loaded.frame.columns),
        "rows": len(loaded.frame),
        "report": loaded.report,
    }
    services.sweep_uploads()
    path = services.upload_path(token)
    path.parent.mkdir(parents=True, exist_ok=True)
    loaded.frame.to_parquet(path, index=False)
    path.with_suffix(".json").write_text(json.dumps(info), encoding="utf-8")
    return info


def uploaded(services: Services, info: object):
    """The server's record of an upload and its table, from the id the page holds.

    The page's copy of the name, columns and row count is not trusted: they
    are read again from what the server kept. Raises ``ValueError`` when the
    id is not one the server made.
    """
    token = info.get("token") if isinstance(info, dict) else None
    path = services.upload_path(token)
    if path is None or not path.exists():
        raise ValueError("that upload is not on the server; upload the table again")
    record = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    return record, read_table(path)


def uploaded_frame(services: Services, info: object) -> pd.DataFrame:
    """The table of an upload, by the id the page holds (see :func:`uploaded`)."""
    return uploaded(services, info)[1]


def parse_rules(text: str | None) -> tuple[Block, ...]:
    """Blocking rules, one per line (blank lines ignored); ``ValueError`` names a bad one."""
    return tuple(parse_block(line) for line in (text or "").splitlines() if line.strip())


def count_view(left: pd.DataFrame, right: pd.DataFrame, rules_text: str | None):
    """The pair count the panel shows: per rule with blocking, else the full product.

    Raises ``ValueError`` naming a bad rule or a rule's missing column.
    """
    rules = parse_rules(rules_text)
    if not rules:
        total = len(left) * len(right)
        note = f"{total:,} pairs to score ({len(left):,} x {len(right):,})"
        return rule_count_table([], total, budget=PAIR_BUDGET, note=note)
    counts = Blocking(left, right, rules).count()
    rows = [(c.rule, c.pairs, c.added) for c in counts]
    total = sum(c.added for c in counts)
    note = f"{total:,} pairs to score after blocking"
    return rule_count_table(rows, total, budget=PAIR_BUDGET, note=note)


def learn_for(left: pd.DataFrame, right: pd.DataFrame, spec: Spec) -> LearnedWeights:
    """Fellegi-Sunter weights for the spec's fields over its blocked pairs."""
    if not spec.block:
        raise ValueError("add a blocking rule first: weights are learned over blocked pairs")
    job, ranges = plan(left, right, spec, keep=0.0, top_k=None)
    return learn(job, ranges)


def build_spec(
    lefts, rights, scorers, weights, left_id, right_id, rules_text=None, learned=None
) -> Spec:
    """The Spec of the Data panel's field rows; rows without a left column are ignored.

    ``learned`` (a :class:`LearnedWeights` dict) is used when it is for the same fields
    and there are blocking rules (learned weights score blocked pairs only).
    """
    fields = []
    for left, right, scorer, weight in zip(lefts, rights, scorers, weights):
        if not left:
            continue
        if weight is None or float(weight) <= 0:
            raise ValueError(f"field {left!r}: the weight must be a number above 0")
        fields.append(
            Field(left=left, right=right or left, scorer=scorer or "qratio", weight=float(weight))
        )
    rules = parse_rules(rules_text)
    weights_for = None
    if rules and learned and tuple(learned["fields"]) == tuple(f.name for f in fields):
        weights_for = LearnedWeights.from_dict(learned)
    return Spec(
        fields=tuple(fields),
        left_id=left_id or None,
        right_id=right_id or None,
        block=rules,
        learned=weights_for,
    )


def count_message(uploads: dict) -> str:
    """How many pairs a Run would score (from the page's copy: display only)."""
    try:
        left, right = (int(uploads[side]["rows"]) for side in SIDES)
    except (KeyError, TypeError, ValueError):
        return "Upload both tables to see how many pairs will be scored."
    return f"{left * right:,} pairs to score ({left:,} x {right:,})"


def store_upload_of(services: Services, inbox, uploads) -> tuple:
    """Read the file in the inbox (or report it too large), for the upload store and info.

    ``inbox`` is ``{"side", "name", "contents"}``, or ``{"side", "name",
    "too_large": bytes}`` when the browser found it over the limit.
    """
    uploads = dict(uploads or {})
    side = (inbox or {}).get("side")
    if side not in SIDES:
        return no_update, no_update, no_update
    info_out = [no_update, no_update]
    slot = SIDES.index(side)
    try:
        require(services.actor(None)[1], "upload")
        if "too_large" in inbox:
            raise TableReadError(_too_large(services, inbox))
        uploads[side] = read_upload(services, inbox.get("contents"), inbox.get("name"))
        info_out[slot] = uploads[side]["report"]
    except (TableReadError, PermissionDenied) as exc:
        uploads.pop(side, None)
        info_out[slot] = f"⚠ {exc}"
    return uploads, *info_out


def _too_large(services: Services, inbox: dict) -> str:
    limit = services.config.max_upload_mb
    size = float(inbox.get("too_large") or 0) / 1024 / 1024
    return (
        f"{inbox.get('name')}: {size:,.0f} MB is more than this server takes ({limit:g} MB"
        " per upload, which holds a file of about"
        f" {limit * 3 / 4:,.0f} MB); ask the admin to raise --max-upload-mb, or split the file"
    )


#: In the browser: pass an upload on to the server, or only its size when it is too large.
#: A file travels base64-encoded (4 characters per 3 bytes) in a JSON request.
_SIZE_CHECK = """
function(left, right, leftName, rightName, limit) {
    const trig = window.dash_clientside.callback_context.triggered_id;
    const side = trig === "__LEFT__" ? "left" : "right";
    const contents = side === "left" ? left : right;
    const name = side === "left" ? leftName : rightName;
    if (!contents) { return window.dash_clientside.no_update; }
    if (contents.length + 65536 > limit) {
        return {side: side, name: name, too_large: Math.round(contents.length * 3 / 4)};
    }
    return {side: side, name: name, contents: contents};
}
""".replace("__LEFT__", ids.UPLOAD_LEFT)


def run_project(services: Services, uploads, fields: tuple, keep, select) -> tuple:
    """Score a new project from two uploads: project options, the new project, a message.

    Everything is read again on the server: the tables by their upload ids,
    the role of whoever asks. Returns ``(options, project_id, message, color,
    open)``.
    """
    try:
        require(services.actor(None)[1], "create_project")
        if not isinstance(uploads, dict) or not all(s in uploads for s in SIDES):
            raise ValueError("upload both tables first")
        spec = build_spec(*fields)
        for label, value in (("keep", keep), ("pre-select", select)):
            if not isinstance(value, (int, float)) or not 0 <= float(value) <= 1:
                raise ValueError(f"{label} must be a number between 0 and 1")
        (left_info, left), (right_info, right) = (uploaded(services, uploads[s]) for s in SIDES)
        project = services.open_project(
            left,
            right,
            spec,
            name=f"{left_info['name']} ↔ {right_info['name']}",
            keep=float(keep),
            select=float(select),
            sources={
                "left": left_info["name"],
                "right": right_info["name"],
                "uploads": [left_info["token"], right_info["token"]],
            },
        )
    except (ValueError, TypeError, TableReadError, OSError, PermissionDenied) as exc:
        return no_update, no_update, f"Could not run: {exc}", "danger", True
    text = (
        f"Ready: {len(project.candidates):,} candidate pairs for "
        f"{len(project.queue):,} records. Close this panel to review."
    )
    carried = (services.log.project(project.project_id) or {"meta": {}})["meta"].get("carried")
    if carried:
        text += (
            f" From the earlier version of these tables: {carried['carried']:,} decisions"
            f" carried over, {carried['came_back']:,} changed records back in the queue,"
            f" {carried['new']:,} new records."
        )
    return services.project_options(), project.project_id, text, "success", True


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
    """Delete a project (admins only): options without it, the next project, a message."""
    try:
        require(services.actor(None)[1], "delete_project")
        if not isinstance(project_id, str) or not services.delete_project(project_id):
            raise ValueError("there is no such project")
    except (ValueError, PermissionDenied) as exc:
        return no_update, no_update, f"Could not delete: {exc}", "danger", True
    options = services.project_options()
    following = options[0]["value"] if options else None
    return options, following, "Project deleted.", "success", True


def register(app) -> None:
    services = services_of(app)

    def store_upload(inbox, uploads):
        return store_upload_of(services, inbox, uploads)

    app.callback(
        Output(ids.UPLOAD_STORE, "data"),
        Output(ids.UPLOAD_LEFT_INFO, "children"),
        Output(ids.UPLOAD_RIGHT_INFO, "children"),
        Input(ids.UPLOAD_INBOX, "data"),
        State(ids.UPLOAD_STORE, "data"),
        prevent_initial_call=True,
    )(store_upload)

    app.clientside_callback(
        _SIZE_CHECK,
        Output(ids.UPLOAD_INBOX, "data"),
        Input(ids.UPLOAD_LEFT, "contents"),
        Input(ids.UPLOAD_RIGHT, "contents"),
        State(ids.UPLOAD_LEFT, "filename"),
        State(ids.UPLOAD_RIGHT, "filename"),
        State(ids.UPLOAD_LIMIT, "data"),
        prevent_initial_call=True,
    )

    def update_fields(uploads, _add, children):
        left_cols = (uploads or {}).get("left", {}).get("columns", [])
        right_cols = (uploads or {}).get("right", {}).get("columns", [])
        if ctx.triggered_id == ids.ADD_FIELD:
            patch = Patch()
            patch.append(field_controls(len(children or []), left_cols, right_cols))
            return patch, no_update, no_update, no_update, no_update
        shared = [c for c in left_cols if c in right_cols]
        first = shared[0] if shared else None
        rows = [field_controls(0, left_cols, right_cols, first, first)]
        return rows, left_cols, right_cols, None, None

    app.callback(
        Output(ids.FIELDS, "children"),
        Output(ids.LEFT_ID, "options"),
        Output(ids.RIGHT_ID, "options"),
        Output(ids.LEFT_ID, "value"),
        Output(ids.RIGHT_ID, "value"),
        Input(ids.UPLOAD_STORE, "data"),
        Input(ids.ADD_FIELD, "n_clicks"),
        State(ids.FIELDS, "children"),
        prevent_initial_call=True,
    )(update_fields)

    def update_pair_count(uploads, lefts, rules_text):
        ready = all(s in (uploads or {}) for s in SIDES) and any(lefts or [])
        if not all(s in (uploads or {}) for s in SIDES):
            return count_message(uploads), True
        try:
            left = uploaded_frame(services, uploads["left"])
            right = uploaded_frame(services, uploads["right"])
            return count_view(left, right, rules_text), not ready
        except (ValueError, OSError) as exc:
            return f"⚠ {exc}", True

    app.callback(
        Output(ids.PAIR_COUNT, "children"),
        Output(ids.RUN, "disabled"),
        Input(ids.UPLOAD_STORE, "data"),
        Input(field_row("left", ALL), "value"),
        Input(ids.BLOCK_RULES, "value"),
    )(update_pair_count)

    def learn_weights(_n, uploads, lefts, rights, scorers, weights, left_id, right_id, rules):
        try:
            require(services.actor(None)[1], "create_project")
            if not all(s in (uploads or {}) for s in SIDES):
                raise ValueError("upload both tables first")
            spec = build_spec(lefts, rights, scorers, weights, left_id, right_id, rules)
            left = uploaded_frame(services, uploads["left"])
            right = uploaded_frame(services, uploads["right"])
            learned = learn_for(left, right, spec).to_dict()
        except (ValueError, TableReadError, OSError, PermissionDenied) as exc:
            return None, f"⚠ Could not learn weights: {exc}"
        caption = html.Div(
            "Learned match weights, log2(m/u); Run scores with them while the fields stay "
            "the same.",
            className="text-muted",
        )
        return learned, html.Div([learned_table(learned), caption])

    app.callback(
        Output(ids.LEARNED_STORE, "data"),
        Output(ids.LEARNED_VIEW, "children"),
        Input(ids.LEARN_WEIGHTS, "n_clicks"),
        State(ids.UPLOAD_STORE, "data"),
        State(field_row("left", ALL), "value"),
        State(field_row("right", ALL), "value"),
        State(field_row("scorer", ALL), "value"),
        State(field_row("weight", ALL), "value"),
        State(ids.LEFT_ID, "value"),
        State(ids.RIGHT_ID, "value"),
        State(ids.BLOCK_RULES, "value"),
        prevent_initial_call=True,
    )(learn_weights)

    def projects_callback(_run, _delete, uploads, *form):
        lefts, rights, scorers, weights, left_id, right_id, keep, select, *rest = form
        rules, learned, project_id = rest
        if ctx.triggered_id == ids.DELETE_CONFIRM:
            return delete_project(services, project_id)
        fields = (lefts, rights, scorers, weights, left_id, right_id, rules, learned)
        return run_project(services, uploads, fields, keep, select)

    app.callback(
        Output(ids.PROJECT_SELECT, "options"),
        Output(ids.PROJECT_SELECT, "value"),
        Output(ids.DATA_MESSAGE, "children"),
        Output(ids.DATA_MESSAGE, "color"),
        Output(ids.DATA_MESSAGE, "is_open"),
        Input(ids.RUN, "n_clicks"),
        Input(ids.DELETE_CONFIRM, "submit_n_clicks"),
        State(ids.UPLOAD_STORE, "data"),
        State(field_row("left", ALL), "value"),
        State(field_row("right", ALL), "value"),
        State(field_row("scorer", ALL), "value"),
        State(field_row("weight", ALL), "value"),
        State(ids.LEFT_ID, "value"),
        State(ids.RIGHT_ID, "value"),
        State(ids.KEEP, "value"),
        State(ids.SELECT, "value"),
        State(ids.BLOCK_RULES, "value"),
        State(ids.LEARNED_STORE, "data"),
        State(ids.PROJECT_SELECT, "value"),
        prevent_initial_call=True,
    )(projects_callback)

    def ask_delete(_n, project_id):
        return confirm_delete(services, project_id)

    app.callback(
        Output(ids.DELETE_CONFIRM, "displayed"),
        Output(ids.DELETE_CONFIRM, "message"),
        Input(ids.DELETE_PROJECT, "n_clicks"),
        State(ids.PROJECT_SELECT, "value"),
        prevent_initial_call=True,
    )(ask_delete)

    app.callback(
        Output(ids.DATA_PANEL, "is_open"),
        Input(ids.DATA_BUTTON, "n_clicks"),
        State(ids.DATA_PANEL, "is_open"),
        prevent_initial_call=True,
    )(lambda _n, is_open: not is_open)
