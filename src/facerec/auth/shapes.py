"""What the /auth and /users routes read and answer (never a password hash or a secret)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints
from sqlmodel import Field, SQLModel

from facerec.auth.passwords import MAX_LENGTH
from facerec.auth.permissions import Role
from facerec.auth.principal import Principal

Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w.@+-]+$"),
]
"""Letters, digits and ``. @ + - _``; 1 to 64 characters."""
Password = Annotated[str, StringConstraints(max_length=MAX_LENGTH)]


class PrincipalPublic(SQLModel):
    """Who the caller is: the answer of login, set-up and ``/auth/me``."""

    kind: str
    id: int | None
    name: str
    role: Role | None
    permissions: list[str]

    @classmethod
    def of(cls, principal: Principal) -> PrincipalPublic:
        return cls(
            kind=principal.kind,
            id=principal.id,
            name=principal.name,
            role=principal.role,
            permissions=sorted(p.value for p in principal.permissions),
        )


class LoginIn(SQLModel):
    username: Annotated[str, StringConstraints(max_length=200)]
    password: Password


class PasswordChange(SQLModel):
    current_password: Password
    new_password: Password


class PasswordReset(SQLModel):
    new_password: Password


class SetupStatus(SQLModel):
    needed: bool
    """True while no administrator exists (the set-up link is then printed at start)."""


class SetupIn(SQLModel):
    token: Annotated[str, StringConstraints(max_length=200)]
    username: Username
    password: Password


class UserCreate(SQLModel):
    username: Username
    password: Password
    role: Role


class UserUpdate(SQLModel):
    role: Role | None = None
    disabled: bool | None = None


class UserPublic(SQLModel):
    id: int
    username: str
    role: Role
    disabled: bool
    created_at: datetime


class UserPage(SQLModel):
    items: list[UserPublic] = Field(default_factory=list)
    total: int
