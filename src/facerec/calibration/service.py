"""Measure impostor and genuine scores on the gallery, recommend a threshold, store it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlmodel import Session, col, select

from facerec.audit import record
from facerec.auth.principal import Principal
from facerec.calibration.models import (
    AppSetting,
    Calibration,
    CalibrationNote,
    LookAlike,
    ThresholdOut,
    TradeOff,
)
from facerec.config import Settings
from facerec.db.engine import lock_for_write
from facerec.faces.models import Face
from facerec.people.service import names_of

THRESHOLD_KEY = "match_threshold"
"""Followed by ``:`` and the recogniser's name (``threshold_key``): scores, and so the
calibrated threshold, are each recogniser's own; switching back finds its threshold."""
MAX_FACES = 6000
"""Calibration compares every pair of up to this many faces (a sample beyond)."""
TABLE = (0.85, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97)


def threshold_key(settings: Settings) -> str:
    """The ``app_settings`` key of the recogniser ``settings`` name."""
    return f"{THRESHOLD_KEY}:{settings.recogniser.model}"


def active_threshold(*, session: Session, settings: Settings) -> ThresholdOut:
    stored = session.get(AppSetting, threshold_key(settings))
    if stored is not None:
        return ThresholdOut(
            active_threshold=float(stored.value),
            default_threshold=settings.match_threshold,
            source="calibrated",
        )
    return ThresholdOut(
        active_threshold=settings.match_threshold,
        default_threshold=settings.match_threshold,
        source="settings",
    )


def threshold_value(*, session: Session, settings: Settings) -> float:
    """The threshold every request uses unless it passes its own."""
    return active_threshold(session=session, settings=settings).active_threshold


def set_threshold(
    *,
    session: Session,
    settings: Settings,
    threshold: float | None,
    actor: Principal,
    details: dict[str, Any] | None = None,
) -> ThresholdOut:
    """Store ``threshold`` for every worker; None returns to the configured default.
    Audited with the active threshold before and after (and ``details``: the risk,
    ``calibration/safety.py``, which checks a threshold before it comes here)."""
    lock_for_write(session)
    before = active_threshold(session=session, settings=settings)
    key = threshold_key(settings)
    stored = session.get(AppSetting, key)
    if threshold is None:
        if stored is not None:
            session.delete(stored)
    else:
        stored = stored or AppSetting(key=key, value=threshold)
        stored.value = round(float(threshold), 4)
        session.add(stored)
    session.flush()
    after = active_threshold(session=session, settings=settings)
    record(
        session,
        actor=actor,
        action="set_threshold" if threshold is not None else "reset_threshold",
        entity="threshold",
        details={
            "before": before.active_threshold,
            "before_source": before.source,
            "after": after.active_threshold,
            "after_source": after.source,
            "recogniser": settings.recogniser.model,
            **(details or {}),
        },
    )
    session.commit()
    return after


def _gallery(
    session: Session, model: str, notes: list[CalibrationNote]
) -> tuple[NDArray[np.float32] | None, NDArray[np.int64], int]:
    """The face-by-face score matrix (None below two faces), its person labels, faces."""
    rows = session.exec(
        select(Face.person_id, Face.embedding).where(Face.model == model).order_by(col(Face.id))
    ).all()
    if len(rows) > MAX_FACES:
        keep = np.random.default_rng(0).choice(len(rows), MAX_FACES, replace=False)
        rows = [rows[i] for i in sorted(keep)]
        notes.append(_note("sampled", f"sampled {MAX_FACES} faces of the gallery", faces=MAX_FACES))
    labels = np.asarray([r[0] for r in rows], dtype=np.int64)
    vectors = (
        np.stack([np.frombuffer(r[1], dtype="<f4") for r in rows]).astype(np.float32)
        if rows
        else np.zeros((0, 1), dtype=np.float32)
    )
    scores = np.clip(vectors @ vectors.T, 0.0, 1.0) if len(vectors) >= 2 else None
    return scores, labels, len(rows)


def impostor_scores(*, session: Session, model: str) -> NDArray[np.float32]:
    """Every different-person pair's score on the gallery (as ``calibrate`` measures)."""
    scores, labels, _ = _gallery(session, model, [])
    return _pair_scores(scores, labels)[0]


def recommended_threshold(impostor: NDArray[np.float32], target_far: float) -> float | None:
    """The lowest threshold meeting ``target_far`` on these pairs; None when they are too
    few to measure it (``calibrate``'s ``reliable``) or there are none."""
    if impostor.size * target_far < 1.0:
        return None
    return _threshold_for(impostor, target_far)


def far_at(impostor: NDArray[np.float32], threshold: float) -> float | None:
    """Share of different-person pairs scoring at or above ``threshold`` (None: no pairs)."""
    return _trade_off(threshold, impostor, impostor[:0]).far if impostor.size else None


def calibrate(
    *, session: Session, settings: Settings, model: str, target_far: float
) -> Calibration:
    notes: list[CalibrationNote] = []
    scores, labels, faces = _gallery(session, model, notes)
    impostor, genuine = _pair_scores(scores, labels)
    active = threshold_value(session=session, settings=settings)
    recommended = _threshold_for(impostor, target_far)
    reliable = impostor.size * target_far >= 1.0
    if not reliable:
        message = (
            f"{impostor.size} different-person pairs cannot measure a false-accept rate of "
            f"{target_far:.4%}; enrol more people (or keep the default threshold)"
        )
        notes.append(_note("cannot_measure", message, n=impostor.size, far=target_far))
    if genuine.size == 0:
        message = "nobody has two photos: the same-person reject rate is unknown"
        notes.append(_note("no_genuine", message))
    look_alikes, above = _look_alikes(session, scores, labels, active)
    if above:
        message = f"{above} pairs of different people score above the threshold"
        notes.append(_note("look_alikes", message, n=above))
    return Calibration(
        model=model,
        people=int(np.unique(labels).size),
        faces=faces,
        impostor_pairs=int(impostor.size),
        genuine_pairs=int(genuine.size),
        target_far=target_far,
        recommended_threshold=recommended,
        reliable=reliable,
        active_threshold=active,
        default_threshold=settings.match_threshold,
        table=[_trade_off(t, impostor, genuine) for t in sorted({*TABLE, active})],
        look_alikes=look_alikes,
        warnings=[note.message for note in notes],
        notes=notes,
    )


def _note(code: str, message: str, **values: float) -> CalibrationNote:
    return CalibrationNote(code=code, message=message, values=values)


def _pair_scores(
    scores: NDArray[np.float32] | None, labels: NDArray[np.int64]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Every pair's score from the face-by-face matrix: different people, then same person."""
    if scores is None:
        empty = np.zeros(0, dtype=np.float32)
        return empty, empty
    upper = np.triu(np.ones(scores.shape, dtype=bool), k=1)
    same = labels[:, None] == labels[None, :]
    return scores[upper & ~same], scores[upper & same]


def _threshold_for(impostor: NDArray[np.float32], far: float) -> float | None:
    """The lowest threshold, in steps of 0.0001 (at most 1.0), that at most
    ``floor(far x pairs)`` impostor scores reach: the step just above the next one."""
    if impostor.size == 0:
        return None
    ordered = np.sort(impostor)[::-1]
    allowed = int(np.floor(far * impostor.size))
    if allowed >= ordered.size:
        return 0.0
    score = ordered[allowed]
    # Rounded up, never to the nearest step: that may fall at or below the score.
    threshold = (math.floor(float(score) * 10_000) + 1) / 10_000
    if np.float32(threshold) <= score:  # as the table compares it
        threshold += 0.0001
    return min(1.0, round(threshold, 4))


def _trade_off(
    threshold: float, impostor: NDArray[np.float32], genuine: NDArray[np.float32]
) -> TradeOff:
    far = float((impostor >= threshold).mean()) if impostor.size else 0.0
    frr = float((genuine < threshold).mean()) if genuine.size else None
    return TradeOff(threshold=round(threshold, 4), far=far, frr=frr)


def _look_alikes(
    session: Session,
    scores: NDArray[np.float32] | None,
    labels: NDArray[np.int64],
    threshold: float,
) -> tuple[list[LookAlike], int]:
    """Different people whose closest faces reach the threshold, most similar first (top
    50), and how many such pairs there are in all."""
    if scores is None:
        return [], 0
    best: dict[tuple[int, int], float] = {}
    for i, j in zip(*np.nonzero(np.triu(scores >= threshold, k=1)), strict=True):
        a, b = sorted((int(labels[i]), int(labels[j])))
        if a != b:
            best[(a, b)] = max(best.get((a, b), 0.0), float(scores[i, j]))
    pairs = sorted(best.items(), key=lambda item: -item[1])[:50]
    names = names_of(session=session, person_ids=sorted({p for pair, _ in pairs for p in pair}))
    listed = [
        LookAlike(
            person_a=a,
            name_a=names.get(a, ""),
            person_b=b,
            name_b=names.get(b, ""),
            similarity=round(s, 4),
        )
        for (a, b), s in pairs
    ]
    return listed, len(best)
