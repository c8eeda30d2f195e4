"""Exports of the matched table, served by a Flask route and written chunk by chunk.

``GET /export/<project_id>/matches.<csv|xlsx|parquet>`` writes the matched table
a chunk of rows at a time to a temporary file under the data folder and sends
that file; no callback builds the table. The route follows the app's rules: the
sign-in gate (callbacks/auth.py) stands in front of it, the role must allow
``export`` (matching/roles.py), and the request must come from the app's own
page (its ``Sec-Fetch-Site``, else ``Origin`` or ``Referer``), so another site
cannot pull a file with the user's cookie. A refusal or a failure answers with
JSON ``{"error": ...}``, which the Matched tab shows in the page.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import BinaryIO

from flask import jsonify, request, send_file

from matching.decisions.export import matched_chunks_of_pairs, write_csv, write_excel, write_parquet
from matching.decisions.roles import PermissionDenied, require
from matching.engine.project import Project
from matching.memory import release_mapped
from server.auth import PAGE_HEADER
from server.security import same_site_request
from server.services import Services, services_of

__all__ = ["register", "EXPORTS", "export_url", "write_export"]

#: Format (the file ending) -> its writer and media type.
EXPORTS = {
    "csv": (write_csv, "text/csv"),
    "xlsx": (
        write_excel,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    "parquet": (write_parquet, "application/vnd.apache.parquet"),
}

_log = logging.getLogger(__name__)


def export_url(project_id: str, fmt: str) -> str:
    """Where the matched table of a project is served in a format."""
    return f"/export/{project_id}/matches.{fmt}"


def write_export(services: Services, project: Project, fmt: str, out: BinaryIO) -> int:
    """Write the project's matched table, from the review desk's decisions in force, to
    ``out``; returns rows."""
    chunks = matched_chunks_of_pairs(
        services.desk(project).accepted_pairs(),
        project.candidates,
        project.left,
        project.right,
        spec_left_id=project.spec.left_id,
        spec_right_id=project.spec.right_id,
        left_pos=project.left_pos,
        right_pos=project.right_pos,
    )
    return EXPORTS[fmt][0](_letting_go(chunks), out)


#: Chunks written between two lettings go of the project files' pages (see below).
PAGES_EVERY = 2


def _letting_go(chunks, every: int = PAGES_EVERY):
    """The chunks, this process letting go of the project files' pages it read every
    ``every`` chunks: an export reads both tables whole, and would otherwise hold every
    page of them at once (they stay in the file cache; :func:`matching.memory.release_mapped`)."""
    for i, chunk in enumerate(chunks, 1):
        yield chunk
        if i % every == 0:
            release_mapped()


#: Set on a refusal answered to the page, which reads the reason from the body.
REFUSED_HEADER = "X-Matchdesk-Export"


def _refuse(status: int, message: str):
    """The refusal with its reason: the HTTP status, or 200 to the page's own fetch.

    The page (its export buttons send ``X-Matchdesk-Page``) shows the reason in
    the page; answered with an error status, the browser would also log the
    response as a console error. Any other client gets the real status.
    """
    response = jsonify({"error": message})
    if request.headers.get(PAGE_HEADER):
        response.headers[REFUSED_HEADER] = str(status)
    else:
        response.status_code = status
    return response


def register(app) -> None:
    services = services_of(app)

    def export_matches(project_id: str, fmt: str):
        if not same_site_request():
            return _refuse(403, "refused: this request did not come from matchdesk's page")
        try:
            _, role = services.actor(None)
            require(role, "export")
        except PermissionDenied as exc:
            return _refuse(403, str(exc))
        if fmt not in EXPORTS:
            return _refuse(404, f"unknown export format {fmt!r}; use one of {', '.join(EXPORTS)}")
        project = services.project(project_id)
        if project is None:
            return _refuse(404, f"there is no project {project_id!r}")
        folder = Path(services.config.data_dir) / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        # Gone from the folder as soon as it is made; the open file lives until sent.
        spool = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 - send_file closes it
        try:
            write_export(services, project, fmt, spool)
        except Exception as exc:  # any failure is the user's to read, not a blank 500
            spool.close()
            _log.exception("export of %s as %s failed", project_id, fmt)
            return _refuse(500, f"could not write the file ({type(exc).__name__}: {exc})")
        spool.seek(0)
        return send_file(
            spool,
            mimetype=EXPORTS[fmt][1],
            as_attachment=True,
            download_name=f"matches-{project.project_id}.{fmt}",
        )

    app.server.add_url_rule(
        "/export/<project_id>/matches.<fmt>", "export_matches", export_matches, methods=["GET"]
    )
