"""Per-operator calibration from the enrolled gallery, and the stored active threshold."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from facerec.app import create_app
from facerec.config import Settings
from tests.fakes import FakeEngine, picture

API = "/api/v1"


def _enrol(client: TestClient, name: str, *colours: tuple[int, int, int]) -> int:
    pid = int(client.post(f"{API}/people", json={"name": name}).json()["id"])
    for i, colour in enumerate(colours):
        data = picture([(colour, 80 - 5 * i)])
        assert (
            client.post(f"{API}/people/{pid}/faces", files={"file": ("p.png", data)}).status_code
            == 201
        )
    return pid


def _gallery(client: TestClient) -> None:
    for i in range(12):
        colour = (30 + 17 * i, 200 - 13 * i, (90 + 41 * i) % 256)
        _enrol(client, f"P{i}", colour, colour)  # two photos (sizes differ) of one "person"


def test_report_counts_table_and_recommendation(client: TestClient) -> None:
    _gallery(client)
    report = client.get(f"{API}/calibration", params={"target_far": 0.05}).json()
    assert report["people"] == 12
    assert report["faces"] == 24
    assert report["impostor_pairs"] == 24 * 23 // 2 - 12
    assert report["genuine_pairs"] == 12
    assert report["reliable"] is True
    threshold = report["recommended_threshold"]
    assert 0.0 < threshold < 1.0
    fars = [row["far"] for row in report["table"]]
    assert fars == sorted(fars, reverse=True)  # stricter thresholds accept fewer strangers
    assert all(row["frr"] == 0.0 for row in report["table"])  # identical colours: genuine = 1.0
    tiny = client.get(f"{API}/calibration", params={"target_far": 0.0001}).json()
    assert tiny["reliable"] is False
    assert any("cannot measure" in w for w in tiny["warnings"])


def test_look_alikes_are_reported(client: TestClient) -> None:
    _gallery(client)
    twin = _enrol(client, "Twin", (30, 200, 90))  # the same colour as P0
    report = client.get(f"{API}/calibration").json()
    pairs = {(a["name_a"], a["name_b"]) for a in report["look_alikes"]}
    assert ("P0", "Twin") in pairs or ("Twin", "P0") in pairs
    assert any("score above the threshold" in w for w in report["warnings"])
    assert twin > 0


@pytest.fixture
def second_worker(settings: Settings) -> Iterator[TestClient]:
    """Another app process on the same database (what a second server worker is)."""
    with TestClient(create_app(settings, engine=FakeEngine())) as other:
        yield other


def test_stored_threshold_is_used_by_every_worker(
    client: TestClient, second_worker: TestClient
) -> None:
    _enrol(client, "A", (200, 40, 40))
    default = client.get(f"{API}/calibration/threshold").json()
    assert default == {"active_threshold": 0.8, "default_threshold": 0.8, "source": "settings"}
    stored = client.put(f"{API}/calibration/threshold", json={"threshold": 0.9}).json()
    assert stored["source"] == "calibrated"
    answer = second_worker.post(
        f"{API}/recognize", files={"file": ("q.png", picture([((200, 40, 40), 70)]))}
    )
    assert answer.json()["threshold"] == 0.9
    assert second_worker.get(f"{API}/status").json()["threshold"] == 0.9
    assert client.put(f"{API}/calibration/threshold", json={"threshold": 1.5}).status_code == 422
    assert client.delete(f"{API}/calibration/threshold").status_code == 204
    assert second_worker.get(f"{API}/calibration/threshold").json()["active_threshold"] == 0.8


def test_empty_gallery(client: TestClient) -> None:
    report = client.get(f"{API}/calibration").json()
    assert report["faces"] == 0
    assert report["recommended_threshold"] is None
    assert report["reliable"] is False
