"""``/readyz`` says 503 when a worker's index does not hold what the database holds."""

from __future__ import annotations

from fastapi.testclient import TestClient

from facerec.state import AppState
from tests.fakes import picture


def test_readyz_reports_an_index_that_lost_a_face(client: TestClient) -> None:
    pid = client.post("/api/v1/people", json={"name": "Red"}).json()["id"]
    enrolled = client.post(
        f"/api/v1/people/{pid}/faces", files={"file": ("a.png", picture([((200, 0, 0), 80)]))}
    )
    face_id = enrolled.json()["faces"][0]["id"]
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["index_count"] == ready.json()["db_count"] == 1

    state: AppState = client.app.state.facerec  # type: ignore[attr-defined]
    state.index.index.remove([face_id])  # the cache goes bad behind the change log's back

    for path in ("/readyz", "/api/v1/readyz"):
        lagging = client.get(path)
        assert lagging.status_code == 503, path
        body = lagging.json()
        assert body["ready"] is False
        assert body["index"] is False
        assert (body["index_count"], body["db_count"]) == (0, 1)
    assert client.get("/healthz").status_code == 200  # alive, only not ready
