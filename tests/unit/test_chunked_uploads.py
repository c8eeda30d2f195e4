"""Chunked uploads over HTTP (Flask test client) and tables opened from --data-root."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest
from dash import no_update

from callbacks.tables import store_upload_of
from components.ids import LOGIN_NAME, LOGIN_PASSWORD, ids
from matching.engine.io import TableReadError, read_table
from matching.engine.safety import check_table_file, files_inside, inside_folder
from matching.engine.uploads import ChunkedUploads, UploadRefused

ORIGIN = {"Origin": "http://localhost"}
MB = 1024 * 1024


def _csv(rows: int) -> bytes:
    lines = "".join(f"{i},name {i},{'x' * (i % 7)}\n" for i in range(rows))
    return ("id,name,note\n" + lines).encode()


def _start(client, name: str, size: int, **headers):
    return client.post(
        "/upload/start", json={"name": name, "size": size}, headers={**ORIGIN, **headers}
    )


def _chunk(client, upload_id: str, offset: int, body: bytes):
    return client.post(
        f"/upload/chunk?upload_id={upload_id}&offset={offset}",
        data=body,
        headers={**ORIGIN, "Content-Type": "application/octet-stream"},
    )


def _finish(services, client, upload_id: str, side: str = "left") -> dict:
    """What the Data panel's callback makes of the finished upload (same session)."""
    with client.application.test_request_context("/", headers=ORIGIN):
        inbox = {"side": side, "upload_id": upload_id}
        return store_upload_of(services, ids.UPLOAD_INBOX, inbox, {}, {})


class _Dropping(io.BytesIO):
    """A request body whose connection drops after ``keep`` bytes."""

    def __init__(self, raw: bytes, keep: int) -> None:
        super().__init__(raw)
        self.keep = keep

    def read(self, size=-1):
        if self.tell() >= self.keep:
            raise ConnectionResetError("dropped")
        return super().read(min(size, self.keep - self.tell()))


@pytest.fixture
def client(demo_app):
    return demo_app.server.test_client()


def test_an_interrupted_upload_resumes_from_the_server_offset_and_gives_the_same_table(
    services, client, tmp_path
):
    raw = _csv(3000)
    original = tmp_path / "people.csv"
    original.write_bytes(raw)
    step = len(raw) // 5
    started = _start(client, "people.csv", len(raw)).get_json()
    upload_id = started["upload_id"]
    assert started["received"] == 0 and started["chunk_bytes"] > 0
    assert _chunk(client, upload_id, 0, raw[:step]).get_json()["received"] == step
    # the second chunk's connection drops part-way: what arrived is kept
    store = ChunkedUploads(Path(services.config.data_dir) / "uploads", max_bytes=len(raw))
    with pytest.raises(ConnectionResetError):
        store.append(
            upload_id, step, _Dropping(raw[step:], 1000), len(raw) - step, owner="anonymous"
        )
    # the page asks how far it got, and goes on from there
    status = client.get(f"/upload/status?upload_id={upload_id}").get_json()
    assert status["received"] == step + 1000
    offset = status["received"]
    while offset < len(raw):
        offset = _chunk(client, upload_id, offset, raw[offset : offset + step]).get_json()[
            "received"
        ]
    out = _finish(services, client, upload_id)
    assert out["left_info"].startswith("people.csv: 3000 rows, 3 columns")
    record, frame = services.uploaded(out["uploads"]["left"])
    pd.testing.assert_frame_equal(frame, read_table(original))
    assert record["columns"] == ["id", "name", "note"]
    assert not list(Path(services.config.data_dir, "uploads").glob("*.part"))


def test_a_file_chosen_while_another_uploads_on_that_side_is_refused_with_a_message(services):
    uploads = {"left": {"token": "kept"}}
    inbox = {"side": "left", "name": "second.csv", "busy": "first.csv"}
    out = store_upload_of(services, ids.UPLOAD_INBOX, inbox, {}, uploads)
    assert out["left_info"] == (
        "⚠ second.csv was not uploaded: first.csv is still uploading on this side; "
        "choose second.csv again when it is done"
    )
    assert out["uploads"] is no_update and out["right_info"] is no_update


def test_a_file_over_the_limit_is_refused_before_any_byte(services, client):
    services.config.max_upload_mb = 1
    answer = _start(client, "huge.csv", 3 * MB)
    assert answer.status_code == 413
    assert "huge.csv: 3 MB is more than this server takes (1 MB" in answer.get_json()["error"]
    assert not Path(services.config.data_dir, "uploads").exists()


def test_chunks_cannot_go_past_the_declared_size(client):
    upload_id = _start(client, "t.csv", 10).get_json()["upload_id"]
    answer = _chunk(client, upload_id, 0, b"x" * 11)
    assert (
        answer.status_code == 400 and "goes past the file's 10 bytes" in answer.get_json()["error"]
    )
    assert client.get(f"/upload/status?upload_id={upload_id}").get_json()["received"] == 0


def test_a_chunk_at_a_forged_offset_is_refused_with_the_server_count(client):
    upload_id = _start(client, "t.csv", 100).get_json()["upload_id"]
    assert _chunk(client, upload_id, 0, b"a" * 40).status_code == 200
    for offset in (0, 20, 60, -1):
        answer = _chunk(client, upload_id, offset, b"b" * 10)
        assert answer.status_code in (400, 409)
    answer = _chunk(client, upload_id, 60, b"b" * 10)
    assert answer.status_code == 409 and answer.get_json()["received"] == 40
    assert client.get(f"/upload/status?upload_id={upload_id}").get_json()["received"] == 40


@pytest.mark.parametrize(
    "upload_id", ["0" * 32, "../../etc/passwd", "a" * 31, "A" * 32, "0" * 32 + "/x", ""]
)
def test_an_unknown_or_forged_upload_id_is_refused(services, client, upload_id):
    _start(client, "t.csv", 10)  # a real upload exists beside it
    assert _chunk(client, upload_id, 0, b"x").status_code == 404
    assert client.get(f"/upload/status?upload_id={upload_id}").status_code == 404
    out = _finish(services, client, upload_id)
    assert out["left_info"].startswith("⚠ no such upload")


def test_an_unfinished_upload_is_not_read(services, client):
    upload_id = _start(client, "t.csv", 100).get_json()["upload_id"]
    _chunk(client, upload_id, 0, b"id\n1\n")
    out = _finish(services, client, upload_id)
    assert "only 5 of 100 bytes arrived" in out["left_info"]
    assert "left" not in out["uploads"]


def test_an_upload_from_another_site_is_refused(client):
    answer = client.post(
        "/upload/start",
        json={"name": "t.csv", "size": 10},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403


def test_an_unknown_file_type_is_refused_at_the_start(client):
    answer = _start(client, "payroll.exe", 10)
    assert answer.status_code == 415 and "unknown file type" in answer.get_json()["error"]
    for body in ([1, 2], "x", None):
        answer = client.post("/upload/start", json=body, headers=ORIGIN)
        assert answer.status_code == 400 and answer.get_json()["error"] == "the file has no name"


def _sign_in(client, name: str) -> None:
    answer = client.post(
        "/login", data={LOGIN_NAME: name, LOGIN_PASSWORD: "pw", "next": "/"}, headers=ORIGIN
    )
    assert answer.status_code == 303


def test_with_sign_in_only_the_admin_who_started_an_upload_continues_it(services, client):
    for name, role in (("ann", "admin"), ("bo", "lead"), ("cy", "admin")):
        services.users.add(name, role, "pw")
    services._users_seen = (0.0, False)
    assert _start(client, "t.csv", 10).status_code == 401
    _sign_in(client, "bo")
    answer = _start(client, "t.csv", 10)
    assert answer.status_code == 403 and "only an admin" in answer.get_json()["error"]
    _sign_in(client, "ann")
    upload_id = _start(client, "t.csv", 10).get_json()["upload_id"]
    _sign_in(client, "cy")
    assert _chunk(client, upload_id, 0, b"x").status_code == 404
    assert client.get(f"/upload/status?upload_id={upload_id}").status_code == 404


def test_check_table_file_reads_a_parquet_footer_and_counts_lines(tmp_path):
    pd.DataFrame({"a": ["x"] * 100, "b": ["y"] * 100}).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(TableReadError, match="100 rows x 2 columns"):
        check_table_file(tmp_path / "t.parquet", max_cells=150)
    (tmp_path / "t.csv").write_bytes(_csv(20))
    with pytest.raises(TableReadError, match="more than 10 lines"):
        check_table_file(tmp_path / "t.csv", max_cells=10)
    check_table_file(tmp_path / "t.csv", max_cells=100)


@pytest.fixture
def root(tmp_path):
    """A data folder with a table, a subfolder, and links in and out of it."""
    folder = tmp_path / "root"
    (folder / "crm").mkdir(parents=True)
    (folder / "crm" / "people.csv").write_bytes(_csv(4))
    outside = tmp_path / "secret.csv"
    outside.write_bytes(b"salary\n100\n")
    (folder / "leak.csv").symlink_to(outside)
    (folder / "linked").symlink_to(tmp_path)
    (folder / "alias.csv").symlink_to(folder / "crm" / "people.csv")
    return folder


@pytest.mark.parametrize(
    "typed",
    ["../secret.csv", "crm/../../secret.csv", "leak.csv", "linked/secret.csv", "/etc/passwd"],
)
def test_a_path_leading_out_of_the_data_root_is_refused(root, typed):
    with pytest.raises(TableReadError, match="outside the data folder"):
        inside_folder(root, typed)


@pytest.mark.parametrize(
    ("typed", "problem"),
    [("", "type the path"), ("crm", "a folder"), ("crm/nobody.csv", "no such file")],
)
def test_a_path_that_names_no_file_says_so(root, typed, problem):
    with pytest.raises(TableReadError, match=problem):
        inside_folder(root, typed)


def test_the_data_root_lists_only_tables_inside_it(root):
    assert files_inside(root) == ["alias.csv", "crm/people.csv"]


def test_an_admin_opens_a_table_by_path_inside_the_data_root(services, root):
    services.config.data_root = str(root)
    open_left = ids.DATA_ROOT_OPEN_LEFT
    out = store_upload_of(services, open_left, None, {"left": "crm/people.csv"}, {})
    assert out["left_info"].startswith("people.csv: 4 rows, 3 columns")
    pd.testing.assert_frame_equal(
        services.uploaded(out["uploads"]["left"])[1], read_table(root / "crm" / "people.csv")
    )
    refused = store_upload_of(services, open_left, None, {"left": "../secret.csv"}, out["uploads"])
    assert "outside the data folder" in refused["left_info"]
    assert "left" not in refused["uploads"]


def test_without_a_data_root_nothing_is_opened_by_path(services, root):
    out = store_upload_of(services, ids.DATA_ROOT_OPEN_RIGHT, None, {"right": str(root)}, {})
    assert "no data folder (--data-root)" in out["right_info"]


def test_chunked_store_refuses_what_it_did_not_make(tmp_path):
    store = ChunkedUploads(tmp_path, max_bytes=100)
    state = store.start("../../t.csv", 10, owner="ann")
    assert state.name == "t.csv" and sorted(p.name for p in tmp_path.iterdir()) == [
        f"{state.upload_id}.part",
        f"{state.upload_id}.upload.json",
    ]
    with pytest.raises(UploadRefused, match="no such upload"):
        store.state(state.upload_id, owner="bo")
    for size in (0, -1, 1.5, "10", True):
        with pytest.raises(UploadRefused):
            store.start("t.csv", size, owner="ann")


class _Zeros:
    """A request body of ``size`` zero bytes, made as it is read."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, size: int) -> bytes:
        size = min(size, self.left)
        self.left -= size
        return bytes(size)


def test_a_chunk_goes_to_disk_a_block_at_a_time(tmp_path):
    store = ChunkedUploads(tmp_path, max_bytes=32 * MB)
    state = store.start("big.csv", 32 * MB, owner="ann")
    tracemalloc.start()
    after = store.append(state.upload_id, 0, _Zeros(32 * MB), 32 * MB, owner="ann")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert after.complete and (tmp_path / f"{state.upload_id}.part").stat().st_size == 32 * MB
    assert peak < 4 * MB
