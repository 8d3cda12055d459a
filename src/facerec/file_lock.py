"""An exclusive ``flock`` on a file in the data folder, for work that processes on one
host must take turns at (workers starting together: migrations, creating the Milvus
collections). Released when the block ends or the process dies."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def turn(path: Path) -> Iterator[None]:
    """Wait for the lock on ``path`` (created with its folder when missing), hold it while
    the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
