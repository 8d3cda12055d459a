"""Dependencies as ``Annotated`` aliases, named once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from pydantic import BeforeValidator
from sqlmodel import Session

from facerec.db.models import MAX_ID
from facerec.state import AppState


async def get_state(request: Request) -> AppState:
    """``async``: FastAPI runs a sync dependency in the shared worker threads, where under
    load it would queue (and ``/readyz`` with it) behind every sync route."""
    state: AppState = request.app.state.facerec
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with Session(state.db, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
PersonId = Annotated[int, Path(gt=0, le=MAX_ID, description="A person's id")]
FaceId = Annotated[int, Path(gt=0, le=MAX_ID, description="A face's id")]
EventId = Annotated[int, Path(gt=0, le=MAX_ID, description="An attendance event's id")]
UnknownFaceId = Annotated[int, Path(gt=0, le=MAX_ID, description="An unknown face's id")]
GroupId = Annotated[int, Path(gt=0, le=MAX_ID, description="An unknown visitor group's id")]
ScheduleId = Annotated[int, Path(gt=0, le=MAX_ID, description="A schedule's id")]
PersonFilter = Annotated[int | None, Query(gt=0, le=MAX_ID, description="Only this person")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500)]
"""Page size of the listing routes."""

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_day(value: object) -> object:
    """Only ``YYYY-MM-DD`` names a day in a path or query: pydantic would also read ``0`` or
    ``1700000000`` as a Unix time (``PUT /attendance/holidays/0`` stored 1970-01-01)."""
    if isinstance(value, str) and not _ISO_DAY.fullmatch(value):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


IsoDay = BeforeValidator(iso_day)
"""Put in the ``Annotated`` of a ``date`` path or query parameter."""
