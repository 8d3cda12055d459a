"""The application factory. The lifespan builds and owns every heavy object.

``create_app(settings, engine=..., index=...)`` lets tests inject a fake face
engine or vector index; ``uvicorn --factory facerec.app:create_app`` builds the
real one from the environment.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import APIRouter, FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from facerec import __version__
from facerec.api.cors import add_cors
from facerec.api.docs import mount_docs
from facerec.api.errors import install_error_handlers
from facerec.api.health import probes
from facerec.api.health import router as health_router
from facerec.api.json_depth import JsonDepthLimit
from facerec.api.limits import BodyLimit
from facerec.api.request_id import RequestId
from facerec.api.security_headers import SecurityHeaders
from facerec.api.unhandled import UnhandledErrors
from facerec.api.worker import WorkerHeader
from facerec.attendance.crops import CropStore
from facerec.attendance.views import router as attendance_router
from facerec.audit.context import ClientAddress
from facerec.audit.views import router as audit_router
from facerec.auth.deps import check_every_route_declares
from facerec.auth.devices_views import router as devices_router
from facerec.auth.keys_views import router as keys_router
from facerec.auth.views import auth_router, users_router
from facerec.backup.schedule import BackupJob
from facerec.calibration.views import router as calibration_router
from facerec.classification.views import router as classify_router
from facerec.config import Settings, get_settings
from facerec.db.engine import make_engine
from facerec.db.migrate import upgrade
from facerec.db.models import utcnow
from facerec.db.pool import pool_limits
from facerec.faces.reembed import stale_faces
from facerec.faces.storage import ImageStore
from facerec.faces.views import router as faces_router
from facerec.gallery.views import router as gallery_router
from facerec.index.base import VectorIndex
from facerec.index.saved import SavedIndexes
from facerec.index.saving import IndexSaveJob
from facerec.inference.classifier import build_classifier_from
from facerec.inference.classifying import Classifier
from facerec.inference.engines import build_engine
from facerec.inference.types import FaceEngine
from facerec.logs import configure as configure_logging
from facerec.maintenance import remove_orphan_files
from facerec.metrics.middleware import RequestMetrics
from facerec.metrics.multiproc import worker_stopped
from facerec.metrics.views import router as metrics_router
from facerec.people.export_views import router as export_router
from facerec.people.views import router as people_router
from facerec.recognition.views import router as recognition_router
from facerec.registry.views import router as models_router
from facerec.retention.job import RetentionJob
from facerec.state import AppState
from facerec.switch.serving import EngineFactory, Follower, Makings, build_serving
from facerec.switch.views import router as switch_router
from facerec.web.views import mount_web
from facerec.webhooks.job import WebhookJob
from facerec.webhooks.views import router as webhooks_router

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"


def build_state(
    settings: Settings,
    *,
    engine: FaceEngine | None = None,
    index: VectorIndex | None = None,
    clock: Callable[[], datetime] = utcnow,
    classifier: Classifier | None = None,
    engines: EngineFactory | None = None,
) -> AppState:
    """Open the database (migrated), load the models, fill the index. Blocking.
    ``engines``: settings -> engine for the models a switch chooses (default
    ``build_engine``; tests inject fakes)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.migrate_on_start:
        upgrade(settings.db_url, lock_dir=settings.data_dir)
    db = make_engine(settings.db_url, pool=pool_limits(settings))
    makings = Makings(
        base=settings,
        engines=engines or build_engine,
        engine=engine,
        index=index,
        classifier=classifier or build_classifier_from(settings),
    )
    saved = SavedIndexes(settings.index_dir)
    store, crops = ImageStore(settings.images_dir), CropStore(settings.crops_dir)
    with Session(db) as session:
        orphans = remove_orphan_files(session=session, images=store, crops=crops)
        serving = build_serving(session, makings, saved)  # the database's choice of models
        stale = stale_faces(session=session, model=serving.runtime.model)
    if orphans:
        log.warning("removed %d files that no record refers to (left by a crash)", orphans)
    log.info(
        "index built with %d faces (model %s)", serving.index.index.count(), serving.runtime.model
    )
    if stale:
        log.warning(
            "%d faces were embedded by other models (%s) and are not searched; "
            "run `facerec index reembed`",
            sum(stale.values()),
            ", ".join(stale),
        )
    return AppState(
        db=db,
        serving=serving,
        follower=Follower(makings, saved),
        store=store,
        crops=crops,
        clock=clock,
    )


def close_state(state: AppState) -> None:
    state.runtime.close()
    closer = getattr(state.index.index, "close", None)  # a shared index's client
    if callable(closer):
        closer()
    state.db.dispose()


def create_app(
    settings: Settings | None = None,
    *,
    engine: FaceEngine | None = None,
    index: VectorIndex | None = None,
    clock: Callable[[], datetime] = utcnow,
    classifier: Classifier | None = None,
    engines: EngineFactory | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log)  # unless the host (uvicorn's caller, pytest) did

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await run_in_threadpool(
            build_state,
            settings,
            engine=engine,
            index=index,
            clock=clock,
            classifier=classifier,
            engines=engines,
        )
        app.state.facerec = state
        retention = app.state.retention = RetentionJob(state)
        retention.start()
        backups = app.state.backups = BackupJob(state)  # only when backup.every_hours is set
        backups.start()
        webhooks = app.state.webhooks = WebhookJob(state)  # one sender across workers
        webhooks.start()
        saver = app.state.index_saver = IndexSaveJob(state, saved=SavedIndexes(settings.index_dir))
        saver.start()  # one worker saves the approximate index (index/saving.py)
        try:
            yield
        finally:
            await saver.stop()
            await webhooks.stop()
            await backups.stop()
            await retention.stop()
            await run_in_threadpool(close_state, state)
            worker_stopped()  # its live gauges leave the sums (metrics/multiproc.py)

    app = FastAPI(
        title="FaceRec",
        version=__version__,
        description="Self-hosted face recognition: people registry, 1:N recognition "
        "(strangers are unknown), 1:1 verification.",
        lifespan=lifespan,
        docs_url=None,  # api/docs.py serves them without a CDN
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(JsonDepthLimit)
    app.add_middleware(BodyLimit, limit=settings.upload.request_bytes)  # inside the others
    app.add_middleware(UnhandledErrors)  # catches what the ones above raise, too
    app.add_middleware(ClientAddress)  # the audit log's address (audit/context.py)
    app.add_middleware(RequestId)  # every log line of a request, its 500 included, has its id
    app.add_middleware(WorkerHeader)
    add_cors(app, settings.auth.cors_origins)  # only when origins are listed
    app.add_middleware(SecurityHeaders)  # every answer, a 500 or a preflight too
    app.add_middleware(RequestMetrics)  # outermost: counts what clients see (metrics/)
    api = APIRouter(prefix=API_PREFIX)
    routers = (
        people_router,
        export_router,
        faces_router,
        recognition_router,
        classify_router,
        attendance_router,
        calibration_router,
        keys_router,
        devices_router,
        auth_router,
        users_router,
        audit_router,
        gallery_router,
        webhooks_router,
        models_router,
        switch_router,
    )
    for router in (*routers, health_router, probes):
        api.include_router(router)
    app.include_router(api)
    app.include_router(probes, include_in_schema=False)  # also at the root, for orchestrators
    app.include_router(metrics_router)  # GET /metrics, where Prometheus looks

    mount_docs(app)
    mount_web(app)
    check_every_route_declares(app)  # a route that names no permission is a start-up error
    return app
