"""Giving memory back to the system after a large piece of work.

A request that builds a million-row table frees it when it ends, but the C
allocator (glibc's ``malloc``, and Arrow's own pool) keeps the freed pages for
later use, so each server process stays as large as its largest request.
:func:`release_memory` hands the free pages back: every worker then holds what
it keeps (its projects' lookups and ledgers), not what it once needed.

It also lets go of the pages of the project files (``*.arrow``) the process has
mapped and read: a request that read a whole table leaves every page of it
counted in that process's resident memory, in each worker that did so. The pages
stay in the system's file cache, so the next read finds them there at once (a
minor page fault, no disk read); the files are mapped read-only, so nothing is
lost. Each worker then holds the pages it is using, not every page it once read.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from pathlib import Path

import pyarrow as pa

__all__ = ["release_memory", "release_mapped"]

#: ``madvise`` advice: drop the pages from this process (Linux).
_MADV_DONTNEED = 4


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None


@functools.cache
def _trim():
    """glibc's ``malloc_trim``, or None where the C library has none."""
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


@functools.cache
def _madvise():
    libc = _libc()
    advise = getattr(libc, "madvise", None) if libc is not None else None
    if advise is not None:
        advise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        advise.restype = ctypes.c_int
    return advise


def release_mapped(suffix: str = ".arrow", maps: Path = Path("/proc/self/maps")) -> int:
    """Drop this process's pages of read-only mapped files named ``*suffix``; returns
    the bytes of mappings advised (0 where there is no ``/proc`` or ``madvise``)."""
    advise = _madvise()
    try:
        lines = maps.read_text().splitlines() if advise is not None else []
    except OSError:
        return 0
    done = 0
    for line in lines:
        parts = line.split(maxsplit=5)
        if len(parts) < 6 or not parts[5].endswith(suffix) or "w" in parts[1]:
            continue  # not a file of ours, or writable: its pages may be the only copy
        start, end = (int(x, 16) for x in parts[0].split("-"))
        if advise(start, end - start, _MADV_DONTNEED) == 0:
            done += end - start
    return done


def release_memory() -> bool:
    """Return the allocators' free pages, and the mapped project files' pages, to the
    system; True when ``malloc_trim`` ran."""
    pa.default_memory_pool().release_unused()
    release_mapped()
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True
