"""Liveness, readiness and a status summary."""

from __future__ import annotations

import os
from functools import partial
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlmodel import Session

from facerec import __version__
from facerec.api.deps import SessionDep, StateDep
from facerec.api.probe import PROBE_TIMEOUT_S, bounded_check
from facerec.auth.deps import public, require
from facerec.auth.permissions import Permission
from facerec.calibration.service import threshold_value
from facerec.db.engine import is_reachable
from facerec.faces.reembed import stale_faces
from facerec.faces.service import count_faces
from facerec.people.service import list_people
from facerec.registry.active import ActiveModel, active_models
from facerec.state import AppState

router = APIRouter(tags=["health"])
probes = APIRouter(tags=["health"])


class StatusInfo(BaseModel):
    version: str
    engine: str
    model: str
    detector: str
    threshold: float
    timezone: str
    """Attendance days and times are shown in this zone."""
    people: int
    faces: int
    indexed_faces: int
    stale_faces: int = 0
    """Faces embedded by another model (not searched until ``facerec index reembed``)."""
    models: list[ActiveModel] = []
    """Each model in use: name, kind, licence; the recogniser's threshold in force."""


@probes.get("/healthz", dependencies=[public()])
async def healthz() -> dict[str, str]:
    """The process is alive. Answered on the event loop: no thread, no database, so it
    never waits behind the thread pool, the connection pool or inference."""
    return {"status": "ok"}


@probes.get("/readyz", responses={503: {"description": "Not ready"}}, dependencies=[public()])
async def readyz(state: StateDep) -> JSONResponse:
    """Models loaded, database reachable, vector index in step with the database."""
    checks = await bounded_check(state, partial(_readiness, state))  # not the shared pool
    if checks is None:
        timeout = f"the readiness check took over {PROBE_TIMEOUT_S} s"
        return JSONResponse({"ready": False, "worker": os.getpid(), "reason": timeout}, 503)
    ready = all(bool(v) for k, v in checks.items() if k in {"models", "database", "index"})
    return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)


def _readiness(state: AppState) -> dict[str, Any]:
    checks: dict[str, Any] = {
        "worker": os.getpid(),
        "models": state.runtime.loaded,
        "database": is_reachable(state.db),
    }
    if not checks["database"]:
        checks["index"] = False
        return checks
    with Session(state.db) as session:
        state.index.catch_up(session)
        status = state.index.status(session)
    checks["index"] = status.in_step
    checks["index_count"] = status.index_count
    checks["db_count"] = status.db_count
    return checks


@router.get("/status", response_model=StatusInfo, dependencies=[require(Permission.STATUS)])
def status(session: SessionDep, state: StateDep) -> StatusInfo:
    """What this server runs and holds."""
    state.index.catch_up(session)
    threshold = threshold_value(session=session, settings=state.settings)
    return StatusInfo(
        version=__version__,
        engine=state.runtime.engine.name,
        model=state.runtime.model,
        detector=state.settings.detector.model,
        threshold=threshold,
        timezone=state.settings.attendance.timezone,
        people=list_people(session=session, q=None, offset=0, limit=1).total,
        faces=count_faces(session=session),
        indexed_faces=state.index.index.count(),
        stale_faces=sum(stale_faces(session=session, model=state.runtime.model).values()),
        models=_models_in_use(state, threshold),
    )


def _models_in_use(state: AppState, threshold: float) -> list[ActiveModel]:
    """The running runtime's models (the recogniser from its model id)."""
    return active_models(
        state.settings,
        model_id=state.runtime.model,
        fallback=state.runtime.engine.fallback_detector is not None,
        threshold=threshold,
    )
