"""GET /gallery/export and POST /gallery/import: the whole gallery as one file. Thin."""

from __future__ import annotations

from typing import IO, Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import StreamingResponse
from sqlmodel import SQLModel

from facerec.api.deps import SessionDep, StateDep
from facerec.api.downloads import zip_download
from facerec.api.errors import ERROR_RESPONSES
from facerec.auth.deps import CurrentPrincipal, require
from facerec.auth.permissions import Permission
from facerec.gallery.export import export_gallery
from facerec.gallery.importer import ImportReport, import_gallery

router = APIRouter(prefix="/gallery", tags=["gallery"], responses=ERROR_RESPONSES)


class FailedFace(SQLModel):
    image: str
    """The photo's SHA-256."""
    reason: str


class GalleryImportResult(SQLModel):
    model: str
    people_created: int
    people_matched: int
    people_removed: list[str]
    faces_added: int
    faces_reembedded: int
    faces_existing: int
    images_added: int
    failed: list[FailedFace]

    @classmethod
    def of(cls, report: ImportReport) -> GalleryImportResult:
        return cls(
            model=report.model,
            people_created=report.people_created,
            people_matched=report.people_matched,
            people_removed=report.people_removed,
            faces_added=report.faces_added,
            faces_reembedded=report.faces_reembedded,
            faces_existing=report.faces_existing,
            images_added=report.images_added,
            failed=[FailedFace(image=sha, reason=why) for sha, why in report.failed],
        )


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
    summary="Every person, photo and descriptor as one gallery file (ZIP)",
    dependencies=[require(Permission.ADMIN)],
)
def get_export(session: SessionDep, state: StateDep, actor: CurrentPrincipal) -> StreamingResponse:
    """The file ``POST /gallery/import`` (or ``facerec import``) reads on another
    installation. Audited (action ``export``, entity ``gallery``)."""
    now = state.clock()

    def write(out: IO[bytes]) -> str:
        export_gallery(session=session, store=state.store, out=out, now=now, actor=actor)
        return f"facerec-gallery-{now:%Y%m%d-%H%M%S}.zip"

    return zip_download(write, directory=state.settings.data_dir)


@router.post(
    "/import",
    response_model=GalleryImportResult,
    summary="Add the people, photos and descriptors of a gallery file",
    dependencies=[require(Permission.ADMIN)],
)
def post_import(
    session: SessionDep,
    state: StateDep,
    actor: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="A gallery file from GET /gallery/export")],
) -> GalleryImportResult:
    """Faces of the running model are stored as they are; others are re-embedded from
    their photos. Importing the same file again stores nothing twice. A damaged or
    foreign file: 400 ``invalid_archive``, nothing stored. The body is capped by
    ``upload.max_request_bytes``: for larger galleries use ``facerec import``."""
    report = import_gallery(
        session=session,
        store=state.store,
        runtime=state.runtime,
        source=file.file,
        now=state.clock(),
        actor=actor,
    )
    return GalleryImportResult.of(report)
