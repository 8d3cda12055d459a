"""What recognition answers look like."""

from __future__ import annotations

from pydantic import BaseModel


class Candidate(BaseModel):
    person_id: int
    name: str
    similarity: float


class FaceBase(BaseModel):
    box: list[int]
    """[x1, y1, x2, y2] in pixels of the upright image, x2/y2 exclusive."""
    det_score: float
    landmarks: list[list[float]]
    """Five (x, y) points: both corners of each eye and the base of the nose."""


class RecognizedFace(FaceBase):
    match: Candidate | None
    """The best candidate if its similarity reaches the threshold; null means unknown."""
    candidates: list[Candidate]


class ImageSize(BaseModel):
    width: int
    height: int


class RecognizeResult(BaseModel):
    image: ImageSize
    model: str
    threshold: float
    faces: list[RecognizedFace]


class DetectedFace(FaceBase):
    quality: dict[str, float]


class DetectResult(BaseModel):
    image: ImageSize
    faces: list[DetectedFace]


class EmbeddedFace(FaceBase):
    embedding: list[float]


class EmbedResult(BaseModel):
    image: ImageSize
    model: str
    faces: list[EmbeddedFace]


class VerifyResult(BaseModel):
    similarity: float
    same_person: bool
    threshold: float
    model: str
