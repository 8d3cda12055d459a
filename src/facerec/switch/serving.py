"""A worker's engine and index as one object, and how a worker follows a switch.

``Serving`` pairs the runtime (the models) with the index of their vectors and the
settings they run with (the recogniser's own threshold). A request takes the pair once
(``state.serving``) and uses only it: an embedding of one model is never searched in
the other's index. Each search reads ``index_state`` (``IndexSync.catch_up``); when its
switch count differs from the pair's, ``EngineSwitched`` is raised and ``serve``
answers the request again with the pair the worker builds for the database's choice
(``Follower``). The swap is one assignment; the old runtime is closed a while later,
once requests that still hold it have finished.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from facerec.config import Settings
from facerec.errors import EngineSwitched
from facerec.index.base import VectorIndex
from facerec.index.factory import index_sync
from facerec.index.saved import SavedIndexes
from facerec.index.sync import IndexSync
from facerec.inference.classifying import Classifier
from facerec.inference.engines import with_model_threshold
from facerec.inference.runtime import FaceRuntime
from facerec.inference.types import FaceEngine
from facerec.switch.choice import read_choice, settings_for

if TYPE_CHECKING:
    from facerec.state import AppState

log = logging.getLogger(__name__)
T = TypeVar("T")
RETIRE_AFTER_S = 60.0
"""A replaced runtime is closed this long after the swap (requests holding it finish)."""
EngineFactory = Callable[[Settings], FaceEngine]


@dataclass(frozen=True, slots=True)
class Serving:
    settings: Settings
    """The app's settings naming these models, with the recogniser's threshold."""
    runtime: FaceRuntime
    index: IndexSync
    switches: int
    """The database's switch count this pair was built for."""


@dataclass(frozen=True, slots=True)
class Makings:
    """What a worker builds its pairs from."""

    base: Settings
    engines: EngineFactory
    engine: FaceEngine | None = None
    """An injected engine: used while the choice is the settings' own."""
    index: VectorIndex | None = None
    classifier: Classifier | None = None


def build_serving(
    session: Session, makings: Makings, saved: SavedIndexes | None, *, first: bool = True
) -> Serving:
    """The pair for the database's current choice, loaded and with its index filled.
    ``first``: the app's start, the one build that may use the injected engine and index
    (a replaced pair's engine is closed after the swap, so it is never used again)."""
    base = makings.base
    choice = read_choice(session, base)
    settings = settings_for(base, recogniser=choice.recogniser, detector=choice.detector)
    own = first and (choice.recogniser, choice.detector) == (
        base.recogniser.model,
        base.detector.model,
    )
    engine = makings.engine if own and makings.engine is not None else makings.engines(settings)
    settings = with_model_threshold(settings, engine)  # a registry recogniser's own
    runtime = FaceRuntime(engine, settings, classifier=makings.classifier)
    runtime.load()
    index = makings.index if own else None
    sync = index_sync(settings, dim=runtime.dim, model=runtime.model, index=index)
    sync.switches = choice.switches
    sync.start(session, saved)
    session.rollback()  # end the read transaction before the pair serves
    return Serving(settings=settings, runtime=runtime, index=sync, switches=choice.switches)


class Follower:
    """Builds a worker's new pair when the database's choice changed; one build at a time."""

    def __init__(self, makings: Makings, saved: SavedIndexes | None) -> None:
        self.makings = makings
        self.saved = saved
        self._lock = threading.Lock()

    def follow(self, state: AppState) -> Serving:
        """The pair for the database's choice: the current one if still right."""
        with self._lock:
            current = state.serving
            with Session(state.db) as session:
                if read_choice(session, self.makings.base).switches == current.switches:
                    return current
                fresh = build_serving(session, self.makings, self.saved, first=False)
            state.serving = fresh
            log.info(
                "switched to %s + %s (model %s, %d faces indexed)",
                fresh.settings.detector.model,
                fresh.settings.recogniser.model,
                fresh.runtime.model,
                fresh.index.index.count(),
            )
            retire(current)
            return fresh


def retire(old: Serving, after: float = RETIRE_AFTER_S) -> None:
    """Close a replaced pair's runtime once the requests that hold it are done."""
    timer = threading.Timer(after, old.runtime.close)
    timer.daemon = True
    timer.start()


async def serve(state: AppState, attempt: Callable[[Serving], Awaitable[T]]) -> T:
    """``attempt`` with the worker's pair; again with the new pair when the models were
    switched meanwhile (the request waits for the worker's swap, it does not fail)."""
    serving = state.serving
    try:
        return await attempt(serving)
    except EngineSwitched:
        serving = await run_in_threadpool(state.follower.follow, state)
        return await attempt(serving)
