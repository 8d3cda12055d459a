"""Secrets handed out once: API keys, device tokens, session ids, set-up tokens.

Each is 32 random bytes (``secrets.token_urlsafe``) after a prefix that says what it is
(``frk_`` key, ``frd_`` device, ``frs_`` session, ``fru_`` set-up link, ``frp_`` device
pairing). Only a SHA-256 of the whole secret is stored: with 256 random bits, a fast hash
is enough (passwords, which people choose, get Argon2 instead: ``passwords.py``).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

TokenKind = Literal["frk", "frd", "frs", "fru", "frp"]


def new_secret(kind: TokenKind) -> str:
    return f"{kind}_{secrets.token_urlsafe(32)}"


def digest(secret: str) -> str:
    """What the database stores for ``secret`` (hex SHA-256)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def kind_of(secret: str) -> str:
    return secret.split("_", 1)[0] if "_" in secret else ""
