"""Content-addressed image files under ``<data_dir>/images``.

A file's name is its SHA-256, so the same upload is stored once; writes go to a
temporary file that is renamed into place, so a crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

EXTENSIONS = {
    "JPEG": ".jpg",
    "MPO": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "BMP": ".bmp",
    "GIF": ".gif",
}


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def relative_path(self, sha256: str, fmt: str) -> str:
        return f"{sha256[:2]}/{sha256}{EXTENSIONS.get(fmt, '.bin')}"

    def put(self, data: bytes, relative: str) -> None:
        """Write ``data`` at ``relative`` atomically (replacing any file already there)."""
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def read(self, relative: str) -> bytes:
        return (self.root / relative).read_bytes()

    def files(self) -> Iterator[str]:
        """The relative path of every file kept here, temporary files included."""
        if not self.root.is_dir():
            return
        for path in self.root.rglob("*"):
            if path.is_file():
                yield path.relative_to(self.root).as_posix()

    def delete(self, relative: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.root / relative).unlink()
