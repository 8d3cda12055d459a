"""Helpers for the account tests: users written straight into the database with
argon2-cffi itself (independent of ``auth/passwords.py``), and login calls."""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine
from sqlmodel import Session, select

from facerec.auth.models import LoginSession, User

ORIGIN = {"Origin": "http://testserver"}
"""A cookie-authenticated write must name the server's own origin."""
VIEWER_PERMISSIONS = ["attendance:read", "people:read", "recognize", "status"]


def insert_user(
    db: Engine,
    username: str,
    password: str,
    *,
    role: str = "viewer",
    disabled: bool = False,
    hasher: PasswordHasher | None = None,
) -> int:
    with Session(db) as session:
        user = User(
            username=username,
            password_hash=(hasher or PasswordHasher()).hash(password),
            role=role,
            disabled=disabled,
        )
        session.add(user)
        session.commit()
        assert user.id is not None
        return user.id


def login(client: TestClient, username: str, password: str, **headers: str) -> Response:
    return client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}, headers=headers
    )


def logged_in(client: TestClient, username: str, password: str) -> TestClient:
    """A second client of the same app, logged in as ``username``."""
    other = TestClient(client.app)
    answer = login(other, username, password)
    assert answer.status_code == 200, answer.text
    return other


def sessions_of(db: Engine, user_id: int) -> list[LoginSession]:
    with Session(db) as session:
        query = select(LoginSession).where(LoginSession.user_id == user_id)
        return list(session.exec(query).all())


def user_row(db: Engine, user_id: int) -> User:
    with Session(db) as session:
        user = session.get(User, user_id)
        assert user is not None
        return user


def json_of(answer: Response) -> Any:
    assert answer.status_code < 300, answer.text
    return answer.json()
