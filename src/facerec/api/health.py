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
from facerec.errors import EngineSwitched
from facerec.faces.reembed import stale_faces
from facerec.faces.service import count_faces
from facerec.people.service import list_people
from facerec.registry.active import ActiveModel, active_models
from facerec.state import AppState
from facerec.switch.service import progress as switch_progress
from facerec.switch.serving import Serving
from facerec.switch.shapes import ModelsInUse, in_use

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
    choice: ModelsInUse | None = None
    """The database's choice of models and the newest switch (``facerec models use``)."""


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
        index = state.index
        try:
            index.catch_up(session)
        except EngineSwitched:  # the probe says ready once this worker follows
            session.rollback()
            index = state.follower.follow(state).index
            index.catch_up(session)
        status = index.status(session)
    checks["index"] = status.in_step
    checks["index_count"] = status.index_count
    checks["db_count"] = status.db_count
    return checks


@router.get("/status", response_model=StatusInfo, dependencies=[require(Permission.STATUS)])
def status(session: SessionDep, state: StateDep) -> StatusInfo:
    """What this server runs and holds."""
    serving = state.serving  # one engine and index (switch/serving.py)
    try:
        serving.index.catch_up(session)
    except EngineSwitched:
        serving = state.follower.follow(state)
        serving.index.catch_up(session)
    choice, switch = switch_progress(session, state.follower.makings.base)
    threshold = threshold_value(session=session, settings=serving.settings)
    return StatusInfo(
        version=__version__,
        engine=serving.runtime.engine.name,
        model=serving.runtime.model,
        detector=serving.settings.detector.model,
        threshold=threshold,
        timezone=serving.settings.attendance.timezone,
        people=list_people(session=session, q=None, offset=0, limit=1).total,
        faces=count_faces(session=session),
        indexed_faces=serving.index.index.count(),
        stale_faces=sum(stale_faces(session=session, model=serving.runtime.model).values()),
        models=_models_in_use(serving, threshold),
        choice=in_use(choice, switch, state.clock()),
    )


def _models_in_use(serving: Serving, threshold: float) -> list[ActiveModel]:
    """The pair's models (the recogniser from its runtime's model id)."""
    return active_models(
        serving.settings,
        model_id=serving.runtime.model,
        fallback=serving.runtime.engine.fallback_detector is not None,
        threshold=threshold,
    )
