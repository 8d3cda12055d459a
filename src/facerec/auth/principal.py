"""The caller of a request, as the permission check and the audit log see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from facerec.auth.permissions import Permission, Role

PrincipalKind = Literal["user", "key", "device", "local", "anonymous", "system"]


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    """``user`` (a session cookie), ``key`` (an API key), ``device`` (a kiosk token),
    ``local`` (access control switched off, loopback only), ``anonymous`` (no
    credential), ``system`` (the server itself, e.g. retention)."""
    id: int | None
    name: str
    """User name, key name or device name: what the audit log shows."""
    role: Role | None = None
    permissions: frozenset[Permission] = field(default_factory=frozenset)
    via_cookie: bool = False
    """Authenticated by the session cookie (writes must then come from our own origin)."""
    session_id: int | None = None

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def label(self) -> str:
        """``user:alice``, ``key:payroll``, ``device:front-door``: the audit log's actor."""
        return f"{self.kind}:{self.name}"


ANONYMOUS = Principal(kind="anonymous", id=None, name="anonymous")
LOCAL = Principal(kind="local", id=None, name="local", permissions=frozenset(Permission))
SYSTEM = Principal(kind="system", id=None, name="system", permissions=frozenset(Permission))
