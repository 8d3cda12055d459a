"""Stored embeddings: the right size for their model, finite, unit length."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from sqlmodel import Session, select

from facerec.attendance.models import UnknownFace
from facerec.doctor.report import Finding
from facerec.faces.models import Face

NORM_TOLERANCE = 1e-3
"""How far from 1 a stored norm may be (float32 rounding is far smaller)."""


def embedding_problem(blob: bytes, dim: int) -> str | None:
    """Why ``blob`` is not a valid ``dim``-value unit float32 vector, or None."""
    if len(blob) != 4 * dim:
        return f"{len(blob)} bytes, expected {4 * dim} ({dim} float32 values)"
    vector = np.frombuffer(blob, dtype="<f4").astype(np.float64)
    if not np.isfinite(vector).all():
        return "values that are not finite"
    norm = float(np.linalg.norm(vector))
    if abs(norm - 1.0) > NORM_TOLERANCE:
        return f"norm {norm:.6g}, not 1"
    return None


def bad_embeddings(session: Session, *, model: str, dim: int) -> list[Finding]:
    """Faces and unknown faces. The running model's size is ``dim``; another model's is
    the size most of its rows have (its embedder is not loaded here)."""
    found = []
    for table, entity in (("faces", Face), ("unknown_faces", UnknownFace)):
        rows = session.exec(select(entity.id, entity.model, entity.embedding)).all()
        sizes = _usual_sizes(rows)
        for row_id, row_model, blob in rows:
            expected = dim if row_model == model else sizes[row_model]
            problem = embedding_problem(bytes(blob), expected)
            if problem is not None:
                found.append(Finding("bad_embedding", f"{table} {row_id}", problem))
    return found


def _usual_sizes(rows: Sequence[tuple[object, str, bytes]]) -> dict[str, int]:
    counts: dict[str, Counter[int]] = {}
    for _id, model, blob in rows:
        counts.setdefault(model, Counter())[len(blob) // 4] += 1
    return {model: sizes.most_common(1)[0][0] for model, sizes in counts.items()}
