"""What the application holds while it runs: one owner for each heavy object."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

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
