"""The process-local series and the helpers that record them.

Each worker records its own events; with ``--workers N`` the values live in
``PROMETHEUS_MULTIPROC_DIR`` (``multiproc.py``), which must be set before this module is
imported (``prometheus_client`` picks its value store at import), and one scrape sums
every worker's files. The helpers are on hot paths: a few microseconds each.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from time import perf_counter
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "facerec_http_requests",
    "HTTP requests answered, by method, route template and status",
    ("method", "route", "status"),
)
REQUEST_SECONDS = Histogram(
    "facerec_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method, route template, status",
    ("method", "route", "status"),
)
QUEUE_DEPTH = Gauge(
    "facerec_inference_queue_depth",
    "Images waiting for or in the inference stage (at most inference.max_pending per worker)",
    multiprocess_mode="livesum",
)
BATCH_SIZE = Histogram(
    "facerec_embed_batch_size",
    "Face chips per embedding network call (micro-batching)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
SHED = Counter(
    "facerec_shed_requests",
    "Requests answered 503 busy because a bound was reached, by the bound",
    ("reason",),
)
STAGE_SECONDS = Histogram(
    "facerec_stage_seconds",
    "Time per pipeline stage of one image: decode, detect, landmarks, embed, search",
    ("stage",),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
INDEX_FACES = Gauge(
    "facerec_index_faces",
    "Faces in this worker's vector index",
    multiprocess_mode="liveall",
)
INDEX_GENERATION = Gauge(
    "facerec_index_generation",
    "The change-log generation this worker's index reflects (caught up before each search)",
    multiprocess_mode="liveall",
)
CHECKINS = Counter(
    "facerec_checkins",
    "Faces in check-in frames, by device and outcome (checked_in, duplicate, unknown)",
    ("device", "status"),
)
WEBHOOK_ATTEMPTS = Counter(
    "facerec_webhook_attempts",
    "Webhook delivery attempts by event and outcome (ok, http_error, network_error)",
    ("event", "outcome"),
)

STAGES = ("decode", "detect", "landmarks", "embed", "search", "classify")
_stage = {name: STAGE_SECONDS.labels(name) for name in STAGES}
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_DEVICES = 100
"""Distinct device labels per process; later names count as ``other`` (the device name
comes from the request, so a caller must not be able to grow the series without bound)."""
_devices: set[str] = set()
_devices_lock = threading.Lock()


def observe_stage(stage: str, start: float) -> float:
    """Record the stage that began at ``start`` (``perf_counter``); returns now."""
    now = perf_counter()
    _stage[stage].observe(now - start)
    return now


_request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
"""(counter, histogram) children by labels: ``labels()`` costs more than the sample."""


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    key = (method if method in METHODS else "other", route, status)
    series = _request_series.get(key)
    if series is None:
        labels = (key[0], route, str(status))
        series = _request_series.setdefault(
            key, (REQUESTS.labels(*labels), REQUEST_SECONDS.labels(*labels))
        )
    series[0].inc()
    series[1].observe(seconds)


def shed(reason: str) -> None:
    """A request refused with 503 busy: ``inference_queue``, ``embed_queue`` or ``db_pool``."""
    SHED.labels(reason).inc()


def index_state(faces: int, generation: int) -> None:
    INDEX_FACES.set(faces)
    INDEX_GENERATION.set(generation)


def count_checkins(device: str | None, statuses: Iterable[str], unknown: int) -> None:
    """One check-in frame's outcome: a status per recognised face, and the unknown faces."""
    label = _device_label(device)
    for status in statuses:
        CHECKINS.labels(label, status).inc()
    if unknown:
        CHECKINS.labels(label, "unknown").inc(unknown)


def webhook_attempt(event: str, *, status: int | None, ok: bool) -> None:
    """One webhook delivery attempt: a 2xx, another HTTP status, or no answer at all."""
    outcome = "ok" if ok else ("network_error" if status is None else "http_error")
    WEBHOOK_ATTEMPTS.labels(event, outcome).inc()


def _device_label(device: str | None) -> str:
    if not device:
        return ""
    with _devices_lock:
        if device in _devices:
            return device
        if len(_devices) < MAX_DEVICES:
            _devices.add(device)
            return device
    return "other"
