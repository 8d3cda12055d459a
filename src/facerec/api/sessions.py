"""A short database session for the part of a request that needs one.

Routes that run inference do not take ``SessionDep``: that session would open before
the image waits for the inference stage, and a session that has read anything holds a
pooled connection until it closes, so under load waiting images would drain the pool.
They call :func:`in_session` once the image is analysed instead: one worker thread, one
session, closed when the call returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi.concurrency import run_in_threadpool

from facerec.db.engine import session_scope
from facerec.state import AppState

T = TypeVar("T")


async def in_session(state: AppState, func: Callable[..., T], /, **kwargs: Any) -> T:
    """``func(session=..., **kwargs)`` in a worker thread, with a session of its own."""

    def call() -> T:
        with session_scope(state.db) as session:
            return func(session=session, **kwargs)

    return await run_in_threadpool(call)
