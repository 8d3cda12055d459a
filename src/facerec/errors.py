"""The error hierarchy. Services raise these; ``api/errors.py`` maps them to HTTP.

FaceRecError                   base; ``code`` is stable, clients rely on it
├── InputError                 the request itself is wrong (400 family)
│   ├── InvalidImage           bytes that do not decode as an image
│   ├── UnsupportedFormat      an image, but in a format we do not take
│   ├── ImageTooLarge          too many bytes or pixels (413)
│   │   └── RequestTooLarge    the whole request body is over its limit (413)
│   └── ValidationFailed       malformed fields
├── FaceError                  the image is fine, its faces are not usable (422)
│   ├── NoFace
│   ├── MultipleFaces
│   ├── LowQuality             fails the enrolment quality gates (``reasons``)
│   └── NoEnrolledFaces        a person with no face to compare against
├── NotFound                   an id that does not exist (404)
├── Conflict                   e.g. a duplicate external_id (409)
│   └── FaceMismatch           a photo clearly of someone else than the person (409)
├── Busy                       inference queue full, retry later (503)
└── NotReady                   models or database unavailable (503)
"""

from __future__ import annotations

from typing import Any


class FaceRecError(Exception):
    """Base of every error FaceRec raises on purpose."""

    code = "internal_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InputError(FaceRecError):
    code = "bad_request"


class InvalidImage(InputError):
    code = "invalid_image"


class UnsupportedFormat(InputError):
    code = "unsupported_format"


class ImageTooLarge(InputError):
    code = "image_too_large"


class RequestTooLarge(ImageTooLarge):
    code = "request_too_large"


class ValidationFailed(InputError):
    code = "validation_error"


class FaceError(FaceRecError):
    code = "face_error"


class NoFace(FaceError):
    code = "no_face"


class MultipleFaces(FaceError):
    code = "multiple_faces"


class LowQuality(FaceError):
    code = "low_quality"


class NoEnrolledFaces(FaceError):
    code = "no_enrolled_faces"


class NotFound(FaceRecError):
    code = "not_found"


class Conflict(FaceRecError):
    code = "conflict"


class FaceMismatch(Conflict):
    """The photo added to a person is clearly someone else: it conflicts with the faces
    already enrolled for them (``force`` overrides, audited)."""

    code = "face_mismatch"


class Busy(FaceRecError):
    code = "busy"


class NotReady(FaceRecError):
    code = "not_ready"
