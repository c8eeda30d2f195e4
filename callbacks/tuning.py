"""Tuning tab: live counts and histogram per slider move, saved thresholds, bulk decisions.

A slider move costs a few binary searches on the project's
:class:`~matching.engine.score_index.ScoreIndex` (built once, kept by the services) and a
figure. Work that passes over the pairs together with the decisions (the
status histogram, the estimates) reads the review desk's columns, is cached per
version of the decision log (the desk's ``last_seq``) in the services' cache,
and its small result reaches the slider callback through the
``TUNING_STATUS`` store, so a slider move reads no decisions at all.
"""

from __future__ import annotations

import math
import time

from dash import ALL, Input, Output, State, ctx, no_update
from itsdangerous import BadSignature, URLSafeSerializer

from components.ids import ids, pattern_part
from components.tuning import (
    SLIDER_IDS,
    audit_table,
    band_figure,
    counts_panel,
    floor_note,
    pattern_rows,
    pattern_sample,
    tuning_figure,
)
from matching.decisions.evidence import with_compared_values
from matching.decisions.roles import PermissionDenied
from matching.decisions.tuning import (
    MIN_REVIEWED_PAIRS,
    PATTERN_OPS,
    acceptance_by_band,
    estimate_from_reviewed,
    histogram_by_status,
    reviewed_pairs,
)
from matching.engine.project import Project
from server.services import Services, services_of

__all__ = [
    "register",
    "load_thresholds",
    "refresh_status",
    "update_tuning_view",
    "update_estimates",
    "save_thresholds",
    "load_settings",
    "save_reasons",
    "handle_bulk",
]

BULK_BUTTONS = {ids.AUTO_ACCEPT: "accept", ids.AUTO_REJECT: "reject"}


def _fraction(value: object) -> float | None:
    """A threshold a page sent, as a float in [0, 1]; None for anything but a finite
    number (an empty direct-input box, or a forged request)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return min(max(float(value), 0.0), 1.0)


def _clean(thresholds: dict) -> dict[str, float] | None:
    """Slider values as floats in [0, 1]; None while one is not a number (see _fraction)."""
    values = {k: _fraction(thresholds.get(k)) for k in SLIDER_IDS}
    return None if None in values.values() else values


def load_thresholds(services: Services, project_id) -> tuple:
    """Slider positions for a newly opened project: its saved keep and select,
    auto-accept at 0.9 (or select, if higher) with margin 0.1, auto-reject at keep.
    """
    project = services.project(project_id)
    if project is None:
        return (no_update,) * len(SLIDER_IDS)
    th = services.desk(project).thresholds()
    return th["keep"], th["select"], max(th["select"], 0.9), 0.1, th["keep"]


def load_settings(services: Services, project_id) -> dict:
    """What a newly opened project's settings put on the tab: the note under the keep
    slider naming the floor, and the reasons reviewers pick from, one a line."""
    project = services.project(project_id if isinstance(project_id, str) else None)
    if project is None:
        return {"floor": "", "reasons": ""}
    settings = services.desk(project).settings()
    return {"floor": floor_note(settings.keep_floor), "reasons": "\n".join(settings.reasons)}


def save_reasons(services: Services, project_id, text) -> str:
    """Store the reasons reviewers pick from (one a line; none: the defaults)."""
    project = services.project(project_id if isinstance(project_id, str) else None)
    if project is None or not isinstance(text, str):
        return ""
    try:
        role = services.actor(None)[1]
    except PermissionDenied as exc:
        return f"Not saved: {exc}."
    return services.desk(project).choices.set_reasons(text.splitlines(), role=role).message


def _status_bins(services: Services, project: Project, version: int) -> dict:
    key = f"tuning-status:{project.project_id}:{project.model_version}:{version}"
    hit = services.cache.get(key)
    if hit is None:
        bins = len(services.score_index(project).counts_by_bin)
        pairs = services.desk(project).views.pair_status()
        frame = histogram_by_status(project.candidates, pairs, bins=bins)
        hit = {k: frame[k].tolist() for k in ("accepted", "rejected", "undecided")}
        services.cache.set(key, hit)
    return hit


def refresh_status(services: Services, project_id, tab, seen) -> dict:
    """The decisions' share of the tuning chart, when the Tuning tab shows and they changed.

    Returns ``{"project_id", "version", "model", "decided", "bars"}`` (``bars`` None
    while nothing is decided; ``model`` the version of the model that scored the pairs)
    or ``no_update``.
    """
    project = services.project(project_id)
    if project is None or tab != "tuning":
        return no_update
    ledger = services.desk(project).refresh()
    project = services.project(project_id)  # scored by a model learned meanwhile, if one was
    version, model = ledger.last_seq, project.model_version
    if seen and (seen.get("project_id"), seen.get("version"), seen.get("model", 0)) == (
        project_id,
        version,
        model,
    ):
        return no_update
    decided = ledger.counts()["decided"]
    bars = _status_bins(services, project, version) if decided else None
    out = {"project_id": project_id, "version": version, "decided": decided, "bars": bars}
    return out | {"model": model}


def update_tuning_view(services: Services, project_id, thresholds: dict, status) -> tuple:
    """Chart and live counts for one slider position (the slider callback)."""
    project = services.project(project_id)
    values = _clean(thresholds)
    if project is None or values is None:
        return no_update, no_update
    index = services.score_index(project)
    counts = index.counts(**values)
    edges, totals = index.histogram()
    bars = {"pairs": totals.tolist()}
    if isinstance(status, dict) and status.get("project_id") == project_id and status.get("bars"):
        bars = status["bars"]
    return tuning_figure(edges.tolist(), bars, values), counts_panel(counts)


def _estimate(services: Services, project: Project, version: int, cut: float) -> dict | None:
    """The estimate at one threshold; the reviewed pairs are gathered once per log version."""
    key = f"tuning-reviewed:{project.project_id}:{version}"
    hit = services.cache.get(key)
    if hit is None:
        desk = services.desk(project)
        now = desk.refresh().last_seq
        scores, accepted = reviewed_pairs(project.candidates, desk.views.pair_status())
        hit = {"scores": scores, "accepted": accepted}
        services.cache.set(f"tuning-reviewed:{project.project_id}:{now}", hit)
    return estimate_from_reviewed(hit["scores"], hit["accepted"], keep=cut, select=cut)


def _bands(services: Services, project: Project, version: int) -> dict:
    key = f"tuning-bands:{project.project_id}:{version}"
    hit = services.cache.get(key)
    if hit is None:
        frame = acceptance_by_band(project.candidates, services.desk(project).views.pair_status())
        hit = {c: frame[c].tolist() for c in frame.columns}
        hit["acceptance_rate"] = [None if r != r else r for r in hit["acceptance_rate"]]
        services.cache.set(key, hit)
    return hit


def _estimate_text(estimate: dict | None, reviewed: int, cut: float) -> str:
    if estimate is None:
        return (
            f"Estimates appear once reviewers have decided {MIN_REVIEWED_PAIRS} pairs"
            f" ({reviewed} so far; automatic decisions do not count)."
        )

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.0%}"

    def ci(name: str) -> str:
        low, high = estimate[f"{name}_low"], estimate[f"{name}_high"]
        return "" if low is None else f" (95% interval {low:.0%} to {high:.0%})"

    return (
        f"Estimate from {estimate['reviewed']:,} reviewed pairs: pre-selecting pairs from"
        f" {cut:.2f} gives precision {pct(estimate['precision'])}{ci('precision')},"
        f" {estimate['selected_accepted']:,} of {estimate['selected']:,} pre-selected pairs"
        f" accepted; and recall {pct(estimate['recall'])}{ci('recall')},"
        f" {estimate['selected_accepted']:,} of {estimate['accepted']:,} accepted pairs"
        " pre-selected. Reviewers reached these pairs in queue order, not at random: the"
        " intervals cover chance, not that bias. Automatic decisions are not counted."
    )


def update_estimates(services: Services, project_id, keep, select, status, *, trigger) -> tuple:
    """Precision/recall text for keep and select, and the acceptance-by-band chart."""
    project = services.project(project_id)
    keep, select = _fraction(keep), _fraction(select)
    if (
        project is None
        or keep is None
        or select is None
        or not isinstance(status, dict)
        or not status
    ):
        return no_update, no_update, no_update
    if status.get("project_id") != project_id:
        return "", no_update, {"display": "none"}
    version = status["version"]
    bands = _bands(services, project, version)
    reviewed = int(sum(bands["reviewed"]))
    cut = max(float(keep), float(select))
    text = _estimate_text(_estimate(services, project, version, cut), reviewed, cut)
    if trigger in (ids.TUNING_KEEP, ids.TUNING_SELECT):
        return text, no_update, no_update
    if reviewed < MIN_REVIEWED_PAIRS:
        return text, no_update, {"display": "none"}
    figure = band_figure(
        bands["band_start"], bands["band_end"], bands["reviewed"], bands["acceptance_rate"]
    )
    return text, figure, {}


def save_thresholds(services: Services, project_id, keep, select) -> str:
    """Store keep (never below the project's floor) and select: what reviewers see next."""
    project = services.project(project_id if isinstance(project_id, str) else None)
    if project is None or keep is None or select is None:
        return ""
    try:
        role = services.actor(None)[1]
    except PermissionDenied as exc:
        return f"Not saved: {exc}."
    return services.desk(project).choices.set_thresholds(keep, select, role=role).message


def _pending(kind: str, version: int, values: dict[str, float]) -> dict:
    if kind == "accept":
        threshold, margin = values["auto_accept"], values["margin"]
        batch = f"auto-accept|{version}|{threshold}|{margin}"
    else:
        threshold, margin = values["auto_reject"], 0.0
        batch = f"auto-reject|{version}|{threshold}"
    return {"kind": kind, "threshold": threshold, "margin": margin, "batch": batch}


def _question(pending: dict, count: int) -> str:
    if not count:
        return "No undecided record meets this rule: there is nothing to apply."
    records = "record" if count == 1 else "records"
    if pending["kind"] == "accept":
        return (
            f"Accept the best candidate of {count:,} undecided {records}: best score at least"
            f" {pending['threshold']:.2f}, ahead of the runner-up by at least"
            f" {pending['margin']:.2f}? The decisions are marked automatic; Undo on the"
            " Review tab reverts them all."
        )
    return (
        f"Mark {count:,} undecided {records} as no match: best score below"
        f" {pending['threshold']:.2f}? The decisions are marked automatic; Undo on the"
        " Review tab reverts them all."
    )


def bulk_signer(services: Services) -> URLSafeSerializer:
    """Signs a pending bulk action, so the page can hold it but not change it.

    The key is kept in the database, the same for every worker process.
    """
    return URLSafeSerializer(services.users.secret("bulk_secret"), salt="matchdesk-bulk")


def read_pending(services: Services, pending) -> dict | None:
    """The pending bulk action the page sent back, or None unless the server signed it."""
    if not isinstance(pending, str):
        return None
    try:
        action = bulk_signer(services).loads(pending)
    except BadSignature:
        return None
    return action if isinstance(action, dict) else None


def handle_bulk(
    services: Services, project_id, reviewer, thresholds: dict, pending, *, trigger
) -> tuple:
    """Open the confirmation (naming the count), cancel it, or write the batch.

    Returns modal open, modal text, Confirm disabled, the pending action (signed
    by the server: see :func:`bulk_signer`), result text and the done store
    (which refreshes the chart).
    """
    skip = (no_update,) * 6
    project = services.project(project_id if isinstance(project_id, str) else None)
    if project is None:
        return skip
    who, role = services.actor(reviewer)
    desk = services.desk(project)
    if trigger in BULK_BUTTONS:
        values = _clean(thresholds)
        if values is None:
            return skip
        version = desk.refresh().last_seq
        action = {**_pending(BULK_BUTTONS[trigger], version, values), "project_id": project_id}
        count = desk.batches.bulk_preview(
            who, action["kind"], threshold=action["threshold"], margin=action["margin"]
        )
        token = bulk_signer(services).dumps(action)
        return True, _question(action, count), count == 0, token, no_update, no_update
    if trigger == ids.BULK_CONFIRM:
        pending = read_pending(services, pending)
        if pending is None:
            refused = (
                "That confirmation could not be checked; open the dialog again. "
                "Nothing was recorded."
            )
            return False, no_update, True, None, refused, no_update
        if pending.get("project_id") != project_id:
            refused = "That action belongs to another project; nothing was recorded."
            return False, no_update, True, None, refused, no_update
        outcome = desk.batches.apply_bulk(
            who,
            pending.get("kind"),
            threshold=pending.get("threshold"),
            margin=pending.get("margin", 0.0),
            batch=str(pending.get("batch") or "") or None,
            role=role,
            now=time.time(),
        )
        if not outcome.ok:
            return False, no_update, True, None, outcome.message, no_update
        if not outcome.written:  # a second click of the same batch: the first one reported it
            return False, no_update, True, None, no_update, no_update
        verb = "accepted" if pending["kind"] == "accept" else "marked no match"
        result = f"{outcome.written:,} records {verb} automatically by {who}."
        done = {"batch": pending.get("batch"), "written": outcome.written}
        return False, no_update, True, None, result, done
    return False, no_update, no_update, None, no_update, no_update


def _batch_label(batch: dict) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(batch["time"]))
    kind = "auto-accept" if batch["kind"] == "accept" else "auto-reject"
    return f"{kind} of {batch['records']:,} records by {batch['reviewer']}, {when}"


def update_audits(
    services: Services, project_id, tab, trigger, batch, margin, reviewer, share=None
) -> dict:
    """Draw an audit or a double-review share when asked, then list the automatic
    batches and what audits found."""
    project = services.project(project_id if isinstance(project_id, str) else None)
    if project is None:
        return {"options": [], "message": "", "table": audit_table([])}
    if tab != "tuning" and trigger not in (ids.AUDIT_DRAW, ids.DOUBLE_DRAW):
        return dict.fromkeys(AUDIT_OUTPUTS, no_update)
    desk = services.desk(project)
    # Only a click says something new; a refresh (the tab's interval) keeps the message.
    message = "" if trigger == ids.PROJECT_SELECT else no_update
    if trigger == ids.DOUBLE_DRAW:
        who, role = services.actor(reviewer)
        try:
            part = float(share) / 100
        except (TypeError, ValueError):
            part = float("nan")
        if not 0.0 < part <= 1.0:
            message = "The share must be between 1% and 100%; nothing was drawn."
        else:
            message = desk.audits.set_double_review(who, part, role=role).message
    if trigger == ids.AUDIT_DRAW:
        who, role = services.actor(reviewer)
        try:
            fraction = float(margin) / 100
        except (TypeError, ValueError):
            fraction = float("nan")
        if not isinstance(batch, str):
            message = "Choose an automatic batch to audit first; nothing was drawn."
        elif not 0.001 <= fraction <= 0.5:
            message = "The margin must be between 0.1% and 50%; nothing was drawn."
        else:
            message = desk.audits.draw_audit(who, batch, margin=fraction, role=role).message
    batches = desk.batches.automatic_batches()
    return {
        "options": [{"label": _batch_label(b), "value": b["batch"]} for b in batches],
        "message": message,
        "table": audit_table(desk.audits.audit_results()),
    }


def pattern_conditions(fields: list[str], ops, values) -> tuple[dict, str | None]:
    """The page's pattern rows as conditions, or a message saying what is wrong with them."""
    ops = ops if isinstance(ops, list) else []
    values = values if isinstance(values, list) else []
    conditions = {}
    for name, op, value in zip(fields, ops, values):
        if op in (None, "any"):
            continue
        if op not in PATTERN_OPS:
            return {}, f"{op!r} is not a comparison; nothing was decided."
        try:
            number = float(value)
        except (TypeError, ValueError):
            return {}, f"Give {name} a score between 0 and 1; nothing was decided."
        if not 0.0 <= number <= 1.0:
            return {}, f"Give {name} a score between 0 and 1; nothing was decided."
        conditions[name] = (op, number)
    if not conditions:
        return {}, "Choose a comparison for at least one field; nothing was decided."
    return conditions, None


#: The pattern callback's outputs, by name.
PATTERN_OUTPUTS = {
    "result": Output(ids.PATTERN_RESULT, "children"),
    "open": Output(ids.PATTERN_MODAL, "is_open"),
    "question": Output(ids.PATTERN_TEXT, "children"),
    "pending": Output(ids.PATTERN_PENDING, "data"),
}


def _pattern_question(kind: str, count: int) -> str:
    records = "record" if count == 1 else "records"
    if kind == "accept":
        what = f"Accept the best fitting candidate of {count:,} undecided {records}"
    else:
        what = f"Mark {count:,} undecided {records} as no match"
    return (
        f"{what}, as this agreement pattern picks them? The decisions are marked automatic;"
        " Undo on the Review tab reverts them all."
    )


def update_pattern(
    services: Services, project_id, trigger, ops, values, reviewer, pending=None
) -> dict:
    """Preview an agreement pattern; ask to confirm its batch, naming the count; or,
    once confirmed, decide the records it picks as one batch."""
    out = dict.fromkeys(PATTERN_OUTPUTS, no_update)
    project = services.project(project_id if isinstance(project_id, str) else None)
    if project is None or trigger not in PATTERN_BUTTONS:
        return out
    if trigger == ids.PATTERN_CANCEL:
        return {**out, "open": False, "pending": None}
    desk = services.desk(project)
    if trigger == ids.PATTERN_CONFIRM:
        action = read_pending(services, pending)
        if action is None or action.get("project_id") != project_id:
            refused = "That confirmation could not be checked; nothing was recorded."
            return {**out, "open": False, "pending": None, "result": refused}
        kind = action["kind"]
        conditions = {f: (op, float(v)) for f, (op, v) in action["conditions"].items()}
        who, role = services.actor(reviewer)
        outcome = desk.batches.apply_pattern(who, kind, conditions, role=role)
        verb = "accepted" if kind == "accept" else "marked no match"
        note = f" {outcome.message}" if outcome.message else ""
        result = (
            f"{outcome.written:,} records {verb} automatically by {who}; Undo on the Review tab "
            f"reverts them.{note}"
            if outcome.ok
            else outcome.message
        )
        return {**out, "open": False, "pending": None, "result": result}
    fields = [f.name for f in project.spec.fields]
    conditions, problem = pattern_conditions(fields, ops, values)
    if problem:
        return {**out, "result": problem}
    if trigger == ids.PATTERN_PREVIEW:
        count, rows = desk.batches.pattern_preview("accept", conditions)
        rejects, _ = desk.batches.pattern_preview("reject", conditions)
        sample = pattern_sample(count, "accept", with_compared_values(project, rows))
        note = f"With No match: {rejects:,} records would be marked no match."
        return {**out, "result": [sample, note]}
    kind = PATTERN_BUTTONS[trigger]
    count, _ = desk.batches.pattern_preview(kind, conditions)
    if not count:
        return {**out, "result": "No undecided record fits this pattern; nothing to apply."}
    action = {
        "kind": kind,
        "conditions": {f: [op, v] for f, (op, v) in conditions.items()},
        "project_id": project_id,
    }
    return {
        **out,
        "open": True,
        "question": _pattern_question(kind, count),
        "pending": bulk_signer(services).dumps(action),
    }


#: Pattern button -> what it does.
PATTERN_BUTTONS = {
    ids.PATTERN_PREVIEW: "preview",
    ids.PATTERN_ACCEPT: "accept",
    ids.PATTERN_REJECT: "reject",
    ids.PATTERN_CONFIRM: "confirm",
    ids.PATTERN_CANCEL: "cancel",
}


AUDIT_OUTPUTS = {
    "options": Output(ids.AUDIT_BATCH, "options"),
    "message": Output(ids.AUDIT_MESSAGE, "children"),
    "table": Output(ids.AUDIT_TABLE, "children"),
}


def register(app) -> None:
    services = services_of(app)
    sliders = [Output(i, "value") for i in SLIDER_IDS.values()]

    def thresholds_callback(project_id):
        return load_thresholds(services, project_id)

    app.callback(*sliders, Input(ids.PROJECT_SELECT, "value"))(thresholds_callback)

    def settings_callback(project_id):
        return load_settings(services, project_id)

    app.callback(
        output={
            "floor": Output(ids.TUNING_FLOOR, "children"),
            "reasons": Output(ids.REASONS_TEXT, "value"),
        },
        inputs={"project_id": Input(ids.PROJECT_SELECT, "value")},
    )(settings_callback)

    def reasons_callback(_n, project_id, text):
        return save_reasons(services, project_id, text)

    app.callback(
        Output(ids.REASONS_SAVED, "children"),
        Input(ids.REASONS_SAVE, "n_clicks"),
        State(ids.PROJECT_SELECT, "value"),
        State(ids.REASONS_TEXT, "value"),
        prevent_initial_call=True,
    )(reasons_callback)

    def status_callback(project_id, tab, _tick, _done, _learned, seen):
        return refresh_status(services, project_id, tab, seen)

    app.callback(
        Output(ids.TUNING_STATUS, "data"),
        Input(ids.PROJECT_SELECT, "value"),
        Input(ids.TABS, "active_tab"),
        Input(ids.STATS_INTERVAL, "n_intervals"),
        Input(ids.BULK_DONE, "data"),
        Input(ids.LEARN_DONE, "data"),
        State(ids.TUNING_STATUS, "data"),
    )(status_callback)

    def view_callback(project_id, thresholds, status):
        return update_tuning_view(services, project_id, thresholds, status)

    app.callback(
        output=[Output(ids.TUNING_CHART, "figure"), Output(ids.TUNING_COUNTS, "children")],
        inputs={
            "project_id": Input(ids.PROJECT_SELECT, "value"),
            "thresholds": {k: Input(i, "value") for k, i in SLIDER_IDS.items()},
            "status": Input(ids.TUNING_STATUS, "data"),
        },
    )(view_callback)

    def estimates_callback(project_id, keep, select, status):
        return update_estimates(
            services, project_id, keep, select, status, trigger=ctx.triggered_id
        )

    app.callback(
        Output(ids.ESTIMATE_TEXT, "children"),
        Output(ids.BAND_CHART, "figure"),
        Output(ids.BAND_CHART, "style"),
        Input(ids.PROJECT_SELECT, "value"),
        Input(ids.TUNING_KEEP, "value"),
        Input(ids.TUNING_SELECT, "value"),
        Input(ids.TUNING_STATUS, "data"),
    )(estimates_callback)

    def save_callback(_n, project_id, keep, select):
        return save_thresholds(services, project_id, keep, select)

    app.callback(
        Output(ids.TUNING_SAVED, "children"),
        Input(ids.TUNING_SAVE, "n_clicks"),
        State(ids.PROJECT_SELECT, "value"),
        State(ids.TUNING_KEEP, "value"),
        State(ids.TUNING_SELECT, "value"),
        prevent_initial_call=True,
    )(save_callback)

    def bulk_callback(clicks, project_id, reviewer, thresholds, pending):
        return handle_bulk(
            services, project_id, reviewer, thresholds, pending, trigger=ctx.triggered_id
        )

    def pattern_fields_callback(project_id):
        project = services.project(project_id if isinstance(project_id, str) else None)
        return pattern_rows([f.name for f in project.spec.fields] if project else [])

    app.callback(Output(ids.PATTERN_FIELDS, "children"), Input(ids.PROJECT_SELECT, "value"))(
        pattern_fields_callback
    )

    def pattern_callback(_clicks, project_id, ops, values, reviewer, pending):
        return update_pattern(
            services, project_id, ctx.triggered_id, ops, values, reviewer, pending
        )

    app.callback(
        output=PATTERN_OUTPUTS,
        inputs=[
            [Input(button, "n_clicks") for button in PATTERN_BUTTONS],
            State(ids.PROJECT_SELECT, "value"),
            State(pattern_part("op", ALL), "value"),
            State(pattern_part("value", ALL), "value"),
            State(ids.REVIEWER, "value"),
            State(ids.PATTERN_PENDING, "data"),
        ],
        prevent_initial_call=True,
    )(pattern_callback)

    def audits_callback(
        project_id, tab, _draw, _double, _tick, _done, batch, margin, reviewer, share
    ):
        trigger = ctx.triggered_id
        return update_audits(services, project_id, tab, trigger, batch, margin, reviewer, share)

    app.callback(
        output=AUDIT_OUTPUTS,
        inputs=[
            Input(ids.PROJECT_SELECT, "value"),
            Input(ids.TABS, "active_tab"),
            Input(ids.AUDIT_DRAW, "n_clicks"),
            Input(ids.DOUBLE_DRAW, "n_clicks"),
            Input(ids.STATS_INTERVAL, "n_intervals"),
            Input(ids.BULK_DONE, "data"),
            State(ids.AUDIT_BATCH, "value"),
            State(ids.AUDIT_MARGIN, "value"),
            State(ids.REVIEWER, "value"),
            State(ids.DOUBLE_SHARE, "value"),
        ],
    )(audits_callback)

    app.callback(
        output=[
            Output(ids.BULK_MODAL, "is_open"),
            Output(ids.BULK_TEXT, "children"),
            Output(ids.BULK_CONFIRM, "disabled"),
            Output(ids.BULK_PENDING, "data"),
            Output(ids.BULK_RESULT, "children"),
            Output(ids.BULK_DONE, "data"),
        ],
        inputs={
            "clicks": [
                Input(ids.AUTO_ACCEPT, "n_clicks"),
                Input(ids.AUTO_REJECT, "n_clicks"),
                Input(ids.BULK_CONFIRM, "n_clicks"),
                Input(ids.BULK_CANCEL, "n_clicks"),
            ],
            "project_id": State(ids.PROJECT_SELECT, "value"),
            "reviewer": State(ids.REVIEWER, "value"),
            "thresholds": {k: State(i, "value") for k, i in SLIDER_IDS.items()},
            "pending": State(ids.BULK_PENDING, "data"),
        },
        prevent_initial_call=True,
    )(bulk_callback)
