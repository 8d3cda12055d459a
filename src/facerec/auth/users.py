"""User accounts: create, list, change role or disable, reset and change passwords.

Keyword-only functions that take the session first, know no HTTP, write under the
database write lock, audit in the same transaction and commit. Ending a user's sessions
(password reset, change, disabling) deletes their ``auth_sessions`` rows, so the cookie
stops at its next request on every worker.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, func, select

from facerec.auth.audit_log import audit
from facerec.auth.models import User
from facerec.auth.passwords import check_policy, hash_password, verify_password
from facerec.auth.permissions import Role
from facerec.auth.principal import Principal
from facerec.auth.sessions import end_user_sessions
from facerec.auth.shapes import UserCreate, UserPage, UserPublic, UserUpdate
from facerec.db.engine import lock_for_write
from facerec.errors import Conflict, Forbidden, NotFound


def public(user: User) -> UserPublic:
    assert user.id is not None
    return UserPublic(
        id=user.id,
        username=user.username,
        role=Role(user.role),
        disabled=user.disabled,
        created_at=user.created_at,
    )


def list_users(*, session: Session, offset: int = 0, limit: int = 100) -> UserPage:
    total = session.exec(select(func.count()).select_from(User)).one()
    rows = session.exec(select(User).order_by(col(User.id)).offset(offset).limit(limit)).all()
    return UserPage(items=[public(u) for u in rows], total=int(total))


def find_user(*, session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username.strip())).first()
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def create_user(
    *,
    session: Session,
    user_in: UserCreate,
    actor: Principal,
    now: datetime,
    address: str | None = None,
    action: str = "user_create",
) -> User:
    """A new account; 409 when the name is taken (names compare case-insensitively)."""
    check_policy(username=user_in.username, password=user_in.password)
    password_hash = hash_password(user_in.password)  # before the lock: it takes a while
    lock_for_write(session)
    taken = select(User).where(func.lower(User.username) == user_in.username.lower())
    if session.exec(taken).first() is not None:
        session.rollback()
        raise Conflict(f"the user name {user_in.username!r} is taken")
    user = User(
        username=user_in.username,
        password_hash=password_hash,
        role=user_in.role.value,
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    details = {"username": user.username, "role": user.role}
    audit(
        session,
        actor=actor,
        time=now,
        action=action,
        entity="user",
        entity_id=user.id,
        address=address,
        details=details,
    )
    session.commit()
    return user


def update_user(
    *,
    session: Session,
    user_id: int,
    user_in: UserUpdate,
    actor: Principal,
    address: str | None = None,
) -> User:
    """Change role or disable/enable; disabling ends the user's sessions. The last enabled
    administrator cannot be demoted or disabled (409)."""
    lock_for_write(session)
    user = _get(session, user_id)
    before = {"role": user.role, "disabled": user.disabled}
    if user_in.role is not None:
        user.role = user_in.role.value
    if user_in.disabled is not None:
        user.disabled = user_in.disabled
    after = {"role": user.role, "disabled": user.disabled}
    if before["role"] == Role.ADMIN and not before["disabled"] and after != before:
        _keep_an_admin(session, user_id=user_id)
    if user.disabled:
        end_user_sessions(session, user_id=user_id)
    session.add(user)
    action = "user_disable" if user.disabled and not before["disabled"] else "user_update"
    audit(
        session,
        actor=actor,
        action=action,
        entity="user",
        entity_id=user_id,
        address=address,
        details={"username": user.username, "before": before, "after": after},
    )
    session.commit()
    return user


def reset_password(
    *,
    session: Session,
    user_id: int,
    new_password: str,
    actor: Principal,
    now: datetime,
    address: str | None = None,
) -> None:
    """An administrator sets ``user_id``'s password; every session of theirs ends."""
    username = _get(session, user_id).username
    check_policy(username=username, password=new_password)
    session.rollback()  # no read may precede the write lock in a transaction
    password_hash = hash_password(new_password)
    lock_for_write(session)
    _set_password(session, user=_get(session, user_id), password_hash=password_hash, now=now)
    end_user_sessions(session, user_id=user_id)
    audit(
        session,
        actor=actor,
        time=now,
        action="password_reset",
        entity="user",
        entity_id=user_id,
        address=address,
        details={"username": username},
    )
    session.commit()


def change_password(
    *,
    session: Session,
    actor: Principal,
    current_password: str,
    new_password: str,
    now: datetime,
    address: str | None = None,
) -> None:
    """The caller changes their own password; their other sessions end (this one stays)."""
    if actor.kind != "user" or actor.id is None:
        raise Forbidden("only a logged-in user has a password to change")
    user = _get(session, actor.id)
    username, stored = user.username, user.password_hash
    session.rollback()  # no read may precede the write lock in a transaction
    if not verify_password(stored, current_password).ok:
        raise Forbidden("the current password is wrong")
    check_policy(username=username, password=new_password)
    password_hash = hash_password(new_password)
    lock_for_write(session)
    _set_password(session, user=_get(session, actor.id), password_hash=password_hash, now=now)
    end_user_sessions(session, user_id=actor.id, keep=actor.session_id)
    audit(
        session,
        actor=actor,
        time=now,
        action="password_change",
        entity="user",
        entity_id=actor.id,
        address=address,
        details={"username": username},
    )
    session.commit()


def _set_password(session: Session, *, user: User, password_hash: str, now: datetime) -> None:
    user.password_hash = password_hash
    user.password_changed_at = now
    session.add(user)


def _get(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def _keep_an_admin(session: Session, *, user_id: int) -> None:
    others = (
        select(func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN.value, col(User.disabled).is_(False), User.id != user_id)
    )
    if session.exec(others).one() == 0:
        session.rollback()
        raise Conflict("this is the last enabled administrator")
