"""Routes under /calibration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from facerec.api.deps import SessionDep, StateDep
from facerec.api.errors import ERROR_RESPONSES
from facerec.auth.deps import CurrentPrincipal, require
from facerec.auth.permissions import Permission
from facerec.calibration import safety, service
from facerec.calibration.models import Calibration, ThresholdIn, ThresholdOut

router = APIRouter(prefix="/calibration", tags=["calibration"], responses=ERROR_RESPONSES)


@router.get(
    "",
    response_model=Calibration,
    summary="Threshold trade-offs measured on your gallery",
    dependencies=[require(Permission.STATUS)],
)
def get_calibration(
    session: SessionDep,
    state: StateDep,
    target_far: Annotated[float, Query(gt=0, lt=1, description="Per-comparison FAR")] = 0.0005,
) -> Calibration:
    """Scores every pair of enrolled faces: different people (impostors) and the same
    person (genuine). Recommends the lowest threshold whose false-accept rate is at most
    ``target_far``, shows FAR / FRR at several thresholds, and lists look-alikes."""
    return service.calibrate(
        session=session, settings=state.settings, model=state.runtime.model, target_far=target_far
    )


@router.get("/threshold", response_model=ThresholdOut, dependencies=[require(Permission.STATUS)])
def get_threshold(session: SessionDep, state: StateDep) -> ThresholdOut:
    return service.active_threshold(session=session, settings=state.settings)


@router.put(
    "/threshold",
    response_model=ThresholdOut,
    summary="Store the active match threshold",
    dependencies=[require(Permission.SETTINGS)],
)
def put_threshold(
    session: SessionDep,
    state: StateDep,
    body: ThresholdIn,
    actor: CurrentPrincipal,
    force: Annotated[
        bool, Query(description="Store a threshold below the safe value anyway (audited)")
    ] = False,
) -> ThresholdOut:
    """Every worker uses it from its next request on (it lives in the database).
    A threshold below the safe value (calibrated on the gallery, else
    ``auth.threshold_floor``) is refused with ``risky_threshold`` (409, with the FAR it
    would mean) unless ``force``. Audited with before/after and the FAR of each."""
    return safety.apply_threshold(
        session=session,
        settings=state.settings,
        model=state.runtime.model,
        threshold=body.threshold,
        actor=actor,
        force=force,
    )


@router.delete(
    "/threshold",
    status_code=204,
    summary="Return to the configured default",
    dependencies=[require(Permission.SETTINGS)],
)
def delete_threshold(session: SessionDep, state: StateDep, actor: CurrentPrincipal) -> Response:
    """Audited (before/after and the FAR of each)."""
    safety.reset_threshold(
        session=session, settings=state.settings, model=state.runtime.model, actor=actor
    )
    return Response(status_code=204)
