"""The inference bound: past ``inference.max_pending`` images in the inference stage,
callers get ``Busy`` at once (HTTP 503 with Retry-After), and the count comes back
down when images finish or fail."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from facerec.app import create_app
from facerec.config import Settings
from facerec.errors import Busy, InvalidImage
from facerec.inference.runtime import FaceRuntime
from facerec.inference.types import Detection, RGBImage
from tests.fakes import FakeEngine, picture

RED = (200, 40, 40)


class HeldEngine(FakeEngine):
    """Detection waits until the test lets it go; ``entered`` says one is waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def detect(self, image: RGBImage) -> list[Detection]:
        self.entered.set()
        assert self.release.wait(timeout=30), "the test never released the engine"
        return super().detect(image)


def _settings(settings: Settings, max_pending: int) -> Settings:
    return settings.model_copy(
        update={"inference": settings.inference.model_copy(update={"max_pending": max_pending})}
    )


def test_the_bound_refuses_at_once_and_frees_its_places(settings: Settings) -> None:
    engine = HeldEngine()
    runtime = FaceRuntime(engine, _settings(settings, max_pending=2))
    image = picture([(RED, 60)])

    async def scenario() -> None:
        first = asyncio.ensure_future(runtime.run(image))
        second = asyncio.ensure_future(runtime.run(image))
        await asyncio.to_thread(engine.entered.wait, 10)
        with pytest.raises(Busy):  # a third image finds both places taken
            await asyncio.wait_for(runtime.run(image), timeout=5)
        engine.release.set()
        assert len((await first).faces) == 1
        assert len((await second).faces) == 1
        with pytest.raises(InvalidImage):  # a failure frees its place too
            await runtime.run(b"not an image")
        for _ in range(3):  # both places are free again, however often they were used
            assert len((await asyncio.wait_for(runtime.run(image), timeout=5)).faces) == 1

    try:
        asyncio.run(scenario())
    finally:
        engine.release.set()
        runtime.close()


@pytest.fixture
def held() -> HeldEngine:
    return HeldEngine()


@pytest.fixture
def busy_client(settings: Settings, held: HeldEngine) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(settings, max_pending=1), engine=held)) as client:
        yield client


INFERENCE_ROUTES: list[tuple[str, dict[str, Any]]] = [
    ("/api/v1/recognize", {"file": picture([(RED, 60)])}),
    ("/api/v1/detect", {"file": picture([(RED, 60)])}),
    ("/api/v1/embed", {"file": picture([(RED, 60)])}),
    ("/api/v1/verify", {"file1": picture([(RED, 60)]), "file2": picture([(RED, 50)])}),
    ("/api/v1/attendance/check-in", {"file": picture([(RED, 60)])}),
]


def test_every_inference_route_sheds_with_503_and_retry_after(
    busy_client: TestClient, held: HeldEngine
) -> None:
    person = busy_client.post("/api/v1/people", json={"name": "Red"}).json()["id"]
    routes = [*INFERENCE_ROUTES, (f"/api/v1/people/{person}/faces", {"file": picture([(RED, 80)])})]
    with ThreadPoolExecutor(max_workers=1) as pool:
        occupying = pool.submit(
            busy_client.post, "/api/v1/detect", files={"file": ("a.png", picture([(RED, 60)]))}
        )
        assert held.entered.wait(timeout=10)
        try:
            for path, files in routes:
                response = busy_client.post(
                    path, files={name: (f"{name}.png", data) for name, data in files.items()}
                )
                assert response.status_code == 503, (path, response.text)
                assert response.headers["retry-after"] == "1", path
                assert response.json()["error"]["code"] == "busy", path
            assert busy_client.get("/healthz").status_code == 200  # probes still answer
        finally:
            held.release.set()
        assert occupying.result().status_code == 200
    answer = busy_client.post("/api/v1/detect", files={"file": ("a.png", picture([(RED, 60)]))})
    assert answer.status_code == 200
