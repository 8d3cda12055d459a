"""Passwords: Argon2id hashes (``argon2-cffi``'s ``PasswordHasher`` with its defaults) and
the few rules a new password must meet."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from facerec.errors import ValidationFailed

MIN_LENGTH = 10
MAX_LENGTH = 1024
_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    rehash: str | None = None
    """A new hash of the same password, when the stored one used weaker parameters."""


def check_policy(*, username: str, password: str) -> None:
    """Refuse a password that is too short, too long, or the user name itself."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(f"a password has at most {MAX_LENGTH} characters")
    if password.strip().casefold() == username.strip().casefold():
        raise ValidationFailed("the password must not be the user name")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> Verdict:
    """Whether ``password`` matches ``stored``; a fresh hash when parameters changed."""
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return Verdict(ok=False)
    if _hasher.check_needs_rehash(stored):
        return Verdict(ok=True, rehash=_hasher.hash(password))
    return Verdict(ok=True)


def burn_time(password: str) -> None:
    """Verify against a dummy hash: an unknown user name takes as long as a known one."""
    verify_password(_dummy_hash(), password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("not a real password, only here to take time")
