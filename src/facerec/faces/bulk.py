"""Bulk enrolment from a folder tree: ``<root>/<person name>/<photos>``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, col, select

from facerec.audit import cli_actor
from facerec.auth.principal import Principal
from facerec.errors import FaceRecError
from facerec.faces.identity import IdentityCheck
from facerec.faces.models import LooksLike
from facerec.faces.service import enrol_face
from facerec.people.models import Person, PersonCreate
from facerec.people.service import create_person
from facerec.state import AppState


@dataclass(slots=True)
class EnrolReport:
    enrolled: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    warned: list[tuple[Path, str]] = field(default_factory=list)
    """Enrolled, but looking like someone else (``looks_like``)."""
    people_created: int = 0


def person_folders(root: Path) -> list[tuple[Path, list[Path]]]:
    """Each visible sub-folder with its visible files, in name order."""
    folders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    return [
        (d, sorted(f for f in d.iterdir() if f.is_file() and not f.name.startswith(".")))
        for d in folders
    ]


def enrol_directory(
    state: AppState,
    root: Path,
    *,
    force: bool = False,
    on_file: Callable[[], None] = lambda: None,
    actor: Principal | None = None,
) -> EnrolReport:
    """Enrol every photo; people are found by exact name or created. Idempotent.
    ``force`` skips the quality gates and enrols photos refused as ``face_mismatch``.
    Every person created and face enrolled is audited as ``actor`` (default: the CLI's
    ``system:cli:<os user>``)."""
    actor = actor or cli_actor()
    report = EnrolReport()
    for path in sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")):
        report.skipped.append((path, "not inside a person's folder"))
    with Session(state.db, expire_on_commit=False) as session:
        for folder, files in person_folders(root):
            person_id = _person_named(session, folder.name, report, actor)
            for path in files:
                _enrol_file(state, session, person_id, path, report, force=force, actor=actor)
                on_file()
    return report


def _person_named(session: Session, name: str, report: EnrolReport, actor: Principal) -> int:
    found = session.exec(
        select(Person.id).where(Person.name == name).order_by(col(Person.id))
    ).first()
    if found is not None:
        return found
    report.people_created += 1
    return create_person(session=session, person_in=PersonCreate(name=name), actor=actor).id


def _enrol_file(
    state: AppState,
    session: Session,
    person_id: int,
    path: Path,
    report: EnrolReport,
    *,
    force: bool,
    actor: Principal,
) -> None:
    check = IdentityCheck(settings=state.settings, index=state.index, force=force)
    try:
        data = path.read_bytes()
        analyzed = state.runtime.analyze(data)
        _, duplicate = enrol_face(
            session=session,
            store=state.store,
            person_id=person_id,
            data=data,
            analyzed=analyzed,
            gates=state.settings.enrol,
            force=force,
            check=check,
            actor=actor,
        )
    except FaceRecError as exc:
        report.failed.append((path, f"{exc.code}: {exc.message}"))
    except OSError as exc:
        report.failed.append((path, f"unreadable: {exc.strerror or exc}"))
    else:
        if duplicate:
            report.skipped.append((path, "already enrolled"))
        else:
            report.enrolled.append(path)
            report.warned.extend((path, _looks_like(w)) for w in check.warnings)


def _looks_like(warning: LooksLike) -> str:
    how = "the same file is enrolled under" if warning.same_image else "looks more like"
    return f"looks_like: {how} {warning.name} (#{warning.person_id}, {warning.similarity:.3f})"
