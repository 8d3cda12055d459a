"""The error hierarchy. Services raise these; ``api/errors.py`` maps them to HTTP.

FaceRecError                   base; ``code`` is stable, clients rely on it
├── InputError                 the request itself is wrong (400 family)
│   ├── InvalidImage           bytes that do not decode as an image
│   ├── UnsupportedFormat      an image, but in a format we do not take
│   ├── ImageTooLarge          too many bytes or pixels (413)
│   │   └── RequestTooLarge    the whole request body is over its limit (413)
│   ├── ValidationFailed       malformed fields
│   ├── InvalidArchive         a gallery file that is corrupt or not ours (400)
│   ├── InvalidModel           a model file that is not ONNX or breaks its input contract (400)
│   └── LicenceNotAccepted     a model pack whose licence the operator has not accepted (400)
├── FaceError                  the image is fine, its faces are not usable (422)
│   ├── NoFace
│   ├── MultipleFaces
│   ├── LowQuality             fails the enrolment quality gates (``reasons``)
│   └── NoEnrolledFaces        a person with no face to compare against
├── NotFound                   an id that does not exist (404)
├── Conflict                   e.g. a duplicate external_id (409)
│   ├── FaceMismatch           a photo clearly of someone else than the person (409)
│   └── RiskyThreshold         a match threshold below the safe value, without force (409)
├── AccessError
│   ├── Unauthenticated        no valid credential (401); DeviceRevoked for a revoked kiosk
│   ├── Forbidden              not allowed (403)
│   └── RateLimited            too many requests or failed logins (429, Retry-After)
├── Busy                       inference queue full, retry later (503)
├── NotReady                   models or database unavailable (503)
├── DownloadFailed             a model download that failed or did not match its sha256 (502)
├── UnsafeSetup                a start-up the server refuses (auth off on an open address)
└── BackupFailed               ``facerec backup``/``restore`` could not finish (never HTTP)
    ├── InvalidBackup          corrupt, tampered, foreign or of an unknown format version
    └── RestoreTargetNotEmpty  restore writes only into an empty data dir and database
└── CopyFailed                 ``facerec db copy`` could not finish (never HTTP)
    └── CopyTargetNotEmpty     the copy writes only into an empty database
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


class InvalidArchive(InputError):
    """A gallery export (``gallery/``) that is corrupt, foreign or of an unknown version."""

    code = "invalid_archive"


class InvalidModel(InputError):
    """A model file that is not valid ONNX, or whose inputs and outputs do not match the
    input contract it is installed with (``facerec models import``/``pull``)."""

    code = "invalid_model"


class LicenceNotAccepted(InputError):
    """A model pack under a licence (e.g. non-commercial) that only the operator can
    accept: ``--accept-licence`` / ``accept_licence=true`` says they did."""

    code = "licence_not_accepted"


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


class RiskyThreshold(Conflict):
    """A match threshold below the safe value (the calibration's, else the configured
    floor) needs an admin's explicit ``force``; details say the FAR it would mean."""

    code = "risky_threshold"


class Busy(FaceRecError):
    code = "busy"


class AccessError(FaceRecError):
    """Who is calling, and what they may do (401, 403, 429)."""

    code = "access_error"


class Unauthenticated(AccessError):
    """No credential, or one that is unknown, expired or revoked (401)."""

    code = "unauthenticated"


class DeviceRevoked(Unauthenticated):
    """A kiosk's token was revoked: the kiosk says so and stops (401)."""

    code = "device_revoked"


class Forbidden(AccessError):
    """A valid credential without the permission the route needs, or a cookie-authenticated
    write from another origin (403)."""

    code = "forbidden"


class RateLimited(AccessError):
    """Too many requests (or failed logins) in the window; ``retry_after`` seconds (429)."""

    code = "rate_limited"


class NotReady(FaceRecError):
    code = "not_ready"


class EngineSwitched(NotReady):
    """The database's active models changed since this worker's engine was built
    (``facerec models use``): the request is answered again with the new engine."""


class DownloadFailed(FaceRecError):
    """A model download that could not finish (HTTP error, connection cut: a second pull
    resumes) or whose bytes do not have the pinned sha256 (502)."""

    code = "download_failed"


class UnsafeSetup(FaceRecError):
    """Settings the server refuses to start with, e.g. access control switched off on an
    address other machines can reach (``facerec serve`` exits non-zero; never HTTP)."""

    code = "unsafe_setup"


class BackupFailed(FaceRecError):
    """A backup or restore that could not be made (a tool missing, a target not empty, a
    damaged or foreign backup file); ``facerec backup``/``restore`` exit non-zero."""

    code = "backup_failed"


class InvalidBackup(BackupFailed):
    """A backup file that is corrupt, tampered with (a checksum differs), foreign or of an
    unknown format version."""

    code = "invalid_backup"


class RestoreTargetNotEmpty(BackupFailed):
    """``facerec restore`` only writes into an empty data directory (and database)."""

    code = "restore_target_not_empty"


class CopyFailed(FaceRecError):
    """``facerec db copy`` stopped (rows that do not fit the schema, counts that differ);
    nothing is left in the target (one transaction)."""

    code = "copy_failed"


class CopyTargetNotEmpty(CopyFailed):
    """``facerec db copy`` only writes into an empty (or only just migrated) database."""

    code = "copy_target_not_empty"
