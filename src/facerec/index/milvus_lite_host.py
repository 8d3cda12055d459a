"""One Milvus Lite file for several server workers.

A Milvus Lite file is open in one process at a time (it holds a lock on it). With
``--workers N`` and ``FACEREC_INDEX=milvus`` on a local file, ``facerec serve`` opens it in
the supervisor, which serves it on a loopback port, and the workers connect to that
address as they would to a Milvus server (``FACEREC_MILVUS__URI`` in their environment).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

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

    path = settings.milvus_uri
    address = server_manager_instance.start_and_get_uri(path)
    if address is None:
        raise NotReady(f"cannot open Milvus Lite at {path} (is another process using it?)")
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
