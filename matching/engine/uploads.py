"""Chunked, resumable uploads written straight to disk.

An upload starts with its file's name and size and gets an id made here (32
random hex digits). Its chunks arrive in order, each with the offset it
starts at, and are appended to one file; memory holds one block of a chunk at
a time, whatever the file's size. A chunk whose offset is not the number of
bytes already received is refused with that number, so a client whose
connection dropped asks for it and goes on from there.

Each upload keeps two files in the folder: ``<id>.part`` (the bytes so far)
and ``<id>.upload.json`` (name, size and who started it). The server's web
routes (``callbacks/uploads.py``) call this module; it knows nothing of HTTP
beyond the status code each refusal suggests.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from matching.engine.io import FORMATS

__all__ = ["UPLOAD_ID", "UploadRefused", "UploadState", "ChunkedUploads", "too_large_message"]

#: What an upload id looks like: the server makes them, the browser only holds them.
UPLOAD_ID = re.compile(r"[0-9a-f]{32}")

_BLOCK = 1024 * 1024
_MB = 1024 * 1024


class UploadRefused(ValueError):
    """An upload request that is refused; ``status`` is the HTTP status it suggests.

    ``received`` is the number of bytes the server holds, where known (a
    client sent a chunk at the wrong offset).
    """

    def __init__(self, message: str, status: int = 400, received: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.received = received


@dataclass(frozen=True)
class UploadState:
    """An upload in progress: its id, file name, declared size and bytes received."""

    upload_id: str
    name: str
    size: int
    received: int
    owner: str

    @property
    def complete(self) -> bool:
        return self.received == self.size

    def to_dict(self) -> dict:
        return {
            "upload_id": self.upload_id,
            "name": self.name,
            "size": self.size,
            "received": self.received,
        }


def too_large_message(name: str, size: int, max_bytes: int) -> str:
    """What the page says of a file over the limit."""
    return (
        f"{name}: {size / _MB:,.0f} MB is more than this server takes ({max_bytes / _MB:,.0f} MB"
        " per upload); ask the admin to raise --max-upload-mb, or split the file"
    )


class ChunkedUploads:
    """Uploads in progress under ``folder``, each at most ``max_bytes`` long.

    Every method that takes an upload id also takes the ``owner`` asking: an
    upload is seen and continued only by whoever started it. An id that is not
    one this class made, or that belongs to someone else, is "no such upload".
    """

    def __init__(self, folder: str | Path, *, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = int(max_bytes)

    def _paths(self, upload_id: object) -> tuple[Path, Path] | None:
        if not isinstance(upload_id, str) or not UPLOAD_ID.fullmatch(upload_id):
            return None
        return self.folder / f"{upload_id}.part", self.folder / f"{upload_id}.upload.json"

    def start(self, name: object, size: object, *, owner: str) -> UploadState:
        """Begin an upload of a file called ``name`` of ``size`` bytes.

        Raises :class:`UploadRefused` for a name without a known table ending
        (415), an empty file or a size that is not a whole number (400), a file
        over ``max_bytes`` (413).
        """
        name = Path(str(name or "")).name[:200]
        if not name:
            raise UploadRefused("the file has no name")
        if Path(name).suffix.lower() not in FORMATS:
            raise UploadRefused(
                f"{name}: unknown file type; use one of {', '.join(sorted(FORMATS))}", 415
            )
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise UploadRefused(f"{name}: the size must be a whole number of bytes")
        if size == 0:
            raise UploadRefused(f"{name}: the file is empty")
        if size > self.max_bytes:
            raise UploadRefused(too_large_message(name, size, self.max_bytes), 413)
        self.folder.mkdir(parents=True, exist_ok=True)
        upload_id = secrets.token_hex(16)
        part, meta = self._paths(upload_id)
        part.touch(exist_ok=False)
        meta.write_text(json.dumps({"name": name, "size": size, "owner": owner}), "utf-8")
        return UploadState(upload_id, name, size, 0, owner)

    def state(self, upload_id: object, *, owner: str) -> UploadState:
        """Where an upload stands; :class:`UploadRefused` (404) for no such upload."""
        paths = self._paths(upload_id)
        try:
            meta = json.loads(paths[1].read_text("utf-8")) if paths else None
            received = paths[0].stat().st_size if paths else 0
        except (OSError, ValueError):
            meta = None
        if not isinstance(meta, dict) or meta.get("owner") != owner:
            raise UploadRefused("no such upload; choose the file again", 404)
        return UploadState(upload_id, meta["name"], int(meta["size"]), received, owner)

    def append(
        self,
        upload_id: object,
        offset: object,
        body: BinaryIO,
        length: int | None,
        *,
        owner: str,
    ) -> UploadState:
        """Append ``length`` bytes read from ``body`` at ``offset``; the new state.

        The offset must be the number of bytes received so far (409 with that
        number otherwise), and the chunk must not go past the declared size
        (400). A body that ends early (a dropped connection) keeps what came:
        the next chunk starts at the new count. Two requests for the same
        upload at once are taken one after the other (a file lock), so the
        second sees the first's bytes and is refused as out of place.
        """
        state = self.state(upload_id, owner=owner)
        if length is None:
            raise UploadRefused("a chunk needs its Content-Length", 411)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise UploadRefused("the offset must be a whole number of bytes", 400)
        if offset + length > state.size:
            raise UploadRefused(
                f"{state.name}: this chunk goes past the file's {state.size:,} bytes", 400
            )
        part = self._paths(upload_id)[0]
        with part.open("ab") as file:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX)
            try:
                received = os.fstat(file.fileno()).st_size
                if offset != received:
                    raise UploadRefused(
                        f"the server has {received:,} bytes of {state.name}, not {offset:,}",
                        409,
                        received,
                    )
                left = length
                while left > 0:
                    block = body.read(min(_BLOCK, left))
                    if not block:
                        break
                    file.write(block)
                    left -= len(block)
                file.flush()
                received = os.fstat(file.fileno()).st_size
            finally:
                fcntl.flock(file.fileno(), fcntl.LOCK_UN)
        return UploadState(state.upload_id, state.name, state.size, received, owner)

    def finished(self, upload_id: object, *, owner: str) -> tuple[Path, UploadState]:
        """The file of a complete upload and its state; 409 while bytes are missing."""
        state = self.state(upload_id, owner=owner)
        if not state.complete:
            raise UploadRefused(
                f"{state.name}: only {state.received:,} of {state.size:,} bytes arrived;"
                " choose the file again to go on",
                409,
                state.received,
            )
        return self._paths(upload_id)[0], state

    def discard(self, upload_id: object) -> None:
        """Remove an upload's files (done, or given up)."""
        for path in self._paths(upload_id) or ():
            path.unlink(missing_ok=True)
