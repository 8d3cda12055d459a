"""Enrolment quality gates: a face must be large, sharp, well lit, frontal and whole
to become part of someone's gallery (a poor gallery face costs accuracy for ever)."""

from __future__ import annotations

from facerec.config import EnrolSettings
from facerec.errors import LowQuality
from facerec.inference.types import AnalyzedFace

REASONS = {
    "too_small": "the face is too small",
    "blurred": "the face is blurred",
    "too_dark": "the face is too dark",
    "too_bright": "the face is too bright",
    "turned": "the head is turned too far",
    "cut_off": "the face is cut off by the image edge",
}


def quality_problems(quality: dict[str, float], gates: EnrolSettings) -> list[str]:
    """The gate names this face fails, in a fixed order (empty: good enough)."""
    checks = [
        ("too_small", quality.get("size", 0.0) < gates.min_face_px),
        ("blurred", quality.get("sharpness", 0.0) < gates.min_sharpness),
        ("too_dark", quality.get("brightness", 0.0) < gates.min_brightness),
        ("too_bright", quality.get("brightness", 0.0) > gates.max_brightness),
        ("turned", quality.get("frontal", 0.0) < gates.min_frontal),
        ("cut_off", quality.get("inside", 0.0) < gates.min_inside),
    ]
    return [name for name, failed in checks if failed]


def check_quality(face: AnalyzedFace, gates: EnrolSettings) -> None:
    """Raise :class:`LowQuality` listing every failed gate."""
    problems = quality_problems(face.quality, gates)
    if problems:
        message = "; ".join(REASONS[p] for p in problems)
        raise LowQuality(
            f"{message} (send a better photo, or force=true to enrol it anyway)",
            reasons=problems,
            quality=face.quality,
        )
