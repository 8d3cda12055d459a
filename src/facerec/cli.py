"""The ``facerec`` command line: serve, bulk enrolment, recognition, housekeeping."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlmodel import Session

from facerec.app import build_state, close_state
from facerec.auth.keys_cli import keys_app
from facerec.auth.users_cli import announce_setup, users_app
from facerec.backup.cli import backup, restore
from facerec.calibration.models import Calibration
from facerec.calibration.service import threshold_value
from facerec.classification.cli import classify
from facerec.cli_batch import EXIT_STATUS, file_table, finish_batch, item_failed, labelled_files
from facerec.cli_support import cli_session, fail, stderr
from facerec.config import Settings, get_settings
from facerec.db.engine import lock_for_write
from facerec.db.migrate import upgrade
from facerec.db.models import utcnow
from facerec.doctor import DoctorReport, doctor_for
from facerec.doctor import index as doctor_index
from facerec.errors import FaceRecError, NotReady
from facerec.faces.bulk import EnrolReport, enrol_directory, person_folders
from facerec.faces.reembed import reembed_faces, stale_faces
from facerec.gallery.cli import gallery_export, gallery_import
from facerec.index.factory import index_sync
from facerec.index.models import request_rebuild
from facerec.inference.classifying import Classifier
from facerec.inference.engines import build_engine
from facerec.inference.types import FaceEngine
from facerec.people import service as people
from facerec.recognition.service import recognize as recognize_faces
from facerec.registry.cli import models_app
from facerec.retention.cli import retention_app
from facerec.state import AppState
from facerec.webhooks.cli import webhooks_app

app = typer.Typer(
    help="FaceRec: self-hosted face recognition.",
    epilog=EXIT_STATUS,
    no_args_is_help=True,
    rich_markup_mode=None,  # Rich's help shows flags as taking a <bool>; Click's does not
)
people_app = typer.Typer(help="List, show and delete people.", no_args_is_help=True)
index_app = typer.Typer(help="The vector index (a cache of the database).", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
attendance_app = typer.Typer(help="Attendance reports.", no_args_is_help=True)
app.add_typer(people_app, name="people")
app.add_typer(index_app, name="index")
app.add_typer(db_app, name="db")
app.add_typer(attendance_app, name="attendance")
app.add_typer(retention_app, name="retention")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(models_app, name="models")
app.command("backup")(backup)
app.command("restore")(restore)
app.command("export")(gallery_export)
app.command("import")(gallery_import)
app.command("classify")(classify)
console = Console()
ReportFormat = Literal["csv", "xlsx", "json"]


@dataclass(frozen=True, slots=True)
class CliContext:
    """What commands take from their caller rather than from the machine: tests pass
    ``app(obj=CliContext(clock=...))`` (or ``CliRunner().invoke(app, args, obj=...)``)."""

    clock: Callable[[], datetime] = utcnow
    """Now, timezone-aware."""
    engine: FaceEngine | None = None
    """The face engine of commands that load one (default: the configured engine)."""
    classifier: Classifier | None = None
    """The image classifier of ``classify`` (default: ``classify.model``)."""


def _context(ctx: typer.Context) -> CliContext:
    return ctx.obj if isinstance(ctx.obj, CliContext) else CliContext()


@contextmanager
def _state(ctx: typer.Context | None = None) -> Iterator[AppState]:
    engine = _context(ctx).engine if ctx is not None else None
    state = build_state(get_settings(), engine=engine)
    try:
        yield state
    finally:
        close_state(state)


def _fail(exc: FaceRecError) -> None:
    fail(exc)  # on standard error, exit 1


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes")] = None,
) -> None:
    """Start the HTTP server (default http://127.0.0.1:8000, data in ./data)."""
    from facerec.auth.exposure import check_exposure
    from facerec.serving import serve as run_server

    for name, value in (("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            os.environ[f"FACEREC_{name}"] = str(value)
    get_settings.cache_clear()
    settings = get_settings()
    try:
        check_exposure(settings)  # before anything is written (run_server checks again)
    except FaceRecError as exc:
        _fail(exc)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url, lock_dir=settings.data_dir)
    if settings.auth.enabled:  # before the workers: one valid set-up link, printed once
        announce_setup(settings, _context(ctx).clock())
    run_server(settings)


@app.command()
def enroll(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Argument(exists=True, file_okay=False, help="One sub-folder per person")
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Enrol faces that fail the quality gates or do not look like the person "
            "(face_mismatch; audited) too",
        ),
    ] = False,
) -> None:
    """Enrol every photo in DIRECTORY/<person name>/; a re-run enrols nothing twice.
    Exits 1 if any photo failed."""
    with _state(ctx) as state:
        files = sum(len(photos) for _, photos in person_folders(directory))
        with _progress(files, "enrolling") as advance:
            report = enrol_directory(state, directory, force=force, on_file=advance)
    _print_report(report, directory)
    finish_batch(len(report.enrolled) + len(report.skipped), len(report.failed))


@contextmanager
def _progress(total: int, description: str) -> Iterator[Callable[[], None]]:
    """A progress bar; yields the function that advances it by one."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task(description, total=total)
        yield lambda: progress.advance(task)


def _print_report(report: EnrolReport, root: Path) -> None:
    console.print(
        f"enrolled [green]{len(report.enrolled)}[/green], skipped {len(report.skipped)}, "
        f"failed [red]{len(report.failed)}[/red], people created {report.people_created}"
    )
    if report.skipped or report.failed or report.warned:
        table = file_table("file", "outcome", "reason")
        for path, reason in report.skipped:
            table.add_row(escape(_under(path, root)), "skipped", escape(reason))
        for path, reason in report.warned:
            table.add_row(escape(_under(path, root)), "[yellow]enrolled[/yellow]", escape(reason))
        for path, reason in report.failed:
            table.add_row(escape(_under(path, root)), "[red]failed[/red]", escape(reason))
        console.print(table)


def _under(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


@app.command()
def recognize(
    ctx: typer.Context,
    images: Annotated[
        list[Path],
        typer.Argument(exists=True, metavar="PATH", help="Image files, or folders of images"),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    threshold: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    top_k: Annotated[int | None, typer.Option(min=1, max=100, help="Default: settings")] = None,
) -> None:
    """Recognise the faces in each image (a folder: every file in it). Exits 1 if any
    image failed, after the summary on standard error."""
    results: dict[str, object] = {}
    failed = 0
    files = labelled_files(images)
    with _state(ctx) as state, Session(state.db) as session:
        chosen = (
            threshold_value(session=session, settings=state.settings)
            if threshold is None
            else threshold
        )
        k = top_k or state.settings.top_k
        table = file_table("image", "box", "match", "similarity", "best candidate")
        for path, label in files:
            try:
                analyzed = state.runtime.analyze(path.read_bytes())
            except (FaceRecError, OSError) as exc:
                code, message = _failure(exc)
                failed += 1
                item_failed(label, code, message)
                results[str(path)] = {"error": {"code": code, "message": message}}
                table.add_row(escape(label), "-", f"[red]{code}[/red]", "", escape(message))
                continue
            result = recognize_faces(
                session=session, index=state.index, analyzed=analyzed, top_k=k, threshold=chosen
            )
            results[str(path)] = result.model_dump()
            if not result.faces:
                table.add_row(escape(label), "-", "no face", "", "")
            for face in result.faces:
                best = face.candidates[0] if face.candidates else None
                table.add_row(
                    escape(label),
                    str(face.box),
                    face.match.name if face.match else "[yellow]unknown[/yellow]",
                    f"{best.similarity:.3f}" if best else "",
                    f"{best.name} ({best.person_id})" if best else "",
                )
    if as_json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        console.print(table)
    finish_batch(len(files) - failed, failed, always=len(files) > 1)


def _failure(exc: FaceRecError | OSError) -> tuple[str, str]:
    if isinstance(exc, FaceRecError):
        return exc.code, exc.message
    return "unreadable", exc.strerror or str(exc)


@people_app.command("list")
def people_list(
    q: Annotated[str | None, typer.Option(help="Part of a name or external id")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """List people with their face counts."""
    with cli_session() as session:
        page = people.list_people(session=session, q=q, offset=offset, limit=limit)
    table = Table("id", "name", "external id", "faces", "created")
    for p in page.items:
        table.add_row(
            str(p.id), p.name, p.external_id or "", str(p.face_count), p.created_at.isoformat()
        )
    console.print(table)
    console.print(f"{len(page.items)} of {page.total}")


@people_app.command("show")
def people_show(person_id: int) -> None:
    """One person and their faces."""
    from facerec.faces.service import list_faces

    with cli_session() as session:
        try:
            person = people.read_person(session=session, person_id=person_id)
            faces = list_faces(session=session, person_id=person_id)
        except FaceRecError as exc:
            _fail(exc)
            return
    console.print_json(person.model_dump_json())
    table = Table("face id", "box", "det score", "quality")
    for f in faces:
        table.add_row(str(f.id), str(f.box), f"{f.det_score:.2f}", json.dumps(f.quality))
    console.print(table)


@people_app.command("delete")
def people_delete(
    ctx: typer.Context,
    person_id: int,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
) -> None:
    """Remove a person: faces, photos and crops are erased; attendance stays (audited as
    ``system:cli:<os user>``)."""
    from zoneinfo import ZoneInfo

    from facerec.audit import cli_actor
    from facerec.faces.storage import ImageStore
    from facerec.people.removal import remove_person

    settings = get_settings()
    now = _context(ctx).clock()
    with cli_session() as session:
        try:
            person = people.read_person(session=session, person_id=person_id)
            if not yes:
                typer.confirm(f"Remove {person.name} ({person.face_count} faces)?", abort=True)
            removed = remove_person(
                session=session,
                store=ImageStore(settings.images_dir),
                crops=ImageStore(settings.crops_dir),
                person_id=person_id,
                now=now,
                today=now.astimezone(ZoneInfo(settings.attendance.timezone)).date(),
                names=settings.privacy.removed_person_name,
                actor=cli_actor(),
            )
        except FaceRecError as exc:
            _fail(exc)
            return
    console.print(
        f"removed person {person_id}: {removed.faces} faces erased, "
        f"{removed.events_kept} attendance events kept"
    )


@index_app.command("rebuild")
def index_rebuild() -> None:
    """Tell every running worker to reload its index from the database (this also
    empties the change log, which otherwise grows with every enrolment and deletion)."""
    with cli_session() as session:
        lock_for_write(session)
        generation, dropped = request_rebuild(session)
        session.commit()
        if get_settings().index != "faiss":  # a shared index: reloaded once, here and now
            try:
                count = _reload_shared(session)
            except NotReady as exc:  # the log asks for it: whoever opens it next reloads
                console.print(f"rebuild requested at generation {generation}")
                _fail(exc)
                return
            console.print(f"{get_settings().index} reloaded with {count} faces")
    console.print(
        f"rebuild requested at generation {generation} ({dropped} older log rows dropped); "
        "workers reload on their next request"
    )


def _reload_shared(session: Session) -> int:
    settings = get_settings()
    embedder = build_engine(settings).embedder  # names the model; nothing is loaded
    sync = index_sync(settings, dim=embedder.dim, model=embedder.model_id)
    try:
        return sync.rebuild(session)
    finally:
        closer = getattr(sync.index, "close", None)
        if callable(closer):
            closer()


@index_app.command("reembed")
def index_reembed() -> None:
    """Re-embed faces stored by another model (or augmentation) with the running one."""
    with _state() as state, Session(state.db, expire_on_commit=False) as session:
        stale = stale_faces(session=session, model=state.runtime.model)
        with _progress(sum(stale.values()), "re-embedding") as advance:
            report = reembed_faces(
                session=session, store=state.store, runtime=state.runtime, on_face=advance
            )
    console.print(f"re-embedded {report.updated} faces with {report.model}")
    for face_id, reason in report.failed:
        console.print(f"[red]face {face_id}[/red]: {escape(reason)}")
    if report.failed:
        raise typer.Exit(1)


@index_app.command("verify")
def index_verify() -> None:
    """Build (or, for Milvus, bring up to date) the index and check it against the
    database: counts, generation, vector norms, and every entry (id, person, vector)."""
    try:
        with _state() as state, Session(state.db) as session:
            status = state.index.status(session)
            bad = state.index.malformed_vectors(session, dim=state.runtime.dim)
            faces = doctor_index.stored_faces(session, state.runtime.model)
            differ = doctor_index.snapshot(session, state.index, faces, repair=False)
    except NotReady as exc:  # e.g. a Milvus Lite file a running server holds
        _fail(exc)
        return
    console.print(
        f"faces in database {status.db_count}, in index {status.index_count} "
        f"({state.settings.index}), generation {status.db_generation}, "
        f"malformed vectors {bad}, entries that differ {len(differ)}"
    )
    for finding in differ[:20]:
        console.print(f"  {finding.kind}: {finding.subject} {escape(finding.detail)}")
    if not status.in_step or bad or differ:
        console.print("[red]index NOT in step[/red]")
        raise typer.Exit(1)
    console.print("[green]index in step[/green]")


@app.command()
def doctor(
    repair: Annotated[
        bool, typer.Option("--repair", help="Fix what is safe: orphan files, index entries")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Check that database rows, files and the vector index agree; exit 1 if a problem
    is left unrepaired."""
    try:
        report = doctor_for(get_settings(), repair=repair)
    except NotReady as exc:  # e.g. a Milvus Lite file a running server holds
        _fail(exc)
        return
    if as_json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        _print_doctor(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_doctor(report: DoctorReport) -> None:
    checked = ", ".join(f"{key} {value}" for key, value in report.checked.items())
    console.print(f"checked: {checked or 'schema only'}")
    if report.models:
        console.print(", ".join(f"{k} {escape(v)}" for k, v in report.models.items()))
    for line in report.summary():
        repaired = f", repaired {line.repaired}" if report.repair else ""
        console.print(f"{line.kind}: {line.count}{repaired} - {escape(line.hint)}")
    for finding in report.findings[:20]:
        detail = f" ({finding.detail})" if finding.detail else ""
        console.print(f"  {finding.kind} {escape(finding.subject)}{escape(detail)}")
    if len(report.findings) > 20:
        console.print(f"  ... {len(report.findings) - 20} more (--json lists them all)")
    if report.ok:
        console.print("[green]ok[/green]: rows, files and index agree")
    else:
        console.print(f"[red]{report.unrepaired} problems left[/red]")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url, lock_dir=settings.data_dir)
    console.print(f"database at the newest revision: {settings.db_url}")


@db_app.command("copy")
def db_copy(
    to: Annotated[str, typer.Option("--to", help="Target database URL (new and empty)")],
    source: Annotated[
        str | None, typer.Option("--from", help="Source URL (default: the configured database)")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="Rows per INSERT batch")] = 1000,
) -> None:
    """Copy the database, ids and all, into a new empty one (SQLite to PostgreSQL: see the
    README). The target is migrated first; the copy is one transaction there, checked by
    row counts and audited. Then point FACEREC_DATABASE_URL at the target."""
    from facerec.audit import cli_actor
    from facerec.db.copy import copy_database

    settings = get_settings()
    if source is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.db_url, lock_dir=settings.data_dir)
        source = settings.db_url
    if source == to:
        raise typer.BadParameter("the target is the source", param_hint="--to")

    def told(table: str, rows: int) -> None:
        console.print(f"  {table}: {rows}")

    try:
        report = copy_database(source, to, actor=cli_actor(), batch=batch, progress=told)
    except FaceRecError as exc:
        fail(exc)
    console.print(f"copied {report.total} rows in {len(report.rows)} tables; counts verified")


@app.command()
def calibrate(
    target_far: Annotated[
        float, typer.Option(min=1e-6, max=0.5, help="Per-comparison FAR")
    ] = 0.0005,
    apply: Annotated[bool, typer.Option("--apply", help="Store the recommended threshold")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Apply even below the safe value (audited)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Measure the threshold trade-off on the enrolled gallery; optionally make it active
    (a value below the safe one, calibrated for FAR 0.05%, needs --force; audited as
    ``system:cli:<os user>``)."""
    from facerec.audit import cli_actor
    from facerec.calibration.safety import apply_threshold
    from facerec.calibration.service import calibrate as run_calibration

    with _state() as state, Session(state.db) as session:
        report = run_calibration(
            session=session,
            settings=state.settings,
            model=state.runtime.model,
            target_far=target_far,
        )
        if as_json:
            print(report.model_dump_json(indent=2))
        else:
            _print_calibration(report)
        if apply:
            if report.recommended_threshold is None or not report.reliable:
                stderr.print("[red]not applied[/red]: the gallery is too small to measure that FAR")
                raise typer.Exit(1)
            try:
                stored = apply_threshold(
                    session=session,
                    settings=state.settings,
                    model=state.runtime.model,
                    threshold=report.recommended_threshold,
                    actor=cli_actor(),
                    force=force,
                )
            except FaceRecError as exc:
                _fail(exc)
                return
            console.print(f"active threshold is now {stored.active_threshold}")


def _print_calibration(report: Calibration) -> None:
    console.print(
        f"{report.people} people, {report.faces} faces: {report.impostor_pairs} different-person "
        f"pairs, {report.genuine_pairs} same-person pairs (model {report.model})"
    )
    table = Table("threshold", "false accepts (FAR)", "false rejects (FRR)")
    for row in report.table:
        mark = " (active)" if row.threshold == report.active_threshold else ""
        frr = "n/a" if row.frr is None else f"{row.frr:.2%}"
        table.add_row(f"{row.threshold:.3f}{mark}", f"{row.far:.4%}", frr)
    console.print(table)
    console.print(
        f"recommended for FAR {report.target_far:.4%}: {report.recommended_threshold} "
        f"(active {report.active_threshold}, default {report.default_threshold})"
    )
    for look in report.look_alikes[:10]:
        console.print(
            f"[yellow]look-alikes[/yellow] {escape(look.name_a)} ({look.person_a}) and "
            f"{escape(look.name_b)} ({look.person_b}): {look.similarity:.3f}"
        )
    for warning in report.warnings:
        console.print(f"[yellow]warning[/yellow] {escape(warning)}")


@attendance_app.command("report")
def attendance_report(
    ctx: typer.Context,
    *,
    start: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day")],
    end: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day")],
    fmt: Annotated[ReportFormat, typer.Option("--format", help="csv, xlsx or json")] = "csv",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File (default: stdout)")
    ] = None,
    person_id: Annotated[int | None, typer.Option(help="Only this person")] = None,
) -> None:
    """Per person per day attendance between two local days (inclusive)."""
    from zoneinfo import ZoneInfo

    from facerec.attendance import export
    from facerec.attendance.reports import build_report

    settings = get_settings()
    with cli_session() as session:
        try:
            report = build_report(
                session=session,
                start=start.date(),
                end=end.date(),
                person_id=person_id,
                now=_context(ctx).clock(),
                zone=ZoneInfo(settings.attendance.timezone),
            )
        except FaceRecError as exc:
            _fail(exc)
            return
    data = {
        "csv": lambda: export.to_csv(report),
        "xlsx": lambda: export.to_xlsx(report),
        "json": lambda: report.model_dump_json(indent=2).encode(),
    }[fmt]()
    if output is None:
        if fmt == "xlsx":
            stderr.print("[red]error[/red] XLSX is binary: pass -o FILE")
            raise typer.Exit(2)
        sys.stdout.buffer.write(data)
        return
    output.write_bytes(data)
    console.print(f"wrote {len(report.rows)} rows to {escape(str(output))}")


def main() -> None:
    app(obj=CliContext())


__all__ = ["Settings", "app", "main"]
