"""Raw requests carrying what no page sends (Infinity, NaN, numbers and lists where an id
or a threshold belongs): each answered with a message or left alone, never "something
went wrong", and nothing recorded."""

from __future__ import annotations

import json

import pytest
from dash import no_update

from callbacks.matched import remove_matches
from callbacks.tables import reread_upload, store_upload_of
from callbacks.tuning import update_estimates, update_tuning_view
from components.ids import ids
from components.tuning import SLIDER_IDS
from matching.decisions.roles import PermissionDenied
from matching.decisions.settings import ProjectSettings
from tests.dash_http import ORIGIN, _outputs, _value, response_values

#: JSON a script may write that Python's json reads: not numbers a page can send.
NOT_FINITE = ["Infinity", "-Infinity", "NaN"]


def _started_by(deps: list[dict], trigger: str) -> list[dict]:
    """The server callbacks ``trigger`` starts (not those run in the browser)."""
    return [
        d
        for d in deps
        if any(f"{i['id']}.{i['property']}" == trigger for i in d["inputs"])
        and not d.get("clientside_function")
    ]


def _raw_post(client, dep: dict, trigger: str, values: dict, raw: dict[str, str]) -> str:
    """POST callback ``dep`` as started by ``trigger``, ``raw`` values spliced in as JSON
    text; returns the answer's text after checking it came back."""
    marked = {**values, **{key: f"__raw{n}__" for n, key in enumerate(raw)}}
    body = json.dumps(
        {
            "output": dep["output"],
            # A callback with no outputs is named by a hash alone (no "id.property").
            "outputs": _outputs(dep) if "." in dep["output"] else [],
            "inputs": [_value(i, marked) for i in dep["inputs"]],
            "state": [_value(s, marked) for s in dep["state"]],
            "changedPropIds": [trigger],
        }
    )
    for n, text in enumerate(raw.values()):
        body = body.replace(f'"__raw{n}__"', text)
    response = client.post(
        "/_dash-update-component",
        data=body,
        headers={"Origin": ORIGIN, "Content-Type": "application/json"},
    )
    assert response.status_code in (200, 204)
    return response.get_data(as_text=True)


@pytest.mark.parametrize("every", [float("inf"), float("-inf"), float("nan"), 2.5, -1])
def test_learning_every_not_a_whole_number_is_refused_in_words(every):
    with pytest.raises(ValueError, match="whole number of decisions from 0 to 1,000,000"):
        ProjectSettings().with_learning(every=every, order="table")


@pytest.mark.parametrize("every", NOT_FINITE)
def test_a_raw_post_learning_every_infinity_saves_nothing_and_says_so(demo_app, project, every):
    client = demo_app.server.test_client()
    before = demo_app.matchdesk.desk(project).settings()
    trigger = f"{ids.LEARN_SAVE}.n_clicks"
    (dep,) = _started_by(client.get("/_dash-dependencies").get_json(), trigger)
    text = _raw_post(
        client,
        dep,
        trigger,
        {trigger: 1, f"{ids.PROJECT_SELECT}.value": project.project_id},
        {f"{ids.LEARN_EVERY}.value": every, f"{ids.QUEUE_ORDER}.value": '"informative"'},
    )
    assert "went wrong" not in text
    answer = response_values(json.loads(text))[f"{ids.LEARN_MESSAGE}.children"]
    assert answer.startswith("Not saved: 'learn again every' is a whole number")
    assert demo_app.matchdesk.desk(project).settings() == before


@pytest.mark.parametrize("forged", ["[1, 2]", '{"a": 1}', "1000000000000000000000", "Infinity"])
@pytest.mark.parametrize(
    "trigger",
    [f"{ids.STATS_INTERVAL}.n_intervals", f"{ids.TABS}.active_tab", f"{ids.PROJECT_SELECT}.value"],
)
def test_a_project_id_that_is_no_id_opens_nothing_and_breaks_nothing(demo_app, trigger, forged):
    """Every callback the project menu, the tabs or the statistics' timer start."""
    client = demo_app.server.test_client()
    started = _started_by(client.get("/_dash-dependencies").get_json(), trigger)
    assert started
    value = "tuning" if trigger.startswith(ids.TABS) else 1
    for dep in started:
        text = _raw_post(
            client, dep, trigger, {trigger: value}, {f"{ids.PROJECT_SELECT}.value": forged}
        )
        assert "went wrong" not in text, (dep["output"], text[:300])


def test_services_open_no_project_for_an_id_that_is_not_text(services, project):
    for forged in ([project.project_id], {"id": project.project_id}, 10**21, 1.5, True):
        assert services.project(forged) is None
    assert services.project(project.project_id) is project


@pytest.mark.parametrize(
    "forged", [float("inf"), float("nan"), "0.5", [1, 2], {"a": 1}, True, None]
)
def test_tuning_chart_and_estimates_leave_a_forged_threshold_alone(services, project, forged):
    thresholds = {key: 0.5 for key in SLIDER_IDS} | {"keep": forged}
    assert update_tuning_view(services, project.project_id, thresholds, None) == (
        no_update,
        no_update,
    )
    status = {"project_id": project.project_id, "version": 0, "decided": 0, "bars": None}
    assert (
        update_estimates(services, project.project_id, forged, 0.8, status, trigger=ids.TUNING_KEEP)
        == (no_update,) * 3
    )
    # A status of another project (a dict) hides the estimates; anything else is ignored.
    answer = update_estimates(
        services, project.project_id, 0.5, 0.8, forged, trigger=ids.TUNING_KEEP
    )
    hidden = ("", no_update, {"display": "none"})
    assert answer == (hidden if isinstance(forged, dict) else (no_update,) * 3)


def test_tuning_chart_still_draws_for_sliders_as_a_page_sends_them(services, project):
    figure, counts = update_tuning_view(
        services, project.project_id, {key: 0.5 for key in SLIDER_IDS} | {"keep": 1}, None
    )
    assert figure is not no_update and counts is not no_update


@pytest.mark.parametrize("inbox", [1.5, [1, 2], "left", True])
def test_an_upload_inbox_that_is_no_record_changes_nothing(services, inbox):
    out = store_upload_of(services, ids.UPLOAD_INBOX, inbox, {}, 7)
    assert out == {"uploads": no_update, "left_info": no_update, "right_info": no_update}


def test_a_reviewer_may_not_read_a_kept_workbook_again(services, monkeypatch):
    monkeypatch.setattr(services, "sign_in_required", lambda: True)
    monkeypatch.setattr(services, "signed_in", lambda: ("cy", "reviewer"))
    with pytest.raises(PermissionDenied, match="upload"):
        reread_upload(services, {"token": "0" * 32}, "Sheet1", 2)
    out = store_upload_of(
        services,
        ids.EXCEL_LEFT_SHEET,
        None,
        {},
        {"left": {"token": "0" * 32, "source": "0" * 32, "sheet": "A", "header_row": 1}},
        {"left_sheet": "B", "left_header": 1},
    )
    assert out["uploads"] is no_update and "upload" in out["left_info"]


@pytest.mark.parametrize("rows", [1.5, "rows", {"left_id": "1", "right_id": "2"}, True])
def test_matches_to_remove_that_are_no_list_remove_nothing(services, project, rows):
    events = len(services.log.events(project.project_id))
    remove_matches(services, project, "ann", rows)
    assert len(services.log.events(project.project_id)) == events


@pytest.mark.parametrize("reason", ["a\x00b", "beep\x07", "esc\x1b[31m", "rtl\u202eevil"])
def test_a_reason_holding_a_control_character_is_refused_and_nothing_saved(
    services, project, reason
):
    desk = services.desk(project)
    before = desk.settings().reasons
    outcome = desk.choices.set_reasons(["twins", reason], role="lead")
    assert not outcome.ok and "holds a control character" in outcome.message
    assert desk.settings().reasons == before
    assert desk.choices.set_reasons(["twins", "née Müller"], role="lead").ok


@pytest.fixture
def workbook(services, tmp_path):
    """A two-sheet workbook read in the Data panel (by one who may upload, the open mode)."""
    import pandas as pd

    from callbacks.tables import read_upload

    path = tmp_path / "people.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"id": ["L1", "L2"], "name": ["a", "b"]}).to_excel(
            writer, sheet_name="People", index=False
        )
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="Other", index=False)
    return read_upload(services, path, "people.xlsx")


def _choose(services, workbook, trigger, sheet, header) -> dict:
    return store_upload_of(
        services,
        trigger,
        None,
        {},
        {"left": workbook},
        {"left_sheet": sheet, "left_header": header},
    )


@pytest.mark.parametrize("header", [float("inf"), float("nan"), 10**400, 1.5, "2.5", "1e400", 0])
def test_a_header_row_that_is_no_row_number_is_refused_in_the_page(services, workbook, header):
    out = _choose(services, workbook, ids.EXCEL_LEFT_HEADER, "People", header)
    assert out["uploads"] is no_update
    assert out["left_info"] == "⚠ the header row is a row number from 1"


@pytest.mark.parametrize("sheet", ["Nope", 5, ["People"]])
def test_a_sheet_the_workbook_does_not_have_is_named_and_nothing_read(services, workbook, sheet):
    out = _choose(services, workbook, ids.EXCEL_LEFT_SHEET, sheet, 1)
    assert out["uploads"] is no_update
    assert out["left_info"].startswith("⚠ people.xlsx: no sheet ")
    assert out["left_info"].endswith("; the workbook has People, Other")


def test_another_sheet_and_header_row_as_typed_are_still_read(services, workbook):
    other = _choose(services, workbook, ids.EXCEL_LEFT_SHEET, "Other", 1)
    assert other["uploads"]["left"]["sheet"] == "Other"
    typed = _choose(services, workbook, ids.EXCEL_LEFT_HEADER, "People", "2")
    assert typed["uploads"]["left"]["header_row"] == 2


@pytest.mark.parametrize("rules", [1.5, ["exact:name"], {"a": 1}, True])
def test_blocking_rules_that_are_not_text_are_refused_in_words(services, rules):
    from callbacks.propose import setup_file
    from matching.engine.spec import parse_rules

    with pytest.raises(ValueError, match="the blocking rules are text, one rule a line"):
        parse_rules(rules)
    form = (["surname"], ["surname"], ["exact"], [1], ["text"], "owner_id", "car_id", rules, None)
    out = setup_file(services, {}, None, form, 0.4, 0.9, "toml")
    assert "the blocking rules are text" in str(out)


@pytest.mark.parametrize("children", [1.5, "rows", True, None])
def test_add_field_with_a_forged_form_adds_the_first_row(services, children):
    from callbacks.propose import fill_panel

    out = fill_panel(services, ids.ADD_FIELD, {}, children, {}, None)
    assert out["fields"] is not no_update


@pytest.mark.parametrize("name", ["bad\x1bname", "ann\nbo", "rtl\u202eevil", "tab\tbed"])
def test_a_user_name_holding_a_control_character_is_refused(services, name):
    with pytest.raises(ValueError, match="no control character"):
        services.users.add(name, "reviewer", "a-long-password")
    assert name not in {u.name for u in services.users.list()}
    services.users.add("Zoë Ngũgĩ", "reviewer", "a-long-password")


@pytest.mark.parametrize("target", [["e-1"], {"id": "e-1"}, 5])
def test_an_undo_naming_no_decision_is_refused_and_undoes_nothing(services, project, target):
    desk = services.desk(project)
    view = desk.next_view("ann")
    assert desk.decide("ann", view, "reject").ok
    events = len(services.log.events(project.project_id))
    outcome = desk.undo("ann", target=target)
    assert not outcome.ok and outcome.message.startswith("That Undo names no decision of yours")
    assert len(services.log.events(project.project_id)) == events
    assert desk.undo("ann").ok


def test_the_clusters_tab_undo_with_a_forged_target_says_so(services, monkeypatch):
    from callbacks.clusters import update_clusters
    from tests.unit.test_clusters_tab import dedupe as make_dedupe

    project = make_dedupe.__wrapped__(services)
    pid = project.project_id
    events = len(services.log.events(pid))
    out = update_clusters(
        services, pid, "clusters", ids.CLUSTER_UNDO, [], "ann", {"undo_target": ["a"]}
    )
    assert out["conflict_summary"].startswith("That Undo names no decision of yours")
    assert len(services.log.events(pid)) == events


@pytest.mark.parametrize("typed", ["x" * 101, "x" * 1_000_000, "a\x1bb", "ann\nbo"])
def test_open_mode_refuses_a_typed_name_too_long_or_holding_a_control_character(
    services, project, typed
):
    from tests.helpers import review_step

    with pytest.raises(PermissionDenied, match="at most 100 characters and no control"):
        services.actor(typed)
    with pytest.raises(PermissionDenied):
        review_step(services, project, who=typed)
    assert services.log.events(project.project_id) == []
    assert services.actor("  Zoë Ngũgĩ ") == ("Zoë Ngũgĩ", "admin")
    assert services.actor("") == ("anonymous", "admin")


def test_counts_of_one_are_said_in_the_singular(services, project, tmp_path):
    import pandas as pd

    from callbacks.matched import update_matched
    from matching.engine.io import load_table

    summary = lambda: update_matched(  # noqa: E731
        services, project.project_id, "matched", None, [], "ann", None
    )["summary"]
    assert summary() == "0 accepted pairs"
    view = services.desk(project).next_view("ann")
    assert services.desk(project).decide("ann", view, "accept", view["selected"][:1]).ok
    assert summary() == "1 accepted pair"

    path = tmp_path / "one.csv"
    pd.DataFrame({"id": ["L1"]}).to_csv(path, index=False)
    assert load_table(path).report.startswith("one.csv: 1 row, 1 column (CSV")
    pd.DataFrame({"id": ["L1", "L2"], "x": [1, 2]}).to_csv(path, index=False)
    assert load_table(path).report.startswith("one.csv: 2 rows, 2 columns (CSV")
