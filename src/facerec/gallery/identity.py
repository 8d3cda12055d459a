"""Who a person in a gallery file is here. No HTTP, no new columns: the rule is

1. With an ``external_id``: the live person with that external id, if any.
2. Without one: a live person of the same name and no external id who is enrolled with
   at least one of the same photos (SHA-256); failing that, such a person with no face
   at all (a run that stopped before their faces were stored).
3. Nobody matches, but a removed person (a tombstone, ``people/removal.py``) has that
   name: skipped and reported, never brought back silently (removal clears the external
   id, and an anonymised tombstone keeps no name, so it can only be recognised by a
   kept name).
4. Otherwise a new person, with the file's fields.

A matched person's fields are left as they are here: the import adds faces, it does not
overwrite what this installation knows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from facerec.db.engine import lock_for_write
from facerec.faces.models import Face, Image
from facerec.gallery.archive import PersonLine
from facerec.people.models import Person

CHUNK = 500


@dataclass(slots=True)
class Resolution:
    """The file's person keys mapped to local ids (None: skipped), and what was done."""

    local: dict[int, int | None] = field(default_factory=dict)
    created: list[int] = field(default_factory=list)
    matched: int = 0
    removed: list[str] = field(default_factory=list)
    """Names of people skipped because they were removed here."""


@dataclass(slots=True)
class _Known:
    by_external_id: dict[str, int]
    by_name: dict[str, list[int]]
    """Live people without an external id, by name, oldest first."""
    removed_names: set[str]


def resolve_people(*, session: Session, people: list[PersonLine]) -> Resolution:
    """Match or create every person of the file, in one transaction under the write lock."""
    lock_for_write(session)
    known = _known(session)
    result = Resolution()
    new: list[PersonLine] = []
    for start in range(0, len(people), CHUNK):
        chunk = people[start : start + CHUNK]
        photos = _photos(session, known, chunk)
        for line in chunk:
            local = _match(known, photos, line)
            if local is not None:
                result.local[line.key] = local
                result.matched += 1
            elif line.name in known.removed_names:
                result.local[line.key] = None
                result.removed.append(line.name)
            else:
                new.append(line)
    for start in range(0, len(new), CHUNK):
        chunk = new[start : start + CHUNK]
        statement = insert(Person).returning(col(Person.id), sort_by_parameter_order=True)
        ids = session.execute(statement, [_person(line) for line in chunk]).scalars().all()
        for line, person_id in zip(chunk, ids, strict=True):
            result.local[line.key] = int(person_id)
            result.created.append(int(person_id))
    session.commit()
    return result


def _known(session: Session) -> _Known:
    known = _Known(by_external_id={}, by_name=defaultdict(list), removed_names=set())
    rows = session.exec(
        select(Person.id, Person.name, Person.external_id, Person.deleted_at).order_by(
            col(Person.id)
        )
    ).all()
    for person_id, name, external_id, deleted_at in rows:
        assert person_id is not None
        if deleted_at is not None:
            known.removed_names.add(name)
        elif external_id is not None:
            known.by_external_id[external_id] = person_id
        else:
            known.by_name[name].append(person_id)
    return known


def _photos(session: Session, known: _Known, chunk: list[PersonLine]) -> dict[int, set[str]]:
    """The photos (SHA-256) of every local person a line of ``chunk`` could be; a person
    without faces is absent."""
    candidates = {
        c for line in chunk if line.external_id is None for c in known.by_name.get(line.name, [])
    }
    if not candidates:
        return {}
    rows = session.exec(
        select(Face.person_id, Image.sha256)
        .join(Image, col(Image.id) == col(Face.image_id))
        .where(col(Face.person_id).in_(candidates))
    ).all()
    photos: dict[int, set[str]] = defaultdict(set)
    for person_id, sha in rows:
        photos[person_id].add(sha)
    return photos


def _match(known: _Known, photos: dict[int, set[str]], line: PersonLine) -> int | None:
    if line.external_id is not None:
        return known.by_external_id.get(line.external_id)
    candidates = known.by_name.get(line.name, [])
    shared = set(line.images)
    for candidate in candidates:
        if photos.get(candidate, set()) & shared:
            return candidate
    return next((c for c in candidates if c not in photos), None)


def _person(line: PersonLine) -> dict[str, Any]:
    return {
        "name": line.name,
        "external_id": line.external_id,
        "note": line.note,
        "start_date": line.start_date,
        "end_date": line.end_date,
        "created_at": line.created_at,
        "updated_at": line.updated_at,
    }
