"""Face crops kept for check-ins and unknown faces, under ``<data_dir>/crops``."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from sqlmodel import Session, col, select

from facerec.attendance.models import AttendanceEvent, UnknownFace
from facerec.db.engine import lock_for_write
from facerec.faces.storage import ImageStore, sha256_of
from facerec.inference.types import AnalyzedFace, AnalyzedImage, Detection, RGBImage

MARGIN = 0.6
"""Context kept around the face box, as a share of the box side: enough to detect it again."""
MAX_SIDE = 320


@dataclass(frozen=True, slots=True)
class Crop:
    data: bytes
    """JPEG bytes."""
    image: AnalyzedImage
    """The crop as an analysed image holding the one face, in crop coordinates."""


def crop_face(pixels: RGBImage, face: AnalyzedFace, model: str) -> Crop:
    """Cut the face with a margin, at most ``MAX_SIDE`` px; coordinates follow the crop."""
    det = face.detection
    side = max(det.width, det.height)
    height, width = pixels.shape[:2]
    x1, y1 = max(0, int(det.x1 - MARGIN * side)), max(0, int(det.y1 - MARGIN * side))
    x2 = min(width, int(np.ceil(det.x2 + MARGIN * side)))
    y2 = min(height, int(np.ceil(det.y2 + MARGIN * side)))
    scale = min(1.0, MAX_SIDE / max(x2 - x1, y2 - y1))
    crop = Image.fromarray(pixels[y1:y2, x1:x2])
    if scale < 1.0:
        crop = crop.resize((max(1, round(crop.width * scale)), max(1, round(crop.height * scale))))
    out = io.BytesIO()
    crop.save(out, format="JPEG", quality=90)
    moved = AnalyzedFace(
        detection=Detection(
            x1=(det.x1 - x1) * scale,
            y1=(det.y1 - y1) * scale,
            x2=(det.x2 - x1) * scale,
            y2=(det.y2 - y1) * scale,
            score=det.score,
        ),
        landmarks=((face.landmarks - np.asarray([x1, y1], dtype=np.float32)) * scale).astype(
            np.float32
        ),
        quality=face.quality,
        embedding=face.embedding,
    )
    image = AnalyzedImage(
        width=crop.width, height=crop.height, faces=[moved], model=model, format="JPEG"
    )
    return Crop(data=out.getvalue(), image=image)


class CropStore(ImageStore):
    """Crops are content-addressed JPEG files like enrolled images."""

    def save(self, data: bytes) -> str:
        relative = self.relative_path(sha256_of(data), "JPEG")
        self.put(data, relative)
        return relative


def remove_unreferenced_crops(*, session: Session, crops: ImageStore, paths: list[str]) -> int:
    """Delete the crop files among ``paths`` that no row names; how many.

    Runs under the write lock: a check-in that saves the same bytes again (same file)
    holds the lock from before it writes the file until its row commits."""
    if not paths:
        return 0
    wanted = sorted(set(paths))
    lock_for_write(session)
    try:
        used = set(
            session.exec(
                select(AttendanceEvent.crop_path).where(col(AttendanceEvent.crop_path).in_(wanted))
            ).all()
        )
        used |= set(
            session.exec(
                select(UnknownFace.crop_path).where(col(UnknownFace.crop_path).in_(wanted))
            ).all()
        )
        removed = 0
        for path in wanted:
            if path not in used and (crops.root / path).is_file():
                crops.delete(path)
                removed += 1
        return removed
    finally:
        session.rollback()  # release the lock; nothing was written
