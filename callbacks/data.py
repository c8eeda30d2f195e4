"""Data panel: read uploads, build the field rows, count pairs, run a project."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pandas as pd
from dash import ALL, Input, Output, Patch, State, ctx, html, no_update

from callbacks.services import Services, services_of
from components.data import field_controls, learned_table, rule_count_table
from components.ids import field_row, ids
from matching.blocking import Blocking
from matching.candidates import learn, plan
from matching.io import TableReadError, load_table, read_table
from matching.spec import Block, Field, Spec, parse_block
from matching.weights import LearnedWeights

__all__ = [
    "register",
    "read_upload",
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
    """Decode an upload, keep the table on the server and describe it.

    Returns ``{"token", "name", "columns", "rows", "report"}``; raises
    :class:`TableReadError` with a message for the page.
    """
    try:
        _, payload = contents.split(",", 1)
        raw = base64.b64decode(payload)
    except ValueError:
        raise TableReadError(f"{filename}: the upload could not be decoded") from None
    loaded = load_table(raw, name=filename)
    token = hashlib.sha256(raw).hexdigest()[:16]
    folder = Path(services.config.data_dir) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    loaded.frame.to_parquet(folder / f"{token}.parquet", index=False)
    return {
        "token": token,
        "name": filename,
        "columns": list(loaded.frame.columns),
        "rows": len(loaded.frame),
        "report": loaded.report,
    }


def uploaded_frame(services: Services, info: dict):
    return read_table(Path(services.config.data_dir) / "uploads" / f"{info['token']}.parquet")


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
    if not all(side in (uploads or {}) for side in SIDES):
        return "Upload both tables to see how many pairs will be scored."
    n = uploads["left"]["rows"] * uploads["right"]["rows"]
    return f"{n:,} pairs to score ({uploads['left']['rows']:,} x {uploads['right']['rows']:,})"


def register(app) -> None:
    services = services_of(app)

    def store_upload(left_contents, right_contents, left_name, right_name, uploads):
        uploads = dict(uploads or {})
        side = "left" if ctx.triggered_id == ids.UPLOAD_LEFT else "right"
        contents, name = (
            (left_contents, left_name) if side == "left" else (right_contents, right_name)
        )
        info_out = [no_update, no_update]
        slot = SIDES.index(side)
        try:
            uploads[side] = read_upload(services, contents, name)
            info_out[slot] = uploads[side]["report"]
        except TableReadError as exc:
            uploads.pop(side, None)
            info_out[slot] = f"⚠ {exc}"
        return uploads, *info_out

    app.callback(
        Output(ids.UPLOAD_STORE, "data"),
        Output(ids.UPLOAD_LEFT_INFO, "children"),
        Output(ids.UPLOAD_RIGHT_INFO, "children"),
        Input(ids.UPLOAD_LEFT, "contents"),
        Input(ids.UPLOAD_RIGHT, "contents"),
        State(ids.UPLOAD_LEFT, "filename"),
        State(ids.UPLOAD_RIGHT, "filename"),
        State(ids.UPLOAD_STORE, "data"),
        prevent_initial_call=True,
    )(store_upload)

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
            if not all(s in (uploads or {}) for s in SIDES):
                raise ValueError("upload both tables first")
            spec = build_spec(lefts, rights, scorers, weights, left_id, right_id, rules)
            left = uploaded_frame(services, uploads["left"])
            right = uploaded_frame(services, uploads["right"])
            learned = learn_for(left, right, spec).to_dict()
        except (ValueError, TableReadError, OSError) as exc:
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

    def run_project(
        _n, uploads, lefts, rights, scorers, weights, left_id, right_id, keep, select, *more
    ):
        rules, learned = more
        try:
            if not all(s in (uploads or {}) for s in SIDES):
                raise ValueError("upload both tables first")
            spec = build_spec(lefts, rights, scorers, weights, left_id, right_id, rules, learned)
            for name, value in (("keep", keep), ("pre-select", select)):
                if value is None or not 0 <= float(value) <= 1:
                    raise ValueError(f"{name} must be a number between 0 and 1")
            left = uploaded_frame(services, uploads["left"])
            right = uploaded_frame(services, uploads["right"])
            name = f"{uploads['left']['name']} ↔ {uploads['right']['name']}"
            project = services.open_project(
                left,
                right,
                spec,
                name=name,
                keep=float(keep),
                select=float(select),
                sources={"left": uploads["left"]["name"], "right": uploads["right"]["name"]},
            )
        except (ValueError, TableReadError, OSError) as exc:
            return no_update, no_update, f"Could not run: {exc}", "danger", True
        text = (
            f"Ready: {len(project.candidates):,} candidate pairs for "
            f"{len(project.queue):,} records. Close this panel to review."
        )
        return services.project_options(), project.project_id, text, "success", True

    app.callback(
        Output(ids.PROJECT_SELECT, "options"),
        Output(ids.PROJECT_SELECT, "value"),
        Output(ids.DATA_MESSAGE, "children"),
        Output(ids.DATA_MESSAGE, "color"),
        Output(ids.DATA_MESSAGE, "is_open"),
        Input(ids.RUN, "n_clicks"),
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
        prevent_initial_call=True,
    )(run_project)

    app.callback(
        Output(ids.DATA_PANEL, "is_open"),
        Input(ids.DATA_BUTTON, "n_clicks"),
        State(ids.DATA_PANEL, "is_open"),
        prevent_initial_call=True,
    )(lambda _n, is_open: not is_open)
