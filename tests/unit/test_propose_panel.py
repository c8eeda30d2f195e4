"""Data panel set-up callbacks as plain functions: previews, the proposal, set-up files."""

from __future__ import annotations

import base64
import hashlib
import json
import tomllib

import pandas as pd
import pytest
from dash import no_update

import callbacks.propose
from callbacks.propose import fill_panel, fill_proposal, proposed_marks, setup_file, update_previews
from components.ids import ids
from matching.engine.demo import generate_tables
from matching.engine.spec import loads_setup
from tests.helpers import texts


def keep_upload(services, frame: pd.DataFrame, name: str) -> dict:
    """Put a table where the server keeps uploads; returns the page's upload record."""
    token = hashlib.sha256(name.encode()).hexdigest()[:32]
    info = {
        "token": token,
        "name": name,
        "columns": list(frame.columns),
        "rows": len(frame),
        "report": f"{name}: {len(frame)} rows",
    }
    path = services.upload_path(token)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    path.with_suffix(".json").write_text(json.dumps(info), encoding="utf-8")
    return info


@pytest.fixture
def uploads(services):
    tables = generate_tables(120, seed=4)
    return {
        "left": keep_upload(services, tables.owners, "owners.csv"),
        "right": keep_upload(services, tables.cars, "cars.csv"),
    }


def field_values(rows) -> list[tuple]:
    """(left, right, scorer, weight) of each field row component."""
    out = []
    for row in rows:
        left, right, scorer, weight, _ = (col.children for col in row.children)
        out.append((left.value, right.value, scorer.value, weight.value))
    return out


def test_previews_show_first_rows_and_what_each_column_holds(services, uploads):
    previews = update_previews(services, {"left": uploads["left"]})
    assert previews["right"] is None
    caption, grid = previews["left"].children
    assert caption.children == "owners.csv: first 8 rows"
    assert len(grid.rowData) == 8 and grid.rowData[0]["owner_id"] == "O0000001"
    headers = [c["headerName"] for c in grid.columnDefs]
    assert headers[:2] == ["owner_id (ID)", "given_name (name)"]
    assert "birth_date (date)" in headers and "email (e-mail)" in headers
    summary = grid.dashGridOptions["pinnedTopRowData"][0]
    assert summary["owner_id"] == "0% missing · 120 distinct"


def test_a_forged_upload_id_gets_a_message_not_a_preview(services):
    previews = update_previews(services, {"left": {"token": "../../etc/passwd"}})
    assert "not on the server" in " ".join(texts(previews["left"]))


def test_both_uploads_fill_the_form_with_the_proposal(services, uploads):
    out = fill_panel(services, ids.UPLOAD_STORE, uploads, [], {}, None)
    assert (out["left_id"], out["right_id"]) == ("owner_id", "car_id")
    assert field_values(out["fields"]) == [
        ("given_name", "given_name", "jaro_winkler", 1.0),
        ("surname", "surname", "jaro_winkler", 1.0),
        ("street", "street", "token_sort", 1.0),
        ("city", "city", "jaro_winkler", 1.0),
        ("postcode", "postcode", "levenshtein", 1.0),
        ("birth_date", "birth_date", "date", 1.0),
    ]
    assert out["proposal"]["source"] == "proposal"
    assert (out["keep"], out["select"], out["rules"]) == (0.5, 0.8, "")
    assert "Set-up proposed" in " ".join(texts(out["note"]))


def test_large_uploads_say_proposing_and_a_chained_callback_fills_the_proposal(
    services, uploads, monkeypatch
):
    monkeypatch.setattr(callbacks.propose, "PROPOSE_LATER_ROWS", 100)  # these count as large
    first = fill_panel(services, ids.UPLOAD_STORE, uploads, [], {}, None)
    assert first["note"] == "Proposing a set-up…" and first["proposal"] is None
    assert first["request"] == {s: uploads[s]["token"] for s in ("left", "right")}
    assert field_values(first["fields"]) == [(None, None, "qratio", 1)]
    later = fill_proposal(services, first["request"], uploads)
    monkeypatch.setattr(callbacks.propose, "PROPOSE_LATER_ROWS", 10**9)
    now = fill_panel(services, ids.UPLOAD_STORE, uploads, [], {}, None)
    assert field_values(later["fields"]) == field_values(now["fields"])
    for key in ("left_id", "right_id", "rules", "proposal"):
        assert later[key] == now[key]
    assert texts(later["note"]) == texts(now["note"])
    # A request for uploads replaced since then fills nothing: the newer one will.
    stale = fill_proposal(services, first["request"], {"left": uploads["left"]})
    assert all(value is no_update for value in stale.values())


def test_one_upload_offers_its_columns_and_proposes_nothing(services, uploads):
    out = fill_panel(services, ids.UPLOAD_STORE, {"left": uploads["left"]}, [], {}, None)
    assert out["proposal"] is None and out["left_options"][0] == "owner_id"
    assert field_values(out["fields"]) == [(None, None, "qratio", 1)]


def test_tables_with_no_shared_columns_say_so_in_the_panel(services):
    a = keep_upload(services, pd.DataFrame({"a": ["1"], "b": ["x"]}), "a.csv")
    c = keep_upload(services, pd.DataFrame({"c": ["1"], "d": ["x"]}), "c.csv")
    out = fill_panel(services, ids.UPLOAD_STORE, {"left": a, "right": c}, [], {}, None)
    assert out["proposal"] is None
    note = " ".join(texts(out["note"]))
    assert "No set-up proposed" in note and "no column names in common" in note
    assert field_values(out["fields"]) == [(None, None, "qratio", 1)]


def test_marks_follow_edits_of_the_proposed_values(services, uploads):
    store = fill_panel(services, ids.UPLOAD_STORE, uploads, [], {}, None)["proposal"]
    rows = [(f["left"], f["right"], f["scorer"], f["weight"]) for f in store["fields"]]
    lefts, rights, scorers, weights = (list(c) for c in zip(*rows))
    marks = proposed_marks(store, lefts, rights, scorers, weights, "owner_id", "car_id", "")
    assert all(m is not None for m in marks["fields"])
    assert None not in (marks["left_id"], marks["right_id"], marks["rules"])
    weights[1], scorers[2] = "2", "qratio"
    marks = proposed_marks(store, lefts, rights, scorers, weights, None, "car_id", "exact:city")
    assert [m is not None for m in marks["fields"]] == [True, False, False, True, True, True]
    assert (marks["left_id"], marks["rules"]) == (None, None)
    assert marks["right_id"] is not None
    loaded = {**store, "source": "file"}
    marks = proposed_marks(loaded, lefts, rights, scorers, weights, None, "car_id", "")
    assert marks["fields"] == [None] * 6 and marks["right_id"] is None


def _as_upload(text: str, name: str) -> dict:
    encoded = base64.b64encode(text.encode()).decode()
    return {"contents": f"data:application/octet-stream;base64,{encoded}", "filename": name}


def test_a_downloaded_set_up_loads_back_into_the_panel(services, uploads):
    form = (
        ["surname", "given_name"],
        ["surname", "given_name"],
        ["jaro_winkler", "exact"],
        [2, 1],
        "owner_id",
        "car_id",
        "exact:postcode[:2]",
        None,
    )
    out = setup_file(services, uploads, None, form, 0.4, 0.9, "toml")
    file = out["file"]
    assert file["filename"] == "matchdesk-setup.toml"
    data = tomllib.loads(file["content"])
    assert data["tables"]["left"] == "owners.csv" and data["rules"] == ["exact:postcode[:2]"]
    setup = loads_setup(file["content"])
    assert [f.text for f in setup.spec.fields] == ["surname:jaro_winkler@2", "given_name:exact"]
    # Loaded back into a fresh panel, before any upload: its values, its thresholds.
    loaded = fill_panel(
        services, ids.SETUP_UPLOAD, {}, [], _as_upload(file["content"], "s.toml"), None
    )
    assert field_values(loaded["fields"]) == [
        ("surname", "surname", "jaro_winkler", 2.0),
        ("given_name", "given_name", "exact", 1.0),
    ]
    assert (loaded["left_id"], loaded["right_id"]) == ("owner_id", "car_id")
    assert (loaded["keep"], loaded["select"], loaded["rules"]) == (0.4, 0.9, "exact:postcode[:2]")
    assert "Upload the two tables to run it" in loaded["note"]
    # The tables uploaded afterwards keep the loaded set-up instead of a new proposal.
    after = fill_panel(services, ids.UPLOAD_STORE, uploads, [], {}, None, loaded["proposal"])
    assert field_values(after["fields"]) == field_values(loaded["fields"])
    assert "is kept" in after["note"] and "lack" not in after["note"]


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ("x", "s.yaml", "ends in .toml or .json"),
        ("{}", "s.json", "not a set-up file"),
        ('format = "matchdesk-setup"\n[[fields]]\nleft = "a"\nscorer = "no"\n', "s.toml", "no"),
    ],
)
def test_a_bad_set_up_file_says_why_in_the_panel(services, text, name, message):
    out = fill_panel(services, ids.SETUP_UPLOAD, {}, [], _as_upload(text, name), None)
    assert message in " ".join(texts(out["note"]))
    assert out["fields"] is not None and not isinstance(out["fields"], list)  # no_update


def test_a_bad_form_is_not_downloaded(services, uploads):
    form = (["surname"], ["surname"], ["qratio"], [0], None, None, "", None)
    out = setup_file(services, uploads, None, form, 0.5, 0.8, "toml")
    assert "weight must be a number above 0" in " ".join(texts(out["message"]))


def test_opening_a_project_shows_its_set_up(services):
    project_id = services.project_options()[0]["value"]
    out = fill_panel(services, None, {}, [], {}, project_id)
    assert field_values(out["fields"]) == [("OwnerSurname", "OwnerSurname", "qratio", 1.0)]
    assert (out["left_id"], out["right_id"]) == ("OwnerID", "CarID")
    assert (out["keep"], out["select"]) == (0.26, 0.33)
    assert "The set-up of the project Tutorial" in out["note"]
    assert "OwnerEmail" in out["left_options"]
    form = (["OwnerSurname"], ["OwnerSurname"], ["qratio"], [1], "OwnerID", "CarID", "", None)
    file = setup_file(services, {}, project_id, form, 0.26, 0.33, "json")["file"]
    assert json.loads(file["content"])["tables"]["left_id"] == "OwnerID"
