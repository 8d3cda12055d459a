"""Wrong photos with real faces through the real stack (models, ../shared/data/faces):
a photo of Biden added to Obama is refused as ``face_mismatch``, a second photo of Obama
is accepted, a newcomer whose first photo is Biden is enrolled with a ``looks_like``
warning naming Biden, and ``force`` enrols the wrong photo on Obama and audits it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import shared_path

pytestmark = [pytest.mark.models, pytest.mark.shared_data]

API = "/api/v1"
TRAIN = ("faces", "face_recognition", "examples", "knn_examples", "train")


def _photo(*parts: str) -> bytes:
    return shared_path(*TRAIN, *parts).read_bytes()


def _new_person(client: TestClient, name: str) -> int:
    return int(client.post(f"{API}/people", json={"name": name}).json()["id"])


def _enrol(client: TestClient, pid: int, data: bytes, **params: str) -> tuple[int, Any]:
    answer = client.post(
        f"{API}/people/{pid}/faces",
        files={"file": ("p.jpg", data)},
        params=params,
        headers={"X-Actor": "tester"},
    )
    return answer.status_code, answer.json()


def test_wrong_photos_are_caught_with_real_faces(real_client: TestClient) -> None:
    obama = _new_person(real_client, "Barack Obama")
    biden = _new_person(real_client, "Joe Biden")
    assert _enrol(real_client, obama, _photo("obama", "obama.jpg"))[0] == 201
    assert _enrol(real_client, biden, _photo("biden", "biden.jpg"))[0] == 201

    status, body = _enrol(real_client, obama, _photo("biden", "biden2.jpg"))
    assert status == 409, body
    error = body["error"]
    assert error["code"] == "face_mismatch"
    assert error["person_id"] == obama
    assert error["similarity"] < error["threshold"]

    status, body = _enrol(real_client, obama, _photo("obama", "obama2.jpg"))
    assert status == 201, body
    assert body["warnings"] == []

    newcomer = _new_person(real_client, "Newcomer")  # first photo: only looks_like
    status, body = _enrol(real_client, newcomer, _photo("biden", "biden2.jpg"))
    assert status == 201, body
    assert [(w["person_id"], w["same_image"]) for w in body["warnings"]] == [(biden, False)]

    status, body = _enrol(real_client, obama, _photo("biden", "biden2.jpg"), force="true")
    assert status == 201, body
    assert [(w["person_id"], w["same_image"]) for w in body["warnings"]] == [
        (newcomer, True),  # the very file is the newcomer's
        (biden, False),  # and it looks more like Biden than like Obama
    ]
    face_id = body["faces"][0]["id"]
    [entry] = real_client.get(f"{API}/audit", params={"action": "force_enrol"}).json()["items"]
    assert (entry["action"], entry["entity_id"], entry["actor"]) == (
        "force_enrol",
        face_id,
        "local:local",  # the caller (auth off here); X-Actor is ignored
    )
    assert entry["details"]["person_id"] == obama
    assert entry["details"]["similarity"] < entry["details"]["threshold"]
