"""Permissions, roles and the scopes of API keys.

A route declares the one permission it needs (``auth.deps.require``); a caller holds a set
of permissions: its role's, narrowed by an API key's scopes, or a kiosk device's.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    """What a route needs. The values are also the scope names of API keys."""

    RECOGNIZE = "recognize"
    """Recognise, verify, detect, embed (no stored data changes)."""
    PEOPLE_READ = "people:read"
    """List and read people, their faces and thumbnails."""
    PEOPLE_WRITE = "people:write"
    """Create, change and delete people; add and remove photos; export a person."""
    ATTENDANCE_READ = "attendance:read"
    """Events, reports, crops, unknown faces, schedules, holidays."""
    ATTENDANCE_WRITE = "attendance:write"
    """Corrections, schedules, holidays, unknown-face review."""
    CHECKIN = "checkin"
    """Check people in (the kiosk)."""
    STATUS = "status"
    """The status page: counts, models, calibration."""
    SETTINGS = "settings"
    """Threshold, calibration, retention and other run-time settings."""
    ADMIN = "admin"
    """Users, API keys, devices and the audit log."""
    METRICS = "metrics"
    """Prometheus metrics (issue #13)."""


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    VIEWER = "viewer"


_VIEWER = frozenset(
    {Permission.PEOPLE_READ, Permission.ATTENDANCE_READ, Permission.STATUS, Permission.RECOGNIZE}
)
_MANAGER = _VIEWER | {Permission.PEOPLE_WRITE, Permission.ATTENDANCE_WRITE, Permission.CHECKIN}
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _VIEWER,
    Role.MANAGER: frozenset(_MANAGER),
    Role.ADMIN: frozenset(Permission),
}
DEVICE_PERMISSIONS = frozenset({Permission.CHECKIN})
"""A kiosk device's token can only check people in."""


def key_permissions(role: Role, scopes: list[str] | None) -> frozenset[Permission]:
    """An API key holds its role's permissions, narrowed to ``scopes`` when it has any."""
    held = ROLE_PERMISSIONS[role]
    if not scopes:
        return held
    return held & frozenset(Permission(s) for s in scopes)
