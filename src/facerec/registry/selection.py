"""Which models ``models use`` chose: one ``app_settings`` row that every worker reads.

The packaged dlib models are choices too (``dlib-hog``, ``dlib-cnn``, ``dlib-resnet``),
so an operator can always go back to them, and a pack can always be un-chosen.
"""

from __future__ import annotations

from typing import cast

from sqlmodel import Session

from facerec.calibration.models import AppSetting
from facerec.registry.contract import Kind

SELECTION_KEY = "model_selection"
ROLES: tuple[Kind, ...] = ("detector", "recogniser")
BUILTIN: dict[str, tuple[Kind, str]] = {
    "dlib-hog": ("detector", "dlib's HOG detector (packaged; with the CNN as fallback)"),
    "dlib-cnn": ("detector", "dlib's MMOD CNN detector (packaged)"),
    "dlib-resnet": ("recogniser", "dlib's ResNet descriptor, 128-d (packaged)"),
}


def read_selection(session: Session) -> dict[Kind, str | None]:
    row = session.get(AppSetting, SELECTION_KEY)
    value = row.value if row is not None and isinstance(row.value, dict) else {}
    return {role: cast(str | None, value.get(role)) for role in ROLES}


def write_selection(session: Session, role: Kind, name: str) -> dict[Kind, str | None]:
    """Record ``name`` for ``role`` in the caller's transaction (which holds the write lock)."""
    chosen = read_selection(session)
    chosen[role] = name
    row = session.get(AppSetting, SELECTION_KEY) or AppSetting(key=SELECTION_KEY, value={})
    row.value = dict(chosen)
    session.add(row)
    return chosen
