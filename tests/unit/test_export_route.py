"""The matched table exported from a Flask route, written chunk by chunk, with the app's
sign-in, role and same-origin rules."""

from __future__ import annotations

import io

import pandas as pd
import pytest

import matching.decisions.export as export_module
import server.export
from components.ids import ids
from matching.decisions.export import (
    matched_table,
    read_export,
    to_csv_bytes,
    to_excel_bytes,
    to_parquet_bytes,
)
from matching.decisions.users import UserStore
from server.auth import PAGE_HEADER
from server.export import REFUSED_HEADER
from server.services import AppConfig
from tests.dash_http import ORIGIN
from tests.helpers import review_step

SAME_PAGE = {"Referer": f"{ORIGIN}/", "Sec-Fetch-Site": "same-origin"}


def _accept_two(services, project):
    view = review_step(services, project, who="ann")["view"]
    for _ in range(2):
        view = review_step(services, project, ids.ACCEPT, view, view["selected"], who="ann")
        view = view["view"]


def _old_export(services, project) -> pd.DataFrame:
    """The matched table as the Matched tab's export callback built it, whole."""
    return matched_table(
        services.log.state(project.project_id),
        project.candidates,
        project.left,
        project.right,
        spec_left_id=project.spec.left_id,
        spec_right_id=project.spec.right_id,
    )


def test_the_route_sends_what_the_old_export_made(demo_app, services, project, monkeypatch):
    _accept_two(services, project)
    client = demo_app.server.test_client()
    url = f"/export/{project.project_id}/matches"
    csv = client.get(f"{url}.csv", headers=SAME_PAGE)
    assert csv.status_code == 200
    assert csv.headers["Content-Disposition"] == (
        f"attachment; filename=matches-{project.project_id}.csv"
    )
    old = _old_export(services, project)
    assert len(old) >= 2 and csv.data == to_csv_bytes(old)
    for fmt, old_writer in (("xlsx", to_excel_bytes), ("parquet", to_parquet_bytes)):
        answer = client.get(f"{url}.{fmt}", headers=SAME_PAGE)
        assert answer.status_code == 200
        expected = read_export(old_writer(old), fmt)
        pd.testing.assert_frame_equal(read_export(answer.data, fmt), expected)
    # One row at a time gives the same file as one chunk.
    monkeypatch.setattr(export_module, "CHUNK_ROWS", 1)
    assert client.get(f"{url}.csv", headers=SAME_PAGE).data == csv.data


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Referer": f"{ORIGIN}/"},
        {"Origin": "https://evil.example"},
        {"Referer": "https://evil.example/page"},
        {},
    ],
)
def test_a_request_from_another_site_is_refused(demo_app, project, headers):
    answer = demo_app.server.test_client().get(
        f"/export/{project.project_id}/matches.csv", headers=headers
    )
    assert answer.status_code == 403 and "did not come from matchdesk" in answer.json["error"]


def test_without_a_session_the_export_is_refused_and_a_reviewer_may_export(demo_app, project):
    UserStore(demo_app.matchdesk.config.db_url).add("cy", "reviewer", "cy-pw")
    client = demo_app.server.test_client()
    url = f"/export/{project.project_id}/matches.csv"
    # As the page's fetch asks: a JSON answer, not the sign-in page.
    refused = client.get(url, headers={**SAME_PAGE, "Accept": "application/octet-stream"})
    assert refused.status_code == 401 and refused.json["error"] == "sign in first"
    client.post("/login", data={"username": "cy", "password": "cy-pw"}, headers={"Origin": ORIGIN})
    assert client.get(url, headers=SAME_PAGE).status_code == 200


def test_an_unknown_project_or_format_is_named(demo_app, project):
    client = demo_app.server.test_client()
    gone = client.get("/export/0123456789abcdef/matches.csv", headers=SAME_PAGE)
    assert gone.status_code == 404 and "no project '0123456789abcdef'" in gone.json["error"]
    odd = client.get(f"/export/{project.project_id}/matches.ods", headers=SAME_PAGE)
    assert odd.status_code == 404 and "unknown export format 'ods'" in odd.json["error"]


def test_a_failed_export_answers_with_its_reason(demo_app, project, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("server.export.write_export", broken)
    answer = demo_app.server.test_client().get(
        f"/export/{project.project_id}/matches.csv", headers=SAME_PAGE
    )
    assert answer.status_code == 500 and "disk full" in answer.json["error"]
    # The page's own fetch gets the reason with 200 and a header naming the status,
    # so the browser's console stays clean while the page shows the reason.
    page = demo_app.server.test_client().get(
        f"/export/{project.project_id}/matches.csv", headers={**SAME_PAGE, PAGE_HEADER: "1"}
    )
    assert page.status_code == 200 and page.headers[REFUSED_HEADER] == "500"
    assert "disk full" in page.json["error"]


def test_ten_thousand_matches_export_through_the_route_chunk_by_chunk(tmp_path, monkeypatch):
    from app import create_app
    from matching.engine.demo import generate_tables
    from matching.engine.spec import Field, Spec, parse_block

    tables = generate_tables(10_000, seed=3, unlinked=0.0)
    spec = Spec(
        (Field("surname"), Field("given_name")),
        left_id="owner_id",
        right_id="car_id",
        block=(parse_block("exact:postcode"),),
    )
    config = AppConfig(
        left=tables.owners,
        right=tables.cars,
        spec=spec,
        keep=0.0,
        select=0.8,
        db_url=f"sqlite:///{tmp_path / 'd.db'}",
        data_dir=str(tmp_path / "data"),
    )
    app = create_app(config)
    services = app.matchdesk
    project = services.project(services.project_options()[0]["value"])
    services.desk(project).batches.apply_bulk("lead", "accept", threshold=0.0, role="lead")
    accepted = len(services.log.state(project.project_id).decisions)
    assert accepted >= 9_000

    chunks = []
    real = export_module.matched_chunks_of_pairs

    def counted(*args, **kwargs):
        for chunk in real(*args, **kwargs):
            chunks.append(len(chunk))
            yield chunk

    def whole(*args, **kwargs):
        raise AssertionError("the whole table was built")

    let_go = []
    monkeypatch.setattr("server.export.matched_chunks_of_pairs", counted)
    monkeypatch.setattr("server.export.release_mapped", lambda: let_go.append(len(chunks)))
    monkeypatch.setattr(export_module, "matched_table", whole)
    monkeypatch.setattr(export_module, "CHUNK_ROWS", 1_000)
    answer = app.server.test_client().get(
        f"/export/{project.project_id}/matches.csv", headers=SAME_PAGE
    )
    assert answer.status_code == 200
    frame = pd.read_csv(io.BytesIO(answer.data), dtype=str, encoding="utf-8-sig")
    assert len(frame) == accepted and max(chunks) == 1_000 and sum(chunks) == accepted
    # the pages of the tables read are let go every few chunks, not held to the end
    every = server.export.PAGES_EVERY
    assert let_go == list(range(every, len(chunks) + 1, every)) and len(let_go) >= 4
    # No callback on the server builds an export: the buttons' callback runs in the
    # browser and fetches the route.
    buttons = {"export-csv-button", "export-excel-button", "export-parquet-button"}
    export_callbacks = [
        c for c in app.callback_map.values() if buttons & {i["id"] for i in c["inputs"]}
    ]
    assert len(export_callbacks) == 1 and "callback" not in export_callbacks[0]


def test_the_full_record_and_the_log_are_served_and_read_back(demo_app, project):
    """Every left record with its status, and the log's events, as files a manager keeps."""
    import json

    from matching.decisions.record import RECORD_COLUMNS

    services = demo_app.matchdesk
    _accept_two(services, project)
    client = demo_app.server.test_client()
    base = f"/export/{project.project_id}"
    record = client.get(f"{base}/record.csv", headers=SAME_PAGE)
    assert record.status_code == 200
    assert record.headers["Content-Disposition"].endswith(f"record-{project.project_id}.csv")
    frame = pd.read_csv(io.BytesIO(record.data), dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(RECORD_COLUMNS)
    assert len(frame) == len(project.queue)
    state = services.log.state(project.project_id)
    accepted = frame[frame["status"] == "accepted"]
    assert set(accepted["left_id"]) == {
        k for k, d in state.decisions.items() if d.status == "accepted"
    }
    assert (frame[~frame["left_id"].isin(set(state.decisions))]["status"] == "undecided").all()
    excel = client.get(f"{base}/record.xlsx", headers=SAME_PAGE)
    assert pd.read_excel(io.BytesIO(excel.data), dtype=str).shape[0] == len(project.queue)
    lines = client.get(f"{base}/log.jsonl", headers=SAME_PAGE).get_data(as_text=True).splitlines()
    events = services.log.events(project.project_id)
    assert [json.loads(line)["event_id"] for line in lines] == [e.event_id for e in events]
    log = pd.read_parquet(io.BytesIO(client.get(f"{base}/log.parquet", headers=SAME_PAGE).data))
    assert list(log["kind"]) == [e.kind for e in events]
    wrong = client.get(f"{base}/log.csv", headers=SAME_PAGE)
    assert wrong.status_code == 404 and "use one of jsonl, parquet" in wrong.json["error"]
    assert client.get(f"{base}/everything.csv", headers=SAME_PAGE).status_code == 404
