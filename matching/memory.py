"""Giving memory back to the system after a large piece of work.

A request that builds a million-row table frees it when it ends, but the C
allocator (glibc's ``malloc``, and Arrow's own pool) keeps the freed pages for
later use, so each server process stays as large as its largest request.
:func:`release_memory` hands the free pages back: every worker then holds what
it keeps (its projects' lookups and ledgers), not what it once needed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import pyarrow as pa

__all__ = ["release_memory"]


@functools.cache
def _trim():
    """glibc's ``malloc_trim``, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_memory() -> bool:
    """Return the allocators' free pages to the system; True when ``malloc_trim`` ran."""
    pa.default_memory_pool().release_unused()
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True
