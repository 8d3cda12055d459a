"""One Milvus Lite file for several server workers.

A Milvus Lite file is open in one process at a time (it holds a lock on it). With
``--workers N`` and ``FACEREC_INDEX=milvus`` on a local file, ``facerec serve`` opens it in
the supervisor, which serves it on a loopback port, and the workers connect to that
address as they would to a Milvus server (``FACEREC_MILVUS__URI`` in their environment).

Also here: :func:`quiet_milvus_logs` (error records pymilvus and Milvus Lite log for what
is no fault) and :func:`in_use_elsewhere` with :func:`in_use_message` (what to do when another
process holds the file).
"""

from __future__ import annotations

import fcntl
import logging
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from facerec.config import Settings
from facerec.errors import NotReady

URI_VARIABLE = "FACEREC_MILVUS__URI"


@contextmanager
def lite_for_workers(settings: Settings) -> Iterator[str | None]:
    """Serve the Milvus Lite file to the workers while the block runs (its address, or
    None when there is nothing to serve: FAISS, or a Milvus server)."""
    if settings.index != "milvus" or settings.milvus.is_server:
        yield None
        return
    from milvus_lite.server_manager import server_manager_instance

    quiet_milvus_logs()
    path = settings.milvus_uri
    address = server_manager_instance.start_and_get_uri(path)
    if address is None:
        if in_use_elsewhere(path):
            raise NotReady(in_use_message(path))
        raise NotReady(f"cannot open Milvus Lite at {path} (see the log above)")
    before = os.environ.get(URI_VARIABLE)
    os.environ[URI_VARIABLE] = address  # spawned workers read their settings from it
    try:
        yield address
    finally:
        if before is None:
            os.environ.pop(URI_VARIABLE, None)
        else:
            os.environ[URI_VARIABLE] = before
        server_manager_instance.release_server(path)


LOCK_FILE = "LOCK"
"""What Milvus Lite locks (``flock``) inside its directory while a process has it open."""


def in_use_elsewhere(path: str) -> bool:
    """Whether another process holds the Milvus Lite file at ``path`` (ask only after this
    process failed to open it: a lock this process holds reads as held too)."""
    lock = Path(path) / LOCK_FILE
    if not lock.exists():
        return False
    with lock.open("rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def in_use_message(path: str) -> str:
    return (
        f"the Milvus Lite file {path} is open in another process (a running `facerec "
        "serve`?); a Lite file opens in one process at a time. Stop that process and run "
        "this again, or keep the index in a Milvus server that every process can share: "
        "FACEREC_MILVUS__URI=http://HOST:19530"
    )


class _MilvusNoise(logging.Filter):
    """Drops three error records that are no fault:

    - ``grpc._server``: pymilvus asks Milvus Lite for ``AllocTimestamp`` when it waits for
      a new index; Lite does not implement it, logs a traceback, and pymilvus goes on
      without it (its ``ignore_unimplemented``);
    - ``milvus_lite.server_manager``: another process holds the file; the caller raises
      :func:`in_use_message`, which says what to do, instead;
    - ``pymilvus.decorators``: ``create_collection`` of a collection that exists (workers
      starting together race to create them; ``MilvusIndex`` then finds it there).
    Every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "pymilvus.decorators":
            message = record.getMessage()
            return not (
                message.startswith("RPC error: [create_collection]") and "already exists" in message
            )
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        if record.name == "grpc._server" and isinstance(exc, NotImplementedError):
            frames = traceback.extract_tb(exc.__traceback__)
            return not (frames and frames[-1].name == "AllocTimestamp")
        if record.name == "milvus_lite.server_manager":
            return type(exc).__name__ != "DataDirLockedError"
        return True


_NOISE = _MilvusNoise()


def quiet_milvus_logs() -> None:
    """Install the filter on those loggers (once; safe to call again)."""
    for name in ("grpc._server", "milvus_lite.server_manager", "pymilvus.decorators"):
        logger = logging.getLogger(name)
        if _NOISE not in logger.filters:
            logger.addFilter(_NOISE)
