"""1:N recognition and 1:1 verification over analysed images. No HTTP here."""

from __future__ import annotations

from time import perf_counter

import numpy as np
from sqlmodel import Session, select

from facerec.errors import NoEnrolledFaces
from facerec.faces.models import Face
from facerec.faces.service import choose_dominant
from facerec.index.base import person_similarity
from facerec.index.sync import IndexSync
from facerec.inference.types import AnalyzedFace, AnalyzedImage
from facerec.metrics.instruments import observe_stage
from facerec.people.service import get_person, names_of
from facerec.recognition.models import (
    Candidate,
    DetectedFace,
    DetectResult,
    EmbeddedFace,
    EmbedResult,
    ImageSize,
    RecognizedFace,
    RecognizeResult,
    VerifyResult,
)


def recognize(
    *, session: Session, index: IndexSync, analyzed: AnalyzedImage, top_k: int, threshold: float
) -> RecognizeResult:
    """Every face in the image against the gallery; below ``threshold`` a face is unknown."""
    index.catch_up(session)
    faces = analyzed.faces
    vectors = np.stack([f.embedding for f in faces if f.embedding is not None]) if faces else None
    start = perf_counter()
    hits = index.index.search_people(vectors, top_k) if vectors is not None else []
    observe_stage("search", start)
    names = names_of(session=session, person_ids=sorted({h.person_id for row in hits for h in row}))
    results = []
    for face, row in zip(faces, hits, strict=True):
        candidates = [
            Candidate(
                person_id=h.person_id,
                name=names.get(h.person_id, ""),
                similarity=round(h.similarity, 4),
            )
            for h in row
            if h.person_id in names  # deleted since the index caught up
        ]
        match = candidates[0] if candidates and candidates[0].similarity >= threshold else None
        results.append(RecognizedFace(**_face_fields(face), match=match, candidates=candidates))
    return RecognizeResult(
        image=_size(analyzed), model=analyzed.model, threshold=threshold, faces=results
    )


def verify_images(
    *, first: AnalyzedImage, second: AnalyzedImage, threshold: float, dominance_ratio: float
) -> VerifyResult:
    """Are the dominant faces of two images the same person?"""
    a = choose_dominant(first.faces, ratio=dominance_ratio).embedding
    b = choose_dominant(second.faces, ratio=dominance_ratio).embedding
    assert a is not None and b is not None
    return _verdict(float(np.dot(a, b)), threshold, first.model)


def verify_person(
    *,
    session: Session,
    analyzed: AnalyzedImage,
    person_id: int,
    threshold: float,
    dominance_ratio: float,
) -> VerifyResult:
    """Is the dominant face of the image this person? Scored as 1:N search scores people
    (closest face or centroid, whichever is closer)."""
    get_person(session=session, person_id=person_id)
    probe = choose_dominant(analyzed.faces, ratio=dominance_ratio).embedding
    assert probe is not None
    rows = session.exec(
        select(Face.embedding).where(Face.person_id == person_id, Face.model == analyzed.model)
    ).all()
    if not rows:
        raise NoEnrolledFaces(f"person {person_id} has no enrolled face to compare with")
    gallery = np.stack([np.frombuffer(r, dtype="<f4") for r in rows])
    return _verdict(person_similarity(gallery, probe), threshold, analyzed.model)


def detect_result(analyzed: AnalyzedImage) -> DetectResult:
    return DetectResult(
        image=_size(analyzed),
        faces=[DetectedFace(**_face_fields(f), quality=f.quality) for f in analyzed.faces],
    )


def embed_result(analyzed: AnalyzedImage) -> EmbedResult:
    return EmbedResult(
        image=_size(analyzed),
        model=analyzed.model,
        faces=[
            EmbeddedFace(**_face_fields(f), embedding=[round(float(x), 6) for x in f.embedding])
            for f in analyzed.faces
            if f.embedding is not None
        ],
    )


def _verdict(cosine: float, threshold: float, model: str) -> VerifyResult:
    similarity = round(min(1.0, max(0.0, cosine)), 4)
    return VerifyResult(
        similarity=similarity, same_person=similarity >= threshold, threshold=threshold, model=model
    )


def _size(analyzed: AnalyzedImage) -> ImageSize:
    return ImageSize(width=analyzed.width, height=analyzed.height)


def _face_fields(face: AnalyzedFace) -> dict[str, object]:
    return {
        "box": face.detection.box(),
        "det_score": round(face.detection.score, 4),
        "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in face.landmarks],
    }
