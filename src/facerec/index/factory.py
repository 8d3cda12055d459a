"""The one place settings become a vector index and the sync that keeps it current.

``index = "faiss"`` (default): a FAISS index in each worker (``IndexSync``), exact up to
``faiss.approximate_above`` faces and approximate past it (``scaled.ScaledFaissIndex``).
``index = "milvus"``: one Milvus shared by every worker and host
(``milvus_sync.SharedIndexSync``), a server by URL or Milvus Lite in a local file.
pymilvus is an optional extra (``facerec[milvus]``), imported only when chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from facerec.config import Settings
from facerec.errors import NotReady
from facerec.file_lock import turn
from facerec.index.base import VectorIndex
from facerec.index.scaled import scaled_faiss
from facerec.index.sync import IndexSync

if TYPE_CHECKING:
    from facerec.index.milvus_index import MilvusIndex

COLLECTIONS_LOCK = ".milvus-collections.lock"
"""In the data folder: who is creating the Milvus collections (see ``open_milvus``)."""


def open_index(settings: Settings, dim: int) -> VectorIndex:
    """The index ``settings.index`` names, empty or as the shared backend holds it."""
    if settings.index == "milvus":
        return open_milvus(settings, dim)
    return scaled_faiss(settings, dim)


def open_milvus(settings: Settings, dim: int) -> MilvusIndex:
    try:
        from facerec.index.milvus_index import MilvusIndex, connect
    except ImportError as exc:  # the extra is not installed
        need = "FACEREC_INDEX=milvus needs pymilvus: pip install 'facerec[milvus]'"
        raise NotReady(f"{need} ({exc})") from exc
    from facerec.index.milvus_lite_host import in_use_elsewhere, in_use_message

    uri = settings.milvus_uri
    try:
        client = connect(uri, settings.milvus.token)
    except Exception as exc:  # pymilvus raises its own types, or a bare one for Lite
        if not settings.milvus.is_server and in_use_elsewhere(uri):
            raise NotReady(in_use_message(uri)) from exc
        raise NotReady(f"cannot open Milvus at {uri}: {exc}") from exc
    # Workers starting together would race to create the collections, and Milvus Lite
    # loses that race with an error and a traceback in the log: on one host they take turns
    # (hosts sharing a Milvus server answer "already exists" to the loser, no fault).
    with turn(settings.data_dir / COLLECTIONS_LOCK):
        return MilvusIndex(client, dim, prefix=settings.milvus.collection_prefix)


def index_sync(
    settings: Settings, *, dim: int, model: str, index: VectorIndex | None = None
) -> IndexSync:
    """``index`` (tests inject one) or the configured one, with the sync it needs: a shared
    index is written once per change, an in-process one follows the log in each worker."""
    index = index if index is not None else open_index(settings, dim)
    if getattr(index, "shared", False):
        from facerec.index.milvus_sync import SharedIndexSync

        return SharedIndexSync(index, model)  # type: ignore[arg-type]
    return IndexSync(index, model)
