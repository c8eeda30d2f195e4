"""The server decides from its own state: forged thresholds and roles in raw requests."""

from __future__ import annotations

import pytest

from callbacks.statistics import update_statistics
from callbacks.tuning import save_thresholds
from components.ids import ids
from tests.dash_http import ORIGIN, callback_payload, response_values
from tests.helpers import on_screen, review_step
from tests.unit.test_auth import PASSWORDS, ROLES, sign_in


@pytest.mark.parametrize(
    ("keep", "select", "problem"),
    [
        (5.0, -3, "keep must be a number between 0 and 1, not 5.0"),
        (0.9, 0.5, "keep (0.90) must not be above select (0.50)"),
        ("0.5", 0.8, "keep must be a number"),
    ],
)
def test_forged_thresholds_are_refused_with_a_message(services, project, keep, select, problem):
    before = services.desk(project).thresholds()
    text = save_thresholds(services, project.project_id, keep, select)
    assert text.startswith("Not saved:") and problem in text
    assert services.desk(project).thresholds() == before


def _save_post(client, project, keep, select):
    deps = client.get("/_dash-dependencies").get_json()
    values = {
        "tuning-save-button.n_clicks": 1,
        "project-select.value": project.project_id,
        "tuning-keep-slider.value": keep,
        "tuning-select-slider.value": select,
    }
    body = callback_payload(
        deps, "tuning-saved-text.children", values, ["tuning-save-button.n_clicks"]
    )
    response = client.post("/_dash-update-component", json=body, headers={"Origin": ORIGIN})
    assert response.status_code == 200
    return response_values(response.get_json())["tuning-saved-text.children"]


def test_a_raw_post_with_keep_5_and_select_minus_3_saves_nothing(demo_app, project):
    client = demo_app.server.test_client()
    text = _save_post(client, project, 5.0, -3)
    assert text.startswith("Not saved: keep must be a number between 0 and 1")
    assert demo_app.matchdesk.desk(project).thresholds() == {"keep": 0.26, "select": 0.33}


@pytest.mark.parametrize(("name", "saved"), [("cy", False), ("bo", True), ("ann", True)])
def test_only_a_lead_or_admin_may_save_thresholds(demo_app, project, name, saved):
    for user, role in ROLES.items():
        demo_app.matchdesk.users.add(user, role, PASSWORDS[user])
    client, _ = sign_in(demo_app, name)
    text = _save_post(client, project, 0.4, 0.6)
    if saved:
        assert text.startswith("Saved:")
        assert demo_app.matchdesk.desk(project).thresholds() == {"keep": 0.4, "select": 0.6}
    else:
        assert text == "Not saved: only a lead or above may save thresholds; you are a reviewer."
        assert demo_app.matchdesk.desk(project).thresholds() == {"keep": 0.26, "select": 0.33}


def test_a_reviewer_cannot_upload_by_raw_post(demo_app):
    for user, role in ROLES.items():
        demo_app.matchdesk.users.add(user, role, PASSWORDS[user])
    client, _ = sign_in(demo_app, "cy")
    deps = client.get("/_dash-dependencies").get_json()
    inbox = {"side": "left", "name": "t.csv", "contents": "data:;base64,aWQKMQo="}
    body = callback_payload(
        deps, "upload-store.data", {"upload-inbox-store.data": inbox}, ["upload-inbox-store.data"]
    )
    response = client.post("/_dash-update-component", json=body, headers={"Origin": ORIGIN})
    out = response_values(response.get_json())
    assert "only an admin may upload tables" in out["upload-left-info.children"]
    assert out["upload-store.data"] == {}


@pytest.mark.parametrize(
    ("name", "role", "rows"), [("cy", "reviewer", ["cy"]), ("bo", "lead", ["bo", "cy"])]
)
def test_only_a_lead_sees_everyones_statistics(services, project, monkeypatch, name, role, rows):
    for who in ("bo", "cy"):
        view = review_step(services, project, who=who)["view"]
        review_step(services, project, ids.REJECT, view, who=who)
    services.users.add("ann", "admin", "pw")
    monkeypatch.setattr(services, "signed_in", lambda: (name, role))
    table = update_statistics(services, project.project_id, "statistics", None)[2]
    text = str(table.to_plotly_json())
    assert all(f"'{r}'" in text for r in rows)
    assert ("'bo'" in text) == ("bo" in rows)


def _review_answer(client, values: dict, changed: str) -> dict:
    deps = client.get("/_dash-dependencies").get_json()
    body = callback_payload(deps, f"{ids.RECORD_LABEL}.children", values, [changed])
    response = client.post("/_dash-update-component", json=body, headers={"Origin": ORIGIN})
    assert response.status_code == 200
    return response_values(response.get_json())


@pytest.mark.parametrize(
    "shown",
    [{"data": {"record": "2"}, "timestamp": 1}, None, {"data": {"record": 1}}, "garbage", []],
)
def test_a_raw_post_deciding_a_record_not_on_screen_records_nothing(demo_app, project, shown):
    client = demo_app.server.test_client()
    page = {
        f"{ids.PROJECT_SELECT}.value": project.project_id,
        f"{ids.REVIEWER}.value": "ann",
        f"{ids.TABS}.active_tab": "review",
    }
    view = _review_answer(client, page, f"{ids.PROJECT_SELECT}.value")[f"{ids.VIEW_STORE}.data"]
    assert view["left_id"] == "1"
    press = {
        **page,
        f"{ids.REJECT}.n_clicks": 1,
        f"{ids.VIEW_STORE}.data": view,
        f"{ids.CANDIDATE_GRID}.eventData": shown,
    }
    out = _review_answer(client, press, f"{ids.REJECT}.n_clicks")
    assert "nothing was recorded" in out[f"{ids.MESSAGE}.children"]
    assert out[f"{ids.MESSAGE}.color"] == "danger"
    assert out[f"{ids.RECORD_LABEL}.children"] == "Record 1 of 5"
    assert demo_app.matchdesk.log.events(project.project_id) == []
    # The same press from a page whose grid showed record 1 is recorded.
    press[f"{ids.CANDIDATE_GRID}.eventData"] = on_screen(view)
    out = _review_answer(client, press, f"{ids.REJECT}.n_clicks")
    assert out[f"{ids.RECORD_LABEL}.children"] == "Record 2 of 5"
    assert list(demo_app.matchdesk.log.state(project.project_id).decisions) == ["1"]
