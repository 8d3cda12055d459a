"""Signing: what a receiver checks to know a request came from us, unchanged and fresh.

``X-FaceRec-Signature: sha256=<hex>`` is HMAC-SHA256, keyed with the endpoint's secret,
of ``"{X-FaceRec-Timestamp}.{body}"`` (the timestamp in Unix seconds, the raw body
bytes). The receiver recomputes it, compares in constant time, and refuses a timestamp
far from its own clock (replays). README, "Webhooks", has a receiver's snippet.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

EVENT_HEADER = "X-FaceRec-Event"
DELIVERY_HEADER = "X-FaceRec-Delivery"
TIMESTAMP_HEADER = "X-FaceRec-Timestamp"
SIGNATURE_HEADER = "X-FaceRec-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">``."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def body_of(*, delivery_id: str, event: str, created_at: datetime, data: dict[str, Any]) -> bytes:
    """The JSON body: the same bytes on every attempt of a delivery."""
    document = {
        "id": delivery_id,
        "event": event,
        "created_at": created_at.isoformat(),
        "data": data,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def headers(
    *, secret: str, event: str, delivery_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "FaceRec-Webhooks/1",
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }
