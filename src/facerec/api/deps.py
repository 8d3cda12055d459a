"""Dependencies as ``Annotated`` aliases, named once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlmodel import Session

from facerec.state import AppState


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.facerec
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with Session(state.db, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
PersonId = Annotated[int, Path(gt=0, le=2**62, description="A person's id")]
FaceId = Annotated[int, Path(gt=0, le=2**62, description="A face's id")]
