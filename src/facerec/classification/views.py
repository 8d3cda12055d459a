"""The route for /classify: what is in this image (ImageNet labels)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from facerec.api.deps import StateDep
from facerec.api.errors import ERROR_RESPONSES
from facerec.api.inputs import json_key, openapi_image_body, parse_images
from facerec.auth.deps import require
from facerec.auth.permissions import Permission
from facerec.classification import service
from facerec.classification.models import DEFAULT_TOP_K, MAX_TOP_K, ClassifyResult
from facerec.errors import ValidationFailed

router = APIRouter(tags=["classification"], responses=ERROR_RESPONSES)

TopK = Annotated[
    int | None, Query(ge=1, le=MAX_TOP_K, description=f"Labels to list (default {DEFAULT_TOP_K})")
]


@router.post(
    "/classify",
    response_model=ClassifyResult,
    openapi_extra=openapi_image_body(
        ("file",), {"top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K}}
    ),
    summary="What is in this image? (ImageNet top-k labels)",
    dependencies=[require(Permission.RECOGNIZE)],
)
async def classify(request: Request, state: StateDep, top_k: TopK = None) -> ClassifyResult:
    """The ``top_k`` most probable of the 1,000 ImageNet classes, with probabilities,
    most probable first. Runs in the same inference stage as faces (503 ``busy`` when full)."""
    body = await parse_images(request, names=("file",), max_bytes=state.settings.upload.max_bytes)
    k = body.number("top_k", top_k, int)
    k = service.checked_top_k(DEFAULT_TOP_K if k is None else k)
    image = body.one("file")
    if image is None:
        raise ValidationFailed(f"send an image as 'file' or {json_key('file')!r}", field="file")
    classified = await state.runtime.classify(image.data)
    assert state.runtime.classifier is not None  # classify() refuses without one
    labels = state.runtime.classifier.labels
    return service.top_labels(classified=classified, labels=labels, top_k=k)
