"""Data panel, its tables: uploads read and checked, tables opened from the server's
folder, and workbooks read again from another sheet or header row."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

from dash import Input, Output, State, ctx, no_update

from components.data import EXCEL_IDS, SIDES
from components.ids import ids
from matching.decisions.roles import PermissionDenied
from matching.engine.derive import made_names
from matching.engine.io import FORMATS, TableReadError, excel_sheets, load_table
from matching.engine.safety import check_shape, check_table_file, inside_folder
from matching.engine.uploads import UploadRefused, too_large_message
from server.services import Services, services_of
from server.uploads import chunked_uploads, uploader

__all__ = [
    "register",
    "read_upload",
    "reread_upload",
    "excel_choices",
    "finish_upload",
    "open_from_root",
    "store_upload_of",
    "content_token",
]


def read_upload(
    services: Services,
    path: str | Path,
    filename: str,
    *,
    sheet: str | None = None,
    header_row: int | None = None,
) -> dict:
    """Check and read the table in a file on the server, keep it, and describe it.

    ``path`` is a finished chunked upload or a file under ``--data-root``;
    ``filename`` gives the format (by its ending) and the name shown. For an
    Excel workbook, ``sheet`` and ``header_row`` say what to read (see
    :func:`~matching.engine.io.load_table`; by default the first sheet, its column
    names on the first row or below a title row), and the workbook is kept too, so
    that another sheet or header row can be read from it (:func:`reread_upload`).
    Returns ``{"token", "name", "columns", "made", "rows", "report"}`` (and for a
    workbook ``"source", "sheets", "sheet", "header_row"``), where ``made`` are the
    columns a set-up may name that the table makes (a date of its year, month and day
    columns, a text's model codes: :func:`~matching.engine.derive.made_names`) and
    ``token`` is the
    server's id for the table (see :meth:`~matching.workspace.Workspace.uploaded`);
    the rest is for the page only.
    Raises :class:`TableReadError` with a message for the page; a file that would
    cost too much to read (:func:`~matching.engine.safety.check_table_file`), has
    more columns than :data:`~matching.engine.io.MAX_COLUMNS` or whose data would
    take more memory than the largest upload is refused before its rows are made.
    """
    name = str(filename or "upload")
    max_cells = services.config.max_cells
    check_table_file(path, name, max_cells=max_cells)
    excel = FORMATS.get(Path(name).suffix.lower()) == "excel"
    choice = {"sheet": sheet, "header_row": header_row} if excel else {}
    # Arrow text: a tenth of the memory of Python strings; the kept table is the same.
    # No table may take more memory than the largest upload (a CSV) could.
    most = int(services.config.max_upload_mb * 1024 * 1024)
    loaded = load_table(path, name=name, arrow=True, max_bytes=most, **choice)
    check_shape(loaded.frame, name, max_cells=max_cells)
    source = content_token(path, name)
    info = {
        "token": content_token(path, name, json.dumps(choice)) if excel else source,
        "name": name,
        "columns": list(loaded.frame.columns),
        "made": made_names(loaded.frame),
        "rows": len(loaded.frame),
        "report": loaded.report,
    }
    services.sweep_uploads()
    kept = services.upload_path(info["token"])
    kept.parent.mkdir(parents=True, exist_ok=True)
    if excel:
        sheets = excel_sheets(path)
        info |= {"source": source, "sheets": sheets, "sheet": sheet or sheets[0]}
        info["header_row"] = loaded.header_row
        workbook = services.upload_path(source, ".xlsx")
        if Path(path).resolve() != workbook:
            shutil.copyfile(path, workbook)
    loaded.frame.to_parquet(kept, index=False)
    kept.with_suffix(".json").write_text(json.dumps(info), encoding="utf-8")
    return info


def reread_upload(services: Services, info: object, sheet: object, header_row: object) -> dict:
    """Read a kept workbook's table again from another sheet or header row (None: found
    as :func:`read_upload` finds it), for one who may upload; :class:`TableReadError`
    says what is wrong, :class:`PermissionDenied` who may not."""
    uploader(services)
    record, _ = services.uploaded(info)
    workbook = services.upload_path(record.get("source"), ".xlsx")
    if workbook is None or not workbook.exists():
        gone = f"{record['name']}: the workbook is no longer on the server; upload it again"
        raise TableReadError(gone)
    row = None if header_row is None else _row_number(header_row)
    if row is not None and row < 1:
        raise TableReadError("the header row is a row number from 1")
    sheets = record.get("sheets", ())
    if sheet is not None and not (isinstance(sheet, str) and sheet in sheets):
        shown = repr(sheet)[:60]
        raise TableReadError(
            f"{record['name']}: no sheet {shown}; the workbook has {', '.join(sheets)}"
        )
    return read_upload(services, workbook, record["name"], sheet=sheet, header_row=row)


def _row_number(typed: object) -> int:
    """A header row as typed (a whole number, or its text); TableReadError otherwise."""
    try:
        number = float(typed) if isinstance(typed, str) else typed
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(typed)
        if not math.isfinite(number) or number != int(number):
            raise ValueError(typed)
        return int(number)
    except (TypeError, ValueError, OverflowError):
        raise TableReadError("the header row is a row number from 1") from None


def content_token(path: str | Path, name: str, choice: str = "") -> str:
    """The id of a table: a hash of its name, content and (for a workbook) the sheet and
    header row read, the file read a block at a time."""
    digest = hashlib.sha256(name.encode() + b"\0" + (choice.encode() + b"\0" if choice else b""))
    with open(path, "rb") as file:
        while block := file.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()[:32]


def finish_upload(services: Services, upload_id: object) -> dict:
    """Read the table of a chunked upload whose bytes have all arrived (see read_upload).

    The upload's file is removed afterwards, whether its table could be read
    or not. Raises :class:`~matching.engine.uploads.UploadRefused` (a ``ValueError``)
    for an upload that is not this user's or not complete.
    """
    uploads = chunked_uploads(services)
    path, state = uploads.finished(upload_id, owner=uploader(services))
    try:
        return read_upload(services, path, state.name)
    finally:
        uploads.discard(upload_id)


def open_from_root(services: Services, typed: object) -> dict:
    """Read a table by its path inside ``--data-root`` (see read_upload).

    Raises :class:`TableReadError` when no data root is configured, or the path
    is empty, outside the folder (``..``, a symlink leading out), or names no file.
    """
    root = services.config.data_root
    if not root:
        raise TableReadError("this server has no data folder (--data-root) to open files from")
    uploader(services)
    path = inside_folder(root, typed if isinstance(typed, str) else "")
    return read_upload(services, path, path.name)


def store_upload_of(
    services: Services, trigger, inbox, typed: dict, uploads, choices: dict | None = None
) -> dict:
    """A new table for one side: a finished chunked upload, a file under --data-root, or
    the same workbook read from another sheet or header row.

    ``trigger`` is the id of what was used: the upload inbox, where the page
    puts ``{"side", "upload_id"}`` when its last chunk is in (``{"side",
    "name", "too_large": bytes}`` for a file over the limit, ``{"side",
    "error"}`` when the server refused the upload, ``{"side", "name", "busy":
    name}`` for a file chosen while another uploads on that side), or a side's Open button,
    with ``typed`` the paths typed per side, or a side's sheet or header row, with
    ``choices`` holding them (``{"left_sheet", "left_header", "right_sheet",
    "right_header"}``). Returns ``{"uploads", "left_info", "right_info"}``.
    """
    uploads = dict(uploads) if isinstance(uploads, dict) else {}
    inbox = inbox if isinstance(inbox, dict) else {}
    side = _OPEN_SIDES.get(trigger) or _EXCEL_SIDES.get(trigger) or inbox.get("side")
    out = {"uploads": no_update, "left_info": no_update, "right_info": no_update}
    if side not in SIDES:
        return out
    if trigger in _EXCEL_SIDES:
        return _choose_excel(services, side, choices or {}, uploads, out)
    if trigger not in _OPEN_SIDES and "busy" in inbox:  # the upload going on is kept
        name, going = str(inbox.get("name") or "that file"), str(inbox["busy"])
        return {
            **out,
            f"{side}_info": f"⚠ {name} was not uploaded: {going} is still uploading on this "
            f"side; choose {name} again when it is done",
        }
    try:
        if trigger in _OPEN_SIDES:
            uploads[side] = open_from_root(services, (typed or {}).get(side))
        elif "too_large" in inbox:
            raise TableReadError(_too_large(services, inbox))
        elif "error" in inbox:
            raise TableReadError(str(inbox["error"]))
        else:
            uploads[side] = finish_upload(services, inbox.get("upload_id"))
        message = uploads[side]["report"]
    except (TableReadError, UploadRefused, PermissionDenied) as exc:
        uploads.pop(side, None)
        message = f"⚠ {exc}"
    return {**out, "uploads": uploads, f"{side}_info": message}


def _choose_excel(services: Services, side: str, choices: dict, uploads: dict, out: dict):
    """Read the side's workbook again when its sheet or header row was changed."""
    info = uploads.get(side)
    sheet, header = choices.get(f"{side}_sheet"), choices.get(f"{side}_header")
    if not isinstance(info, dict) or "source" not in info:
        return out
    if sheet != info.get("sheet"):
        header = None  # another sheet: its own header row, found again
    elif header in (None, info.get("header_row")):
        return out  # the page showing what was read, or a header row being typed
    try:
        uploads[side] = reread_upload(services, info, sheet, header)
        message = uploads[side]["report"]
    except (TableReadError, ValueError, PermissionDenied) as exc:
        message = f"⚠ {exc}"
        return {**out, f"{side}_info": message}
    return {**out, "uploads": uploads, f"{side}_info": message}


def excel_choices(uploads, shown: dict | None = None) -> dict:
    """Per side, the sheet choice (options, value), the header row and whether they show:
    only for a workbook. A value already ``shown`` is left as it is (no_update), so the
    page's own choice is not written back to it while it is being read."""
    out = {}
    shown = shown or {}
    for side in SIDES:
        info = (uploads or {}).get(side) if isinstance(uploads, dict) else None
        sheets = info.get("sheets") if isinstance(info, dict) else None
        out[f"{side}_options"] = [{"label": s, "value": s} for s in sheets or []]
        out[f"{side}_style"] = {} if sheets else {"display": "none"}
        for part, value in (
            ("sheet", info.get("sheet") if sheets else None),
            ("header", info.get("header_row", 1) if sheets else 1),
        ):
            key = f"{side}_{part}"
            out[key] = no_update if shown.get(key) == value else value
    return out


def _too_large(services: Services, inbox: dict) -> str:
    size = inbox.get("too_large")
    size = size if isinstance(size, (int, float)) else 0
    most = int(services.config.max_upload_mb * 1024 * 1024)
    return too_large_message(str(inbox.get("name") or "upload"), int(size), most)


#: The Open button of each side's --data-root path.
_OPEN_SIDES = {ids.DATA_ROOT_OPEN_LEFT: "left", ids.DATA_ROOT_OPEN_RIGHT: "right"}
_EXCEL_SIDES = {
    ids.EXCEL_LEFT_SHEET: "left",
    ids.EXCEL_LEFT_HEADER: "left",
    ids.EXCEL_RIGHT_SHEET: "right",
    ids.EXCEL_RIGHT_HEADER: "right",
}


def register(app) -> None:
    services = services_of(app)

    def store_upload(inbox, _open_left, _open_right, choices, left_path, right_path, uploads):
        typed = {"left": left_path, "right": right_path}
        return store_upload_of(services, ctx.triggered_id, inbox, typed, uploads, choices)

    app.callback(
        output={
            "uploads": Output(ids.UPLOAD_STORE, "data"),
            "left_info": Output(ids.UPLOAD_LEFT_INFO, "children"),
            "right_info": Output(ids.UPLOAD_RIGHT_INFO, "children"),
        },
        inputs=[
            Input(ids.UPLOAD_INBOX, "data"),
            Input(ids.DATA_ROOT_OPEN_LEFT, "n_clicks"),
            Input(ids.DATA_ROOT_OPEN_RIGHT, "n_clicks"),
            {
                f"{side}_{part}": Input(control, "value")
                for side, (_, sheet, header) in EXCEL_IDS.items()
                for part, control in (("sheet", sheet), ("header", header))
            },
        ],
        state=[
            State(ids.DATA_ROOT_LEFT, "value"),
            State(ids.DATA_ROOT_RIGHT, "value"),
            State(ids.UPLOAD_STORE, "data"),
        ],
        prevent_initial_call=True,
    )(store_upload)

    app.callback(
        output={
            f"{side}_{part}": Output(control, prop)
            for side, (box, sheet, header) in EXCEL_IDS.items()
            for part, control, prop in (
                ("options", sheet, "options"),
                ("sheet", sheet, "value"),
                ("header", header, "value"),
                ("style", box, "style"),
            )
        },
        inputs={
            "uploads": Input(ids.UPLOAD_STORE, "data"),
            "shown": {
                f"{side}_{part}": State(control, "value")
                for side, (_, sheet, header) in EXCEL_IDS.items()
                for part, control in (("sheet", sheet), ("header", header))
            },
        },
    )(excel_choices)
