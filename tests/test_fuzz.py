"""Schemathesis fuzzes every operation of the app's own ``/openapi.json``: no input is a 5xx.

The operations are read from the schema when the tests are collected, so routes added
later are fuzzed too. Each operation gets schema-conforming and schema-violating cases;
generation is derandomized (the same cases on every run) and bounded per operation.
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
from tests.fakes import FakeEngine

EXAMPLES = 100
"""Generated cases per operation, valid and invalid by the schema (~1 min in all)."""
ZONE = "Pacific/Kiritimati"
"""UTC+14: local days near the ends of the calendar overflow here first."""
METHODS = ("get", "put", "post", "delete", "patch")

pytestmark = pytest.mark.slow


def _settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        match_threshold=0.8,
        enrol={"min_face_px": 0, "min_sharpness": 0},
        attendance={"timezone": ZONE},
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
