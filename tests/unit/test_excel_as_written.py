"""Excel as people write it: a sheet and a header row chosen, numbers stored as text,
padded and differently cased column names, N° as an id; the command line's checks."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest

from matching.cli import main
from matching.engine.io import TableReadError, excel_sheets, load_table
from matching.engine.names import find_column
from matching.engine.propose import propose
from matching.engine.spec import Setup, Spec, dumps_setup, loads_setup, parse_field


def _book(path, sheets: dict[str, list[list[object]]]):
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


RESTAURANTS = [
    ["Restaurants of Paris, as listed in 2024"],
    [" N° ", "Name ", " PHONE", "Zip"],
    [1, "Chez Ann", "01 23", 75001],
    ["2", "Le Bon", "04 56", "75002"],
    [3.0, "Au Coin", None, " 75003.0 "],
]


@pytest.fixture
def workbook(tmp_path):
    return _book(tmp_path / "restaurants.xlsx", {"Notes": [["see 2nd sheet"]], "List": RESTAURANTS})


def test_a_title_row_above_the_headers_is_left_out_with_the_chosen_header_row(workbook):
    table = load_table(workbook, sheet="List", header_row=2).frame
    assert list(table.columns) == ["N°", "Name", "PHONE", "Zip"]
    assert table["Name"].tolist() == ["Chez Ann", "Le Bon", "Au Coin"]
    assert excel_sheets(workbook) == ["Notes", "List"]
    # The sheet by its number from 1 reads the same.
    assert load_table(workbook, sheet=2, header_row=2).frame.equals(table)


def test_a_title_row_is_passed_over_by_default_and_said_in_the_report(workbook):
    table = load_table(workbook, sheet="List")
    assert table.header_row == 2 and list(table.frame.columns) == ["N°", "Name", "PHONE", "Zip"]
    assert table.report == ("restaurants.xlsx: 3 rows, 4 columns (EXCEL, column names on row 2)")


def test_a_header_row_with_a_blank_name_is_an_error_that_says_what_to_choose(tmp_path):
    path = _book(tmp_path / "b.xlsx", {"S": [["id", None, "name"], [1, 2, "ann"]]})
    with pytest.raises(TableReadError, match=r"column 2 of the header \(row 1\) has no name;"):
        load_table(path)


def test_an_unknown_sheet_or_a_header_row_past_the_end_is_an_error(workbook):
    with pytest.raises(TableReadError, match="no sheet 'Menu'; the workbook has Notes, List"):
        load_table(workbook, sheet="Menu")
    with pytest.raises(TableReadError, match="no header on row 9"):
        load_table(workbook, sheet="List", header_row=9)
    with pytest.raises(TableReadError, match="for Excel only"):
        load_table(b"a,b\n1,2\n", name="t.csv", header_row=2)


def test_numbers_stored_as_text_read_as_numbers_where_the_whole_column_is_numeric(workbook):
    table = load_table(workbook, sheet="List", header_row=2).frame
    assert table["N°"].tolist() == ["1", "2", "3"]
    assert table["Zip"].tolist() == ["75001", "75002", "75003"]
    # A column of text only keeps its text (leading zeros, spaces) as it is.
    assert table["PHONE"].tolist() == ["01 23", "04 56", None]


def test_a_column_of_numbers_with_a_word_in_it_stays_text(tmp_path):
    path = _book(tmp_path / "m.xlsx", {"S": [["id", "n"], [1, 5], [2, "0012"], [3, "n/a"]]})
    assert load_table(path).frame["n"].tolist() == ["5", "0012", "n/a"]


def test_n_degree_and_no_dot_are_identifier_names(workbook):
    left = load_table(workbook, sheet="List", header_row=2).frame
    right = left.rename(columns={"N°": "No."})
    spec = propose(left, right).spec
    assert (spec.left_id, spec.right_id) == ("N°", "No.")


def test_column_names_are_found_after_trimming_and_case_folding():
    assert find_column("name", ["Name ", "city"]) == "Name "
    assert find_column("Name", ["Name", "name"]) == "Name"  # the exact name first
    assert find_column("zip", ["a"]) == "zip"  # left for the usual "no column" message
    with pytest.raises(ValueError, match="several columns named 'name'"):
        find_column("name", ["Name", "NAME"])


def test_the_sheet_and_header_rows_are_saved_with_the_set_up():
    setup = Setup(Spec((parse_field("Name"),)), "l.xlsx", "r.csv", left_sheet="List")
    setup = Setup(**{**setup.__dict__, "left_header_row": 2})
    again = loads_setup(dumps_setup(setup))
    assert (again.left_sheet, again.left_header_row, again.right_header_row) == ("List", 2, 1)


def test_the_command_line_reads_the_chosen_sheet_and_header_row_and_any_case_of_names(
    workbook, tmp_path, capsys
):
    right = _book(tmp_path / "r.xlsx", {"S": [["no.", "name", "zip"], ["a", "chez ann", 75001]]})
    out = tmp_path / "pairs.csv"
    code = main(
        [
            "--left", str(workbook), "--left-sheet", "List", "--left-header-row", "2",
            "--right", str(right), "--left-id", "n°", "--right-id", "NO.",
            "--field", "NAME", "--field", "zip:exact", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    lines = out.read_text().splitlines()
    assert lines[0] == '"left_id","right_id","score","score_Name","score_Zip"'
    assert lines[1].startswith('"1","a",1')


def _declaring(rows: int, cols: int) -> bytes:
    """A tiny .xlsx whose sheet declares ``rows`` x ``cols`` cells."""
    buffer = io.BytesIO()
    book = openpyxl.Workbook()
    book.active.append(["id", "name"])
    book.save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    last = openpyxl.utils.get_column_letter(cols)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for entry in source.infolist():
            data = source.read(entry.filename)
            if entry.filename == "xl/worksheets/sheet1.xml":
                start = data.index(b"<dimension")
                end = data.index(b"/>", start) + 2
                data = data[:start] + f'<dimension ref="A1:{last}{rows}"/>'.encode() + data[end:]
            bomb.writestr(entry, data)
    return out.getvalue()


def test_the_command_line_refuses_a_workbook_declaring_millions_of_rows(tmp_path, capsys):
    bomb = tmp_path / "bomb.xlsx"
    bomb.write_bytes(_declaring(4_000_000, 6))
    ok = tmp_path / "ok.csv"
    ok.write_text("id,name\n1,ann\n")
    with pytest.raises(SystemExit) as stop:
        main(["--left", str(bomb), "--right", str(ok), "--field", "name", "--out", "-"])
    assert stop.value.code == 2
    assert "bomb.xlsx: the sheet 'Sheet' has 4,000,000 rows x 6 columns" in capsys.readouterr().err


def test_the_data_panel_reads_another_sheet_or_header_row_from_the_kept_workbook(
    services, workbook
):
    from dash import no_update

    from callbacks.tables import excel_choices, read_upload, store_upload_of
    from components.ids import ids

    first = read_upload(services, workbook, "restaurants.xlsx")
    assert (first["sheet"], first["header_row"], first["rows"]) == ("Notes", 1, 0)
    shown = excel_choices({"left": first})
    assert shown["left_options"] == [
        {"label": "Notes", "value": "Notes"},
        {"label": "List", "value": "List"},
    ]
    assert shown["left_style"] == {} and shown["right_style"] == {"display": "none"}
    out = store_upload_of(
        services, ids.EXCEL_LEFT_SHEET, None, {}, {"left": first}, {"left_sheet": "List"}
    )
    listed = out["uploads"]["left"]
    assert (listed["sheet"], listed["header_row"], listed["columns"]) == (
        "List", 2, ["N°", "Name", "PHONE", "Zip"]
    )  # fmt: skip
    assert listed["token"] != first["token"]
    _, frame = services.uploaded(listed)
    assert frame["Name"].tolist() == ["Chez Ann", "Le Bon", "Au Coin"]
    again = {"left_sheet": "List", "left_header": 9}
    bad = store_upload_of(services, ids.EXCEL_LEFT_HEADER, None, {}, out["uploads"], again)
    assert bad["left_info"].startswith("⚠ restaurants.xlsx: the sheet has 5 rows")
    assert bad["uploads"] is no_update
