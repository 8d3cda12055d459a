"""Risky thresholds: a match threshold below the safe value needs an explicit ``force``.

The safe value is what calibration recommends on the enrolled gallery for
:data:`TARGET_FAR` (``service.recommended_threshold``: the lowest threshold whose
measured false-accept rate is at most the target), when the gallery has enough
different-person pairs to measure it; otherwise the configured floor
(``auth.threshold_floor``). A threshold below it is refused with ``risky_threshold``
(409) unless forced; the audit entry of every change holds the threshold before and
after, the false-accept rate measured at each (when the gallery has different-person
pairs), the safe value and its basis. Calibration is not stored: it is measured on the
gallery when the threshold changes, so it follows the people enrolled since.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlmodel import Session

from facerec.auth.principal import Principal
from facerec.calibration.models import ThresholdOut
from facerec.calibration.service import (
    far_at,
    impostor_scores,
    recommended_threshold,
    set_threshold,
    threshold_value,
)
from facerec.config import Settings
from facerec.errors import RiskyThreshold

TARGET_FAR = 0.0005
"""The false-accept rate per comparison the safe value is calibrated for (the default of
``GET /calibration`` and ``facerec calibrate``)."""


@dataclass(frozen=True, slots=True)
class ThresholdRisk:
    threshold: float
    safe_threshold: float
    basis: Literal["calibration", "floor"]
    target_far: float
    far: float | None
    """Measured on the gallery's different-person pairs; None without any."""
    far_before: float | None
    before: float

    @property
    def risky(self) -> bool:
        return self.threshold < self.safe_threshold

    def details(self) -> dict[str, Any]:
        return {
            "safe_threshold": self.safe_threshold,
            "basis": self.basis,
            "target_far": self.target_far,
            "far_before": self.far_before,
            "far_after": self.far,
        }


def assess(*, session: Session, settings: Settings, model: str, threshold: float) -> ThresholdRisk:
    """How risky ``threshold`` (rounded as it is stored) is on the gallery of ``model``."""
    threshold = round(float(threshold), 4)
    impostor = impostor_scores(session=session, model=model)
    recommended = recommended_threshold(impostor, TARGET_FAR)
    before = threshold_value(session=session, settings=settings)
    return ThresholdRisk(
        threshold=threshold,
        safe_threshold=settings.auth.threshold_floor if recommended is None else recommended,
        basis="floor" if recommended is None else "calibration",
        target_far=TARGET_FAR,
        far=far_at(impostor, threshold),
        far_before=far_at(impostor, before),
        before=before,
    )


def apply_threshold(
    *,
    session: Session,
    settings: Settings,
    model: str,
    threshold: float,
    actor: Principal,
    force: bool = False,
) -> ThresholdOut:
    """Store ``threshold`` unless it is risky and not ``force``d (``RiskyThreshold``)."""
    risk = assess(session=session, settings=settings, model=model, threshold=threshold)
    session.rollback()  # end the read transaction before the write lock
    if risk.risky and not force:
        raise RiskyThreshold(_message(risk), threshold=risk.threshold, **risk.details())
    return set_threshold(
        session=session,
        settings=settings,
        threshold=risk.threshold,
        actor=actor,
        details={**risk.details(), "forced": risk.risky},
    )


def reset_threshold(
    *, session: Session, settings: Settings, model: str, actor: Principal
) -> ThresholdOut:
    """Return to the configured default (``settings.match_threshold``: the operator's own
    choice, not checked), audited with the FAR it means."""
    risk = assess(
        session=session, settings=settings, model=model, threshold=settings.match_threshold
    )
    session.rollback()
    return set_threshold(
        session=session, settings=settings, threshold=None, actor=actor, details=risk.details()
    )


def _message(risk: ThresholdRisk) -> str:
    basis = (
        f"the calibrated value for a false-accept rate of {risk.target_far:.2%}"
        if risk.basis == "calibration"
        else "the configured floor (no calibration: too few people enrolled)"
    )
    far = (
        ""
        if risk.far is None
        else f"; on your gallery it would accept {risk.far:.3%} of different-person pairs"
    )
    return (
        f"a match threshold of {risk.threshold} is below the safe value {risk.safe_threshold} "
        f"({basis}){far}. An admin can set it anyway with force=true (audited)"
    )
