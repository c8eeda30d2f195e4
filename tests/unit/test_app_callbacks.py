"""Callbacks called as plain functions, and the layout checked without a browser."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from callbacks.data import count_message
from callbacks.matched import matched_rows, remove_matches, update_matched
from callbacks.review import current_view, update_review
from callbacks.tables import read_upload
from components import ids as ids_module
from components.ids import ids
from matching.engine.form import spec_from_rows
from matching.engine.io import TableReadError
from server.export import write_export
from tests.helpers import review_step


def matched(services, project, trigger=None, selected=(), who="ann", seen=None, chosen=None):
    """The Matched tab after ``trigger``: its outputs, and the rows of its first block."""
    out = update_matched(
        services, project.project_id, "matched", trigger, list(selected), who, seen, chosen
    )
    block = matched_rows(services, project.project_id, {"startRow": 0, "endRow": 100})
    return out, block["rowData"]


def review(
    services, project, trigger=None, view=None, selected=(), edits=None, who="ann", session=None
):
    return review_step(services, project, trigger, view, selected, edits, who, session)


def test_first_view_shows_record_one_with_preselected_candidates(services, project):
    out = review(services, project)
    assert out["label"] == "Record 1 of 5"
    assert out["selected"] == {"ids": ["101"]}
    assert [r["_right_id"] for r in out["rows"]] == ["101"]
    assert out["message_open"] is False


def test_accept_moves_to_next_record_and_records_the_selection(services, project):
    first = review(services, project)
    out = review(services, project, ids.ACCEPT, first["view"], ["101"])
    assert out["label"] == "Record 2 of 5"
    state = services.log.state(project.project_id)
    assert state.decisions["1"].right_ids == ("101",)
    assert state.decisions["1"].reviewer == "ann"


def test_triple_click_records_one_decision(services, project):
    view = review(services, project)["view"]
    for _ in range(3):
        review(services, project, ids.ACCEPT, view, ["101"])
    assert len(services.log.events(project.project_id)) == 1


def test_tampered_view_is_refused_and_changes_nothing(services, project):
    view = dict(review(services, project)["view"])
    out = review(services, project, ids.ACCEPT, view, ["999"])
    assert "never proposed" in out["message"]
    view["left_id"] = "no-such-record"
    out = review(services, project, ids.ACCEPT, view, ["101"])
    assert out["message_open"] is True
    assert services.log.events(project.project_id) == []


def test_accept_without_selection_asks_for_one(services, project):
    view = review(services, project)["view"]
    out = review(services, project, ids.ACCEPT, view, [])
    assert "Select at least one" in out["message"]
    assert out["label"] == "Record 1 of 5"


def test_no_match_skip_and_undo_return_to_the_record(services, project):
    v1 = review(services, project)["view"]
    v2 = review(services, project, ids.REJECT, v1)["view"]
    out = review(services, project, ids.SKIP, v2)
    assert out["label"] == "Record 3 of 5"
    out = review(services, project, ids.UNDO, out["view"])
    assert out["label"] == "Record 2 of 5"
    out = review(services, project, ids.UNDO, out["view"])
    assert out["label"] == "Record 1 of 5"
    assert services.log.state(project.project_id).decisions == {}


def test_edits_travel_with_the_accepted_match(services, project):
    view = review(services, project)["view"]
    edits = {"1": {"101": {"CarName": "Toyota Yaris"}}}
    review(services, project, ids.ACCEPT, view, ["101"], edits)
    _, rows = matched(services, project)
    assert rows[0]["right_CarName"] == "Toyota Yaris" and rows[0]["edited"] == "CarName"
    assert project.right.loc[0, "CarName"] == "Toyota Corolla"


def test_second_reviewer_is_not_shown_a_leased_record(services, project):
    ann = current_view(services, project, "ann")
    bob = current_view(services, project, "bob")
    assert ann["left_id"] == "1"
    assert bob["left_id"] == "2"


def test_done_when_every_record_is_decided(services, project):
    view = review(services, project)["view"]
    for _ in range(5):
        out = review(services, project, ids.REJECT, view)
        view = out["view"]
    assert out["done"] is True
    assert "All 5 records" in out["done_text"]


def test_remove_and_undo_on_matched(services, project):
    view = review(services, project)["view"]
    review(services, project, ids.ACCEPT, view, ["101"])
    out, rows = matched(services, project)
    assert len(rows) == 1 and "1 accepted" in out["summary"]
    out, rows = matched(services, project, ids.MATCHED_REMOVE, rows, seen=out["store"])
    assert rows == [] and "Removed 1" in out["summary"]
    out, rows = matched(services, project, ids.MATCHED_UNDO, seen=out["store"])
    assert len(rows) == 1


def test_remove_of_an_unrecorded_match_is_refused(services, project):
    message = remove_matches(services, project, "ann", [{"left_id": "1", "right_id": "101"}])
    assert message.startswith("The match 1 ↔ 101 is not recorded")
    assert message.endswith("nothing was recorded.")


def test_export_csv(services, project):
    view = review(services, project)["view"]
    review(services, project, ids.ACCEPT, view, ["101"])
    out = io.BytesIO()
    assert write_export(services, project, "csv", out) == 1
    raw = out.getvalue()
    assert raw.startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(io.BytesIO(raw), dtype=str, encoding="utf-8-sig")
    assert list(frame["right_id"]) == ["101"]


def test_upload_reads_and_reports_the_delimiter(services, tmp_path):
    (tmp_path / "t.csv").write_bytes(b"a;b\n01;NA\n")
    info = read_upload(services, tmp_path / "t.csv", "t.csv")
    assert info["columns"] == ["a", "b"] and info["rows"] == 1
    assert "delimiter ';'" in info["report"]


def test_upload_of_a_ragged_file_names_the_line(services, tmp_path):
    (tmp_path / "bad.csv").write_bytes(b"a,b\n1,2\n3\n")
    with pytest.raises(TableReadError, match="line 3"):
        read_upload(services, tmp_path / "bad.csv", "bad.csv")


def test_build_spec_and_pair_count():
    spec = spec_from_rows(
        ["name", None],
        ["full_name", None],
        ["jaro_winkler", "qratio"],
        [2, 1],
        ["text", "text"],
        "id",
        None,
    )
    assert [(f.left, f.right, f.scorer, f.weight) for f in spec.fields] == [
        ("name", "full_name", "jaro_winkler", 2.0)
    ]
    with pytest.raises(ValueError, match="weight"):
        spec_from_rows(["name"], ["name"], ["qratio"], [0], ["text"], None, None)
    assert count_message({"left": {"rows": 3}, "right": {"rows": 4}}).startswith("12 pairs")
    assert "Upload both" in count_message({"left": {"rows": 3}})


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    if children is None:
        return
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if hasattr(child, "to_plotly_json"):
            yield from _walk(child)


def test_layout_ids_are_unique_and_every_declared_id_is_used(demo_app):
    layout = demo_app.layout() if callable(demo_app.layout) else demo_app.layout
    found = [c.id for c in _walk(layout) if isinstance(getattr(c, "id", None), str)]
    assert len(found) == len(set(found)), "an ID is used twice"
    declared = {v for k, v in vars(ids).items() if k.isupper() and isinstance(v, str)}
    assert declared - set(found) == set(), "declared but never laid out"
    assert set(found) <= declared, "laid out with an ID not written in components/ids.py"
    assert ids_module.field_row("left", 0) == {"type": "field-left", "index": 0}


def test_the_review_scripts_read_ids_from_the_page_and_type_none(demo_app):
    import json
    from pathlib import Path

    from components.review import DECISION_KEYS, RECORD_FIELD

    layout = demo_app.layout() if callable(demo_app.layout) else demo_app.layout
    (holder,) = [
        c for c in _walk(layout) if "data-review-ids" in c.to_plotly_json().get("props", {})
    ]
    page = json.loads(holder.to_plotly_json()["props"]["data-review-ids"])
    assert page == {
        "keys": {"a": ids.ACCEPT, "n": ids.REJECT, "s": ids.SKIP, "u": ids.UNDO},
        "grid": ids.CANDIDATE_GRID,
        "reasons": ids.REASON,
        "field": RECORD_FIELD,
    }
    assert page["keys"] == DECISION_KEYS
    declared = {v for k, v in vars(ids).items() if k.isupper() and isinstance(v, str)}
    assets = Path(__file__).resolve().parents[2] / "assets"
    for script in ("keys.js", "shown_record.js"):
        text = (assets / script).read_text()
        typed = {i for i in declared if f'"{i}"' in text or f"#{i}" in text}
        assert typed == set(), f"{script} types ids that components/ids.py writes"


def test_health_answers_200_when_the_database_takes_a_write(demo_app, monkeypatch):
    client = demo_app.server.test_client()
    assert client.get("/health").status_code == 200
    monkeypatch.setattr(demo_app.matchdesk.log, "healthy", lambda: False)
    assert client.get("/health").status_code == 503


def test_health_is_503_when_the_database_cannot_be_written(tmp_path):
    from app import create_app, demo_config

    folder = tmp_path / "gone"
    folder.mkdir()
    app = create_app(
        demo_config(db_url=f"sqlite:///{folder / 'd.db'}", data_dir=str(tmp_path / "data"))
    )
    app.matchdesk.log.close()
    (folder / "d.db").unlink()
    for extra in folder.iterdir():
        extra.unlink()
    folder.rmdir()
    assert app.server.test_client().get("/health").status_code == 503


def test_same_inputs_reopen_the_same_project_with_its_decisions(app_config):
    from app import create_app

    first = create_app(app_config)
    services = first.matchdesk
    project = services.project(services.project_options()[0]["value"])
    view = review(services, project)["view"]
    review(services, project, ids.ACCEPT, view, ["101"])

    again = create_app(app_config).matchdesk
    assert [p["value"] for p in again.project_options()] == [project.project_id]
    reopened = again.project(project.project_id)
    assert review(again, reopened)["label"] == "Record 2 of 5"
    assert again.log.state(project.project_id).decisions["1"].right_ids == ("101",)


def test_unchanged_name_keeps_the_page_as_it_is(services, project):
    from dash.exceptions import PreventUpdate

    view = review(services, project, who="anonymous")["view"]
    with pytest.raises(PreventUpdate):
        update_review(
            project.project_id,
            "",
            [],
            {},
            view,
            services=services,
            trigger=ids.REVIEWER,
        )


def test_back_on_review_after_a_decision_elsewhere_shows_the_next_record(services, project):
    from dash.exceptions import PreventUpdate

    from matching.decisions.events import make_event

    view = review(services, project)["view"]
    with pytest.raises(PreventUpdate):  # nothing changed: keep the page and its ticks
        update_review(
            project.project_id,
            "ann",
            [],
            {},
            view,
            services=services,
            trigger=ids.TABS,
            tab="review",
        )
    services.log.append(
        project.project_id,
        make_event(
            "accept",
            event_id="bulk-1",
            reviewer="ann",
            left_id="1",
            right_ids=["101"],
            automatic=True,
            batch="b",
        ),
    )
    with pytest.raises(PreventUpdate):  # not on the Review tab: nothing to draw
        update_review(
            project.project_id,
            "ann",
            [],
            {},
            view,
            services=services,
            trigger=ids.TABS,
            tab="tuning",
        )
    out = update_review(
        project.project_id, "ann", [], {}, view, services=services, trigger=ids.TABS, tab="review"
    )
    assert out["label"] == "Record 2 of 5"


def test_position_that_does_not_fit_its_record_is_refused(services, project):
    view = dict(review(services, project)["view"])
    for position in (99, -1, "0", 3):
        out = review(services, project, ids.ACCEPT, {**view, "position": position}, ["101"])
        assert out["message_open"] is True
        assert "nothing was recorded" in out["message"]
    assert services.log.events(project.project_id) == []


def test_browser_store_is_keyed_by_project_and_a_bad_one_is_reported(services, project):
    first = review(services, project, session={"other": {"left_id": "x", "position": 0}})
    assert first["session"]["other"] == {"left_id": "x", "position": 0}
    assert first["session"][project.project_id]["left_id"] == "1"
    assert first["message_open"] is False

    tampered = {project.project_id: {"left_id": "1", "position": 40, "version": 0}}
    out = review(services, project, session=tampered)
    assert "did not fit this project" in out["message"]
    assert out["label"] == "Record 1 of 5"
    assert out["session"][project.project_id]["position"] == 0
    assert services.log.events(project.project_id) == []


def test_matched_shows_only_the_chosen_record_columns(services, project):
    view = review(services, project)["view"]
    review(services, project, ids.ACCEPT, view, ["101"])
    out, rows = matched(
        services, project, ids.MATCHED_COLUMNS, chosen=["left_OwnerName", "right_CarName"]
    )
    columns, options = out["columns"], out["options"]
    assert "left_OwnerEmail" in options and "right_CarName" in options
    hidden = {c["field"] for c in columns if c["hide"]}
    assert "left_OwnerEmail" in hidden and "right_OwnerSurname" in hidden
    assert not {"left_OwnerName", "right_CarName", "left_id", "score", "reviewer"} & hidden
    assert rows[0]["right_CarName"] == "Toyota Corolla"


def test_record_without_candidates_says_so_and_no_match_still_works(tmp_path):
    from app import create_app, demo_config

    app = create_app(
        demo_config(
            keep=0.95, db_url=f"sqlite:///{tmp_path / 'd.db'}", data_dir=str(tmp_path / "data")
        )
    )
    services = app.matchdesk
    project = services.project(services.project_options()[0]["value"])
    first = review(services, project)
    second = review(services, project, ids.ACCEPT, first["view"], ["101"])
    assert second["label"] == "Record 2 of 5"
    assert second["rows"] == [] and second["no_candidates"] is True
    after = review(services, project, ids.REJECT, second["view"])
    assert after["label"] == "Record 3 of 5"
    assert services.log.state(project.project_id).decisions["2"].status == "rejected"


def test_a_reviewer_cannot_undo_another_reviewers_decision(services, project):
    view = review(services, project, who="ann")["view"]
    review(services, project, ids.ACCEPT, view, ["101"], who="ann")
    bob = review(services, project, who="bob")
    out = review(services, project, ids.UNDO, bob["view"], who="bob")
    assert "nothing of yours to undo" in out["message"]
    assert services.log.state(project.project_id).decisions["1"].reviewer == "ann"
