"""``GET /metrics``: the Prometheus text format, for callers holding the metrics permission."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

from facerec.api.deps import StateDep
from facerec.api.errors import ERROR_RESPONSES
from facerec.auth.deps import require
from facerec.auth.permissions import Permission
from facerec.metrics.multiproc import scrape

router = APIRouter(tags=["monitoring"], responses=ERROR_RESPONSES)


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics (every worker's, and counts from the database)",
    dependencies=[require(Permission.METRICS)],
    responses={200: {"content": {CONTENT_TYPE_PLAIN_0_0_4: {"schema": {"type": "string"}}}}},
)
def metrics(state: StateDep) -> Response:
    """Request counts and latency by route, inference queue, batches, shed requests,
    stage times, index state, check-ins (process series, summed over workers), and
    people, faces, unknown faces and events (read from the database now)."""
    return Response(scrape(state.db), media_type=CONTENT_TYPE_PLAIN_0_0_4)
