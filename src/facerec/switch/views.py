"""``POST /models/{name}/use`` (start a switch, 202) and ``GET /models/switch`` (admins).

Why ``Permission.ADMIN``: the models in use decide who is recognised, as in
``registry/views.py``. The switch runs on a thread of the worker that took the request;
every worker follows it at its next search (``switch/serving.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlmodel import Session

from facerec.api.deps import StateDep
from facerec.api.errors import ERROR_RESPONSES
from facerec.auth.deps import CurrentPrincipal, require
from facerec.auth.permissions import Permission
from facerec.registry.store import NAME_PATTERN
from facerec.switch import job, service
from facerec.switch.shapes import ModelsInUse, SwitchProgress, in_use, progress_of

ADMIN = [require(Permission.ADMIN)]
router = APIRouter(prefix="/models", tags=["models"], responses=ERROR_RESPONSES)
ModelName = Annotated[
    str, Path(pattern=NAME_PATTERN, description="dlib-resnet, hog, cnn or an installed model")
]


@router.get("/switch", response_model=ModelsInUse, dependencies=ADMIN)
def get_switch(state: StateDep) -> ModelsInUse:
    """The models in use and the newest switch's progress."""
    with Session(state.db) as session:
        choice, row = service.progress(session, state.follower.makings.base)
    return in_use(choice, row, state.clock())


@router.post(
    "/{name}/use",
    status_code=202,
    response_model=SwitchProgress,
    summary="Switch to a model: re-embed the gallery in the background, then switch",
    dependencies=ADMIN,
)
def post_use(name: ModelName, state: StateDep, principal: CurrentPrincipal) -> SwitchProgress:
    """Loads the model, records the switch and answers; the old models serve until the
    re-embedding is done, then every worker switches at once (``GET /models/switch``)."""
    makings = state.follower.makings
    with Session(state.db, expire_on_commit=False) as session:
        target = job.prepare(
            session, base=makings.base, engines=makings.engines, name=name, dim=state.runtime.dim
        )
        row = job.begin(session, target, actor=principal, now=state.clock())
    job.in_background(state.db, target, store=state.store, actor=principal, clock=state.clock)
    progress = progress_of(row, state.clock())
    assert progress is not None
    return progress
