"""An Excel workbook as people write it, in the Data panel: its sheet and header row are
chosen in the page, a title row above the column names is passed over."""

from __future__ import annotations

import openpyxl
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.helpers import button, start


def _book(path):
    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["The list is on the next sheet"])
    sheet = book.create_sheet("Restaurants")
    sheet.append(["Restaurants of Paris, 2024"])
    sheet.append(["N°", " Name ", "City"])
    for i, (name, city) in enumerate([("Chez Ann", "Paris"), ("Le Bon", "Lyon")], start=1):
        sheet.append([i, name, city])
    book.save(path)
    return path


def _type_header(dash_duo, row: str) -> None:
    """Type a header row as a person does: select what is there, type, press Enter."""
    header = dash_duo.find_element("#excel-left-header-row")
    header.click()
    header.send_keys(Keys.CONTROL, "a")
    header.send_keys(row, Keys.ENTER)


def test_the_sheet_and_the_header_row_are_chosen_in_the_data_panel(dash_duo, demo_app, tmp_path):
    start(dash_duo, demo_app)
    button(dash_duo, "Data").click()
    dash_duo.wait_for_element("#upload-left input")
    dash_duo.find_element("#upload-left input").send_keys(str(_book(tmp_path / "paris.xlsx")))
    dash_duo.wait_for_contains_text("#upload-left-info", "paris.xlsx", timeout=15)
    dash_duo.wait_for_element("#excel-left-sheet-select", timeout=10)
    Select(dash_duo.find_element("#excel-left-sheet-select")).select_by_visible_text("Restaurants")
    dash_duo.wait_for_contains_text(
        "#upload-left-info", "2 rows, 3 columns (EXCEL, column names on row 2)", timeout=15
    )
    assert dash_duo.find_element("#excel-left-header-row").get_attribute("value") == "2"
    # The header row chosen by hand: row 3 makes the first restaurant the column names.
    _type_header(dash_duo, "3")
    dash_duo.wait_for_contains_text(
        "#upload-left-info", "1 row, 3 columns (EXCEL, column names on row 3)", timeout=15
    )
    _type_header(dash_duo, "2")
    dash_duo.wait_for_contains_text("#upload-left-info", "2 rows, 3 columns", timeout=15)
    dash_duo.find_element("#upload-right input").send_keys(str(tmp_path / "paris.xlsx"))
    dash_duo.wait_for_element("#excel-right-sheet-select", timeout=10)
    Select(dash_duo.find_element("#excel-right-sheet-select")).select_by_visible_text("Restaurants")
    dash_duo.wait_for_contains_text("#upload-right-info", "2 rows, 3 columns", timeout=15)
    dash_duo.wait_for_contains_text("#pair-count", "4 pairs to score", timeout=15)
    assert dash_duo.get_logs() == []
