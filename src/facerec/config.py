"""Settings: one typed tree read from the environment (prefix ``FACEREC_``).

Nested groups use ``__`` as delimiter, e.g. ``FACEREC_DETECTOR__MIN_FACE_PX=60``.
Code reaches settings through :func:`get_settings`; tests build ``Settings(...)``
directly and pass it to ``create_app``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Chosen on LFW-dev for the shipped recipe (grey HOG + CNN fallback, mirror-averaged
# descriptors): every different-person pair, per-comparison FAR 0.05%; see
# docs/THRESHOLD.md and bench/lfw_threshold.py. (Without the mirror, tta=none: 0.931.)
DEFAULT_MATCH_THRESHOLD = 0.934


class DetectorSettings(BaseModel):
    """How faces are found."""

    model: Literal["hog", "cnn"] = "hog"
    """``hog``: dlib's HOG+SVM (fast on CPU); ``cnn``: dlib's MMOD CNN (slow, pose-robust)."""
    min_face_px: int = Field(40, ge=20, le=400)
    """Smallest face side (pixels in the original image) the detector should find."""
    max_detect_pixels: int = Field(8_000_000, ge=100_000)
    """Upper bound on the pixels the detector scans; large photos are scanned downscaled."""
    min_score: float = 0.0
    """Detector confidence below which a candidate is dropped."""
    hog_gray: bool = True
    """Run HOG on the grey image rather than on colour (dlib then takes each pixel's
    strongest channel gradient). Measured on LFW-dev (``bench/detectors.py``): about a
    fifth faster, the rare extra misses are caught by the fallback."""
    fallback: Literal["none", "cnn"] = "cnn"
    """When the HOG detector finds no face, look again with the MMOD CNN (slower, finds
    turned and poorly lit faces). Not used for kiosk frames (the next frame comes soon)."""
    fallback_max_pixels: int = Field(1_000_000, ge=0)
    """Images larger than this skip the fallback (the CNN's cost grows with pixels)."""


class UploadSettings(BaseModel):
    """Limits on what clients may send."""

    max_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    max_pixels: int = Field(50_000_000, ge=10_000)


class InferenceSettings(BaseModel):
    """How inference is scheduled."""

    threads: int = Field(2, ge=1, le=64)
    """Images analysed at once (size of the inference thread pool)."""
    onnx_intra_threads: int = Field(0, ge=0, le=64)
    """Threads ONNX Runtime uses inside one network call (0: one per core)."""
    onnx_providers: list[str] = []
    """ONNX Runtime providers in order of preference (empty: CUDA when available, else CPU)."""
    batch_size: int = Field(16, ge=1, le=256)
    """Most faces embedded in one network call (micro-batching across requests)."""
    batch_wait_ms: float = Field(0.0, ge=0, le=1000)
    """How long the first face of a batch waits for others to join it. At 0, a batch is
    whatever queued up while the previous one ran: no added latency when idle, batches
    under load (measured: a 5 ms wait added ~8 ms to every request at concurrency 1)."""
    tta: Literal["none", "mirror"] = "mirror"
    """Test-time augmentation: ``mirror`` embeds each face and its mirror image and sums
    the two (measured by ``bench/eval_lfw.py``: see docs/ACCURACY.md). Part of the model
    id; after changing it, run ``facerec index reembed``."""
    max_pending: int = Field(64, ge=1)
    """Images allowed in the inference stage at once (running plus waiting); beyond that
    the server answers 503 with Retry-After instead of queueing without bound."""


class EnrolSettings(BaseModel):
    """Rules for adding a face to a person."""

    dominance_ratio: float = Field(2.25, ge=1.0)
    """The largest face is enrolled when its area is at least this many times the next one
    (2.25: its side is 1.5 times as long); otherwise the photo is refused as multiple_faces."""
    # Quality gates (see inference/quality.py for the figures); ``force=true`` skips them.
    min_face_px: float = Field(64, ge=0)
    """Shorter side of the face box, pixels."""
    min_sharpness: float = Field(40, ge=0)
    """Variance of the Laplacian on the face resized to 64 px (every LFW face scores > 75)."""
    min_brightness: float = Field(50, ge=0, le=255)
    max_brightness: float = Field(215, ge=0, le=255)
    min_frontal: float = Field(0.35, ge=0, le=1)
    """1 = looking straight ahead; towards 0 as the head turns to a profile."""
    min_inside: float = Field(0.9, ge=0, le=1)
    """Share of the face box inside the image (cut off by the edge below this)."""


class AttendanceSettings(BaseModel):
    """Check-in rules."""

    timezone: str = "Asia/Shanghai"
    """Days, schedules and reports are in this IANA time zone; times are stored in UTC."""
    dedupe_minutes: int = Field(5, ge=0, le=24 * 60)
    """A person seen again within this many minutes is answered ``duplicate``."""
    unknown_group_threshold: float | None = Field(None, ge=0.0, le=1.0)
    """Similarity at which two unknown faces are the same visitor (default: match_threshold)."""

    @model_validator(mode="after")
    def _known_zone(self) -> AttendanceSettings:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        return self


class Settings(BaseSettings):
    """Everything FaceRec can be told from the outside."""

    model_config = SettingsConfigDict(
        env_prefix="FACEREC_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Path("data")
    engine: Literal["onnx", "dlib"] = "onnx"
    """``onnx``: dlib's networks converted to ONNX Runtime (fast, same vectors);
    ``dlib``: dlib itself."""
    database_url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///<data_dir>/facerec.db`` (WAL mode)."""
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=32)
    match_threshold: float = Field(DEFAULT_MATCH_THRESHOLD, ge=0.0, le=1.0)
    top_k: int = Field(5, ge=1, le=100)
    max_top_k: int = Field(100, ge=1)
    migrate_on_start: bool = True
    detector: DetectorSettings = DetectorSettings()
    upload: UploadSettings = UploadSettings()
    inference: InferenceSettings = InferenceSettings()
    enrol: EnrolSettings = EnrolSettings()
    attendance: AttendanceSettings = AttendanceSettings()

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.top_k > self.max_top_k:
            raise ValueError("top_k must not exceed max_top_k")
        return self

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'facerec.db').resolve()}"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def crops_dir(self) -> Path:
        """Face crops of check-ins and unknown faces."""
        return self.data_dir / "crops"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
