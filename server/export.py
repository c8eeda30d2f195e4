"""Exports of the matched table, served by a Flask route and written chunk by chunk.

``GET /export/<project_id>/matches.<csv|xlsx|parquet>`` writes the matched table
(``record.<csv|xlsx|parquet>`` the full decision record, ``log.<jsonl|parquet>`` the
decision log; for one table's duplicates ``clusters.…`` every record with its cluster and
``representatives.…`` one record per cluster) a chunk of rows at a time to a temporary
file under the data folder and sends that file; no callback builds the table. The route
follows the app's rules: the sign-in gate (callbacks/auth.py) stands in front of it, the
role must allow ``export`` (matching/roles.py), and the request must come from the app's
own page (its ``Sec-Fetch-Site``, else ``Origin`` or ``Referer``), so another site
cannot pull a file with the user's cookie. A refusal or a failure answers with
JSON ``{"error": ...}``, which the Matched tab shows in the page.

An export costs a worker seconds to minutes of CPU, so few are written at once:
at most ``max_exports`` on this host and ``max_exports_per_user`` for each user
(file locks every process sees, freed when a process dies); one more is answered
429 "busy, try again". Between chunks the writer asks whether the client is still
connected and stops when it has left. ``HEAD`` is answered from the checks alone,
without writing the file. Excel is written by openpyxl's write-only (streaming)
workbook, a row at a time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import select
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import BinaryIO

from flask import Response, jsonify, request, send_file

from matching.decisions.export import matched_chunks_of_pairs, write_csv, write_excel, write_parquet
from matching.decisions.record import decision_record, write_log_jsonl, write_log_parquet
from matching.decisions.roles import PermissionDenied, require
from matching.engine.project import Project
from matching.memory import release_mapped
from server.auth import PAGE_HEADER
from server.disk_full import disk_full_message
from server.security import same_site_request
from server.services import Services, services_of

__all__ = [
    "register",
    "EXPORTS",
    "KINDS",
    "export_url",
    "write_export",
    "export_slot",
    "ExportBusy",
    "ClientLeft",
    "client_left",
    "export_script",
    "ONE_TABLE_KINDS",
]

#: Format (the file ending) -> its writer and media type.
EXPORTS = {
    "csv": (write_csv, "text/csv"),
    "xlsx": (
        write_excel,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    "parquet": (write_parquet, "application/vnd.apache.parquet"),
}
#: What is exported -> the formats it comes in: the matched pairs, the full decision
#: record (every left record's standing) and the decision log itself.
KINDS = {
    "matches": ("csv", "xlsx", "parquet"),
    "record": ("csv", "xlsx", "parquet"),
    "log": ("jsonl", "parquet"),
    "clusters": ("csv", "xlsx", "parquet"),
    "representatives": ("csv", "xlsx", "parquet"),
}
#: The exports of a project of one table's duplicates only: its clusters.
ONE_TABLE_KINDS = ("clusters", "representatives")
_JSONL = "application/x-ndjson"

_log = logging.getLogger(__name__)


def export_url(project_id: str, fmt: str, kind: str = "matches") -> str:
    """Where ``kind`` (see :data:`KINDS`) of a project is served in a format."""
    return f"/export/{project_id}/{kind}.{fmt}"


def _media_type(fmt: str) -> str:
    return _JSONL if fmt == "jsonl" else EXPORTS[fmt][1]


class ExportBusy(Exception):
    """No export slot is free; the message says whose and what to do."""


class ClientLeft(Exception):
    """The client that asked for an export disconnected while it was being written."""


@contextmanager
def export_slot(folder: Path, user: str, *, most: int, per_user: int) -> Iterator[None]:
    """Hold one of the user's ``per_user`` export slots and one of the host's ``most``.

    Slots are file locks under ``folder``, so every worker process on the host
    sees them, and a process that dies frees its own. Raises :class:`ExportBusy`
    at once (it never waits) when none is free.
    """
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)

    def take(stack: ExitStack, prefix: str, count: int) -> bool:
        for i in range(max(count, 1)):
            handle = stack.enter_context(open(folder / f"{prefix}-{i}.lock", "a+b"))  # noqa: SIM115
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            return True  # closing the file frees the lock
        return False

    who = hashlib.sha256(user.encode()).hexdigest()[:16]
    with ExitStack() as held:
        if not take(held, f"user-{who}", per_user):
            going = "your export is" if per_user <= 1 else f"{per_user} of your exports are"
            raise ExportBusy(
                f"busy: {going} still being written; try again once the download has started"
            )
        if not take(held, "all", most):
            raise ExportBusy(
                f"busy: the server is writing as many exports as it takes at once ({most});"
                " try again in a minute"
            )
        yield


def client_left() -> Callable[[], bool]:
    """A check of whether the client of this request has disconnected.

    Reads the connection's socket (gunicorn's or werkzeug's) without waiting: a
    closed connection reads as end of file. Where the socket is not known (another
    server) or cannot be peeked at (TLS), the check says the client is there.
    """
    sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
    if sock is None:
        return lambda: False

    # poll, not select: select refuses a socket whose number is past 1,023, which a
    # server holding many connections reaches, and the client would never be seen leave.
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)

    def gone() -> bool:
        try:
            if not poller.poll(0):
                return False
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:  # readable a moment ago, nothing to read now: still there
            return False
        except ValueError:  # a TLS socket takes no flags: the client cannot be seen
            return False
        except OSError:  # reset by the client, or the socket closed
            return True

    return gone


def write_export(
    services: Services,
    project: Project,
    fmt: str,
    out: BinaryIO,
    *,
    stop: Callable[[], bool] | None = None,
    kind: str = "matches",
) -> int:
    """Write ``kind`` of the project to ``out``; returns rows.

    ``matches`` is the matched table, from the review desk's decisions in force (with
    each pair's ``cluster_id`` for one table's duplicates); ``record`` the full decision
    record (:func:`matching.decisions.record.decision_record`) and ``log`` the decision
    log (JSON Lines or Parquet), both from the log itself; ``clusters`` and
    ``representatives`` one table's records with their clusters and one record per
    cluster (see :class:`matching.desk.Clusters`).
    ``stop`` is asked between chunks: when it says True the writing stops with
    :class:`ClientLeft`.
    """
    if kind == "log":
        rows = services.log.event_rows(project.project_id)
        if stop is not None and stop():
            raise ClientLeft("the client left before the log was written")
        return (write_log_jsonl if fmt == "jsonl" else write_log_parquet)(rows, out)
    if kind == "record":
        record = decision_record(
            services.log.events(project.project_id),
            list(project.queue),
            right=project.right,
            right_pos=project.right_pos,
        )
        return EXPORTS[fmt][0](_letting_go([record], stop=stop, slices=_slices(fmt)), out)
    if kind in ONE_TABLE_KINDS:
        clusters = services.desk(project).clusters
        frame = clusters.records() if kind == "clusters" else clusters.representative_records()
        return EXPORTS[fmt][0](_letting_go([frame], stop=stop, slices=_slices(fmt)), out)
    chunks = matched_chunks_of_pairs(
        services.desk(project).views.accepted_pairs(),
        project.candidates,
        project.left,
        project.right,
        spec_left_id=project.spec.left_id,
        spec_right_id=project.spec.right_id,
        left_pos=project.left_pos,
        right_pos=project.right_pos,
    )
    chunks = services.desk(project).learning.with_weights(chunks)
    if project.spec.one_table:
        chunks = services.desk(project).clusters.with_cluster_ids(chunks)
    return EXPORTS[fmt][0](_letting_go(chunks, stop=stop, slices=_slices(fmt)), out)


#: Chunks written between two lettings go of the project files' pages (see below).
PAGES_EVERY = 2

#: Rows of Excel written between two looks at the client (a second or so of work;
#: a chunk of the matched table takes several seconds as Excel, under a second as CSV).
EXCEL_ROWS_BETWEEN_LOOKS = 2_000


def _slices(fmt: str) -> int | None:
    return EXCEL_ROWS_BETWEEN_LOOKS if fmt == "xlsx" else None


def _letting_go(
    chunks,
    every: int = PAGES_EVERY,
    *,
    stop: Callable[[], bool] | None = None,
    slices: int | None = None,
):
    """The chunks, this process letting go of the project files' pages it read every
    ``every`` chunks: an export reads both tables whole, and would otherwise hold every
    page of them at once (they stay in the file cache; :func:`matching.memory.release_mapped`).
    Before each chunk (each ``slices`` rows of it, when given), :class:`ClientLeft`
    when ``stop()`` says so."""
    for i, chunk in enumerate(chunks, 1):
        step = slices or max(len(chunk), 1)
        for start in range(0, max(len(chunk), 1), step):
            if stop is not None and stop():
                raise ClientLeft(f"the client left after {i - 1} chunks")
            yield chunk if step >= len(chunk) else chunk.iloc[start : start + step]
        if i % every == 0:
            release_mapped()


# An export is a file the server writes chunk by chunk and sends from its own route, not a
# callback response: the page fetches it, saves it, and says in the page what happened, the
# server's reason included when it refused or failed.
_EXPORT_SCRIPT = """
async function(...args) {
    const projectId = args[args.length - 1];
    const files = FILES;
    const file = files[window.dash_clientside.callback_context.triggered_id];
    if (!file || !projectId) { return window.dash_clientside.no_update; }
    const [kind, fmt] = file.split(".");
    const name = kind + "-" + projectId + "." + fmt;
    const failed = "text-danger small mb-2";
    try {
        const response = await fetch(
            "/export/" + encodeURIComponent(projectId) + "/" + file,
            {
                credentials: "same-origin",
                headers: {Accept: "application/octet-stream", "X-Matchdesk-Page": "1"},
            }
        );
        if (!response.ok || response.headers.has("X-Matchdesk-Export")) {
            let reason = response.status + " " + response.statusText;
            try { reason = (await response.json()).error || reason; } catch (e) {}
            return ["The export failed: " + reason + ".", failed];
        }
        const link = document.createElement("a");
        link.href = URL.createObjectURL(await response.blob());
        link.download = name;
        document.body.appendChild(link);
        link.click();
        link.remove();
        setTimeout(function () { URL.revokeObjectURL(link.href); }, 60000);
        return ["Exported " + name + ".", "text-success small mb-2"];
    } catch (e) {
        return ["The export failed: " + e.message + ".", failed];
    }
}
"""


def export_script(files: dict[str, str]) -> str:
    """The page's script that fetches the export its triggering button names in ``files``
    (button id -> ``kind.format``) for the project (the callback's last argument), saves
    it, and returns ``[message, className]`` saying what happened."""
    return _EXPORT_SCRIPT.replace("FILES", json.dumps(files))


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

    def export_matches(project_id: str, kind: str, fmt: str):
        if not same_site_request():
            return _refuse(403, "refused: this request did not come from matchdesk's page")
        try:
            who, role = services.actor(None)
            require(role, "export")
        except PermissionDenied as exc:
            return _refuse(403, str(exc))
        if kind not in KINDS:
            return _refuse(404, f"unknown export {kind!r}; use one of {', '.join(KINDS)}")
        if fmt not in KINDS[kind]:
            formats = ", ".join(KINDS[kind])
            return _refuse(404, f"unknown export format {fmt!r}; use one of {formats}")
        project = services.project(project_id)
        if project is None:
            return _refuse(404, f"there is no project {project_id!r}")
        if kind in ONE_TABLE_KINDS and not project.spec.one_table:
            return _refuse(
                404, f"{kind} are made of one table's duplicates; this project matches two tables"
            )
        download = f"{kind}-{project.project_id}.{fmt}"
        if request.method == "HEAD":  # what a GET would send, without writing the file
            response = Response(status=200, mimetype=_media_type(fmt))
            response.headers["Content-Disposition"] = f"attachment; filename={download}"
            return response
        folder = Path(services.config.data_dir) / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        # Gone from the folder as soon as it is made; the open file lives until sent.
        spool = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 - send_file closes it
        config = services.config
        try:
            with export_slot(
                folder / "slots",
                str(who),
                most=config.max_exports,
                per_user=config.max_exports_per_user,
            ):
                write_export(services, project, fmt, spool, stop=client_left(), kind=kind)
        except ExportBusy as exc:
            spool.close()
            response = _refuse(429, str(exc))
            response.headers["Retry-After"] = "30"
            return response
        except ClientLeft as exc:
            spool.close()
            _log.info("export of %s as %s stopped: %s", project_id, fmt, exc)
            return Response(status=499)
        except Exception as exc:  # any failure is the user's to read, not a blank 500
            spool.close()
            _log.exception("export of %s as %s failed", project_id, fmt)
            full = disk_full_message(exc)
            reason = full or f"could not write the file ({type(exc).__name__}: {exc})"
            return _refuse(507 if full else 500, reason)
        spool.seek(0)
        return send_file(
            spool, mimetype=_media_type(fmt), as_attachment=True, download_name=download
        )

    app.server.add_url_rule(
        "/export/<project_id>/<kind>.<fmt>",
        "export_matches",
        export_matches,
        methods=["GET", "HEAD"],
    )
