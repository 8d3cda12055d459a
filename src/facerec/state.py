"""What the application holds while it runs: one owner for each heavy object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from facerec.attendance.crops import CropStore
from facerec.config import Settings
from facerec.faces.storage import ImageStore
from facerec.index.sync import IndexSync
from facerec.inference.runtime import FaceRuntime
from facerec.switch.serving import Follower, Serving


@dataclass(slots=True)
class AppState:
    db: Engine
    serving: Serving
    """The models and their index, swapped as one (``switch/serving.py``). A request
    takes it once; ``settings``, ``runtime`` and ``index`` below read the current one."""
    follower: Follower
    store: ImageStore
    crops: CropStore
    clock: Callable[[], datetime]
    """Now, timezone-aware; tests pass a fixed clock."""

    @property
    def settings(self) -> Settings:
        return self.serving.settings

    @property
    def runtime(self) -> FaceRuntime:
        return self.serving.runtime

    @property
    def index(self) -> IndexSync:
        return self.serving.index
