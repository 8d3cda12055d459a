"""Faces in Milvus (a server through pymilvus, or Milvus Lite in a local file).

Three collections, named ``<prefix>faces``, ``<prefix>centroids`` and ``<prefix>meta``:

- faces: ``id`` (the face id), ``person_id``, ``vector``; exact inner product (``FLAT``);
- centroids: ``id`` (the person id, for people with two or more faces), ``photos``,
  ``vector`` (:func:`~facerec.index.base.centroid` of their faces);
- meta: one row, the change-log generation and model the collections reflect, written by
  :mod:`facerec.index.milvus_sync` after the data.

``search_people`` ranks through :func:`~facerec.index.base.merge_people`, as FAISS does,
so both give the same people, faces and scores. Every call reads with ``Strong``
consistency: what one worker wrote, the next search anywhere sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pymilvus import DataType, MilvusClient, MilvusException

from facerec.index.base import (
    Hit,
    IndexEntries,
    Window,
    centroid,
    centroid_score,
    checked_rows,
    clip_score,
    rank_people,
)

MAX_LIMIT = 16_384
"""The most rows Milvus returns from one search or query."""
CHUNK = 2_000
"""Rows per upsert (a gRPC message stays far below its 64 MiB cap at any dimension here)."""
META_ID = 1


@dataclass(frozen=True, slots=True)
class Applied:
    """What the meta row says the collections reflect."""

    generation: int
    model: str


def connect(uri: str, token: str | None = None) -> MilvusClient:
    """A client: ``http(s)://...`` is a Milvus server; a file path is Milvus Lite, which
    serves it from this process (one process at a time may open a file)."""
    from facerec.index.milvus_lite_host import quiet_milvus_logs

    quiet_milvus_logs()
    return MilvusClient(uri=uri, token=token or "")


class MilvusIndex:
    """A :class:`~facerec.index.base.VectorIndex` (and ``InspectableIndex``) in Milvus."""

    shared = True
    """Every worker and host uses the same one (``index/factory.py`` picks its sync)."""

    def __init__(self, client: MilvusClient, dim: int, *, prefix: str = "facerec_") -> None:
        self.client = client
        self.dim = dim
        self.faces = f"{prefix}faces"
        self.centroids = f"{prefix}centroids"
        self.meta = f"{prefix}meta"
        self._ensure()

    # -- collections -------------------------------------------------------------------

    def _ensure(self) -> None:
        names = set(self.client.list_collections())
        if self.faces not in names:
            self._create(self.faces, "person_id")
        if self.centroids not in names:
            self._create(self.centroids, "photos")
        if self.meta not in names:
            schema = MilvusClient.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("generation", DataType.INT64)
            schema.add_field("model", DataType.VARCHAR, max_length=512)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants one
            self._create_with(self.meta, schema)

    def _create(self, name: str, column: str) -> None:
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field(column, DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        self._create_with(name, schema)

    def _create_with(self, name: str, schema: Any) -> None:
        params = self.client.prepare_index_params()
        params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        try:
            self.client.create_collection(
                name, schema=schema, index_params=params, consistency_level="Strong"
            )
        except MilvusException:
            if not self.client.has_collection(name):  # else another worker created it first
                raise

    def close(self) -> None:
        self.client.close()

    # -- meta --------------------------------------------------------------------------

    def applied(self) -> Applied | None:
        """The generation and model the collections reflect; None when never written."""
        rows = self.client.get(self.meta, ids=[META_ID], output_fields=["generation", "model"])
        if not rows:
            return None
        return Applied(int(rows[0]["generation"]), str(rows[0]["model"]))

    def mark_applied(self, generation: int, model: str) -> None:
        row = {"id": META_ID, "generation": generation, "model": model, "vector": [1.0, 0.0]}
        self.client.upsert(self.meta, [row])

    # -- writes ------------------------------------------------------------------------

    def add(self, face_ids: list[int], person_ids: list[int], vectors: NDArray[np.float32]) -> None:
        """Add or replace faces; the centroids of everyone touched follow."""
        if not face_ids:
            return
        _, _, rows = checked_rows(face_ids, person_ids, vectors, self.dim)
        touched = set(self._people_of(face_ids).values()) | set(person_ids)
        self.upsert_faces(face_ids, person_ids, rows)
        self.set_centroids(self._faces_by_person(touched))

    def remove(self, face_ids: list[int]) -> None:
        if not face_ids:
            return
        touched = set(self._people_of(face_ids).values())
        self.delete_faces(face_ids)
        self.set_centroids(self._faces_by_person(touched))

    def reset(self) -> None:
        """Empty the faces and centroids (the meta row stays: the caller rewrites it). Rows
        are deleted, the collections stay: a search in another worker meanwhile still runs."""
        for name in (self.faces, self.centroids):
            self.client.delete(name, filter="id >= 0")  # ids are never negative

    def upsert_faces(
        self, face_ids: list[int], person_ids: list[int], vectors: NDArray[np.float32]
    ) -> None:
        """Write faces as given (an upsert by face id: safe to repeat); centroids untouched."""
        for start in range(0, len(face_ids), CHUNK):
            stop = start + CHUNK
            rows = [
                {"id": int(f), "person_id": int(p), "vector": v}
                for f, p, v in zip(
                    face_ids[start:stop], person_ids[start:stop], vectors[start:stop], strict=True
                )
            ]
            self.client.upsert(self.faces, rows)

    def flush(self) -> None:
        """Seal what was written (after a bulk load: Milvus Lite then searches indexed
        segments, ~10x faster than its write buffer; a server needs it less)."""
        for name in (self.faces, self.centroids):
            self.client.flush(name)

    def delete_faces(self, face_ids: list[int]) -> None:
        """Delete faces by id (absent ids are no error); centroids untouched."""
        for start in range(0, len(face_ids), CHUNK):
            self.client.delete(self.faces, ids=[int(f) for f in face_ids[start : start + CHUNK]])

    def set_centroids(self, faces_of: dict[int, NDArray[np.float32]]) -> None:
        """Make each person's centroid row match their faces (``faces_of``: person id to
        their face vectors, in face id order): written for two or more, else deleted."""
        gone = [p for p, rows in faces_of.items() if len(rows) < 2]
        for start in range(0, len(gone), CHUNK):
            self.client.delete(self.centroids, ids=gone[start : start + CHUNK])
        kept = [
            {"id": p, "photos": len(rows), "vector": centroid(rows)}
            for p, rows in faces_of.items()
            if len(rows) >= 2
        ]
        for start in range(0, len(kept), CHUNK):
            self.client.upsert(self.centroids, kept[start : start + CHUNK])

    # -- reads -------------------------------------------------------------------------

    def count(self) -> int:
        rows = self.client.query(self.faces, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def _query(self, collection: str, field: str, ids: Iterable[int], out: list[str]) -> list[Any]:
        """Rows whose ``field`` is one of ``ids``, every one (split when a batch is full)."""
        wanted = sorted(set(ids))
        found: list[Any] = []
        step = 512
        while wanted:
            batch, wanted = wanted[:step], wanted[step:]
            rows = self.client.query(
                collection, filter=f"{field} in {batch}", output_fields=out, limit=MAX_LIMIT
            )
            if len(rows) >= MAX_LIMIT and len(batch) > 1:
                wanted = batch + wanted  # more rows than one answer holds: smaller batches
                step = max(1, len(batch) // 4)
                continue
            found.extend(rows)
        return found

    def _people_of(self, face_ids: list[int]) -> dict[int, int]:
        rows = self._query(self.faces, "id", face_ids, ["person_id"])
        return {int(r["id"]): int(r["person_id"]) for r in rows}

    def _faces_by_person(self, person_ids: set[int]) -> dict[int, NDArray[np.float32]]:
        """Each person's face vectors in face id order (empty for a person with none)."""
        rows = self._query(self.faces, "person_id", person_ids, ["person_id", "vector"])
        grouped: dict[int, list[tuple[int, Any]]] = {p: [] for p in person_ids}
        for r in rows:
            grouped[int(r["person_id"])].append((int(r["id"]), r["vector"]))
        return {
            p: np.asarray([v for _f, v in sorted(faces)], dtype=np.float32).reshape(-1, self.dim)
            for p, faces in grouped.items()
        }

    def entries(self) -> IndexEntries:
        """Every stored face (a primary key is unique in Milvus: no duplicates)."""
        rows: list[Any] = []
        iterator = self.client.query_iterator(
            self.faces, batch_size=CHUNK, filter="", output_fields=["person_id", "vector"]
        )
        while batch := iterator.next():
            rows.extend(batch)
        iterator.close()
        return IndexEntries(
            np.asarray([r["id"] for r in rows], dtype=np.int64),
            np.asarray([r["person_id"] for r in rows], dtype=np.int64),
            np.asarray([r["vector"] for r in rows], dtype=np.float32).reshape(-1, self.dim),
        )

    def search_people(self, vectors: NDArray[np.float32], top_k: int) -> list[list[Hit]]:
        queries = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(queries) == 0:
            return []
        return rank_people(queries, top_k, self)

    def _search(self, collection: str, queries: NDArray[np.float32], limit: int, out: str) -> Any:
        return self.client.search(
            collection,
            data=list(queries),
            limit=limit,
            output_fields=[out],
            search_params={"metric_type": "IP"},
        )

    def face_windows(self, queries: NDArray[np.float32], k: int) -> list[Window[Hit]]:
        """Past ``MAX_LIMIT`` rows no window is wider: its floor is then dropped."""
        limit = min(MAX_LIMIT, k)
        windows = []
        for answer in self._search(self.faces, queries, limit, "person_id"):
            best: dict[int, Hit] = {}
            for hit in answer:  # best first
                person_id = int(hit["entity"]["person_id"])
                if person_id not in best:
                    best[person_id] = Hit(person_id, int(hit["id"]), clip_score(hit["distance"]))
            floor = clip_score(answer[-1]["distance"]) if _full(answer, k) else None
            windows.append(Window(best, floor))
        return windows

    def centroid_windows(self, queries: NDArray[np.float32], k: int) -> list[Window[float]]:
        limit = min(MAX_LIMIT, k)
        return [
            Window(
                {
                    int(hit["id"]): clip_score(
                        centroid_score(float(hit["distance"]), int(hit["entity"]["photos"]))
                    )
                    for hit in answer
                },
                clip_score(centroid_score(float(answer[-1]["distance"]), 2))
                if _full(answer, k)
                else None,
            )
            for answer in self._search(self.centroids, queries, limit, "photos")
        ]

    def lookup(self, people: set[int]) -> _Lookup:
        return _Lookup(self, people)


def _full(answer: Any, k: int) -> bool:
    """Whether rows past this answer may exist and a wider window could read them (none
    is wider than ``MAX_LIMIT``: there the search stops, like a reader of everything)."""
    return len(answer) >= k and k < MAX_LIMIT


class _Lookup:
    """What :func:`merge_people` asks about the people one search found, fetched once."""

    def __init__(self, index: MilvusIndex, people: set[int]) -> None:
        self.index = index
        rows = index._query(index.centroids, "id", people, ["photos", "vector"])
        self._photos = {int(r["id"]): int(r["photos"]) for r in rows}
        self._centroid = {int(r["id"]): np.asarray(r["vector"], dtype=np.float32) for r in rows}

    def photos(self, person_id: int) -> int:
        return self._photos.get(person_id, 1)  # no centroid row: one face

    def centroid_rows(self, person_ids: list[int]) -> NDArray[np.float32]:
        return np.stack([self._centroid[p] for p in person_ids])

    def closest_face(self, query: NDArray[np.float32], person_id: int) -> int:
        rows = self.index._query(self.index.faces, "person_id", [person_id], ["vector"])
        rows.sort(key=lambda r: int(r["id"]))
        vectors = np.asarray([r["vector"] for r in rows], dtype=np.float32)
        return int(rows[int(np.argmax(vectors @ query))]["id"])
