"""Routes for /recognize, /verify, /detect and /embed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlmodel import Session

from facerec.api.deps import StateDep
from facerec.api.errors import ERROR_RESPONSES
from facerec.api.inputs import ParsedBody, json_key, openapi_image_body, parse_images
from facerec.api.sessions import in_session
from facerec.auth.deps import require
from facerec.auth.permissions import Permission
from facerec.calibration.service import threshold_value
from facerec.db.models import MAX_ID
from facerec.errors import ValidationFailed
from facerec.recognition import service
from facerec.recognition.models import DetectResult, EmbedResult, RecognizeResult, VerifyResult
from facerec.switch.serving import Serving, serve

router = APIRouter(tags=["recognition"], responses=ERROR_RESPONSES)

TopK = Annotated[int | None, Query(ge=1, description="People to list per face (default: settings)")]
Threshold = Annotated[
    float | None, Query(ge=0.0, le=1.0, description="Match threshold (default: the calibrated one)")
]
NUMBER_FIELDS: dict[str, Any] = {
    "top_k": {"type": "integer", "minimum": 1},
    "threshold": {"type": "number", "minimum": 0, "maximum": 1},
}


# The inference routes open a database session only after inference (``in_session``), so
# an image waiting for the inference stage holds no pooled connection (db/pool.py).


def _requested(body: ParsedBody, query: float | None) -> float | None:
    """The request's own threshold (body, then query), if it names one."""
    value = body.number("threshold", query, float)
    if value is None:
        return None
    if not 0.0 <= value <= 1.0:
        raise ValidationFailed("threshold must be between 0 and 1", field="threshold")
    return float(value)


def _threshold(*, session: Session, serving: Serving, requested: float | None) -> float:
    """The request's threshold, else the active one (calibrated or configured)."""
    if requested is not None:
        return requested
    return threshold_value(session=session, settings=serving.settings)


def _recognize(
    *, session: Session, serving: Serving, requested: float | None, **kwargs: Any
) -> RecognizeResult:
    chosen = _threshold(session=session, serving=serving, requested=requested)
    return service.recognize(session=session, index=serving.index, threshold=chosen, **kwargs)


def _verify_person(
    *, session: Session, serving: Serving, requested: float | None, **kwargs: Any
) -> VerifyResult:
    chosen = _threshold(session=session, serving=serving, requested=requested)
    serving.index.check_position(session)  # the stored faces compared are the pair's model
    return service.verify_person(session=session, threshold=chosen, **kwargs)


def _current_threshold(*, session: Session, serving: Serving) -> float:
    """The active threshold; ``EngineSwitched`` when the models were switched since
    ``serving`` was built (the threshold would be the other model's)."""
    serving.index.check_position(session)
    return threshold_value(session=session, settings=serving.settings)


def _current(*, session: Session, serving: Serving) -> None:
    """``EngineSwitched`` when the models were switched since ``serving`` was built."""
    serving.index.check_position(session)


def _required(body: ParsedBody, name: str) -> bytes:
    image = body.one(name)
    if image is None:
        raise ValidationFailed(f"send an image as {name!r} or {json_key(name)!r}", field=name)
    return image.data


@router.post(
    "/recognize",
    response_model=RecognizeResult,
    openapi_extra=openapi_image_body(("file",), NUMBER_FIELDS),
    summary="Who is in this image? (1:N, open-set)",
    dependencies=[require(Permission.RECOGNIZE)],
)
async def recognize(
    request: Request,
    state: StateDep,
    top_k: TopK = None,
    threshold: Threshold = None,
) -> RecognizeResult:
    """Every face in the image with its best match (``null`` when nobody reaches the
    threshold, i.e. unknown) and up to ``top_k`` candidates (people, scored by face or centroid)."""
    body = await parse_images(request, names=("file",), max_bytes=state.settings.upload.max_bytes)
    k = body.number("top_k", top_k, int)
    k = state.settings.top_k if k is None else k
    if not 1 <= k <= state.settings.max_top_k:
        raise ValidationFailed(
            f"top_k must be between 1 and {state.settings.max_top_k}", field="top_k"
        )
    requested = _requested(body, threshold)
    image = _required(body, "file")

    async def attempt(serving: Serving) -> RecognizeResult:
        analyzed = await serving.runtime.run(image)
        return await in_session(
            state, _recognize, serving=serving, requested=requested, analyzed=analyzed, top_k=k
        )

    return await serve(state, attempt)  # one engine and index (switch/serving.py)


@router.post(
    "/verify",
    response_model=VerifyResult,
    openapi_extra=openapi_image_body(
        ("file1", "file2"),
        {**NUMBER_FIELDS, "person_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID}},
    ),
    summary="Are these the same person? (1:1)",
    dependencies=[require(Permission.RECOGNIZE)],
)
async def verify(
    request: Request,
    state: StateDep,
    threshold: Threshold = None,
    person_id: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
) -> VerifyResult:
    """Two images (``file1`` and ``file2``), or one image and a ``person_id``; the
    dominant face of each image is compared."""
    body = await parse_images(
        request, names=("file1", "file2"), max_bytes=state.settings.upload.max_bytes
    )
    requested = _requested(body, threshold)
    ratio = state.settings.enrol.dominance_ratio  # the same "one clear face" rule as enrolment
    pid = body.number("person_id", person_id, int)
    if pid is not None and not 1 <= pid <= MAX_ID:
        raise ValidationFailed(f"person_id must be between 1 and {MAX_ID}", field="person_id")
    if pid is not None and body.one("file2") is not None:
        raise ValidationFailed("send either file2 or person_id, not both", field="person_id")
    image1 = _required(body, "file1")
    image2 = None if pid is not None else _required(body, "file2")

    async def attempt(serving: Serving) -> VerifyResult:
        first = await serving.runtime.run(image1)
        if image2 is None:
            return await in_session(
                state,
                _verify_person,
                serving=serving,
                requested=requested,
                analyzed=first,
                person_id=pid,
                dominance_ratio=ratio,
            )
        second = await serving.runtime.run(image2)
        chosen = requested
        if chosen is None:  # the active threshold, read while it is the pair's model's
            chosen = await in_session(state, _current_threshold, serving=serving)
        return service.verify_images(
            first=first, second=second, threshold=chosen, dominance_ratio=ratio
        )

    return await serve(state, attempt)  # one engine and index (switch/serving.py)


@router.post(
    "/detect",
    response_model=DetectResult,
    openapi_extra=openapi_image_body(("file",)),
    summary="Find faces (no identities)",
    dependencies=[require(Permission.RECOGNIZE)],
)
async def detect(request: Request, state: StateDep) -> DetectResult:
    body = await parse_images(request, names=("file",), max_bytes=state.settings.upload.max_bytes)
    image = _required(body, "file")

    async def attempt(serving: Serving) -> DetectResult:
        analyzed = await serving.runtime.run(image, embed=False)
        await in_session(state, _current, serving=serving)  # the detector in use
        return service.detect_result(analyzed)

    return await serve(state, attempt)


@router.post(
    "/embed",
    response_model=EmbedResult,
    openapi_extra=openapi_image_body(("file",)),
    summary="Face descriptors (L2-normalised)",
    dependencies=[require(Permission.RECOGNIZE)],
)
async def embed(request: Request, state: StateDep) -> EmbedResult:
    body = await parse_images(request, names=("file",), max_bytes=state.settings.upload.max_bytes)
    image = _required(body, "file")

    async def attempt(serving: Serving) -> EmbedResult:
        analyzed = await serving.runtime.run(image)
        await in_session(state, _current, serving=serving)  # the model the answer names
        return service.embed_result(analyzed)

    return await serve(state, attempt)
