"""Is a new photo of the person it is added to? The check against wrong photos.

``add_face`` runs an :class:`IdentityCheck` under the write lock, so it sees exactly the
faces committed before it:

- a face whose similarity to the person's faces of this model (their face, or their
  centroid on the single-face scale, as the index scores people) is below the mismatch
  threshold is refused with :class:`~facerec.errors.FaceMismatch`, unless ``force``;
  ``add_face`` audits a forced override as ``force_enrol`` (with ``overridden``).
  A person's first face is not checked.
- a face that matches another person better than this one, at or above the match
  threshold, or whose exact file is already enrolled under another person, is stored
  with a :class:`~facerec.faces.models.LooksLike` warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from sqlmodel import Session, select

from facerec.calibration.service import threshold_value
from facerec.config import Settings
from facerec.errors import FaceMismatch
from facerec.faces.models import Face, LooksLike
from facerec.index.base import person_similarity
from facerec.index.sync import IndexSync
from facerec.people.service import names_of

MISMATCH_MARGIN = 0.09
"""The default mismatch threshold is the active match threshold minus this (0.934 - 0.09
= 0.844). On LFW-dev (``bench/enrol_mismatch.py``: each identity's first 1 / 2 / 3
photos enrolled, every later photo added: 5,487 / 4,303 / 3,674 true photos) the lowest
true photo scores 0.853 / 0.857 / 0.862, so none is refused, while 56% / 52% / 50% of
photos of someone else (median 0.84) are. A wrong refusal costs more than a wrong photo
let through (which still gets a ``looks_like`` warning when its person is enrolled), so
the margin keeps 0.009 of room below the worst true photo: at 0.86 (margin 0.074) 73% of
others would be caught, but 1 in 5,500 true photos refused; at 0.88, 1 in 900."""
SEARCHED = 5
"""People asked of the index for a look-alike (the person themself, and those the same
file is enrolled under, may be among them)."""


def thresholds(*, session: Session, settings: Settings) -> tuple[float, float]:
    """``(match, mismatch)``: the active match threshold, and the similarity to a person
    below which a photo is refused as someone else (setting, else match - margin)."""
    match = threshold_value(session=session, settings=settings)
    chosen = settings.enrol.mismatch_threshold
    return match, max(0.0, match - MISMATCH_MARGIN) if chosen is None else chosen


def similarity_to_person(
    *, session: Session, person_id: int, model: str, probe: NDArray[np.float32]
) -> float | None:
    """The probe against the person's faces of ``model``; None when they have none."""
    blobs = session.exec(
        select(Face.embedding).where(Face.person_id == person_id, Face.model == model)
    ).all()
    if not blobs:
        return None
    faces = np.stack([np.frombuffer(b, dtype="<f4") for b in blobs]).astype(np.float32)
    return float(np.clip(person_similarity(faces, probe), 0.0, 1.0))


@dataclass(slots=True)
class IdentityCheck:
    """What ``add_face`` checks one new face against, and what it found (``warnings``)."""

    settings: Settings
    index: IndexSync | None = None
    """Where look-alikes are searched; None skips that search (same-file warnings stay)."""
    force: bool = False
    warnings: list[LooksLike] = field(default_factory=list)
    overridden: dict[str, float | int] | None = None
    """Set when ``force`` let a mismatching face in: what the audit entry records."""

    def before_add(
        self,
        session: Session,
        *,
        person_id: int,
        probe: NDArray[np.float32],
        model: str,
        image_id: int | None,
    ) -> None:
        """Under the write lock, before the face is written: refuse or warn."""
        match, mismatch = thresholds(session=session, settings=self.settings)
        own = similarity_to_person(session=session, person_id=person_id, model=model, probe=probe)
        if own is not None and own < mismatch:
            details = {
                "person_id": person_id,
                "similarity": round(own, 4),
                "threshold": round(mismatch, 4),
            }
            if not self.force:
                raise FaceMismatch(
                    f"the photo does not look like person {person_id} "
                    f"(similarity {own:.3f} < {mismatch:.3f}); send force=true to enrol it anyway",
                    **details,
                )
            self.overridden = details
        if image_id is not None:
            self.warnings.extend(_same_file(session, image_id, person_id, probe))
        alike = self._look_alike(
            session, person_id=person_id, probe=probe, model=model, own=own, match=match
        )
        if alike is not None:
            self.warnings.append(alike)

    def _look_alike(
        self,
        session: Session,
        *,
        person_id: int,
        probe: NDArray[np.float32],
        model: str,
        own: float | None,
        match: float,
    ) -> LooksLike | None:
        if self.index is None or self.index.model != model:
            return None
        self.index.catch_up(session)
        hits = self.index.index.search_people(probe[None, :], SEARCHED)[0]
        skip = {person_id, *(w.person_id for w in self.warnings)}  # the same file's people
        others = [
            h
            for h in hits
            if h.person_id not in skip
            and h.similarity >= match
            and (own is None or h.similarity > own)
        ]
        names = names_of(session=session, person_ids=[h.person_id for h in others])
        for hit in others:
            if hit.person_id in names:
                return LooksLike(
                    person_id=hit.person_id,
                    name=names[hit.person_id],
                    similarity=round(hit.similarity, 4),
                )
        return None


def _same_file(
    session: Session, image_id: int, person_id: int, probe: NDArray[np.float32]
) -> list[LooksLike]:
    """The other people this exact file is already enrolled under."""
    faces = session.exec(
        select(Face).where(Face.image_id == image_id, Face.person_id != person_id)
    ).all()
    names = names_of(session=session, person_ids=sorted({f.person_id for f in faces}))
    found: dict[int, LooksLike] = {}
    for face in faces:
        if face.person_id in names and face.person_id not in found:
            similarity = float(np.clip(face.vector() @ probe, 0.0, 1.0))
            found[face.person_id] = LooksLike(
                person_id=face.person_id,
                name=names[face.person_id],
                similarity=round(similarity, 4),
                same_image=True,
            )
    return list(found.values())


def check_group(
    *,
    session: Session,
    settings: Settings,
    person_id: int,
    group_id: int,
    probes: list[tuple[NDArray[np.float32], str]],
    force: bool,
) -> dict[str, float | int] | None:
    """Before an unknown group's faces (``(vector, model)`` each) are added to a person,
    under the write lock: refuse with :class:`FaceMismatch` when even its closest face
    is clearly not the person, unless ``force``; then return what the audit entry of the
    override records (else None). A person without faces is not checked."""
    _, mismatch = thresholds(session=session, settings=settings)
    found = [
        similarity_to_person(session=session, person_id=person_id, model=model, probe=probe)
        for probe, model in probes
    ]
    scores = [s for s in found if s is not None]
    if not scores or max(scores) >= mismatch:
        return None
    best = max(scores)
    details: dict[str, float | int] = {
        "person_id": person_id,
        "group_id": group_id,
        "similarity": round(best, 4),
        "threshold": round(mismatch, 4),
    }
    if not force:
        raise FaceMismatch(
            f"unknown group {group_id} does not look like person {person_id} "
            f"(similarity {best:.3f} < {mismatch:.3f}); send force=true to assign it anyway",
            **details,
        )
    return details
