"""Routes for /auth (login, logout, me, password, first-run set-up) and /users (admin).

Login is ``async``: a failed attempt waits (``asyncio.sleep``, no thread held) a delay
that grows with the account's failures; the database and Argon2 work run in a thread.

The session cookie is HttpOnly, SameSite=Strict, Path=/, and Secure when
``auth.cookie_secure`` is ``always``, or ``auto`` and the request came over HTTPS (its
scheme, or ``X-Forwarded-Proto: https`` from a TLS-terminating proxy: trusting it can only
add the Secure flag, never remove it).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from facerec.api.deps import Offset, SessionDep, StateDep
from facerec.api.errors import ERROR_RESPONSES
from facerec.auth import setup as first_run
from facerec.auth import users
from facerec.auth.deps import (
    SESSION_COOKIE,
    CurrentPrincipal,
    authenticated,
    public,
    require,
)
from facerec.auth.permissions import Permission
from facerec.auth.principal import Principal
from facerec.auth.sessions import (
    Checked,
    Login,
    check_password,
    end_session,
    failed_login,
    refuse_if_locked,
    start_session,
)
from facerec.auth.shapes import (
    LoginIn,
    PasswordChange,
    PasswordReset,
    PrincipalPublic,
    SetupIn,
    SetupStatus,
    UserCreate,
    UserPage,
    UserPublic,
    UserUpdate,
)
from facerec.db.engine import session_scope
from facerec.db.models import MAX_ID
from facerec.errors import Unauthenticated
from facerec.state import AppState

auth_router = APIRouter(prefix="/auth", tags=["auth"], responses=ERROR_RESPONSES)
users_router = APIRouter(prefix="/users", tags=["users"], responses=ERROR_RESPONSES)
UserPath = Annotated[int, Path(gt=0, le=MAX_ID, description="A user's id")]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


SignedIn = Annotated[Principal, authenticated()]
"""Any caller with a valid credential (a cookie write is same-origin checked)."""


@auth_router.post("/login", response_model=PrincipalPublic, dependencies=[public()])
async def login(
    request: Request, response: Response, state: StateDep, body: LoginIn
) -> PrincipalPublic:
    """A session cookie for a right user name and password; 401 otherwise (slowed down),
    429 while the account or the address is locked."""
    address = client_address(request)
    agent = request.headers.get("user-agent")
    result = await run_in_threadpool(_attempt, state, body, address, agent)
    if not isinstance(result, Login):
        await asyncio.sleep(result)
        raise Unauthenticated("wrong user name or password")
    _set_cookie(request, response, state, result)
    return PrincipalPublic.of(result.principal)


def _attempt(state: AppState, body: LoginIn, address: str, agent: str | None) -> Login | float:
    """The login, or the delay a failure must wait."""
    settings = state.settings.auth
    with session_scope(state.db) as session:
        now = state.clock()
        refuse_if_locked(session, username=body.username, address=address, now=now)
        checked = check_password(session, username=body.username, password=body.password)
        if checked is None:
            return failed_login(
                session, username=body.username, address=address, now=now, settings=settings
            )
        return start_session(
            session,
            checked=checked,
            now=now,
            settings=settings,
            address=address,
            user_agent=agent,
        )


def _set_cookie(request: Request, response: Response, state: AppState, login: Login) -> None:
    mode = state.settings.auth.cookie_secure
    https = request.url.scheme == "https" or (
        request.headers.get("x-forwarded-proto", "").lower() == "https"
    )
    response.set_cookie(
        SESSION_COOKIE,
        login.secret,
        max_age=state.settings.auth.session_absolute_hours * 3600,
        path="/",
        httponly=True,
        samesite="strict",
        secure=mode == "always" or (mode == "auto" and https),
    )


@auth_router.post("/logout", status_code=204, dependencies=[authenticated()])
def logout(request: Request, session: SessionDep, principal: SignedIn) -> Response:
    """End this login (its row goes, so the cookie stops everywhere) and clear the cookie."""
    end_session(session, actor=principal, address=client_address(request))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@auth_router.get("/me", response_model=PrincipalPublic, dependencies=[authenticated()])
def me(principal: SignedIn) -> PrincipalPublic:
    return PrincipalPublic.of(principal)


@auth_router.post("/password", status_code=204, dependencies=[authenticated()])
def change_password(
    request: Request,
    session: SessionDep,
    state: StateDep,
    principal: SignedIn,
    body: PasswordChange,
) -> Response:
    """Needs the current password; the user's other sessions end."""
    users.change_password(
        session=session,
        actor=principal,
        current_password=body.current_password,
        new_password=body.new_password,
        now=state.clock(),
        address=client_address(request),
    )
    return Response(status_code=204)


@auth_router.get("/setup", response_model=SetupStatus, dependencies=[public()])
def setup_status(session: SessionDep) -> SetupStatus:
    return SetupStatus(needed=not first_run.admin_exists(session))


@auth_router.post(
    "/setup", status_code=201, response_model=PrincipalPublic, dependencies=[public()]
)
def setup(
    request: Request, response: Response, session: SessionDep, state: StateDep, body: SetupIn
) -> PrincipalPublic:
    """The first administrator, with the link's token (used up); logged in at once."""
    now, address = state.clock(), client_address(request)
    user = first_run.complete_setup(session=session, setup_in=body, now=now, address=address)
    assert user.id is not None
    login = start_session(
        session,
        checked=_as_checked(user.id),
        now=now,
        settings=state.settings.auth,
        address=address,
        user_agent=request.headers.get("user-agent"),
    )
    _set_cookie(request, response, state, login)
    return PrincipalPublic.of(login.principal)


def _as_checked(user_id: int) -> Checked:
    return Checked(user_id=user_id, rehash=None)


@users_router.get("", response_model=UserPage, dependencies=[require(Permission.ADMIN)])
def list_users(
    session: SessionDep, offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> UserPage:
    return users.list_users(session=session, offset=offset, limit=limit)


@users_router.post(
    "", status_code=201, response_model=UserPublic, dependencies=[require(Permission.ADMIN)]
)
def create_user(
    request: Request,
    session: SessionDep,
    state: StateDep,
    principal: CurrentPrincipal,
    body: UserCreate,
) -> UserPublic:
    user = users.create_user(
        session=session,
        user_in=body,
        actor=principal,
        now=state.clock(),
        address=client_address(request),
    )
    return users.public(user)


@users_router.patch(
    "/{user_id}", response_model=UserPublic, dependencies=[require(Permission.ADMIN)]
)
def update_user(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    user_id: UserPath,
    body: UserUpdate,
) -> UserPublic:
    """Change the role, or disable (their sessions end) or enable the account."""
    user = users.update_user(
        session=session,
        user_id=user_id,
        user_in=body,
        actor=principal,
        address=client_address(request),
    )
    return users.public(user)


@users_router.post("/{user_id}/password", status_code=204, dependencies=[require(Permission.ADMIN)])
def reset_password(
    request: Request,
    session: SessionDep,
    state: StateDep,
    principal: CurrentPrincipal,
    user_id: UserPath,
    body: PasswordReset,
) -> Response:
    """Set the user's password; every session of theirs ends."""
    users.reset_password(
        session=session,
        user_id=user_id,
        new_password=body.new_password,
        actor=principal,
        now=state.clock(),
        address=client_address(request),
    )
    return Response(status_code=204)
