"""Bad input and failures on the review page: a message every time, nothing lost."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from components.ids import ids
from tests.helpers import on_screen, review_post, review_step

HOSTILE_STORES = ["garbage", [1, 2, 3], 5, True, 0.5]


@pytest.mark.parametrize("stored", HOSTILE_STORES)
def test_any_json_in_local_storage_is_ignored_with_a_message(services, project, stored):
    out = review_step(services, project, session=stored)
    assert out["label"] == "Record 1 of 5"
    assert "could not be read" in out["message"]
    assert isinstance(out["session"], dict)
    assert services.log.events(project.project_id) == []


@pytest.mark.parametrize("entry", ["x", [1], {"left_id": 5, "position": "0"}, {"position": 99}])
def test_a_bad_entry_for_this_project_is_reported(services, project, entry):
    out = review_step(services, project, session={project.project_id: entry})
    assert out["label"] == "Record 1 of 5"
    assert out["message_open"] is True
    assert out["session"][project.project_id]["left_id"] == "1"


@pytest.mark.parametrize("view", ["garbage", [1], 7, {"left_id": "1"}, {"project_id": 3}])
def test_a_forged_view_records_nothing(services, project, view):
    review_step(services, project)
    out = review_step(services, project, ids.ACCEPT, view, ["101"])
    assert out["label"] == "Record 1 of 5"
    assert services.log.events(project.project_id) == []


def test_raw_post_with_hostile_stores_answers_200_and_records_nothing(demo_app, project):
    client = demo_app.server.test_client()
    values = {
        "project-select.value": project.project_id,
        "reviewer-name.value": "mallory",
        "tabs.active_tab": "review",
        "accept-button.n_clicks": 1,
        "candidate-grid.selectedRows": "not a list",
        "edits-store.data": [1, 2],
        "view-store.data": {"project_id": project.project_id, "left_id": "1", "position": 0},
        "session-store.data": "garbage",
        "candidate-grid.eventData": on_screen({"left_id": "1"}),
    }
    answer = review_post(client, values, "accept-button.n_clicks")
    assert answer["status"] == 200
    assert answer["response"]["page-message"]["is_open"] is True
    assert demo_app.matchdesk.log.events(project.project_id) == []


def test_a_database_deleted_under_the_server_is_reported_not_acknowledged(tmp_path):
    from app import create_app, demo_config

    path = tmp_path / "d.db"
    app = create_app(demo_config(db_url=f"sqlite:///{path}", data_dir=str(tmp_path / "data")))
    client = app.server.test_client()
    project_id = app.matchdesk.project_options()[0]["value"]
    base = {
        "project-select.value": project_id,
        "reviewer-name.value": "ann",
        "tabs.active_tab": "review",
    }
    first = review_post(client, base, "project-select.value")
    view = first["response"]["view-store"]["data"]
    assert view["left_id"] == "1"
    path.unlink()
    assert client.get("/health").status_code == 503
    answer = review_post(
        client,
        {
            **base,
            "accept-button.n_clicks": 1,
            "view-store.data": view,
            "candidate-grid.selectedRows": [{"_right_id": "101"}],
            "candidate-grid.eventData": on_screen(view),
        },
        "accept-button.n_clicks",
    )
    assert answer["status"] == 200
    message = answer["sideUpdate"]["page-message"]
    assert message["is_open"] is True and "nothing was recorded" in message["children"]


def test_field_names_with_spaces_and_dots_review_and_export(tmp_path):
    from app import create_app
    from matching.engine.spec import Field, Spec
    from server.export import write_export
    from server.services import AppConfig

    left = pd.DataFrame({"id": ["1", "2"], "First Name": ["Ann", "Bob"], "e.mail": ["a", "b"]})
    right = pd.DataFrame({"id": ["a", "b"], "First Name": ["Anne", "Bob"], "e.mail": ["a", "b"]})
    spec = Spec((Field("First Name"), Field("e.mail")), left_id="id", right_id="id")
    app = create_app(
        AppConfig(
            left=left,
            right=right,
            spec=spec,
            keep=0.3,
            select=0.8,
            db_url=f"sqlite:///{tmp_path / 'd.db'}",
            data_dir=str(tmp_path / "data"),
        )
    )
    services = app.matchdesk
    project = services.project(services.project_options()[0]["value"])
    first = review_step(services, project)
    assert first["rows"][0]["score_First Name"] is not None
    after = review_step(services, project, ids.ACCEPT, first["view"], ["a"])
    assert after["label"] == "Record 2 of 2" and after["message_open"] is False
    out = io.BytesIO()
    assert write_export(services, project, "csv", out) == 1
    assert b'"First Name"' not in out.getvalue() and b'"left_First Name"' in out.getvalue()


def _accept_with_edit(client, project_id: str, cells: dict) -> dict:
    base = {
        "project-select.value": project_id,
        "reviewer-name.value": "ann",
        "tabs.active_tab": "review",
    }
    view = review_post(client, base, "project-select.value")["response"]["view-store"]["data"]
    values = {
        **base,
        "accept-button.n_clicks": 1,
        "candidate-grid.selectedRows": [{"_right_id": "101"}],
        "edits-store.data": {view["left_id"]: {"101": cells}},
        "view-store.data": view,
        "candidate-grid.eventData": on_screen(view),
    }
    return review_post(client, values, "accept-button.n_clicks")


def test_an_oversized_correction_is_refused_with_a_message_and_nothing_stored(tmp_path):
    """The issue's request: an accept carrying an edit of 25,000,000 characters."""
    from app import create_app, demo_config

    path = tmp_path / "d.db"
    app = create_app(demo_config(db_url=f"sqlite:///{path}", data_dir=str(tmp_path / "data")))
    client = app.server.test_client()
    project_id = app.matchdesk.project_options()[0]["value"]
    before = path.stat().st_size
    answer = _accept_with_edit(client, project_id, {"CarName": "x" * 25_000_000})
    message = answer["response"]["page-message"]
    assert message["is_open"] is True
    assert message["children"] == (
        "The corrected CarName of 101 has 25,000,000 characters, more than the 2,000 a value"
        " may have; nothing was recorded."
    )
    # Many values, each under the limit, are refused together.
    many = {f"CarName{i}": "y" * 1_900 for i in range(11)}
    answer = _accept_with_edit(client, project_id, many)
    assert "more than 20,000 characters in all" in answer["response"]["page-message"]["children"]
    assert app.matchdesk.log.events(project_id) == []
    assert path.stat().st_size < before + 1_000_000
    # A correction within the limits is kept.
    _accept_with_edit(client, project_id, {"CarName": "z" * 2_000})
    (event,) = app.matchdesk.log.events(project_id)
    assert event.edits == {"101": {"CarName": "z" * 2_000}}
