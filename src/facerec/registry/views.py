"""Routes under /models: the model registry (admins only).

Why ``Permission.ADMIN``: a model pack is code-like content the server will run, its
licence is the operator's to accept, and the models in use decide who is recognised.

``POST /models/pull`` answers when the download is done (a large pack takes minutes:
the CLI, with its progress bar, suits it better). ``POST /models/import`` takes the
file as the raw request body (``application/octet-stream``), streamed to disk; the
request body limit (``upload.max_request_bytes``) applies, so larger files are imported
with ``facerec models import``.
Choosing the models the engine runs (``POST /models/{name}/use``, with the re-embedding
it needs) is in ``switch/views.py``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from facerec.api.deps import SessionDep, StateDep
from facerec.api.errors import ERROR_RESPONSES
from facerec.api.sessions import in_session
from facerec.auth.deps import CurrentPrincipal, require
from facerec.auth.permissions import Permission
from facerec.registry import service
from facerec.registry.contract import Family
from facerec.registry.service import ImportOptions, Registry
from facerec.registry.shapes import InstallResult, ModelList, PullRequest
from facerec.registry.store import NAME_PATTERN

ADMIN = [require(Permission.ADMIN)]
router = APIRouter(prefix="/models", tags=["models"], responses=ERROR_RESPONSES)
ModelName = Annotated[str, Path(pattern=NAME_PATTERN, description="An installed model's name")]


@router.get("", response_model=ModelList, dependencies=ADMIN)
def get_models(state: StateDep) -> ModelList:
    """Installed and packaged models and the known packs."""
    return service.list_models(registry=Registry.from_settings(state.settings))


@router.post(
    "/pull",
    status_code=201,
    response_model=InstallResult,
    summary="Download a known pack (sha256 checked), probe and install its models",
    dependencies=ADMIN,
)
def post_pull(
    session: SessionDep, state: StateDep, pull: PullRequest, principal: CurrentPrincipal
) -> InstallResult:
    return service.pull_pack(
        session=session,
        registry=Registry.from_settings(state.settings),
        name=pull.pack,
        accept_licence=pull.accept_licence,
        actor=principal,
        now=state.clock(),
    )


@router.post(
    "/import",
    status_code=201,
    response_model=InstallResult,
    summary="Install an ONNX file sent as the body: a known file by sha256, else by contract",
    dependencies=ADMIN,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def post_import(
    request: Request,
    state: StateDep,
    principal: CurrentPrincipal,
    filename: Annotated[str, Query(min_length=1, max_length=200)] = "model.onnx",
    kind: Annotated[Family | None, Query()] = None,
    name: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    size: Annotated[int | None, Query(ge=16, le=4096)] = None,
    colour: Annotated[Literal["RGB", "BGR"] | None, Query()] = None,
    mean: Annotated[float | None, Query(ge=-1e6, le=1e6)] = None,
    std: Annotated[float | None, Query(gt=0, le=1e6)] = None,
    embedding_size: Annotated[int | None, Query(ge=2, le=8192)] = None,
    licence: Annotated[str, Query(max_length=200)] = "unknown (imported by the operator)",
    accept_licence: bool = False,
) -> InstallResult:
    registry = Registry.from_settings(state.settings)
    part = registry.store.downloads / f".upload-{uuid.uuid4().hex}.part"
    options = ImportOptions(
        family=kind,
        name=name,
        size=size,
        colour=colour,
        mean=mean,
        std=std,
        embedding_size=embedding_size,
        licence=licence,
    )
    try:
        async with await anyio.open_file(part, "wb") as out:
            async for chunk in request.stream():
                await out.write(chunk)
        return await in_session(
            state,
            service.import_model,
            registry=registry,
            path=part,
            filename=filename,
            options=options,
            accept_licence=accept_licence,
            actor=principal,
            now=state.clock(),
        )
    finally:
        await run_in_threadpool(part.unlink, missing_ok=True)


@router.delete("/{name}", status_code=204, dependencies=ADMIN)
def delete_model(
    session: SessionDep, state: StateDep, name: ModelName, principal: CurrentPrincipal
) -> Response:
    service.remove_model(
        session=session,
        registry=Registry.from_settings(state.settings),
        name=name,
        actor=principal,
        now=state.clock(),
    )
    return Response(status_code=204)
