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


@dataclass(slots=True)
class AppState:
    settings: Settings
    db: Engine
    runtime: FaceRuntime
    index: IndexSync
    store: ImageStore
    crops: CropStore
    clock: Callable[[], datetime]
    """Now, timezone-aware; tests pass a fixed clock."""
