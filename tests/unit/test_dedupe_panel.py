"""The Data panel's one-table mode: one upload, its duplicates found by a run of its own."""

from __future__ import annotations

import base64
from pathlib import Path

from callbacks.data import count_view, run_project
from callbacks.propose import fill_panel
from callbacks.tables import read_upload
from components.data import ONE_TABLE, uploads_in_mode
from components.ids import ids
from matching.engine.form import spec_from_rows
from matching.engine.spec import Setup, dumps_setup
from tests.helpers import texts

PEOPLE = (
    "pid,name,town\n"
    "p1,Ann Lee,Leeds\n"
    "p2,Anne Lee,Leeds\n"
    "p3,Bob Ray,York\n"
    "p4,Bob Rey,York\n"
    "p5,Cy Li,Hull\n"
    "p6,Ann Lee,Leeds\n"
)


def upload(services, text: str = PEOPLE, name: str = "people.csv") -> dict:
    folder = Path(services.config.data_dir) / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return read_upload(services, folder / name, name)


def test_one_table_mode_reads_the_left_upload_on_both_sides():
    table, other = {"token": "a"}, {"token": "b"}
    assert uploads_in_mode({"left": table, "right": other}, ONE_TABLE) == {
        "left": table,
        "right": table,
    }
    assert uploads_in_mode({"left": table, "right": other}, "two") == {
        "left": table,
        "right": other,
    }
    assert uploads_in_mode({"right": other}, ONE_TABLE) == {}
    assert uploads_in_mode(None, ONE_TABLE) == {}


def test_the_one_table_form_compares_each_column_with_itself():
    spec = spec_from_rows(
        ["name"], ["town"], ["qratio"], [1], ["text"], "pid", "other", one_table=True
    )
    assert spec.one_table and spec.right_id == "pid"
    assert [(f.left, f.right) for f in spec.fields] == [("name", "name")]


def test_one_table_counts_each_pair_once(services):
    info = upload(services)
    _, table = services.uploaded(info)
    assert texts(count_view(table, table, "", one_table=True))[-1] == (
        "15 pairs to score (each pair of the 6 records once)"
    )
    shown = texts(count_view(table, table, "exact:town", one_table=True))
    assert shown[-1] == "4 pairs to score after blocking"  # Leeds: 3 pairs, York: 1


def test_a_one_table_run_finds_pairs_once_and_opens_as_a_deduplication(services):
    info = upload(services)
    form = (["name"], [None], ["qratio"], [1], ["text"], "pid", None, "", None)
    options, project_id, message, color, _ = run_project(
        services, {"left": info}, form, 0.5, 0.8, one_table=True
    )
    assert color == "success", message
    assert {"label": "people.csv (duplicates)", "value": project_id} in options
    project = services.project(project_id)
    assert project.spec.one_table and project.spec.right_id == "pid"
    pairs = list(zip(project.candidates["left_id"], project.candidates["right_id"]))
    assert pairs and all(a < b for a, b in pairs)  # the earlier record first, never itself
    assert ("p1", "p6") in pairs and ("p1", "p2") in pairs
    assert len({frozenset(p) for p in pairs}) == len(pairs)
    # A record may be the same as several others: no pairing rule makes that a conflict.
    assert services.settings(project_id).cardinality == "many-to-many"
    # Reopened, the panel shows the one-table mode and its set-up.
    out = fill_panel(services, ids.PROJECT_SELECT, {}, [], {}, project_id)
    assert out["mode"] == ONE_TABLE and out["left_id"] == "pid"


def test_a_one_table_run_without_its_table_says_so(services):
    form = (["name"], [None], ["qratio"], [1], ["text"], "pid", None, "", None)
    out = run_project(services, {}, form, 0.5, 0.8, one_table=True)
    assert out[2] == "Could not run: upload the table first" and out[3] == "danger"


def test_switching_to_one_table_proposes_for_the_left_upload(services):
    info = upload(services)
    out = fill_panel(services, ids.DATA_MODE, {"left": info}, [], {}, None, None, ONE_TABLE)
    assert out["left_id"] == "pid" and out["right_options"] == out["left_options"]
    assert out["proposal"] is not None


def test_a_saved_one_table_set_up_opens_the_panel_in_one_table_mode(services):
    spec = spec_from_rows(["name"], [None], ["qratio"], [1], ["text"], "pid", None, one_table=True)
    text = dumps_setup(Setup(spec, "people.csv", None), "toml")
    assert "one_table = true" in text
    contents = "data:text/plain;base64," + base64.b64encode(text.encode()).decode()
    setup = {"contents": contents, "filename": "people.toml"}
    out = fill_panel(services, ids.SETUP_UPLOAD, {}, [], setup, None)
    assert out["mode"] == ONE_TABLE and out["left_id"] == "pid"
