"""A manager reads statistics, the matched table and exports, and changes nothing."""

from __future__ import annotations

import pytest

from components.ids import ids
from components.tuning import SLIDER_IDS
from matching.decisions.roles import PermissionDenied, allowed, require
from tests.dash_http import ORIGIN, callback_payload, response_values
from tests.unit.test_auth import PASSWORDS, ROLES, sign_in


@pytest.fixture
def team_app(demo_app):
    """The demo app with an admin, a lead, a reviewer and a manager (mo), and one
    decision of the reviewer's, so there is a match to remove and to export."""
    for name, role in {**ROLES, "mo": "manager"}.items():
        demo_app.matchdesk.users.add(name, role, PASSWORDS.get(name, "mo-pw"))
    services = demo_app.matchdesk
    project = services.project(services.project_options()[0]["value"])
    desk = services.desk(project)
    view = desk.next_view("cy")
    assert desk.decide("cy", view, "accept", view["selected"][:1]).ok
    desk.release("cy")
    return demo_app


def _state(app):
    services = app.matchdesk
    project = services.project(services.project_options()[0]["value"])
    log = services.log
    return (
        [e.event_id for e in log.events(project.project_id)],
        log.project(project.project_id)["settings"],
        [p["value"] for p in services.project_options()],
        sorted(u.name for u in services.users.list()),
    )


def test_a_manager_may_read_and_nothing_else():
    assert allowed("manager", "statistics_all") and allowed("manager", "export")
    for action in ("decide", "undo_own", "bulk", "save_thresholds", "upload", "manage_users"):
        assert not allowed("manager", action)
        with pytest.raises(PermissionDenied, match="a manager reads"):
            require("manager", action)


def test_every_button_a_manager_presses_by_raw_post_changes_nothing(team_app):
    """Each callback of the page that a button starts, sent by a manager twice over with
    what a lead's page would hold (the record shown, a selected match, thresholds, and
    whatever the first round's answers put in the page's stores): the log, the settings,
    the projects and the users stay as they were."""
    services = team_app.matchdesk
    project = services.project(services.project_options()[0]["value"])
    desk = services.desk(project)
    view = desk.next_view("bo", role="lead")
    desk.release("bo")
    (left, decision), *_ = desk.refresh().decisions.items()
    match = {"left_id": left, "right_id": decision.right_ids[0]}
    values = {
        f"{ids.PROJECT_SELECT}.value": project.project_id,
        f"{ids.REVIEWER}.value": "mo",
        f"{ids.TABS}.active_tab": "matched",
        f"{ids.VIEW_STORE}.data": view,
        f"{ids.CANDIDATE_GRID}.selectedRows": [{"_right_id": r} for r in view["selected"]],
        f"{ids.MATCHED_GRID}.selectedRows": [match],
        f"{ids.CONFLICT_GRID}.selectedRows": [match],
        f"{ids.ADJUDICATION_GRID}.selectedRows": [match],
        **{f"{i}.value": 0.05 for i in SLIDER_IDS.values()},
    }
    client, _ = sign_in(team_app, "mo", "mo-pw")
    deps = client.get("/_dash-dependencies").get_json()
    before = _state(team_app)
    fired = 0
    for _round in range(2):
        for dep in deps:
            for trigger in dep["inputs"]:
                if trigger["property"] != "n_clicks" or trigger["id"].startswith("{"):
                    continue
                changed = f"{trigger['id']}.{trigger['property']}"
                output = dep["output"].strip(".").split("...")[0]
                body = callback_payload(deps, output, {**values, changed: 1}, [changed])
                response = client.post(
                    "/_dash-update-component", json=body, headers={"Origin": ORIGIN}
                )
                fired += 1
                if response.status_code == 200:
                    answer = response_values(response.get_json())
                    values.update({k: v for k, v in answer.items() if k.endswith(".data")})
    assert fired > 40
    assert _state(team_app) == before


def _review_post(client, values, changed):
    deps = client.get("/_dash-dependencies").get_json()
    body = callback_payload(deps, "record-label.children", values, [changed])
    return client.post("/_dash-update-component", json=body, headers={"Origin": ORIGIN})


def test_a_managers_review_tab_leases_nothing_and_a_forged_accept_is_refused(team_app):
    services = team_app.matchdesk
    project = services.project(services.project_options()[0]["value"])
    desk = services.desk(project)
    client, _ = sign_in(team_app, "mo", "mo-pw")
    opened = _review_post(
        client, {f"{ids.PROJECT_SELECT}.value": project.project_id}, f"{ids.PROJECT_SELECT}.value"
    )
    assert opened.status_code == 200 and "Read only." in opened.get_data(as_text=True)
    assert services.log.busy_records(project.project_id, "nobody") == set()
    # A view taken from a reviewer's page, sent back by the manager with Accept.
    view = desk.next_view("bo", role="lead")
    desk.release("bo")
    events = len(services.log.events(project.project_id))
    _review_post(
        client,
        {
            f"{ids.PROJECT_SELECT}.value": project.project_id,
            f"{ids.ACCEPT}.n_clicks": 1,
            f"{ids.VIEW_STORE}.data": view,
            f"{ids.CANDIDATE_GRID}.selectedRows": [{"_right_id": r} for r in view["selected"]],
            f"{ids.CANDIDATE_GRID}.eventData": {"data": {"record": view["left_id"]}},
        },
        f"{ids.ACCEPT}.n_clicks",
    )
    assert len(services.log.events(project.project_id)) == events


def test_the_desk_refuses_a_manager_every_write(team_app):
    services = team_app.matchdesk
    project = services.project(services.project_options()[0]["value"])
    desk = services.desk(project)
    view = desk.next_view("bo", role="lead")
    desk.release("bo")
    accepted = desk.refresh().decisions
    (left, decision), *_ = accepted.items()
    assert desk.next_view("mo", role="manager")["read_only"]
    assert desk.audits.next_audit_view("mo", role="manager")["read_only"]
    assert not desk.decide("mo", view, "reject", role="manager").ok
    assert not desk.matches.unmatch("mo", [(left, decision.right_ids[0])], role="manager").ok
    assert not desk.batches.apply_bulk("mo", "accept", threshold=0.1, role="manager").ok
    assert not desk.audits.set_double_review("mo", 0.5, role="manager").ok
    with pytest.raises(PermissionDenied):
        desk.undo("mo", role="manager")
    assert desk.refresh().decisions == accepted


def test_a_manager_downloads_the_export_and_sees_everyones_statistics(team_app):
    from callbacks.statistics import update_statistics  # noqa: F401 - the tab's callback

    services = team_app.matchdesk
    pid = services.project_options()[0]["value"]
    client, _ = sign_in(team_app, "mo", "mo-pw")
    response = client.get(f"/export/{pid}/matches.csv", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.get_data(as_text=True).count("\n") == 2  # the header and cy's match
