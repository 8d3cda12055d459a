"""Webhooks (issue #13 item 2), fast: signing, the back-off schedule on an injected clock,
the outbox in the event's own transaction, every event's hook, the admin API and audit.

The sender is driven by hand (``send_due`` with a fake transport and a clock the test
moves), so nothing here waits for a poll interval or the network."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from facerec.app import create_app
from facerec.audit import cli_actor
from facerec.audit.models import AuditEntry
from facerec.auth.principal import LOCAL
from facerec.cli import CliContext, app
from facerec.config import Settings, WebhookSettings, get_settings
from facerec.db.engine import make_engine
from facerec.db.migrate import upgrade
from facerec.errors import Conflict
from facerec.metrics.collector import DatabaseCollector
from facerec.people.models import PersonCreate
from facerec.people.service import create_person
from facerec.state import AppState
from facerec.webhooks import outbox
from facerec.webhooks.job import WebhookJob
from facerec.webhooks.models import EndpointCreate, WebhookDelivery, WebhookEndpoint
from facerec.webhooks.sender import send_due
from facerec.webhooks.service import create_endpoint, redeliver
from tests.fakes import FakeEngine, picture

API = "/api/v1/webhooks"
SECRET = "s3cret-for-the-tests-0123"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Receiver:
    """A fake transport: answers ``replies`` in turn (an int status, or an exception
    to raise), then 200; keeps every request."""

    def __init__(self, *replies: int | Exception) -> None:
        self.replies = list(replies)
        self.requests: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        self.requests.append((url, body, headers))
        reply = self.replies.pop(0) if self.replies else 200
        if isinstance(reply, Exception):
            raise reply
        return reply


@pytest.fixture
def db(settings: Settings) -> Iterator[Engine]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    yield engine
    engine.dispose()


def _noon() -> datetime:
    # Noon in the attendance zone of the fast tests (check-ins below depend on the day).
    return datetime(2026, 3, 10, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def _endpoint(db: Engine, events: list[str], *, enabled: bool = True) -> int:
    with Session(db) as session:
        created = create_endpoint(
            session=session,
            endpoint_in=EndpointCreate.model_validate(
                {
                    "url": "http://127.0.0.1:9/hook",
                    "events": events,
                    "secret": SECRET,
                    "enabled": enabled,
                }
            ),
            actor=LOCAL,
            now=_noon(),
        )
    return created.id


def _deliveries(db: Engine) -> list[WebhookDelivery]:
    with Session(db) as session:
        return list(session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))).all())


def _verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (the README's snippet), written here independently."""
    signed = headers["X-FaceRec-Timestamp"].encode() + b"." + body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-FaceRec-Signature"])


# -- signing ------------------------------------------------------------------------


def test_a_delivery_is_signed_with_hmac_sha256_of_timestamp_dot_body(db: Engine) -> None:
    _endpoint(db, ["person.created"])
    with Session(db) as session:
        outbox.emit(session, "person.created", {"person_id": 7, "name": "Ada"}, now=_noon())
        session.commit()
    receiver, clock = Receiver(), Clock(_noon() + timedelta(seconds=5))
    send_due(db=db, settings=WebhookSettings(), clock=clock, transport=receiver)
    [(url, body, headers)] = receiver.requests
    assert url == "http://127.0.0.1:9/hook"
    assert headers["X-FaceRec-Timestamp"] == str(int(clock.now.timestamp()))
    assert _verify(SECRET, headers, body)
    assert not _verify(SECRET + "x", headers, body)
    assert not _verify(SECRET, headers, body.replace(b"Ada", b"Eve"))
    document = json.loads(body)
    [row] = _deliveries(db)
    assert headers["X-FaceRec-Delivery"] == row.delivery_id == document["id"]
    assert headers["X-FaceRec-Event"] == document["event"] == "person.created"
    assert document["data"] == {"person_id": 7, "name": "Ada"}
    assert (row.status, row.attempts, row.last_status_code) == ("sent", 1, 200)


# -- back-off -------------------------------------------------------------------------


def test_failures_back_off_10_20_40_s_up_to_an_hour_then_give_up_after_a_day(db: Engine) -> None:
    _endpoint(db, ["person.created"])
    start = _noon()
    with Session(db) as session:
        outbox.emit(session, "person.created", {"person_id": 1}, now=start)
        session.commit()
    receiver = Receiver(*[500] * 1000)
    clock = Clock(start)
    settings = WebhookSettings()  # the defaults: 10 s doubling, 1 h cap, 24 h
    waits: list[float] = []
    while True:
        [row] = _deliveries(db)
        if row.status != "pending":
            break
        clock.now = row.next_attempt_at - timedelta(seconds=1)  # not yet due: nothing
        before = len(receiver.requests)
        send_due(db=db, settings=settings, clock=clock, transport=receiver)
        assert len(receiver.requests) == before
        clock.now = row.next_attempt_at
        send_due(db=db, settings=settings, clock=clock, transport=receiver)
        [after] = _deliveries(db)
        if after.status == "pending":
            waits.append((after.next_attempt_at - clock.now).total_seconds())
    expected = [10, 20, 40, 80, 160, 320, 640, 1280, 2560] + [3600] * 22
    assert waits == expected
    # 10 + ... + 2560 = 5110 s, then 22 x 1 h: the next wait would end past 24 h.
    assert sum(expected) == 5110 + 22 * 3600
    assert sum(expected) + 3600 > 24 * 3600 >= sum(expected)
    [row] = _deliveries(db)
    assert (row.status, row.attempts, row.last_error) == ("failed", 32, "HTTP 500")
    assert len({h["X-FaceRec-Delivery"] for _, _, h in receiver.requests}) == 1

    # Redelivery starts again from now, with the same delivery id.
    clock.now = start + timedelta(days=3)
    with Session(db) as session:
        redeliver(
            session=session,
            endpoint_id=row.endpoint_id,
            delivery_id=row.id or 0,
            actor=LOCAL,
            now=clock.now,
        )
    receiver.replies = []
    send_due(db=db, settings=settings, clock=clock, transport=receiver)
    [row] = _deliveries(db)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 1, clock.now)
    assert receiver.requests[-1][2]["X-FaceRec-Delivery"] == row.delivery_id


def test_only_a_2xx_marks_a_delivery_sent(db: Engine) -> None:
    _endpoint(db, ["person.created"])
    with Session(db) as session:
        outbox.emit(session, "person.created", {"person_id": 1}, now=_noon())
        session.commit()
    receiver = Receiver(302, 404, TimeoutError("timed out"), ConnectionRefusedError(), 204)
    clock = Clock(_noon())
    statuses = []
    for _ in range(5):
        send_due(db=db, settings=WebhookSettings(), clock=clock, transport=receiver)
        [row] = _deliveries(db)
        statuses.append((row.status, row.last_status_code, row.last_error))
        clock.now = row.next_attempt_at
    assert statuses == [
        ("pending", 302, "HTTP 302"),
        ("pending", 404, "HTTP 404"),
        ("pending", None, "TimeoutError: timed out"),
        ("pending", None, "ConnectionRefusedError: "),
        ("sent", 204, None),
    ]


def test_max_attempts_gives_up_early(db: Engine) -> None:
    _endpoint(db, ["person.created"])
    with Session(db) as session:
        outbox.emit(session, "person.created", {"person_id": 1}, now=_noon())
        session.commit()
    clock, receiver = Clock(_noon()), Receiver(500, 500, 500)
    settings = WebhookSettings(max_attempts=2)
    for _ in range(3):
        send_due(db=db, settings=settings, clock=clock, transport=receiver)
        clock.now += timedelta(hours=1)
    [row] = _deliveries(db)
    assert (row.status, row.attempts, len(receiver.requests)) == ("failed", 2, 2)


def test_a_failing_endpoint_costs_one_attempt_per_tick(db: Engine) -> None:
    down, up = _endpoint(db, ["person.created"]), _endpoint(db, ["person.deleted"])
    with Session(db) as session:
        for n in range(3):
            outbox.emit(session, "person.created", {"person_id": n}, now=_noon())
            outbox.emit(session, "person.deleted", {"person_id": n}, now=_noon())
        session.commit()
    receiver = Receiver(500)  # the first request (to ``down``) fails, the rest succeed
    send_due(db=db, settings=WebhookSettings(), clock=Clock(_noon()), transport=receiver)
    rows = _deliveries(db)
    assert [r.attempts for r in rows if r.endpoint_id == down] == [1, 0, 0]
    assert {r.status for r in rows if r.endpoint_id == up} == {"sent"}


def _samples(families: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in families
        for s in family.samples
    }


def test_deliveries_and_failed_attempts_are_in_the_metrics(db: Engine) -> None:
    _endpoint(db, ["person.created", "person.deleted"])
    with Session(db) as session:
        outbox.emit(session, "person.created", {"person_id": 1}, now=_noon())
        outbox.emit(session, "person.deleted", {"person_id": 1}, now=_noon())
        session.commit()
    before = _samples(REGISTRY.collect())
    # Tick 1: person.created gets a 500 (the endpoint's other delivery waits). Tick 2:
    # person.deleted (due since noon) times out first. Tick 3, 5 s later: only
    # person.created (due at noon + 10 s) is due, and is sent.
    receiver = Receiver(500, TimeoutError("timed out"), 200)
    clock = Clock(_noon())
    for step in (timedelta(0), timedelta(hours=1), timedelta(seconds=5)):
        clock.now += step
        send_due(db=db, settings=WebhookSettings(), clock=clock, transport=receiver)
    after = _samples(REGISTRY.collect())

    def attempts(event: str, outcome: str) -> float:
        key = (
            "facerec_webhook_attempts_total",
            frozenset({"event": event, "outcome": outcome}.items()),
        )
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert attempts("person.created", "http_error") == 1
    assert attempts("person.created", "network_error") == 0
    assert attempts("person.deleted", "network_error") == 1
    assert attempts("person.created", "ok") == 1
    assert attempts("person.deleted", "ok") == 0
    stored = _samples(DatabaseCollector(db).collect())
    by_status = {
        (dict(labels)["event"], dict(labels)["status"]): v
        for (name, labels), v in stored.items()
        if name == "facerec_webhook_deliveries"
    }
    expected = {(r.event, r.status) for r in _deliveries(db)}
    assert by_status == dict.fromkeys(expected, 1.0)
    assert expected == {("person.created", "sent"), ("person.deleted", "pending")}


# -- the outbox -----------------------------------------------------------------------


def test_emit_writes_one_row_per_subscribed_enabled_endpoint_in_the_callers_transaction(
    db: Engine,
) -> None:
    wanted = _endpoint(db, ["person.created", "face.enrolled"])
    _endpoint(db, ["person.deleted"])
    _endpoint(db, ["person.created"], enabled=False)
    with Session(db) as session:
        assert outbox.emit(session, "person.created", {"person_id": 1}) == 1
        session.rollback()  # the event did not happen: nor did its delivery
    assert _deliveries(db) == []
    with Session(db) as session:
        outbox.emit(session, "person.created", {"person_id": 1})
        session.commit()
    assert [(r.endpoint_id, r.event, r.status) for r in _deliveries(db)] == [
        (wanted, "person.created", "pending")
    ]


def test_a_person_whose_creation_fails_sends_nothing(db: Engine) -> None:
    _endpoint(db, ["person.created"])
    with Session(db) as session:
        create_person(
            session=session, person_in=PersonCreate(name="A", external_id="E1"), actor=LOCAL
        )
    with Session(db) as session, pytest.raises(Conflict):
        create_person(
            session=session, person_in=PersonCreate(name="B", external_id="E1"), actor=LOCAL
        )
    rows = _deliveries(db)
    assert [(r.event, r.payload["name"], r.payload["external_id"]) for r in rows] == [
        ("person.created", "A", "E1")
    ]


# -- every event, through the app ------------------------------------------------------


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    quiet = settings.model_copy(update={"webhooks": WebhookSettings(enabled=False)})
    app = create_app(quiet, engine=FakeEngine(), clock=Clock(_noon()))
    with TestClient(app) as client:
        yield client


def _create(client: TestClient, **body: Any) -> dict[str, Any]:
    reply = client.post(API, json={"url": "https://hooks.example.org/in", **body})
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def test_every_event_is_queued_with_a_small_payload(app_client: TestClient) -> None:
    hook = _create(
        app_client,
        events=[
            "checkin.created",
            "unknown_face.queued",
            "person.created",
            "person.deleted",
            "face.enrolled",
        ],
    )
    pid = app_client.post("/api/v1/people", json={"name": "Ada"}).json()["id"]
    face = app_client.post(
        f"/api/v1/people/{pid}/faces", files={"file": ("a.png", picture([((200, 0, 0), 80)]))}
    ).json()["faces"][0]
    frame = picture([((200, 0, 0), 70), ((0, 0, 200), 70)])
    reply = app_client.post(
        "/api/v1/attendance/check-in", data={"device": "door"}, files={"file": ("f.png", frame)}
    )
    assert reply.status_code == 200, reply.text
    event = reply.json()["events"][0]
    assert app_client.delete(f"/api/v1/people/{pid}").status_code == 204
    items = app_client.get(f"{API}/{hook['id']}/deliveries").json()["items"]
    data = {d["event"]: d["payload"] for d in items}
    assert sorted(data) == sorted(hook["events"])
    assert data["person.created"]["person_id"] == pid
    assert data["person.created"]["name"] == "Ada"
    assert data["face.enrolled"]["face_id"] == face["id"]
    assert data["face.enrolled"]["person_id"] == pid
    checkin = data["checkin.created"]
    assert (checkin["event_id"], checkin["person_id"], checkin["name"]) == (event["id"], pid, "Ada")
    assert checkin["device"] == "door"
    assert data["unknown_face.queued"]["new_group"] is True
    assert data["unknown_face.queued"]["device"] == "door"
    assert data["person.deleted"] == {"person_id": pid, "name": "Ada"}
    flat = json.dumps(data)
    assert "embedding" not in flat and "crop" not in flat and len(flat) < 2000
    assert {d["status"] for d in items} == {"pending"}


# -- the admin API ----------------------------------------------------------------------


def _audit(client: TestClient) -> list[AuditEntry]:
    state = client.app.state.facerec  # type: ignore[attr-defined]
    with Session(state.db) as session:
        rows = session.exec(
            select(AuditEntry)
            .where(col(AuditEntry.entity).in_(("webhook", "webhook_delivery")))
            .order_by(col(AuditEntry.id))
        ).all()
    return list(rows)


def test_the_secret_is_shown_once_and_never_again(app_client: TestClient) -> None:
    made = _create(app_client, events=["person.created"])
    assert made["secret"].startswith("whsec_") and len(made["secret"]) > 40
    given = _create(app_client, events=["person.created"], secret=SECRET)
    assert given["secret"] == SECRET
    listed = app_client.get(API).json()
    one = app_client.get(f"{API}/{made['id']}").json()
    patched = app_client.patch(f"{API}/{made['id']}", json={"secret": "another-secret-0123456"})
    for text in (json.dumps(listed), json.dumps(one), patched.text):
        assert made["secret"] not in text and SECRET not in text and "secret" not in text
    audit = json.dumps([e.details for e in _audit(app_client)])
    assert made["secret"] not in audit and SECRET not in audit
    assert "another-secret" not in audit


def test_create_update_delete_and_redeliver_are_audited(app_client: TestClient) -> None:
    hook = _create(app_client, events=["person.created"], description="HR")
    reply = app_client.patch(
        f"{API}/{hook['id']}", json={"enabled": False, "events": ["person.deleted"]}
    )
    assert reply.status_code == 200
    assert (reply.json()["enabled"], reply.json()["events"]) == (False, ["person.deleted"])
    app_client.patch(f"{API}/{hook['id']}", json={"enabled": True, "events": ["person.created"]})
    app_client.post("/api/v1/people", json={"name": "Ada"})
    [delivery] = app_client.get(f"{API}/{hook['id']}/deliveries").json()["items"]
    again = app_client.post(f"{API}/{hook['id']}/deliveries/{delivery['id']}/redeliver")
    assert again.status_code == 200
    assert again.json()["delivery_id"] == delivery["delivery_id"]
    assert app_client.post(f"{API}/{hook['id']}/deliveries/999/redeliver").status_code == 404
    assert app_client.delete(f"{API}/{hook['id']}").status_code == 204
    assert app_client.get(f"{API}/{hook['id']}").status_code == 404
    assert app_client.delete(f"{API}/{hook['id']}").status_code == 404
    actions = [(e.action, e.entity, e.entity_id) for e in _audit(app_client)]
    assert actions == [
        ("create", "webhook", hook["id"]),
        ("update", "webhook", hook["id"]),
        ("update", "webhook", hook["id"]),
        ("redeliver", "webhook_delivery", delivery["id"]),
        ("delete", "webhook", hook["id"]),
    ]
    update = _audit(app_client)[1].details
    assert update["before"] == {"enabled": True, "events": ["person.created"]}
    assert update["after"] == {"enabled": False, "events": ["person.deleted"]}


BAD_ENDPOINTS: list[dict[str, Any]] = [
    {"url": "ftp://example.org/x", "events": ["person.created"]},
    {"url": "javascript:alert(1)", "events": ["person.created"]},
    {"url": "https://user:pw@example.org/x", "events": ["person.created"]},
    {"url": "https:///nohost", "events": ["person.created"]},
    {"url": "https://example.org:99999/", "events": ["person.created"]},
    {"url": "https://example.org/x", "events": ["person.renamed"]},
    {"url": "https://example.org/x", "events": []},
    {"url": "https://example.org/x", "events": ["person.created"], "secret": "short"},
]


def test_bad_endpoints_are_refused(app_client: TestClient) -> None:
    for body in BAD_ENDPOINTS:
        reply = app_client.post(API, json=body)
        assert reply.status_code == 422, (body, reply.text)
    assert app_client.get(API).json()["total"] == 0


def test_deliveries_filter_by_status(app_client: TestClient) -> None:
    hook = _create(app_client, events=["person.created"])
    for name in ("A", "B"):
        app_client.post("/api/v1/people", json={"name": name})
    state = app_client.app.state.facerec  # type: ignore[attr-defined]
    send_due(db=state.db, settings=WebhookSettings(), clock=Clock(_noon()), transport=Receiver(204))
    listed = app_client.get(f"{API}/{hook['id']}").json()
    assert (listed["pending"], listed["failed"]) == (0, 0)
    sent = app_client.get(f"{API}/{hook['id']}/deliveries", params={"status": "sent"}).json()
    assert sent["total"] == 2
    assert (
        app_client.get(f"{API}/{hook['id']}/deliveries", params={"status": "nope"}).status_code
        == 422
    )


# -- the CLI ---------------------------------------------------------------------------


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("FACEREC_DATA_DIR", str(tmp_path / "cli-data"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_add_list_deliveries_redeliver_remove(runner: CliRunner) -> None:
    obj = CliContext(clock=Clock(_noon()))
    args = ["webhooks", "add", "https://hr.example.org/in", "--event", "person.created",
            "--event", "person.deleted", "--description", "HR"]  # fmt: skip
    done = runner.invoke(app, args, obj=obj)
    assert done.exit_code == 0, done.output
    hook_id, secret = done.stdout.split()
    assert secret.startswith("whsec_")
    db = make_engine(get_settings().db_url)
    try:
        with Session(db) as session:
            row = session.exec(select(WebhookEndpoint)).one()
            assert (row.id, row.secret, row.events) == (
                int(hook_id),
                secret,
                ["person.created", "person.deleted"],
            )
            outbox.emit(session, "person.deleted", {"person_id": 1}, now=_noon())
            session.commit()
        listed = runner.invoke(app, ["webhooks", "list"])
        assert listed.exit_code == 0 and "hr.example.org" in listed.stdout
        assert secret not in listed.stdout
        send_due(db=db, settings=WebhookSettings(), clock=Clock(_noon()), transport=Receiver(503))
        [delivery] = _deliveries(db)
        wide = {"COLUMNS": "200"}
        log = runner.invoke(
            app, ["webhooks", "deliveries", hook_id, "--status", "pending"], env=wide
        )
        assert log.exit_code == 0 and "HTTP 503" in log.stdout and "1 deliveries" in log.stdout
        again = ["webhooks", "redeliver", hook_id, str(delivery.id)]
        assert runner.invoke(app, again, obj=obj).exit_code == 0
        [delivery] = _deliveries(db)
        assert (delivery.attempts, delivery.next_attempt_at) == (0, _noon())
        with Session(db) as session:
            actions = session.exec(
                select(AuditEntry.action, AuditEntry.actor).where(
                    col(AuditEntry.entity).in_(("webhook", "webhook_delivery"))
                )
            ).all()
        assert sorted(a for a, _ in actions) == ["create", "redeliver"]
        assert {actor for _, actor in actions} == {cli_actor().label}
    finally:
        db.dispose()
    assert runner.invoke(app, ["webhooks", "remove", hook_id], obj=obj).exit_code == 0
    assert runner.invoke(app, ["webhooks", "remove", hook_id], obj=obj).exit_code == 1
    assert runner.invoke(app, ["webhooks", "deliveries", hook_id]).exit_code == 1
    bad = runner.invoke(app, ["webhooks", "add", "ftp://x", "--event", "person.created"])
    assert bad.exit_code == 2 and bad.stdout == ""
    unknown = runner.invoke(app, ["webhooks", "add", "https://x.org", "--event", "nope"])
    assert unknown.exit_code == 2


def test_migration_0006_matches_the_models(db: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with db.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert [d for d in diff if "webhook" in repr(d)] == []


def test_one_sender_at_a_time_across_workers(db: Engine, settings: Settings) -> None:
    _endpoint(db, ["person.created"])
    with Session(db) as session:
        outbox.emit(session, "person.created", {"person_id": 1}, now=_noon())
        session.commit()
    clock = Clock(_noon())
    state = cast(AppState, SimpleNamespace(db=db, settings=settings, clock=clock))
    first, second = Receiver(500), Receiver()
    one = WebhookJob(state, holder="host:1", transport=first)
    two = WebhookJob(state, holder="host:2", transport=second)
    assert one.tick() is not None and len(first.requests) == 1
    clock.now += timedelta(seconds=10)  # due again, and host:1's lease (24 s) still runs
    assert two.tick() is None and second.requests == []
    clock.now += one.ttl  # host:1 went quiet: its lease lapsed, host:2 takes over
    report = two.tick()
    assert report is not None and report.sent == 1 and len(second.requests) == 1
    assert one.tick() is None  # nothing due, so nobody even takes the lease
