"""The start-up sweep: files that no committed row refers to are removed, others kept."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from facerec.app import create_app
from facerec.config import Settings
from tests.fakes import FakeEngine, picture


def _all_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_files_left_by_a_crash_are_removed_at_start(settings: Settings) -> None:
    with TestClient(create_app(settings, engine=FakeEngine())) as client:
        pid = client.post("/api/v1/people", json={"name": "Red"}).json()["id"]
        enrolled = client.post(
            f"/api/v1/people/{pid}/faces", files={"file": ("a.png", picture([((200, 0, 0), 80)]))}
        )
        assert enrolled.status_code == 201
        check_in = client.post(
            "/api/v1/attendance/check-in", files={"file": ("f.png", picture([((200, 0, 0), 70)]))}
        )
        assert check_in.json()["events"][0]["status"] == "checked_in"
    kept_images = _all_files(settings.images_dir)
    kept_crops = _all_files(settings.crops_dir)
    assert len(kept_images) == 1
    assert len(kept_crops) == 1
    # What a process killed between writing a file and committing its row leaves behind:
    leftovers = [
        settings.images_dir / "ab" / ("ab" + "0" * 62 + ".jpg"),
        settings.images_dir / "cd" / ".tmp-x1y2z3",
        settings.crops_dir / "ef" / ("ef" + "1" * 62 + ".jpg"),
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")

    with TestClient(create_app(settings, engine=FakeEngine())) as client:
        assert client.get("/api/v1/readyz").json()["ready"] is True
        thumbnail = client.get(f"/api/v1/faces/{enrolled.json()['faces'][0]['id']}/thumbnail")
        assert thumbnail.status_code == 200
    assert _all_files(settings.images_dir) == kept_images
    assert _all_files(settings.crops_dir) == kept_crops
