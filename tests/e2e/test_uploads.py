"""Chunked uploads and --data-root in headless Chromium."""

from __future__ import annotations

import threading

import pandas as pd

from callbacks.tables import content_token
from matching.engine.io import read_table
from matching.engine.uploads import ChunkedUploads
from tests.helpers import button, start


def test_upload_two_files_in_chunks_and_open_one_by_path(
    dash_duo, app_config, tmp_path, monkeypatch
):
    from app import create_app

    root = tmp_path / "root"
    (root / "crm").mkdir(parents=True)
    (root / "crm" / "people.csv").write_text("pid,name\n1,Ann\n2,Bo\n", encoding="utf-8")
    (tmp_path / "secret.csv").write_text("salary\n100\n", encoding="utf-8")
    app_config.data_root = str(root)
    app_config.upload_chunk_bytes = 64 * 1024  # several chunks for a small file
    left = tmp_path / "owners.csv"
    left.write_text(
        "pid;name\n" + "".join(f"{i:06d};Owner number {i}\n" for i in range(12_000)),
        encoding="utf-8",
    )
    right = tmp_path / "cars.csv"
    right.write_text("cid,name\nA1,owner number 1\nA2,owner number 2\n", encoding="utf-8")
    # The third chunk waits until a second file has been chosen on the same side, then
    # its connection drops after 1000 bytes: the server keeps them and answers with
    # its count, and the page goes on from there.
    append, calls, chosen = ChunkedUploads.append, [], threading.Event()

    def dropping(self, upload_id, offset, body, length, *, owner):
        calls.append(offset)
        if len(calls) == 3:
            chosen.wait(20)
        cut = 1000 if len(calls) == 3 else length
        return append(self, upload_id, offset, body, min(cut, length), owner=owner)

    monkeypatch.setattr(ChunkedUploads, "append", dropping)
    app = create_app(app_config)
    start(dash_duo, app)
    button(dash_duo, "Data").click()
    dash_duo.wait_for_element("#upload-left input")
    dash_duo.find_element("#upload-left input").send_keys(str(left))
    dash_duo.wait_for_contains_text("#upload-left-progress", "KB of", timeout=10)
    dash_duo.find_element("#upload-left input").send_keys(str(right))  # while it uploads
    dash_duo.wait_for_contains_text(
        "#upload-left-info", "cars.csv was not uploaded: owners.csv is still uploading", timeout=10
    )
    chosen.set()
    dash_duo.wait_for_contains_text("#upload-left-info", "12000 rows, 2 columns", timeout=20)
    assert "KB uploaded" in dash_duo.find_element("#upload-left-progress").text
    assert calls[3] == calls[2] + 1000 and len(calls) == 6  # 5 chunks and the short one
    # the server's table is kept under the hash of the name and every byte it received
    kept = app.matchdesk.upload_path(content_token(left, left.name))
    pd.testing.assert_frame_equal(read_table(kept), read_table(left))
    dash_duo.find_element("#upload-right input").send_keys(str(right))
    dash_duo.wait_for_contains_text("#upload-right-info", "cars.csv: 2 rows", timeout=10)
    dash_duo.wait_for_contains_text("#pair-count", "24,000 pairs to score", timeout=10)
    typed = dash_duo.find_element("#data-root-right-input")
    typed.send_keys("../secret.csv")
    dash_duo.find_element("#data-root-right-open-button").click()
    dash_duo.wait_for_contains_text("#upload-right-info", "outside the data folder", timeout=10)
    typed.clear()
    typed.send_keys("crm/people.csv")
    dash_duo.find_element("#data-root-right-open-button").click()
    dash_duo.wait_for_contains_text("#upload-right-info", "people.csv: 2 rows", timeout=10)
    dash_duo.wait_for_contains_text("#pair-count", "24,000 pairs to score", timeout=10)
    assert dash_duo.get_logs() == []


def test_without_a_data_root_no_path_box_is_shown(dash_duo, demo_app):
    start(dash_duo, demo_app)
    button(dash_duo, "Data").click()
    dash_duo.wait_for_element("#upload-left input")
    assert not dash_duo.find_element("#data-root-left-input").is_displayed()
    assert dash_duo.get_logs() == []


def test_a_signed_in_admin_uploads_through_the_page(dash_duo, demo_app, tmp_path):
    from tests.e2e.test_sign_in import _sign_in

    demo_app.matchdesk.users.add("ann", "admin", "ann-pw")
    table = tmp_path / "people.csv"
    table.write_text("pid,name\n1,Ann\n2,Bo\n3,Cy\n", encoding="utf-8")
    dash_duo.start_server(demo_app, navigate=False)
    dash_duo.driver.get(dash_duo.server.url)
    dash_duo.wait_for_text_to_equal("h1", "matchdesk", timeout=15)
    _sign_in(dash_duo, "ann", "ann-pw")
    dash_duo.wait_for_contains_text(".navbar", "ann (admin)", timeout=20)
    button(dash_duo, "Data").click()
    dash_duo.wait_for_element("#upload-left input")
    dash_duo.find_element("#upload-left input").send_keys(str(table))
    dash_duo.wait_for_contains_text("#upload-left-info", "people.csv: 3 rows", timeout=15)
    assert dash_duo.get_logs() == []
