"""Uploads that cannot take the server down, upload ids that name no path, project deletion."""

from __future__ import annotations

import io
import os
import time
import tracemalloc
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from callbacks.data import confirm_delete, delete_project, run_project
from callbacks.tables import read_upload, store_upload_of
from components.ids import ids
from matching.engine.io import TableReadError
from matching.engine.safety import check_shape, check_table_bytes, threshold_problem

MB = 1024 * 1024


def _file(services, raw: bytes, name: str):
    """``raw`` in a file on the server, as a finished upload or a --data-root file is."""
    folder = Path(services.config.data_dir) / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(raw)
    return path


def _csv(rows: int = 3) -> bytes:
    return ("id,name\n" + "".join(f"{i},name {i}\n" for i in range(rows))).encode()


def _xlsx(rows) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """A 3.7 MB-ish .xlsx whose sheet unpacks to 1.1 GB of XML, like the one in the issue."""
    source = zipfile.ZipFile(io.BytesIO(_xlsx([["id", "name"], ["1", "ann"]])))
    rows = b'<row><c t="inlineStr"><is><t>aaaaaaaaaaaaaaaa</t></is></c></row>' * 16384
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for entry in source.infolist():
            data = source.read(entry.filename)
            if entry.filename != "xl/worksheets/sheet1.xml":
                bomb.writestr(entry, data)
                continue
            head = data.split(b"<sheetData>")[0].split(b"<dimension")[0]
            with bomb.open(entry.filename, "w", force_zip64=True) as sheet:
                sheet.write(head + b"<sheetData>")
                for _ in range(1100 * MB // len(rows)):
                    sheet.write(rows)
                sheet.write(b"</sheetData></worksheet>")
    return out.getvalue()


def test_an_xlsx_zip_bomb_is_refused_without_being_unpacked(services, zip_bomb, monkeypatch):
    assert len(zip_bomb) < 8 * MB
    inflated = []
    original = zipfile.ZipExtFile.read
    monkeypatch.setattr(
        zipfile.ZipExtFile,
        "read",
        lambda self, *a: inflated.append(self.name) or original(self, *a),
    )
    tracemalloc.start()
    with pytest.raises(TableReadError, match="unpacks to 1,100 MB"):
        read_upload(services, _file(services, zip_bomb, "bomb.xlsx"), "bomb.xlsx")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "xl/worksheets/sheet1.xml" not in inflated
    assert peak < 20 * MB  # read from disk: the checks never hold the whole file


def test_a_highly_compressed_entry_is_refused_by_its_ratio(zip_bomb):
    with pytest.raises(TableReadError, match=r"compressed .* times"):
        check_table_bytes(zip_bomb, "bomb.xlsx", max_uncompressed=2 * 1024 * MB)


def test_an_xlsx_declaring_too_many_cells_is_refused_before_parsing():
    raw = _xlsx([["id", "a", "b"], *[[str(i), "x", "y"] for i in range(10)]])
    with pytest.raises(TableReadError, match="11 rows x 3 columns"):
        check_table_bytes(raw, "wide.xlsx", max_cells=30)
    check_table_bytes(raw, "wide.xlsx", max_cells=33)


def test_a_parquet_file_is_checked_by_its_footer():
    buffer = io.BytesIO()
    pd.DataFrame({"a": ["x"] * 100, "b": ["y"] * 100}).to_parquet(buffer)
    with pytest.raises(TableReadError, match="100 rows x 2 columns"):
        check_table_bytes(buffer.getvalue(), "t.parquet", max_cells=150)


def test_a_table_over_the_cell_limit_is_refused(services):
    services.config.max_cells = 10
    with pytest.raises(TableReadError, match="more than the 10 cells allowed"):
        read_upload(services, _file(services, _csv(6), "t.csv"), "t.csv")
    with pytest.raises(TableReadError):
        check_shape(pd.DataFrame({"a": range(11)}), "t", max_cells=10)


def test_a_real_workbook_passes_the_checks(services):
    raw = _xlsx([["id", "name"], ["1", "ann"], ["2", "bo"]])
    info = read_upload(services, _file(services, raw, "people.xlsx"), "people.xlsx")
    assert info["rows"] == 2


@pytest.mark.parametrize(
    "token",
    ["../../secret/payroll", "/etc/passwd", "a" * 31, "A" * 32, "0" * 32 + "/x", 7, None, ["x"]],
)
def test_an_upload_id_never_names_a_path(services, token):
    assert services.upload_path(token) is None
    with pytest.raises(ValueError, match="not on the server"):
        services.uploaded({"token": token, "name": "payroll.csv"})


def test_run_with_a_forged_upload_id_is_refused_with_a_message(services, tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    pd.DataFrame({"salary": ["1"]}).to_parquet(secret / "payroll.parquet")
    forged = {"token": "../../secret/payroll", "name": "x", "columns": ["salary"], "rows": 1}
    out = run_project(
        services,
        {"left": forged, "right": forged},
        (["salary"], [None], [None], [1], [None], None, None),
        0.5,
        0.8,
    )
    assert out[2].startswith("Could not run:") and "not on the server" in out[2]
    assert len(services.project_options()) == 1


def test_run_reads_names_and_tables_from_the_server_not_the_page(services):
    left = read_upload(services, _file(services, _csv(3), "left.csv"), "left.csv")
    right = read_upload(services, _file(services, _csv(4), "right.csv"), "right.csv")
    lied = {"left": {**left, "name": "<b>evil</b>", "rows": 10**9}, "right": right}
    options, project_id, message, color, _ = run_project(
        services, lied, (["name"], ["name"], ["qratio"], [1], ["text"], "id", "id"), 0.5, 0.8
    )
    assert color == "success", message
    assert {"label": "left.csv ↔ right.csv", "value": project_id} in options


def test_an_upload_too_large_for_the_server_is_reported_in_the_page(services):
    inbox = {"side": "right", "name": "huge.csv", "too_large": 700 * MB}
    out = store_upload_of(services, ids.UPLOAD_INBOX, inbox, {}, {"right": {"token": "x"}})
    assert "huge.csv: 700 MB is more than this server takes (512 MB" in out["right_info"]
    assert "right" not in out["uploads"]


def test_uploads_need_an_admin(signed_services):
    services, act_as = signed_services
    act_as("bo", "lead")
    inbox = {"side": "right", "upload_id": "0" * 32}
    out = store_upload_of(services, ids.UPLOAD_INBOX, inbox, {}, {})
    assert "only an admin may upload tables" in out["right_info"]
    named = {"left": {"token": "0" * 32}, "right": {"token": "1" * 32}}
    out = run_project(services, named, ([], [], [], [], [], None, None), 0.5, 0.8)
    assert "may create project" in out[2]


@pytest.fixture
def signed_services(services, monkeypatch):
    """Services with users, and a way to act as one of them without a browser."""
    services.users.add("ann", "admin", "pw")

    def act_as(name, role):
        monkeypatch.setattr(services, "signed_in", lambda: (name, role))

    return services, act_as


def test_an_admin_deletes_a_project_with_its_tables_and_uploads(services, project):
    left = read_upload(services, _file(services, _csv(3), "l.csv"), "l.csv")
    right = read_upload(services, _file(services, _csv(3), "r.csv"), "r.csv")
    _, new_id, _, color, _ = run_project(
        services,
        {"left": left, "right": right},
        (["name"], ["name"], ["qratio"], [1], ["text"], "id", "id"),
        0.5,
        0.8,
    )
    assert color == "success"
    folder = services.upload_path(left["token"]).parents[1] / new_id
    assert folder.is_dir()
    assert "Delete the project 'l.csv ↔ r.csv'?" in confirm_delete(services, new_id)[1]
    options, following, message, color, _ = delete_project(services, new_id)
    assert (message, color) == ("Project deleted.", "success")
    assert new_id not in [o["value"] for o in options]
    assert following == project.project_id
    assert not folder.exists()
    assert not services.upload_path(left["token"]).exists()
    assert services.log.project(new_id) is None and services.project(new_id) is None


def test_only_an_admin_may_delete_a_project(signed_services, project):
    services, act_as = signed_services
    act_as("bo", "lead")
    out = delete_project(services, project.project_id)
    assert out[2].startswith("Could not delete: only an admin")
    assert services.log.project(project.project_id) is not None


def test_projects_leave_process_memory_least_recently_used_first(services, project):
    services.config.max_projects = 2
    made = []
    for n in (3, 4):
        left = read_upload(services, _file(services, _csv(n), f"l{n}.csv"), f"l{n}.csv")
        out = run_project(
            services,
            {"left": left, "right": left},
            (["name"], ["name"], ["qratio"], [1], ["text"], "id", "id"),
            0.5,
            0.8,
        )
        made.append(out[1])
    assert list(services._projects) == made  # the demo project left memory first
    assert services.project(project.project_id) is not None  # and comes back from disk
    assert list(services._projects) == [made[1], project.project_id]


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"keep": 5.0, "select": -3}, "keep must be a number between 0 and 1"),
        ({"keep": 0.9, "select": 0.5}, "keep (0.90) must not be above select (0.50)"),
        ({"auto_accept": 0.2, "auto_reject": 0.5}, "auto-reject (0.50) must not be above"),
        ({"keep": float("nan")}, "keep must be a number"),
        ({"keep": "0.5"}, "keep must be a number"),
        ({"keep": True}, "keep must be a number"),
        ({"keep": 0.0, "select": 1.0, "auto_reject": 0.1, "auto_accept": 0.9}, None),
    ],
)
def test_thresholds_are_validated(values, problem):
    found = threshold_problem(**values)
    assert (found is None) if problem is None else problem in found


def test_uploads_left_for_a_day_are_swept_at_the_next_upload(services):
    old = read_upload(services, _file(services, _csv(2), "old.csv"), "old.csv")
    path = services.upload_path(old["token"])
    day_ago = time.time() - 2 * 86400
    for file in (path, path.with_suffix(".json")):
        os.utime(file, (day_ago, day_ago))
    fresh = read_upload(services, _file(services, _csv(3), "new.csv"), "new.csv")
    assert not path.exists() and not path.with_suffix(".json").exists()
    assert services.upload_path(fresh["token"]).exists()
