"""Chunked uploads over HTTP: start, send chunks, ask how far it got.

``assets/uploads.js`` slices the chosen file and drives these routes:

- ``POST /upload/start`` with ``{"name", "size"}``: the server's id for the
  upload, or a refusal (over ``--max-upload-mb``, unknown file type);
- ``POST /upload/chunk?upload_id=ID&offset=N`` with the chunk as the body:
  appended straight to the file on disk (see :mod:`matching.engine.uploads`);
- ``GET /upload/status?upload_id=ID``: the bytes received so far, to resume.

They answer JSON: the upload's state, or ``{"error": message}`` with a status
code. The sign-in gate and the same-origin check (``callbacks/auth.py``,
``callbacks/security.py``) run before these routes as before every other;
on top, only an admin (anyone, in open mode) may upload, and an upload is
continued only by whoever started it. When the last chunk is in, the page
hands the id to the Data panel's callback, which reads the table
(:func:`callbacks.tables.finish_upload`).

dash-uploader was not used: it lets the browser choose the upload id and the
file name, and joins both into paths on the server.
"""

from __future__ import annotations

from pathlib import Path

from flask import jsonify, request
from werkzeug.exceptions import ClientDisconnected

from matching.decisions.roles import PermissionDenied, require
from matching.engine.uploads import ChunkedUploads, UploadRefused
from server.services import Services, services_of

__all__ = ["register", "chunked_uploads", "uploader"]


def chunked_uploads(services: Services) -> ChunkedUploads:
    """The uploads in progress, in the data folder's ``uploads`` folder."""
    folder = Path(services.config.data_dir) / "uploads"
    return ChunkedUploads(folder, max_bytes=int(services.config.max_upload_mb * 1024 * 1024))


def uploader(services: Services) -> str:
    """Who is uploading: the signed-in admin (or the open-mode user); else PermissionDenied."""
    name, role = services.actor(None)
    require(role, "upload")
    return name


def _answer(state=None, *, error: Exception | None = None, status: int = 200, chunk=0):
    if error is None:
        return jsonify({**state.to_dict(), "chunk_bytes": chunk}), status
    body = {"error": str(error)}
    if getattr(error, "received", None) is not None:
        body["received"] = error.received
    return jsonify(body), status


def _int_arg(name: str) -> int | None:
    try:
        return int(request.args.get(name, ""))
    except ValueError:
        return None


def register(app) -> None:
    services = services_of(app)
    server = app.server

    def handle(step):
        try:
            state = step(chunked_uploads(services), uploader(services))
            return _answer(state, chunk=services.config.upload_chunk_bytes)
        except PermissionDenied as exc:
            return _answer(error=exc, status=403)
        except UploadRefused as exc:
            return _answer(error=exc, status=exc.status)

    def start_upload():
        body = request.get_json(silent=True)
        body = body if isinstance(body, dict) else {}
        services.sweep_uploads()
        return handle(
            lambda uploads, who: uploads.start(body.get("name"), body.get("size"), owner=who)
        )

    def upload_chunk():
        # A chunk is written to disk as it arrives; no larger than the page is told to send.
        request.max_content_length = services.config.upload_chunk_bytes

        def append(uploads, who):
            try:
                return uploads.append(
                    request.args.get("upload_id"),
                    _int_arg("offset"),
                    request.stream,
                    request.content_length,
                    owner=who,
                )
            except ClientDisconnected:
                raise UploadRefused("the connection dropped during the chunk", 400) from None

        return handle(append)

    def upload_status():
        return handle(lambda uploads, who: uploads.state(request.args.get("upload_id"), owner=who))

    server.add_url_rule("/upload/start", "upload_start", start_upload, methods=["POST"])
    server.add_url_rule("/upload/chunk", "upload_chunk", upload_chunk, methods=["POST"])
    server.add_url_rule("/upload/status", "upload_status", upload_status, methods=["GET"])
