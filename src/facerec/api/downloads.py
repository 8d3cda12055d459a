"""Large generated downloads (ZIP exports): written to an unnamed temporary file under the
data dir, then streamed a chunk at a time, so memory stays flat however big the file."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from fastapi.responses import StreamingResponse

CHUNK = 1 << 16


def zip_download(write: Callable[[IO[bytes]], str], *, directory: Path) -> StreamingResponse:
    """Stream what ``write`` puts in a temporary file; ``write`` returns the file name the
    browser saves it under. An error in ``write`` propagates (the file is removed)."""
    # Closed by _chunks once sent (or below on failure): it outlives this function.
    handle = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115
    try:
        name = write(handle)
        size = handle.tell()
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Length": str(size),
        "Cache-Control": "no-store",
    }
    return StreamingResponse(_chunks(handle), media_type="application/zip", headers=headers)


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    """The file a chunk at a time; closing it (an unnamed temporary file) frees its space."""
    try:
        while chunk := handle.read(CHUNK):
            yield chunk
    finally:
        handle.close()
