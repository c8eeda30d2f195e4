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
from callbacks.data import run_project
from callbacks.propose import (
    fill_panel,
    fill_proposal,
    panel_values,
    proposed_marks,
    setup_file,
    update_previews,
)
from components.data import FIELD_PARTS
from components.ids import ids
from matching.engine.demo import generate_tables
from matching.engine.form import spec_from_rows
from matching.engine.propose import propose
from matching.engine.spec import Normalization, cleaning_name, loads_setup
from tests.dash_http import ORIGIN, callback_payload, response_values
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
    """(left, right, scorer, weight, cleaning) of each field row component."""
    out = []
    for row in rows:
        left, right, scorer, clean, weight, _ = (col.children for col in row.children)
        out.append((left.value, right.value, scorer.value, weight.value, clean.value))
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
        ("given_name", "given_name", "jaro_winkler", 1.0, "text"),
        ("surname", "surname", "jaro_winkler", 1.0, "text"),
        ("street", "street", "token_set", 1.0, "text"),
        ("city", "city", "jaro_winkler", 1.0, "text"),
        ("postcode", "postcode", "levenshtein", 1.0, "number"),
        ("birth_date", "birth_date", "date", 1.0, "text"),
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
    assert field_values(first["fields"]) == [(None, None, "qratio", 1, "text")]
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
    assert field_values(out["fields"]) == [(None, None, "qratio", 1, "text")]


def test_tables_with_no_shared_columns_say_so_in_the_panel(services):
    a = keep_upload(services, pd.DataFrame({"a": ["1"], "b": ["x"]}), "a.csv")
    c = keep_upload(services, pd.DataFrame({"c": ["1"], "d": ["x"]}), "c.csv")
    out = fill_panel(services, ids.UPLOAD_STORE, {"left": a, "right": c}, [], {}, None)
    assert out["proposal"] is None
    note = " ".join(texts(out["note"]))
    assert "No set-up proposed" in note and "no column names in common" in note
    assert field_values(out["fields"]) == [(None, None, "qratio", 1, "text")]


def test_marks_follow_edits_of_the_proposed_values(services, uploads):
    store = fill_panel(services, ids.UPLOAD_STORE, uploads, [], {}, None)["proposal"]
    rows = [[f[part] for f in store["fields"]] for part in FIELD_PARTS]
    marks = proposed_marks(store, *rows, "owner_id", "car_id", "")
    assert all(m is not None for m in marks["fields"])
    assert None not in (marks["left_id"], marks["right_id"], marks["rules"])
    _, _, scorers, weights, cleanings = rows
    weights[1], scorers[2], cleanings[4] = "2", "qratio", "text"
    marks = proposed_marks(store, *rows, None, "car_id", "exact:city")
    assert [m is not None for m in marks["fields"]] == [True, False, False, True, False, True]
    assert (marks["left_id"], marks["rules"]) == (None, None)
    assert marks["right_id"] is not None
    cleanings[4] = "number"  # the proposal's cleaning again: the mark is back
    assert proposed_marks(store, *rows, None, "car_id", "")["fields"][4] is not None
    loaded = {**store, "source": "file"}
    marks = proposed_marks(loaded, *rows, None, "car_id", "")
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
        ["text", "digits"],
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
    assert [f.text for f in setup.spec.fields] == [
        "surname:jaro_winkler@2",
        "given_name:exact/digits",
    ]
    # Loaded back into a fresh panel, before any upload: its values, its thresholds.
    loaded = fill_panel(
        services, ids.SETUP_UPLOAD, {}, [], _as_upload(file["content"], "s.toml"), None
    )
    assert field_values(loaded["fields"]) == [
        ("surname", "surname", "jaro_winkler", 2.0, "text"),
        ("given_name", "given_name", "exact", 1.0, "digits"),
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
    form = (["surname"], ["surname"], ["qratio"], [0], ["text"], None, None, "", None)
    out = setup_file(services, uploads, None, form, 0.5, 0.8, "toml")
    assert "weight must be a number above 0" in " ".join(texts(out["message"]))


def test_opening_a_project_shows_its_set_up(services):
    project_id = services.project_options()[0]["value"]
    out = fill_panel(services, None, {}, [], {}, project_id)
    assert field_values(out["fields"]) == [("OwnerSurname", "OwnerSurname", "qratio", 1.0, "text")]
    assert (out["left_id"], out["right_id"]) == ("OwnerID", "CarID")
    assert (out["keep"], out["select"]) == (0.26, 0.33)
    assert "The set-up of the project Tutorial" in out["note"]
    assert "OwnerEmail" in out["left_options"]
    form = (
        ["OwnerSurname"],
        ["OwnerSurname"],
        ["qratio"],
        [1],
        ["text"],
        "OwnerID",
        "CarID",
        "",
        None,
    )
    file = setup_file(services, {}, project_id, form, 0.26, 0.33, "json")["file"]
    assert json.loads(file["content"])["tables"]["left_id"] == "OwnerID"


# -- each field's cleaning ----------------------------------------------------------------

#: A year written as a float on the left (as a spreadsheet saves it) and as a whole
#: number on the right; phone numbers written with different punctuation.
YEARS_LEFT = pd.DataFrame(
    {
        "pid": ["a1", "a2", "a3", "a4"],
        "surname": ["Lee", "Chen", "Diaz", "Ray"],
        "year": [1999.0, 1985.0, 2001.0, 1970.0],
        "phone": ["(02) 9876-5432", "(03) 1111-2222", "(07) 3333 4444", "(08) 5555-6666"],
    }
)
YEARS_RIGHT = pd.DataFrame(
    {
        "cid": ["b1", "b2", "b3", "b4", "b5"],
        "surname": ["Lee", "Chen", "Dias", "Roy", "Ng"],
        "year": [1999, 1985, 2001, 1971, 1960],
        "phone": ["02 9876 5432", "03 1111 2222", "07 3333 4444", "08 5555 6667", "09 1234 5678"],
    }
)


def test_the_proposals_cleanings_fill_the_panel_and_come_back_from_it(services):
    proposal = propose(YEARS_LEFT, YEARS_RIGHT)
    assert all(cleaning_name(f.normalization) is not None for f in proposal.spec.fields)
    values = panel_values(proposal.spec)
    rows = [[f[part] for f in values["fields"]] for part in FIELD_PARTS]
    assert rows[0] == ["surname", "year", "phone"] and rows[4] == ["text", "number", "digits"]
    again = spec_from_rows(*rows, values["left_id"], values["right_id"], values["rules"])
    assert again == proposal.spec
    uploads = {
        "left": keep_upload(services, YEARS_LEFT, "people.csv"),
        "right": keep_upload(services, YEARS_RIGHT, "customers.csv"),
    }
    out = fill_panel(services, ids.UPLOAD_STORE, uploads, [], {}, None)
    assert [(v[0], v[4]) for v in field_values(out["fields"])] == [
        ("surname", "text"),
        ("year", "number"),
        ("phone", "digits"),
    ]
    marks = proposed_marks(out["proposal"], *rows, "pid", "cid", values["rules"])
    assert all(m is not None for m in marks["fields"])


ODD_SETUP = """format = "matchdesk-setup"

[[fields]]
left = "code"
scorer = "exact"

[fields.normalization]
casefold = false
strip_accents = false
collapse = false
"""


def test_a_set_up_files_own_cleaning_is_shown_and_kept_as_it_is(services):
    loaded = fill_panel(services, ids.SETUP_UPLOAD, {}, [], _as_upload(ODD_SETUP, "o.toml"), None)
    ((*_, clean),) = field_values(loaded["fields"])
    assert clean == "flags:"
    assert "Kept with the set-up's own cleaning (Clean as 'as loaded'): code." in loaded["note"]
    choice = loaded["fields"][0].children[3].children
    assert choice.options[-1] == {"label": "as loaded: no cleaning", "value": "flags:"}
    form = (["code"], ["code"], ["exact"], [1], [clean], None, None, "", None)
    file = setup_file(services, {}, None, form, 0.5, 0.8, "toml")["file"]
    (field,) = loads_setup(file["content"]).spec.fields
    assert field.normalization == Normalization(casefold=False, strip_accents=False, collapse=False)


def test_a_run_with_a_forged_cleaning_says_why_and_runs_nothing(services, uploads):
    before = services.project_options()
    form = (["surname"], ["surname"], ["qratio"], [1], ["shout"], "owner_id", "car_id", "", None)
    _, _, message, color, _ = run_project(services, uploads, form, 0.5, 0.8)
    assert color == "danger" and "field 'surname': unknown cleaning 'shout'" in message
    assert services.project_options() == before


@pytest.mark.parametrize("clean", ["shout", 7, ["text"], None])
def test_a_raw_post_with_a_forged_cleaning_gets_a_message(demo_app, clean):
    client = demo_app.server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if "setup-message.children" in d["output"])
    row = {json.loads(s["id"])["type"]: s["id"] for s in dep["state"] if s["id"].startswith("{")}
    parts = {"left": "surname", "right": "surname", "scorer": "qratio", "weight": 1}
    values = {f"{row['field-' + p]}.value": [v] for p, v in parts.items()}
    values |= {f"{row['field-clean']}.value": [clean] if clean is not None else []}
    values |= {f"{ids.SETUP_DOWNLOAD}.n_clicks": 1, f"{ids.SETUP_FORMAT}.value": "toml"}
    values |= {f"{ids.KEEP}.value": 0.5, f"{ids.SELECT}.value": 0.8}
    body = callback_payload(
        deps, f"{ids.SETUP_MESSAGE}.children", values, [f"{ids.SETUP_DOWNLOAD}.n_clicks"]
    )
    response = client.post("/_dash-update-component", json=body, headers={"Origin": ORIGIN})
    assert response.status_code == 200
    answer = response_values(response.get_json())[f"{ids.SETUP_MESSAGE}.children"]
    message = answer["props"]["children"]
    lost = "the field rows do not line up"  # a row without its cleaning
    assert (lost if clean is None else "field 'surname': unknown cleaning") in message
