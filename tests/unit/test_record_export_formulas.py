"""Formula text a reviewer, a lead or a table puts into a decision (a reason, a comment,
a corrected cell, a reviewer's name) reaches the Full record export as text, never as a
formula a spreadsheet would run: CSV and Excel alike, as the matched export."""

from __future__ import annotations

import csv
import io

import openpyxl

from tests.dash_http import ORIGIN

SAME_PAGE = {"Referer": f"{ORIGIN}/", "Sec-Fetch-Site": "same-origin"}
REASON = '=HYPERLINK("http://example.invalid","open")'
NAME = "=cmd|'/C calc'!A0"


def _decide_with_formulas(services, project) -> None:
    desk = services.desk(project)
    assert desk.choices.set_reasons([REASON, "moved"], role="lead").ok
    view = desk.next_view(NAME)
    right = view["rows"][0]["_right_id"]
    column = next(
        c
        for c in view["rows"][0]
        if not c.startswith(("_", "score")) and c != project.spec.right_id
    )
    edits = {right: {column: "=1+1"}}
    assert desk.decide(NAME, view, "accept", [right], edits=edits, reason=REASON).ok
    view = desk.next_view(NAME)
    assert desk.decide(NAME, view, "reject", reason="moved", comment="@SUM(1)").ok
    desk.release(NAME)


def _formula_cells(rows) -> list[str]:
    starts = ("=", "+", "-", "@")
    return [c for row in rows for c in row if isinstance(c, str) and c.strip().startswith(starts)]


def test_the_full_record_as_csv_and_excel_carries_no_formula(demo_app, project):
    services = demo_app.matchdesk
    _decide_with_formulas(services, project)
    client = demo_app.server.test_client()
    base = f"/export/{project.project_id}"

    text = client.get(f"{base}/record.csv", headers=SAME_PAGE).get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert _formula_cells(rows) == []
    cells = {c for row in rows for c in row}
    assert f"'{NAME}" in cells and f"'{REASON}" in cells
    assert "'@SUM(1)" not in cells and any(c.endswith("@SUM(1)") for c in cells)

    book = openpyxl.load_workbook(
        io.BytesIO(client.get(f"{base}/record.xlsx", headers=SAME_PAGE).data)
    )
    values = list(book.active.iter_rows(values_only=True))
    assert _formula_cells(values) == []
    assert f"'{NAME}" in {c for row in values for c in row}


def test_the_matched_export_carries_the_corrected_formula_as_text(demo_app, project):
    services = demo_app.matchdesk
    _decide_with_formulas(services, project)
    client = demo_app.server.test_client()
    text = client.get(f"/export/{project.project_id}/matches.csv", headers=SAME_PAGE)
    rows = list(csv.reader(io.StringIO(text.get_data(as_text=True).lstrip("\ufeff"))))
    assert _formula_cells(rows) == []
    assert "'=1+1" in {c for row in rows for c in row}


def test_a_correction_of_the_right_tables_id_is_refused_and_the_grid_offers_none(services, project):
    from components.review import candidate_columns

    desk = services.desk(project)
    view = desk.next_view("ann")
    right, id_column = view["rows"][0]["_right_id"], project.spec.right_id
    outcome = desk.decide("ann", view, "accept", [right], edits={right: {id_column: "999"}})
    assert not outcome.ok
    assert outcome.message.startswith(f"{id_column} is the right table's ID: it names {right}")
    assert services.log.events(project.project_id) == []
    columns = candidate_columns(
        list(project.right.columns), list(project.spec.fields), right_id=id_column
    )
    editable = {c["field"]: c.get("editable") for c in columns}
    assert editable[id_column] is False
    assert all(e for f, e in editable.items() if f not in (id_column, "score"))
