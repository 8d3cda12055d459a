"""One switch from start to end, for the CLI (in the foreground) and the API (a thread).

``prepare`` validates the name and loads the target models (the target's model id is
what the vectors are filed under); ``begin`` records it; ``complete`` fills and switches.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from facerec.auth.principal import Principal
from facerec.config import Settings
from facerec.errors import Conflict
from facerec.faces.models import Face
from facerec.faces.storage import ImageStore
from facerec.inference.engines import with_model_threshold
from facerec.inference.runtime import FaceRuntime
from facerec.switch import service
from facerec.switch.choice import read_choice, settings_for
from facerec.switch.models import ModelSwitch
from facerec.switch.serving import EngineFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Target:
    recogniser: str
    detector: str
    runtime: FaceRuntime
    """The target models, loaded (closed by ``complete``)."""


def prepare(
    session: Session, *, base: Settings, engines: EngineFactory, name: str, dim: int | None
) -> Target:
    """The models once ``name`` is in use, loaded. ``Conflict`` when they already are;
    ``dim``: the running recogniser's size, which a shared (Milvus) index keeps."""
    choice = read_choice(session, base)
    if dim is None:  # the CLI: the size of the vectors stored
        blob = session.exec(select(Face.embedding).limit(1)).first()
        dim = None if blob is None else len(blob) // 4
    session.rollback()
    recogniser, detector = service.target_of(base, choice, name)
    if (recogniser, detector) == (choice.recogniser, choice.detector):
        raise Conflict(f"{name} is already in use")
    settings = settings_for(base, recogniser=recogniser, detector=detector)
    engine = engines(settings)
    runtime = FaceRuntime(engine, with_model_threshold(settings, engine))
    runtime.load()
    if base.index == "milvus" and dim is not None and runtime.dim != dim:
        runtime.close()
        raise Conflict(
            f"{recogniser} gives {runtime.dim}-d descriptors and the shared Milvus "
            f"collections hold {dim}-d ones: switch on a FAISS index, or use a new "
            "milvus.collection_prefix"
        )
    return Target(recogniser, detector, runtime)


def begin(session: Session, target: Target, *, actor: Principal, now: datetime) -> ModelSwitch:
    try:
        return service.begin(
            session=session,
            recogniser=target.recogniser,
            detector=target.detector,
            model=target.runtime.model,
            actor=actor,
            now=now,
        )
    except BaseException:
        target.runtime.close()
        raise


def complete(
    db: Engine,
    target: Target,
    *,
    store: ImageStore,
    actor: Principal,
    clock: Callable[[], datetime],
    batch: int = 32,
    progress: Callable[[ModelSwitch], None] = lambda row: None,
) -> ModelSwitch:
    """Fill the target's vectors and switch (``service.run``); closes the target models."""
    try:
        with Session(db, expire_on_commit=False) as session:
            return service.run(
                session=session,
                store=store,
                runtime=target.runtime,
                actor=actor,
                clock=clock,
                batch=batch,
                progress=progress,
            )
    finally:
        target.runtime.close()


def in_background(
    db: Engine,
    target: Target,
    *,
    store: ImageStore,
    actor: Principal,
    clock: Callable[[], datetime],
) -> threading.Thread:
    """``complete`` on a thread of its own (the API answers 202 meanwhile)."""

    def work() -> None:
        try:
            done = complete(db, target, store=store, actor=actor, clock=clock)
            log.info("switched to %s + %s (%d faces)", done.recogniser, done.detector, done.done)
        except Exception:
            log.exception("the switch to %s failed; the old models serve", target.recogniser)

    thread = threading.Thread(target=work, name="facerec-model-switch", daemon=True)
    thread.start()
    return thread
