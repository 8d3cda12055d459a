"""The vector index against the faces table, two ways.

- **The index a worker serves from** (``snapshot``): built the way a worker starts
  (``IndexSync.rebuild``), or, for a shared index, the one every worker uses; the backend
  lists its entries (:class:`~facerec.index.base.InspectableIndex`) and every face of the
  running model must be there exactly once, with its stored vector, and nothing else.
  Repair re-adds or removes entries in that backend (for FAISS, an in-process cache, this
  changes nothing lasting: each worker builds its own at start).
- **The index a running worker follows** (``follower``): a worker that started at the
  oldest point the change log still serves replays ``face_changes`` through
  ``IndexSync.catch_up``. A face the log never announced (or announced deleted while its
  row is there) is missing from every running worker until it restarts. Repair records
  the change again, so running workers pick it up on their next request.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlmodel import Session, col, select

from facerec.doctor.report import Finding
from facerec.faces.models import Face
from facerec.index.base import IndexEntries, InspectableIndex
from facerec.index.faiss_index import FaissIndex
from facerec.index.models import FaceChange, current_generation, record_changes
from facerec.index.sync import IndexSync

VECTOR_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class StoredFace:
    person_id: int
    vector: NDArray[np.float32]


def stored_faces(session: Session, model: str) -> dict[int, StoredFace]:
    rows = session.exec(select(Face.id, Face.person_id, Face.embedding).where(Face.model == model))
    return {
        int(face_id or 0): StoredFace(person_id, np.frombuffer(blob, "<f4").astype(np.float32))
        for face_id, person_id, blob in rows
    }


def snapshot(
    session: Session, sync: IndexSync, faces: dict[int, StoredFace], *, repair: bool
) -> list[Finding]:
    """Compare the index behind ``sync`` with ``faces``; with ``repair``, make it equal."""
    index = sync.index
    if not isinstance(index, InspectableIndex):
        return []  # a backend that cannot list its entries is not checked
    found = _compare(index.entries(), faces, repair=repair)
    broken = {int(f.subject.split()[-1]) for f in found}
    if repair and broken:
        index.remove(sorted(broken))
        readd = sorted(broken & faces.keys())
        if readd:
            vectors = np.stack([faces[f].vector for f in readd])
            index.add(readd, [faces[f].person_id for f in readd], vectors)
    generation = current_generation(session)
    if sync.generation != generation:
        detail = f"index at generation {sync.generation}, database at {generation}"
        found.append(Finding("index_generation", "index_state", detail))
    return found


def follower(
    session: Session, faces: dict[int, StoredFace], *, model: str, dim: int, repair: bool
) -> list[Finding]:
    """What running workers hold, from the change log: a replay from where the log begins
    must give the faces table (else ``log_missing``), and a face the log last announced
    as added must have a row (else ``log_extra``: a worker that had it keeps it). With
    ``repair``, the missing changes are recorded (the caller holds the lock and commits)."""
    changes = session.exec(
        select(
            FaceChange.generation, FaceChange.op, FaceChange.face_id, FaceChange.person_id
        ).order_by(col(FaceChange.generation), col(FaceChange.id))
    ).all()
    base = max((g for g, op, _f, _p in changes if op == "rebuild"), default=0)
    last = {f: (op, p) for g, op, f, p in changes if g > base and op != "rebuild"}
    replayed = _replayed(session, faces, set(last), base=base, model=model, dim=dim)
    missing = sorted(faces.keys() - set(replayed.face_ids.tolist()))
    rows = set(session.exec(select(Face.id)).all())
    extra = sorted(f for f, (op, _p) in last.items() if op == "add" and f not in rows)
    found = [
        Finding("log_missing", f"faces {f}", "never announced to workers", repair) for f in missing
    ]
    found += [
        Finding("log_extra", f"faces {f}", "announced, but no such face", repair) for f in extra
    ]
    if repair and found:
        adds = [("add", f, faces[f].person_id) for f in missing]
        record_changes(session, adds + [("delete", f, last[f][1]) for f in extra])
    return found


def _replayed(
    session: Session,
    faces: dict[int, StoredFace],
    touched: set[int],
    *,
    base: int,
    model: str,
    dim: int,
) -> IndexEntries:
    """The index of a worker that started where the log begins and caught up through it
    with ``IndexSync.catch_up``. The log begins at its newest ``rebuild`` (a worker behind
    that reloads everything; the faces the log does not touch since were there), else at
    generation 0, when the database held no faces."""
    index = FaissIndex(dim)
    if base > 0:
        kept = sorted(faces.keys() - touched)
        if kept:
            vectors = np.stack([faces[f].vector for f in kept])
            index.add(kept, [faces[f].person_id for f in kept], vectors)
    sync = IndexSync(index, model)
    sync.generation = base
    sync.catch_up(session)
    return index.entries()


def _compare(entries: IndexEntries, faces: dict[int, StoredFace], *, repair: bool) -> list[Finding]:
    counts = Counter(entries.face_ids.tolist())
    found = [
        Finding("index_missing", f"faces {face_id}", "", repair)
        for face_id in sorted(faces.keys() - counts.keys())
    ]
    found += [
        Finding("index_duplicate", f"faces {face_id}", f"{n} entries", repair)
        for face_id, n in sorted(counts.items())
        if n > 1
    ]
    found += [
        Finding("index_extra", f"faces {face_id}", "no such face of this model", repair)
        for face_id in sorted(counts.keys() - faces.keys())
    ]
    for face_id, person_id, vector in zip(
        entries.face_ids.tolist(), entries.person_ids.tolist(), entries.vectors, strict=True
    ):
        face = faces.get(face_id)
        if face is None or counts[face_id] > 1:
            continue
        same_shape = vector.shape == face.vector.shape
        diff = float(np.max(np.abs(vector - face.vector))) if same_shape else float("inf")
        if person_id != face.person_id or diff > VECTOR_TOLERANCE:
            detail = f"person {person_id} (stored {face.person_id}), largest difference {diff:.3g}"
            found.append(Finding("index_vector", f"faces {face_id}", detail, repair))
    return found
