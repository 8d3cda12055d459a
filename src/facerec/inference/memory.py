"""Giving freed memory back to the system after large images.

glibc keeps the memory of freed large buffers in its heaps (one arena per thread that
allocated), so a burst of large images leaves the process's RSS near its peak long
after the pixels are gone. ``malloc_trim(0)`` returns what is free. The runtime calls
:func:`trim` when the last decoded image of a burst is let go (the pixel budget is
empty again); elsewhere (not glibc) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)


def _glibc_trim() -> ctypes._NamedFuncPointer | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return None if libc is None else libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None


_MALLOC_TRIM = _glibc_trim()


def trim() -> bool:
    """Return freed heap memory to the system; whether anything could be done."""
    if _MALLOC_TRIM is None:
        return False
    return bool(_MALLOC_TRIM(0))
