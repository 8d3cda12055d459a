"""Schemathesis fuzzes every operation of the app's own ``/openapi.json``: no input is a 5xx.

The operations are read from the schema when the tests are collected, so routes added
later are fuzzed too. Each operation gets schema-conforming and schema-violating cases;
generation is derandomized (the same cases on every run) and bounded per operation.
Two passes: access control off (every route reached), and on with an admin API key, so
the credential checks, and the users, keys, devices and audit routes, are fuzzed too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.schemas import BaseSchema

from facerec.app import create_app
from facerec.config import Settings
from facerec.db.engine import make_engine
from facerec.db.migrate import upgrade
from facerec.db.models import utcnow
from tests import credentials
from tests.fakes import FakeEngine

EXAMPLES = 100
"""Generated cases per operation, valid and invalid by the schema (~1 min in all)."""
AUTH_EXAMPLES = 30
"""The same with access control on (the routes behind the gate were fuzzed above)."""
ADMIN_KEY_ID = 987_654_321
"""Far from the small ids the fuzzer tries first: it should not revoke its own key."""
ZONE = "Pacific/Kiritimati"
"""UTC+14: local days near the ends of the calendar overflow here first."""
METHODS = ("get", "put", "post", "delete", "patch")

pytestmark = pytest.mark.slow


def _settings(data_dir: Path, *, auth: bool = False) -> Settings:
    limits = {"key_requests_per_minute": 10**9}  # fuzzing is not abuse
    return Settings(
        data_dir=data_dir,
        match_threshold=0.8,
        enrol={"min_face_px": 0, "min_sharpness": 0},
        attendance={"timezone": ZONE},
        auth={"enabled": auth, **limits},
    )


def _operations() -> list[str]:
    """``METHOD /path`` of every operation in the schema (building the app opens nothing)."""
    paths = create_app(_settings(Path("unused")), engine=FakeEngine()).openapi()["paths"]
    return [f"{m.upper()} {path}" for path, item in paths.items() for m in item if m in METHODS]


@pytest.fixture(scope="module")
def fuzz_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaseSchema]:
    """One app (fake engine, temporary data) for every operation: state carries over."""
    app = create_app(_settings(tmp_path_factory.mktemp("fuzz") / "data"), engine=FakeEngine())
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    finally:
        asgi.shutdown_lifespans()  # schemathesis keeps the app started until told so


@pytest.fixture(scope="module")
def auth_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BaseSchema, str]]:
    """Access control on; an admin API key made in the database before the app starts."""
    data = tmp_path_factory.mktemp("fuzz-auth") / "data"
    settings = _settings(data, auth=True)
    data.mkdir(parents=True)
    upgrade(settings.db_url, lock_dir=data)
    db = make_engine(settings.db_url)
    try:
        now = utcnow()
        key = credentials.api_key(db, name="fuzz", role="admin", now=now, key_id=ADMIN_KEY_ID)
    finally:
        db.dispose()
    app = create_app(settings, engine=FakeEngine())
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app), key
    finally:
        asgi.shutdown_lifespans()


def test_every_route_is_fuzzed() -> None:
    operations = _operations()
    assert "POST /api/v1/recognize" in operations
    assert "DELETE /api/v1/people/{person_id}" in operations
    assert len(operations) > 30


@pytest.mark.parametrize("label", _operations())
def test_no_input_is_a_server_error(fuzz_schema: BaseSchema, label: str) -> None:
    operation = fuzz_schema.find_operation_by_label(label)
    assert operation is not None, label
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @hypothesis_settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(checks=[not_a_server_error])

    fuzz()


@pytest.mark.parametrize("label", _operations())
def test_no_input_is_a_server_error_with_auth(
    auth_schema: tuple[BaseSchema, str], label: str
) -> None:
    schema, key = auth_schema
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )
    statuses: set[int] = set()

    @given(case=cases)
    @hypothesis_settings(
        max_examples=AUTH_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case[Any]) -> None:
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {key}"}, checks=[not_a_server_error]
        )
        statuses.add(response.status_code)

    fuzz()
    assert statuses - {401, 403}, f"{label}: the admin key never got past the gate"
