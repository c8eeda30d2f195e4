"""Named projects: versions under a name, a lead's re-run from the stored tables, and the
project each user reopens."""

from __future__ import annotations

import pandas as pd
import pytest
from dash import no_update

from callbacks.data import finish_run, start_run
from callbacks.projects import name_note, proposed_name, remember_project, rerun_tables
from components.data import ONE_TABLE
from components.ids import ids
from matching.decisions.roles import PermissionDenied
from matching.decisions.settings import ProjectSettings
from matching.decisions.users import UserStore
from matching.decisions.versions import clean_name, menu_options, next_version, versions
from matching.engine.spec import Field, Spec, cleaning_text
from matching.workspace import Workspace, WorkspaceConfig
from tests.dash_http import ORIGIN, response_values
from tests.unit.test_auth import PASSWORDS, ROLES, sign_in

TUTORIAL = "Tutorial: car owners ↔ cars"


def _record(pid, name, created, version=None):
    return {
        "project_id": pid,
        "name": name,
        "created": created,
        "settings": ProjectSettings(version=version),
    }


def test_a_name_is_trimmed_and_checked():
    assert clean_name("  Paris   restaurants ") == "Paris restaurants"
    for bad, words in (
        ("", "give the project a name"),
        ("x" * 121, "at most 120"),
        ("a\x00b", "control characters"),
        (None, "give the project"),
    ):
        with pytest.raises(ValueError, match=words):
            clean_name(bad)


def test_projects_recorded_before_versions_count_by_their_place_among_their_name():
    projects = [
        _record("a", "x", 0),
        _record("b", "y", 10, version=1),
        _record("c", "x", 20),
        _record("d", "x", 30, version=7),
    ]
    assert versions(projects) == {"a": 1, "b": 1, "c": 2, "d": 7}
    assert next_version(projects, "x") == 8 and next_version(projects, "new") == 1
    values = [o["value"] for o in menu_options(projects)]
    assert values == ["name:x", "d", "c", "a", "b"]
    assert menu_options([]) == []


def _workspace(tmp_path) -> Workspace:
    return Workspace(
        WorkspaceConfig(db_url=f"sqlite:///{tmp_path / 'd.db'}", data_dir=str(tmp_path / "data"))
    )


def test_a_deleted_version_leaves_the_others_their_numbers(tmp_path):
    workspace = _workspace(tmp_path)
    made = []
    for names in (["Ann Lee"], ["Ann Lee", "Bob Ray"], ["Ann Lee", "Bob Ray", "Cy Kim"]):
        left = pd.DataFrame({"id": [f"L{i}" for i in range(len(names))], "name": names})
        spec = Spec((Field("name"),), left_id="id", right_id="id")
        made.append(workspace.open_project(left, left, spec, name="p", keep=0.5, select=0.8))
    workspace.delete_project(made[1].project_id)
    labels = [o["label"] for o in workspace.project_options()]
    assert labels[0] == "p" and "version 3" in labels[1] and "version 1" in labels[2]
    assert workspace.settings(made[2].project_id).version_of == made[1].project_id


# -- re-runs keep the decisions that still hold ------------------------------------------


def test_a_record_shown_a_candidate_it_was_not_shown_before_comes_back(tmp_path):
    workspace = _workspace(tmp_path)
    left = pd.DataFrame({"id": ["L0", "L1"], "name": ["Ann Lee", "Bob Ray"]})
    right = pd.DataFrame({"id": ["R0", "R1"], "name": ["Ann Lee", "Robert Ray"]})
    strict = Spec((Field("name"),), left_id="id", right_id="id")
    old = workspace.open_project(left, right, strict, name="p", keep=0.9, select=0.95)
    desk = workspace.desk(old)
    for _ in range(2):  # L0 accepted with R0; L1 has no candidate at 0.9: no match
        view = desk.next_view("alice")
        assert desk.decide(
            "alice", view, "accept" if view["selected"] else "reject", view["selected"]
        ).ok
    # Version 2 keeps pairs from 0.4: L1 now shows R1, which nobody judged for it.
    new = workspace.open_project(left, right, strict, name="p", keep=0.4, select=0.95)
    settings = workspace.settings(new.project_id)
    assert settings.carried == {"carried": 1, "came_back": 1, "new": 0}
    assert set(settings.notes) == {"L1"}
    assert sorted(workspace.desk(new).refresh().decisions) == ["L0"]


def test_a_match_no_longer_proposed_comes_back_and_a_no_match_with_fewer_candidates_holds(
    tmp_path,
):
    workspace = _workspace(tmp_path)
    left = pd.DataFrame({"id": ["L0", "L1"], "name": ["Ann Lee", "Bob Ray"]})
    right = pd.DataFrame({"id": ["R0", "R1"], "name": ["Ann Lea", "Bob Rae"]})
    spec = Spec((Field("name"),), left_id="id", right_id="id")
    old = workspace.open_project(left, right, spec, name="p", keep=0.5, select=0.8)
    desk = workspace.desk(old)
    view = desk.next_view("alice")
    assert desk.decide("alice", view, "accept", view["selected"]).ok  # L0 = R0
    view = desk.next_view("alice")
    assert desk.decide("alice", view, "reject").ok  # L1: no match among R1
    # Version 2 compares exactly: no candidate is left for either record.
    exact = Spec((Field("name", scorer="exact"),), left_id="id", right_id="id")
    new = workspace.open_project(left, right, exact, name="p", keep=0.5, select=0.8)
    settings = workspace.settings(new.project_id)
    assert settings.carried == {"carried": 1, "came_back": 1, "new": 0}
    assert set(settings.notes) == {"L0"}
    assert workspace.desk(new).refresh().decisions["L1"].status != "accepted"


# -- the Data panel: a name, and a lead's re-run -----------------------------------------


@pytest.fixture
def team(demo_app):
    for name, role in ROLES.items():
        demo_app.matchdesk.users.add(name, role, PASSWORDS[name])
    return demo_app


def _act_as(monkeypatch, services, name, role):
    monkeypatch.setattr(services, "signed_in", lambda: (name, role))


def _setup_rows(spec: Spec) -> tuple:
    fields = spec.fields
    return (
        [f.left for f in fields],
        [f.right for f in fields],
        [f.scorer for f in fields],
        [f.weight for f in fields],
        [cleaning_text(f.normalization) for f in fields],
        spec.left_id,
        spec.right_id,
    )


def test_a_lead_re_runs_the_open_project_from_its_tables_as_its_next_version(team, monkeypatch):
    services = team.matchdesk
    first = services.project_options()[0]["value"]
    desk = services.desk(services.project(first))
    view = desk.next_view("cy")
    assert desk.decide("cy", view, "accept", view["selected"][:1]).ok
    desk.release("cy")
    _act_as(monkeypatch, services, "bo", "lead")

    loaded = rerun_tables(services, first)
    assert loaded["color"] == "info" and loaded["proposal"]["project"] == first
    uploads = loaded["uploads"]
    assert uploads["left"]["rows"] == 5 and "kept with the project" in loaded["left_info"]
    assert proposed_name(services, uploads, "two") == "Tutorial: car owners ↔ cars"
    assert "version 2" in name_note(services, "Tutorial: car owners ↔ cars")
    assert name_note(services, "Another") == "Run makes a new project of this name."

    spec = services.settings(first).spec
    same = start_run(services, uploads, _setup_rows(spec), 0.26, 0.33, name=TUTORIAL)
    out = finish_run(services, same)
    assert out["project"] == first and len(services.log.projects()) == 1
    assert out["message"].startswith(f"Nothing changed: these tables and set-up are {TUTORIAL}")
    changed = Spec(
        (Field("OwnerSurname", scorer="token_sort"),), left_id="OwnerID", right_id="CarID"
    )
    ticket = start_run(
        services, uploads, _setup_rows(changed), 0.26, 0.33, name="Tutorial: car owners ↔ cars"
    )
    out = finish_run(services, ticket)
    assert out["color"] == "success", out["message"]
    settings = services.settings(out["project"])
    assert (settings.version, settings.version_of, settings.spec.fields) == (
        2,
        first,
        changed.fields,
    )
    assert settings.spec != spec and settings.carried["carried"] == 1
    assert settings.sources.get("uploads", []) == []
    assert services.log.state(out["project"]).decisions[view["left_id"]].reviewer == "cy"


def test_a_reviewer_is_refused_a_re_run_and_a_lead_a_project_of_uploads(team, monkeypatch):
    services = team.matchdesk
    first = services.project_options()[0]["value"]
    _act_as(monkeypatch, services, "cy", "reviewer")
    refused = rerun_tables(services, first)
    assert "only a lead or above may re-run a project" in refused["message"]
    stored = {s: {"project": first, "side": s} for s in ("left", "right")}
    rows = _setup_rows(services.settings(first).spec)
    with pytest.raises(PermissionDenied, match="only a lead"):
        start_run(services, stored, rows, 0.3, 0.5)
    _act_as(monkeypatch, services, "bo", "lead")
    mixed = {"left": stored["left"], "right": {"token": "0" * 32}}
    with pytest.raises(PermissionDenied, match="may create project"):
        start_run(services, mixed, rows, 0.3, 0.5)
    with pytest.raises(ValueError, match="tables are not on the server"):
        start_run(services, {s: {"project": "nope", "side": s} for s in stored}, rows, 0.3, 0.5)


def _post(client, deps, trigger: str, values: dict):
    """Press ``trigger`` (an ``id.n_clicks``) by a raw POST to the callback it starts
    that writes the Data panel's message."""
    dep = next(
        d
        for d in deps
        if any(f"{i['id']}.{i['property']}" == trigger for i in d["inputs"])
        and "data-message.children" in d["output"]
    )
    parts = [p for p in dep["output"].strip(".").split("...") if p]
    outputs = [dict(zip(("id", "property"), p.rsplit(".", 1))) for p in parts]

    def value(item):
        return {**item, "value": values.get(f"{item['id']}.{item['property']}")}

    body = {
        "output": dep["output"],
        "outputs": outputs,
        "inputs": [value(i) for i in dep["inputs"]],
        "state": [value(s) for s in dep["state"]],
        "changedPropIds": [trigger],
    }
    return client.post("/_dash-update-component", json=body, headers={"Origin": ORIGIN})


def test_a_reviewers_raw_posts_asking_for_a_re_run_are_refused(team):
    services = team.matchdesk
    first = services.project_options()[0]["value"]
    client, _ = sign_in(team, "cy")
    deps = client.get("/_dash-dependencies").get_json()
    before = [p["project_id"] for p in services.log.projects()]

    answer = _post(
        client,
        deps,
        f"{ids.RERUN_PROJECT}.n_clicks",
        {f"{ids.PROJECT_SELECT}.value": first, f"{ids.RERUN_PROJECT}.n_clicks": 1},
    )
    got = response_values(answer.get_json())
    assert "only a lead or above may re-run a project" in got[f"{ids.DATA_MESSAGE}.children"]
    assert f"{ids.UPLOAD_STORE}.data" not in got

    stored = {s: {"project": first, "side": s} for s in ("left", "right")}
    spec = services.settings(first).spec
    form = {
        f"{ids.RUN}.n_clicks": 1,
        f"{ids.UPLOAD_STORE}.data": stored,
        f"{ids.LEFT_ID}.value": spec.left_id,
        f"{ids.RIGHT_ID}.value": spec.right_id,
        f"{ids.KEEP}.value": 0.2,
        f"{ids.SELECT}.value": 0.3,
        f"{ids.PROJECT_NAME}.value": "mine",
    }
    answer = _post(client, deps, f"{ids.RUN}.n_clicks", form)
    got = response_values(answer.get_json())
    assert "only a lead or above may re-run a project" in got[f"{ids.DATA_MESSAGE}.children"]
    assert f"{ids.RUN_TICKET}.data" not in got
    assert [p["project_id"] for p in services.log.projects()] == before


# -- each user reopens the project they used last ----------------------------------------


def test_each_user_reopens_their_last_project_in_any_process(team, monkeypatch, tmp_path):
    services = team.matchdesk
    tutorial = services.project_options()[0]["value"]
    left = pd.DataFrame({"id": ["a", "b"], "name": ["Ann", "Bob"]})
    other = services.open_project(
        left,
        left,
        Spec((Field("name"),), left_id="id", right_id="id"),
        name="B",
        keep=0.5,
        select=0.8,
    ).project_id
    _act_as(monkeypatch, services, "cy", "reviewer")
    remember_project(services, other)
    remember_project(services, "name:B")  # a heading of the menu is no project
    remember_project(services, "no-such-project")
    assert services.users.last_project("cy") == other
    assert services.opened_first(("cy", "reviewer"), started=tutorial) == other
    # bo never opened one: the latest project; open mode: the one the app started with.
    assert services.opened_first(("bo", "lead"), started=tutorial) == other
    assert services.opened_first(None, started=tutorial) == tutorial
    # Another process (a worker, a restart) reads the same database.
    again = Workspace(services.config)
    assert UserStore(again.log.database).last_project("cy") == other
    services.delete_project(other)
    assert services.opened_first(("cy", "reviewer"), started=tutorial) == tutorial
    services.users.remove("cy")
    assert services.users.last_project("cy") is None


def test_a_lead_re_runs_one_tables_project_from_its_one_kept_table(team, monkeypatch):
    services = team.matchdesk
    table = pd.DataFrame({"id": ["a", "b", "c"], "name": ["Ann Lee", "Ann Lea", "Bob Ray"]})
    spec = Spec((Field("name"),), left_id="id", right_id="id", one_table=True)
    made = services.open_project(
        table, table, spec, name="people (duplicates)", keep=0.5, select=0.8
    ).project_id
    _act_as(monkeypatch, services, "bo", "lead")
    loaded = rerun_tables(services, made)
    assert list(loaded["uploads"]) == ["left"] and loaded["right_info"] is no_update
    assert proposed_name(services, loaded["uploads"], ONE_TABLE) == "people (duplicates)"
    other = Spec((Field("name", scorer="token_sort"),), left_id="id", right_id="id")
    ticket = start_run(
        services,
        loaded["uploads"],
        _setup_rows(other),
        0.5,
        0.8,
        one_table=True,
        name="people (duplicates)",
    )
    out = finish_run(services, ticket)
    settings = services.settings(out["project"])
    assert settings.spec.one_table and (settings.version, settings.version_of) == (2, made)


def test_new_versions_of_a_projects_tables_are_proposed_its_name(services):
    tutorial = services.log.projects()[0]
    left, right = (list(c) for c in tutorial["settings"].columns)
    uploads = {
        "left": {"token": "0" * 32, "name": "owners-march.csv", "columns": left},
        "right": {"token": "1" * 32, "name": "cars-march.csv", "columns": right},
    }
    assert proposed_name(services, uploads, "two") == tutorial["name"]
    uploads["right"]["columns"] = [*right, "colour"]
    assert proposed_name(services, uploads, "two") == "owners-march.csv ↔ cars-march.csv"
