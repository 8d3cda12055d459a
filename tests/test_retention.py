"""Retention on an injected clock: what is past its period goes (rows or crops, files after
the commit, shared files kept), the rest stays; 0 keeps forever; a second run removes
nothing; the lease lets one worker at a time run it; the job starts and stops with the
app and survives its own errors; ``facerec retention run``."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from facerec.app import build_state, close_state, create_app
from facerec.attendance.crops import CropStore
from facerec.attendance.models import AttendanceEvent, UnknownFace
from facerec.audit.models import AuditEntry
from facerec.calibration.models import AppSetting
from facerec.cli import CliContext, app
from facerec.config import RetentionSettings, Settings, get_settings
from facerec.db.engine import make_engine
from facerec.people.models import Person
from facerec.retention.job import RetentionJob
from facerec.retention.lease import LEASE_KEY, lease_holder, release_lease, take_lease
from facerec.retention.service import RetentionReport, apply_retention
from facerec.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories import two_people_db
from tests.fakes import FakeEngine, picture

DAY = timedelta(days=1)
RED, BLUE = (220, 40, 40), (40, 40, 220)


def noon(settings: Settings) -> datetime:
    """A fixed now: noon in the attendance zone (``make dst`` reruns in New York)."""
    zone = ZoneInfo(settings.attendance.timezone)
    return datetime(2026, 3, 18, 12, 0, tzinfo=zone).astimezone(UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.failing = False

    def __call__(self) -> datetime:
        if self.failing:
            raise RuntimeError("clock out of order")
        return self.now


@pytest.fixture
def db(settings: Settings) -> Iterator[Engine]:
    yield from two_people_db(settings)


@pytest.fixture
def crops(settings: Settings) -> CropStore:
    return CropStore(settings.crops_dir)


def _event(
    session: Session,
    crops: CropStore,
    now: datetime,
    age: timedelta,
    data: bytes | None,
    *,
    person_id: int = 1,
) -> int:
    path = crops.save(data) if data is not None else None
    event = AttendanceEvent(person_id=person_id, time=now - age, crop_path=path)
    session.add(event)
    session.commit()
    assert event.id is not None
    return event.id


def _unknown(
    session: Session,
    crops: CropStore,
    now: datetime,
    age: timedelta,
    data: bytes,
    *,
    status: str = "pending",
) -> int:
    row = UnknownFace(
        group_id=1,
        time=now - age,
        crop_path=crops.save(data),
        box=[0, 0, 1, 1],
        landmarks=[],
        det_score=1.0,
        quality={},
        embedding=b"\0" * 64,
        model="m",
        status=status,
        person_id=1 if status in {"assigned", "enrolled"} else None,
    )
    session.add(row)
    session.commit()
    assert row.id is not None
    return row.id


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _crop_of(engine: Engine, event_id: int) -> str | None:
    with Session(engine) as session:
        event = session.get(AttendanceEvent, event_id)
        assert event is not None
        return event.crop_path


def _run(
    engine: Engine, crops: CropStore, settings: RetentionSettings, now: datetime, **kw: object
) -> RetentionReport:
    with Session(engine, expire_on_commit=False) as session:
        return apply_retention(session=session, crops=crops, settings=settings, now=now, **kw)  # type: ignore[arg-type]


def test_old_checkin_crops_go_the_events_and_newer_crops_stay(
    settings: Settings, db: Engine, crops: CropStore
) -> None:
    now = noon(settings)
    with Session(db, expire_on_commit=False) as session:
        old = _event(session, crops, now, 31 * DAY, b"old")
        limit = _event(session, crops, now, 30 * DAY, b"exactly 30 days")
        new = _event(session, crops, now, 29 * DAY, b"new")
        manual = _event(session, crops, now, 90 * DAY, None)
        shared_old = _event(session, crops, now, 40 * DAY, b"shared")
        shared_new = _event(session, crops, now, 1 * DAY, b"shared")
        with_unknown = _event(session, crops, now, 45 * DAY, b"also an unknown face")
        _unknown(session, crops, now, 2 * DAY, b"also an unknown face")
    paths = {e: _crop_of(db, e) for e in (old, limit, new, shared_old, with_unknown)}
    before = _files(settings.crops_dir)

    report = _run(db, crops, settings.retention, now)

    assert report == RetentionReport(checkin_crops=3, files_removed=1)
    assert [_crop_of(db, e) for e in (old, shared_old, with_unknown, manual)] == [None] * 4
    assert _crop_of(db, limit) == paths[limit]
    assert _crop_of(db, new) == paths[new]
    assert _crop_of(db, shared_new) == paths[shared_old]
    assert _files(settings.crops_dir) == before - {paths[old]}
    with Session(db) as session:
        events = session.exec(select(AttendanceEvent)).all()
        assert len(events) == 7  # the attendance record stays
        audit = session.exec(select(AuditEntry)).all()
    assert [(a.actor, a.action, a.time) for a in audit] == [("system:system", "retention", now)]
    assert audit[0].details["checkin_crops"] == 3

    again = _run(db, crops, settings.retention, now)
    assert again == RetentionReport()
    assert _files(settings.crops_dir) == before - {paths[old]}
    with Session(db) as session:
        assert len(session.exec(select(AuditEntry)).all()) == 1  # a run that removed nothing


def test_pending_and_resolved_unknown_faces_have_their_own_periods(
    settings: Settings, db: Engine, crops: CropStore
) -> None:
    now = noon(settings)
    with Session(db, expire_on_commit=False) as session:
        pending_old = _unknown(session, crops, now, 31 * DAY, b"p-old")
        pending_new = _unknown(session, crops, now, 29 * DAY, b"p-new")
        assigned_old = _unknown(session, crops, now, 8 * DAY, b"a-old", status="assigned")
        assigned_new = _unknown(session, crops, now, 6 * DAY, b"a-new", status="assigned")
        enrolled_old = _unknown(session, crops, now, 100 * DAY, b"e-old", status="enrolled")
        dismissed_old = _unknown(session, crops, now, 8 * DAY, b"d-old", status="dismissed")
        shared = _unknown(session, crops, now, 50 * DAY, b"shared with an event")
        _event(session, crops, now, 1 * DAY, b"shared with an event")

    report = _run(db, crops, settings.retention, now)

    assert report == RetentionReport(unknown_faces=2, resolved_unknown_faces=3, files_removed=4)
    with Session(db) as session:
        left = set(session.exec(select(UnknownFace.id)).all())
        kept_paths = {str(p) for p in session.exec(select(UnknownFace.crop_path)).all()}
        kept_paths |= {
            str(p)
            for p in session.exec(
                select(AttendanceEvent.crop_path).where(col(AttendanceEvent.crop_path).is_not(None))
            ).all()
        }
    assert left == {pending_new, assigned_new}
    assert {pending_old, assigned_old, enrolled_old, dismissed_old, shared}.isdisjoint(left)
    assert _files(settings.crops_dir) == kept_paths
    assert len(kept_paths) == 3  # pending_new, assigned_new, the event's (shared) crop


def test_zero_days_keeps_everything_forever(
    settings: Settings, db: Engine, crops: CropStore
) -> None:
    now = noon(settings)
    forever = RetentionSettings(checkin_crops_days=0, unknown_faces_days=0, resolved_days=0)
    with Session(db, expire_on_commit=False) as session:
        event = _event(session, crops, now, 3650 * DAY, b"ten years")
        _unknown(session, crops, now, 3650 * DAY, b"pending")
        _unknown(session, crops, now, 3650 * DAY, b"dismissed", status="dismissed")
    before = _files(settings.crops_dir)

    assert _run(db, crops, forever, now) == RetentionReport()
    assert _crop_of(db, event) is not None
    assert _files(settings.crops_dir) == before
    with Session(db) as session:
        assert len(session.exec(select(UnknownFace)).all()) == 2
        assert session.exec(select(AuditEntry)).all() == []


def test_runs_in_bounded_batches_until_done_and_can_stop_between_them(
    settings: Settings, db: Engine, crops: CropStore
) -> None:
    now = noon(settings)
    small = RetentionSettings(batch_size=2)
    with Session(db, expire_on_commit=False) as session:
        events = [_event(session, crops, now, 31 * DAY, f"e{i}".encode()) for i in range(5)]
    asked: list[int] = []

    def stop_after_one_batch() -> bool:
        asked.append(1)
        return len(asked) > 1

    stopped = _run(db, crops, small, now, should_stop=stop_after_one_batch)
    assert stopped.checkin_crops == 2
    assert sum(_crop_of(db, e) is None for e in events) == 2

    rest = _run(db, crops, small, now)
    assert rest.checkin_crops == 3
    assert all(_crop_of(db, e) is None for e in events)
    assert _files(settings.crops_dir) == set()


def test_dry_run_counts_and_changes_nothing(
    settings: Settings, db: Engine, crops: CropStore
) -> None:
    now = noon(settings)
    with Session(db, expire_on_commit=False) as session:
        event = _event(session, crops, now, 31 * DAY, b"old")
        _event(session, crops, now, 1 * DAY, b"new")
        _unknown(session, crops, now, 31 * DAY, b"pending")
        _unknown(session, crops, now, 8 * DAY, b"assigned", status="assigned")
    before = _files(settings.crops_dir)

    report = _run(db, crops, settings.retention, now, dry_run=True)

    assert report == RetentionReport(
        checkin_crops=1, unknown_faces=1, resolved_unknown_faces=1, dry_run=True
    )
    assert _crop_of(db, event) is not None
    assert _files(settings.crops_dir) == before
    with Session(db) as session:
        assert len(session.exec(select(UnknownFace)).all()) == 2


def test_finished_webhook_deliveries_go_after_their_period_pending_ones_never(
    settings: Settings, db: Engine, crops: CropStore
) -> None:
    now = noon(settings)
    with Session(db, expire_on_commit=False) as session:
        endpoint = WebhookEndpoint(url="http://127.0.0.1:9/", events=["person.created"], secret="s")
        session.add(endpoint)
        session.commit()
        rows = {}
        for status, days in [("sent", 31), ("failed", 31), ("pending", 40), ("sent", 29)]:
            row = WebhookDelivery(
                delivery_id=f"{status}-{days}",
                endpoint_id=endpoint.id or 0,
                event="person.created",
                payload={"person_id": 1, "name": "Ada"},
                status=status,
                created_at=now - days * DAY,
                queued_at=now - days * DAY,
                next_attempt_at=now - days * DAY,
            )
            session.add(row)
            rows[row.delivery_id] = row
        session.commit()

    counted = _run(db, crops, settings.retention, now, dry_run=True)
    report = _run(db, crops, settings.retention, now)

    assert counted == RetentionReport(webhook_deliveries=2, dry_run=True)
    assert report == RetentionReport(webhook_deliveries=2)
    with Session(db) as session:
        left = session.exec(select(WebhookDelivery.delivery_id)).all()
        assert sorted(left) == ["pending-40", "sent-29"]
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "retention")).one()
        assert audit.details["webhook_deliveries"] == 2
    forever = settings.retention.model_copy(update={"webhook_deliveries_days": 0})
    assert _run(db, crops, forever, now + 365 * DAY) == RetentionReport(
        checkin_crops=0, webhook_deliveries=0
    )


# -- the lease ----------------------------------------------------------------------------


def test_the_lease_has_one_holder_until_it_lapses_or_is_released(
    settings: Settings, db: Engine
) -> None:
    t0, ttl = noon(settings), timedelta(minutes=10)
    minute = timedelta(minutes=1)

    def take(holder: str, at: datetime) -> bool:
        with Session(db) as session:
            return take_lease(session=session, holder=holder, now=at, ttl=ttl)

    def holder(at: datetime) -> str | None:
        with Session(db) as session:
            return lease_holder(session=session, now=at)

    assert take("a", t0)
    assert not take("b", t0 + 5 * minute)
    assert take("a", t0 + 5 * minute)  # renewed until t0 + 15
    assert not take("b", t0 + 14 * minute)
    assert holder(t0 + 14 * minute) == "a"
    assert holder(t0 + 15 * minute) is None
    assert take("b", t0 + 15 * minute)  # lapsed: handed over
    assert not take("a", t0 + 16 * minute)

    with Session(db) as session:
        release_lease(session=session, holder="a")  # not the holder: nothing happens
    assert holder(t0 + 16 * minute) == "b"
    with Session(db) as session:
        release_lease(session=session, holder="b")
    assert holder(t0 + 16 * minute) is None
    assert take("a", t0 + 16 * minute)


def test_a_lease_value_it_did_not_write_counts_as_lapsed(settings: Settings, db: Engine) -> None:
    with Session(db) as session:
        session.add(AppSetting(key=LEASE_KEY, value={"holder": "x", "expires": "soon"}))
        session.commit()
    with Session(db) as session:
        assert take_lease(session=session, holder="a", now=noon(settings), ttl=DAY)
        assert lease_holder(session=session, now=noon(settings)) == "a"


def test_of_two_workers_only_the_lease_holder_runs_until_its_lease_lapses(
    settings: Settings,
) -> None:
    clock = Clock(noon(settings))
    state = build_state(settings, engine=FakeEngine(), clock=clock)
    try:
        crops = state.crops
        with Session(state.db, expire_on_commit=False) as session:
            session.add(Person(id=1, name="A"))
            session.commit()
            first = _event(session, crops, clock.now, 31 * DAY, b"first")
        worker_a = RetentionJob(state, holder="host-a:1")
        worker_b = RetentionJob(state, holder="host-b:2")

        assert worker_a.tick() == RetentionReport(checkin_crops=1, files_removed=1)
        assert worker_b.tick() is None
        assert _crop_of(state.db, first) is None

        with Session(state.db, expire_on_commit=False) as session:
            second = _event(session, crops, clock.now, 31 * DAY, b"second")
        # The lease lasts two intervals: worker a stopped renewing it (it died).
        clock.now += timedelta(minutes=2 * settings.retention.interval_minutes - 1)
        assert worker_b.tick() is None
        assert _crop_of(state.db, second) is not None
        clock.now += timedelta(minutes=1)
        assert worker_b.tick() == RetentionReport(checkin_crops=1, files_removed=1)
        assert worker_a.tick() is None
    finally:
        close_state(state)


# -- the job in the app ---------------------------------------------------------------------


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_the_job_runs_with_the_app_and_stops_with_it(settings: Settings) -> None:
    fast = settings.model_copy(
        update={"retention": RetentionSettings(interval_minutes=0.001)}  # 60 ms
    )
    clock = Clock(noon(settings))
    with TestClient(create_app(fast, engine=FakeEngine(), clock=clock)) as client:
        job: RetentionJob = client.app.state.retention  # type: ignore[attr-defined]
        assert job.running
        pid = client.post("/api/v1/people", json={"name": "Red"}).json()["id"]
        enrolled = client.post(
            f"/api/v1/people/{pid}/faces", files={"file": ("r.png", picture([(RED, 80)]))}
        )
        assert enrolled.status_code == 201
        checked = client.post(
            "/api/v1/attendance/check-in", files={"file": ("f.png", picture([(RED, 70)]))}
        )
        event_id = checked.json()["events"][0]["id"]
        assert _files(settings.crops_dir)
        ticks = job.ticks
        _wait_for(lambda: job.ticks >= ticks + 2, "two more ticks")
        assert client.get(f"/api/v1/attendance/events/{event_id}/crop").status_code == 200

        clock.now += 31 * DAY
        _wait_for(lambda: not _files(settings.crops_dir), "the crop to go")
        events = client.get("/api/v1/attendance/events").json()["items"]
        assert [(e["id"], e["has_crop"]) for e in events] == [(event_id, False)]
        holder = job.holder
    assert not job.running
    engine = make_engine(fast.db_url)
    try:
        with Session(engine) as session:  # the lease was given up at shutdown
            assert session.get(AppSetting, LEASE_KEY) is None
        assert holder
    finally:
        engine.dispose()


def test_an_error_in_a_run_is_logged_and_the_next_tick_tries_again(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    fast = settings.model_copy(update={"retention": RetentionSettings(interval_minutes=0.001)})
    clock = Clock(noon(settings))
    with TestClient(create_app(fast, engine=FakeEngine(), clock=clock)) as client:
        job: RetentionJob = client.app.state.retention  # type: ignore[attr-defined]
        with caplog.at_level(logging.ERROR, logger="facerec.retention.job"):
            clock.failing = True
            ticks = job.ticks
            _wait_for(lambda: job.ticks >= ticks + 2, "ticks while failing")
            clock.failing = False
        assert job.running
        assert any("retention run failed" in r.getMessage() for r in caplog.records)
        engine = make_engine(fast.db_url)
        try:
            with Session(engine) as session:
                session.add(Person(id=7, name="Old"))
                session.commit()
                event = _event(
                    session, CropStore(fast.crops_dir), clock.now, 31 * DAY, b"x", person_id=7
                )
            _wait_for(lambda: _crop_of(engine, event) is None, "a working run")
        finally:
            engine.dispose()
        assert client.get("/api/v1/healthz").status_code == 200


# -- the command line ---------------------------------------------------------------------


@pytest.fixture
def runner(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("FACEREC_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_retention_run_and_dry_run(
    runner: CliRunner, settings: Settings, db: Engine, crops: CropStore
) -> None:
    now = noon(settings)
    with Session(db, expire_on_commit=False) as session:
        old = _event(session, crops, now, 31 * DAY, b"old")
        _unknown(session, crops, now, 31 * DAY, b"pending")
    context = CliContext(clock=lambda: now)

    dry = runner.invoke(app, ["retention", "run", "--dry-run", "--json"], obj=context)
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output) == {
        "checkin_crops": 1,
        "unknown_faces": 1,
        "resolved_unknown_faces": 0,
        "webhook_deliveries": 0,
        "files_removed": 0,
        "dry_run": True,
    }
    assert _crop_of(db, old) is not None

    done = runner.invoke(app, ["retention", "run"], obj=context)
    assert done.exit_code == 0, done.output
    assert "removed: 1 check-in crops (kept 30 days), 1 pending unknown faces" in done.output
    assert "2 files deleted" in done.output
    assert _crop_of(db, old) is None
    assert _files(settings.crops_dir) == set()

    # Its clock is the caller's: a day earlier, nothing was old enough yet.
    assert runner.invoke(app, ["retention", "run", "--json"], obj=context).exit_code == 0
    with Session(db, expire_on_commit=False) as session:
        young = _event(session, crops, now, 31 * DAY, b"young")
    earlier = CliContext(clock=lambda: now - 2 * DAY)
    kept = runner.invoke(app, ["retention", "run", "--json"], obj=earlier)
    assert json.loads(kept.output)["checkin_crops"] == 0
    assert _crop_of(db, young) is not None
