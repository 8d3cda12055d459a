"""The /people contract, through the real app and a real SQLite file (fake face engine)."""

from __future__ import annotations

from fastapi.testclient import TestClient

API = "/api/v1"


def test_create_read_update_delete(client: TestClient) -> None:
    created = client.post(
        f"{API}/people", json={"name": "王小明", "external_id": "E001", "note": "lab"}
    )
    assert created.status_code == 201
    person = created.json()
    assert person["name"] == "王小明"
    assert person["face_count"] == 0
    assert person["created_at"].endswith("Z") or "+00:00" in person["created_at"]
    pid = person["id"]

    assert client.get(f"{API}/people/{pid}").json()["external_id"] == "E001"
    patched = client.patch(f"{API}/people/{pid}", json={"name": "Wang Xiaoming"})
    assert patched.status_code == 200
    assert patched.json()["name"] == "Wang Xiaoming"
    assert patched.json()["note"] == "lab"

    assert client.delete(f"{API}/people/{pid}").status_code == 204
    missing = client.get(f"{API}/people/{pid}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_patch_with_a_null_name_keeps_the_name(client: TestClient) -> None:
    pid = client.post(
        f"{API}/people", json={"name": "Ann", "external_id": "E7", "note": "old"}
    ).json()["id"]
    patched = client.patch(f"{API}/people/{pid}", json={"name": None, "note": "x"})
    assert patched.status_code == 200, patched.text
    stored = client.get(f"{API}/people/{pid}").json()
    assert (stored["name"], stored["note"], stored["external_id"]) == ("Ann", "x", "E7")
    # a null external_id or note clears it; fields left out stay as they were
    cleared = client.patch(f"{API}/people/{pid}", json={"external_id": None})
    assert cleared.status_code == 200, cleared.text
    stored = client.get(f"{API}/people/{pid}").json()
    assert (stored["name"], stored["note"], stored["external_id"]) == ("Ann", "x", None)
    assert client.patch(f"{API}/people/{pid}", json={"note": None}).status_code == 200
    stored = client.get(f"{API}/people/{pid}").json()
    assert (stored["name"], stored["note"], stored["external_id"]) == ("Ann", None, None)
    # the cleared external id is free for somebody else
    other = client.post(f"{API}/people", json={"name": "Bo", "external_id": "E7"})
    assert other.status_code == 201


def test_list_search_and_paginate(client: TestClient) -> None:
    for name in ["Alice", "Bob", "Alicia", "Carol"]:
        client.post(f"{API}/people", json={"name": name})
    page = client.get(f"{API}/people", params={"q": "ali"}).json()
    assert page["total"] == 2
    assert [p["name"] for p in page["items"]] == ["Alice", "Alicia"]
    second = client.get(f"{API}/people", params={"offset": 1, "limit": 2}).json()
    assert second["total"] == 4
    assert [p["name"] for p in second["items"]] == ["Alicia", "Bob"]


def test_duplicate_external_id_is_a_conflict(client: TestClient) -> None:
    assert client.post(f"{API}/people", json={"name": "A", "external_id": "X"}).status_code == 201
    second = client.post(f"{API}/people", json={"name": "B", "external_id": "X"})
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "conflict"
    other = client.post(f"{API}/people", json={"name": "C", "external_id": "Y"}).json()
    clash = client.patch(f"{API}/people/{other['id']}", json={"external_id": "X"})
    assert clash.status_code == 409
    assert client.get(f"{API}/people").json()["total"] == 2


def test_validation_errors_have_the_error_shape(client: TestClient) -> None:
    for body in ({}, {"name": ""}, {"name": "x" * 201}, {"name": 5, "note": []}):
        response = client.post(f"{API}/people", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_error"
    bad_id = client.get(f"{API}/people/abc")
    assert bad_id.status_code == 422
    assert bad_id.json()["error"]["code"] == "validation_error"


def test_unknown_ids_and_routes(client: TestClient) -> None:
    assert client.patch(f"{API}/people/999", json={"name": "n"}).status_code == 404
    assert client.delete(f"{API}/people/999").json()["error"]["code"] == "not_found"
    assert client.get(f"{API}/people/999/faces").status_code == 404
    assert client.delete(f"{API}/faces/999").status_code == 404
    assert client.get(f"{API}/faces/999/thumbnail").status_code == 404
    assert client.get(f"{API}/nothing-here").json()["error"]["code"] == "not_found"


def test_openapi_documents_both_body_kinds(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/api/v1/recognize"]["post"]["requestBody"]["content"]
    assert set(body) == {"multipart/form-data", "application/json"}
    assert "image_base64" in body["application/json"]["schema"]["properties"]
    assert client.get("/docs").status_code == 200
