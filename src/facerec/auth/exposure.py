"""Refusing to serve the data unprotected: access control may be off only on loopback."""

from __future__ import annotations

import ipaddress

from facerec.config import Settings
from facerec.errors import UnsafeSetup

LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    """``127.0.0.0/8``, ``::1`` (also written ``[::1]``) or ``localhost``; nothing else,
    not even a name that happens to resolve to loopback today."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """Raise ``UnsafeSetup`` when the server would bind a reachable address with access
    control switched off (anyone on the network could then read and change everything)."""
    if settings.auth.enabled or is_loopback(settings.host):
        return
    raise UnsafeSetup(
        f"refusing to serve on {settings.host} with access control switched off "
        "(FACEREC_AUTH__ENABLED=false): anyone who can reach the port could read and change "
        "every face and record. Switch it on (the default), or bind 127.0.0.1."
    )
